"""The SSE parser against the WHATWG event-stream rules (HTML Living Standard, "Server-sent events").

The streaming checks trust this parser's events and arrival times, so each parsing rule the spec
states has a test here, and so does every way a stream can be cut into chunks.
"""

from __future__ import annotations

import pytest

from conformance.evidence import SSEEvent
from conformance.sse import DEFAULT_MAX_LINE, SSEError, SSEParser, parse_events

Fields = tuple[str, str | None, str | None, int | None]


def parse(*chunks: bytes) -> list[SSEEvent]:
    """Events of a stream delivered in `chunks`, the i-th chunk arriving at i ms."""
    events, _ = parse_events([(float(i), chunk) for i, chunk in enumerate(chunks)])
    return events


def fields(events: list[SSEEvent]) -> list[Fields]:
    """What an event says, without when it arrived."""
    return [(e.data, e.event, e.id, e.retry) for e in events]


def datas(*chunks: bytes) -> list[str]:
    return [e.data for e in parse(*chunks)]


def test_event_line_names_the_event_and_the_name_does_not_outlive_it() -> None:
    events = parse(b"event: response.created\ndata: {}\n\ndata: 2\n\n")
    assert [(e.event, e.data) for e in events] == [("response.created", "{}"), (None, "2")]


def test_data_lines_are_joined_with_lf() -> None:
    assert datas(b"data: a\ndata:b\ndata:  c\n\n") == ["a\nb\n c"]


def test_id_persists_across_events_until_changed() -> None:
    events = parse(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n")
    assert [e.id for e in events] == ["1", "1", "2"]


def test_id_set_by_an_event_without_data_still_applies_to_the_next() -> None:
    assert [e.id for e in parse(b"id: 7\n\ndata: a\n\n")][-1] == "7"


# The one departure from WHATWG (see conformance/sse.py): blocks without data that the official SDKs'
# decoders still dispatch, as an event with empty data that they then fail to parse as JSON.
@pytest.mark.parametrize(
    ("stream", "kept"),
    [
        (b"event: ping\n\ndata: a\n\n", [("", "ping", None, None), ("a", None, None, None)]),
        (b"retry: 3000\n\ndata: a\n\n", [("", None, None, 3000), ("a", None, None, 3000)]),
        (b"id: 7\n\ndata: a\n\n", [("", None, "7", None), ("a", None, "7", None)]),
        # once an id is set, every blank line ends an event for the Python SDK: an extra one, a comment's
        (b"id: 1\ndata: a\n\n\n: keep-alive\n\n", [("a", None, "1", None), *[("", None, "1", None)] * 2]),
        # what dispatches nothing in either SDK stays dropped
        (b"\n\n: keep-alive\n\nfoo: bar\n\nevent:\n\nretry: x\n\ndata: a\n\n", [("a", None, None, None)]),
        (b"id: 1\ndata: a\n\nid\n\n\ndata: b\n\n", [("a", None, "1", None), ("b", None, "", None)]),
    ],
    ids=["event", "retry", "id", "id then blank lines", "nothing to dispatch", "id reset"],
)
def test_a_block_without_data_is_kept_where_the_sdks_dispatch_it(stream: bytes, kept: list[Fields]) -> None:
    assert fields(parse(stream)) == kept


def test_id_containing_nul_is_ignored() -> None:
    events = parse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]


def test_empty_id_resets_the_last_event_id() -> None:
    assert [e.id for e in parse(b"id: 1\ndata: a\n\nid\ndata: b\n\n")] == ["1", ""]


@pytest.mark.parametrize(
    ("line", "retry"),
    [
        (b"retry: 3000", 3000),
        (b"retry:0", 0),
        (b"retry: 30s", None),
        (b"retry: -1", None),
        (b"retry: 1.5", None),
        (b"retry: ", None),
        ("retry: \u0661\u0662".encode(), None),  # Arabic-Indic digits are digits to str.isdigit, not to the spec
    ],
)
def test_retry_takes_ascii_digits_only(line: bytes, retry: int | None) -> None:
    assert [e.retry for e in parse(line + b"\ndata: a\n\n")] == [retry]


def test_retry_persists_and_a_bad_value_keeps_the_old_one() -> None:
    events = parse(b"retry: 100\ndata: a\n\nretry: x\ndata: b\n\n")
    assert [e.retry for e in events] == [100, 100]


def test_comments_are_counted_and_never_dispatched() -> None:
    parser = SSEParser()
    events = parser.feed(b": keep-alive\n\n:\ndata: a\n: between\n\n")
    assert [e.data for e in events] == ["a"]
    assert parser.comments == 3


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_every_line_ending_gives_the_same_events(eol: bytes) -> None:
    stream = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert fields(parse(stream)) == [("a\nb", "e", None, None), ("c", None, None, None)]


def test_mixed_line_endings_in_one_stream() -> None:
    assert datas(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r") == ["a\nb\nc", "d"]


def test_crlf_split_across_chunks_is_one_line_break() -> None:
    """Read as two breaks, the CR would end the event early and the LF dispatch a second one."""
    assert datas(b"data: a\r", b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_cr_at_the_end_of_a_chunk_ends_the_line_before_the_next_chunk_arrives() -> None:
    parser = SSEParser()
    assert [e.data for e in parser.feed(b"data: a\r\r", 1.0)] == ["a"]
    assert parser.feed(b"\ndata: b\n\n", 2.0) == [SSEEvent(data="b", offset_ms=2.0)]


def test_field_without_colon_has_an_empty_value() -> None:
    assert fields(parse(b"data\n\n")) == [("", None, None, None)]
    assert fields(parse(b"event\ndata: x\n\n")) == [("x", "", None, None)]


def test_unknown_fields_are_ignored() -> None:
    assert fields(parse(b"foo: bar\nData: no\ndata: x\n\n")) == [("x", None, None, None)]


@pytest.mark.parametrize(
    ("line", "data"),
    [(b"data:x", "x"), (b"data: x", "x"), (b"data:  x", " x"), (b"data:   ", "  "), (b"data: x ", "x ")],
)
def test_one_leading_space_is_stripped_and_only_one(line: bytes, data: str) -> None:
    assert datas(line + b"\n\n") == [data]


def test_colon_in_the_value_is_kept() -> None:
    assert datas(b'data: {"a": "b:c"}\n\n') == ['{"a": "b:c"}']


def test_bom_at_start_is_stripped() -> None:
    assert datas(b"\xef\xbb\xbfdata: a\n\n") == ["a"]


def test_bom_split_across_chunks_is_stripped() -> None:
    assert datas(b"\xef", b"\xbb", b"\xbfdata: a\n\n") == ["a"]


def test_only_the_first_bom_is_stripped() -> None:
    """A second BOM becomes part of the field name, so the line is an unknown field."""
    assert datas(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n") == ["b"]


def test_bom_later_in_the_stream_is_not_stripped() -> None:
    assert datas(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == ["a"]


@pytest.mark.parametrize("tail", [b"data: b\n", b"data: b", b"event: x\n", b":comment"])
def test_event_without_closing_blank_line_is_discarded_and_reported(tail: bytes) -> None:
    events, pending = parse_events([(0.0, b"data: a\n\n" + tail)])
    assert [e.data for e in events] == ["a"]
    assert pending


def test_closed_stream_is_not_pending() -> None:
    events, pending = parse_events([(0.0, b"data: a\n\n")])
    assert [e.data for e in events] == ["a"]
    assert not pending


def test_empty_data_line_dispatches_an_empty_string() -> None:
    assert datas(b"data:\n\n", b"data: \n\n") == ["", ""]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse(b"\n\n\n\r\n\r\r") == []


def test_event_name_of_an_event_without_data_does_not_outlive_it() -> None:
    """WHATWG drops the block; the SDKs dispatch it (kept, see above), and the name still ends with it."""
    assert fields(parse(b"event: x\n\ndata: a\n\n")) == [("", "x", None, None), ("a", None, None, None)]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert datas(b"data: \xff\xfe ok \xc3\n\n") == ["\ufffd\ufffd ok \ufffd"]


def test_multibyte_character_split_across_chunks_decodes_whole() -> None:
    assert datas(b"data: caf\xc3", b"\xa9\n\n") == ["caf\u00e9"]


def test_truncated_multibyte_character_is_replaced_mid_stream_and_at_eof() -> None:
    assert datas(b"data: \xe2\x82", b"\n\n") == ["\ufffd"]
    parser = SSEParser()
    assert parser.feed(b"data: a\n\ndata: \xe2\x82") == [SSEEvent(data="a")]
    assert parser.close() == []
    assert parser.pending


SAMPLE = (
    b"\xef\xbb\xbf: hello\r\n"
    b"retry: 1000\r\n"
    b"id: 1\r\n"
    b"event: response.created\r\n"
    b'data: {"type": "response.created"}\r\n'
    b"\r\n"
    b"data: caf\xc3\xa9\rdata:second\r\r"
    b"event\n"
    b"id\n"
    b"data:  \xff\n"
    b"\n"
    b"data: unterminated"
)


def test_sample_stream_parses_as_the_spec_says() -> None:
    events, pending = parse_events([(0.0, SAMPLE)])
    assert fields(events) == [
        ('{"type": "response.created"}', "response.created", "1", 1000),
        ("caf\u00e9\nsecond", None, "1", 1000),
        (" \ufffd", "", "", 1000),
    ]
    assert pending


@pytest.mark.parametrize("cut", range(1, len(SAMPLE)))
def test_a_cut_anywhere_gives_the_events_of_the_whole(cut: int) -> None:
    whole, whole_pending = parse_events([(0.0, SAMPLE)])
    split, split_pending = parse_events([(0.0, SAMPLE[:cut]), (1.0, SAMPLE[cut:])])
    assert fields(split) == fields(whole)
    assert split_pending == whole_pending


def test_one_byte_per_chunk_gives_the_events_of_the_whole() -> None:
    whole, _ = parse_events([(0.0, SAMPLE)])
    assert fields(parse(*(SAMPLE[i : i + 1] for i in range(len(SAMPLE))))) == fields(whole)


def test_each_event_keeps_the_offset_of_the_chunk_that_completed_it() -> None:
    chunks = [(1.0, b"data: a\n"), (2.5, b"\ndata: b\n\ndata: c"), (4.0, b""), (7.0, b"\n\n"), (9.0, b"data: d\n")]
    events, pending = parse_events(chunks)
    assert [(e.data, e.offset_ms) for e in events] == [("a", 2.5), ("b", 2.5), ("c", 7.0)]
    assert pending


def test_feed_stamps_events_with_its_offset() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\n", 12.5) == [SSEEvent(data="a", offset_ms=12.5)]


def test_line_over_max_line_raises() -> None:
    with pytest.raises(SSEError, match="exceeds 8"):
        SSEParser(max_line=8).feed(b"data: 0123456789")


def test_line_growing_over_max_line_across_chunks_raises() -> None:
    parser = SSEParser(max_line=8)
    assert parser.feed(b"data: 01") == []
    with pytest.raises(SSEError):
        parser.feed(b"2")


def test_line_at_max_line_and_many_short_lines_are_fine() -> None:
    parser = SSEParser(max_line=8)
    assert parser.feed(b"data: 01") == []
    assert [e.data for e in parser.feed(b"\n\n" + b"data: a\n" * 100 + b"\n")] == ["01", "\n".join("a" * 100)]


def test_parsing_recorded_chunks_stops_at_a_line_over_the_cap_without_raising() -> None:
    """A recording of a stream the live read gave up on is parsed (to save it, to replay it) as far as it went."""
    long = b"data: " + b"x" * (DEFAULT_MAX_LINE + 1) + b"\n\n"
    events, pending = parse_events([(0.0, b"data: a\n\n"), (1.0, long), (2.0, b"data: b\n\n")])
    assert [e.data for e in events] == ["a"] and pending

"""Fuzzing: whatever a server sends, the parser and the checks answer with findings, never a crash.

A crashed check becomes a `harness.check_crashed` finding, which turns a cell into ERROR and hides
what the server did wrong; so these tests fail on any such finding, and on any finding whose rule
is not declared in the registry.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import io
import itertools
import json
import re
import tempfile
import unicodedata
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conformance import safejson
from conformance.checks import RULES, run_checks
from conformance.checks.core import RESPONSE_CHECKS, answer_mentions, echoes_instructions
from conformance.checks.errors import rejected_with
from conformance.checks.http import COMMON_CHECKS
from conformance.checks.streaming import STREAM_CHECKS
from conformance.decoding import BoundedDecoder
from conformance.evidence import Exchange, Finding
from conformance.paths import RESERVED, decode_name, file_name
from conformance.records import ResultLine
from conformance.redact import REDACTED, scrub, scrub_across
from conformance.results import read_results, set_aside_torn_tail
from conformance.schemas import known_event_types
from conformance.sse import SSEError, SSEParser, parse_events
from conformance.terminal import inert, one_line
from conformance.urls import UnsafeValue, segment, under_base
from tests.exchanges import (
    RESULT_LINE,
    conformant_response,
    conformant_stream,
    exchange,
    request,
    stream_exchange,
)

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ALL_CHECKS = (
    *COMMON_CHECKS,
    *STREAM_CHECKS,
    *RESPONSE_CHECKS,
    echoes_instructions,
    answer_mentions("hello"),
    rejected_with(400),
)
EVENT_TYPES = sorted(known_event_types())
# Keys the checks read; fuzzed objects draw from them often, so the checks' deeper paths get exercised.
KEYS = [
    "type",
    "response",
    "output",
    "item",
    "id",
    "item_id",
    "output_index",
    "content_index",
    "sequence_number",
    "delta",
    "text",
    "part",
    "content",
    "status",
    "usage",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "instructions",
    "error",
    "message",
    "arguments",
    "role",
]
STATUSES = st.sampled_from([200, 200, 200, 201, 400, 404, 422, 429, 500, 503])
CONTENT_TYPES = st.sampled_from(["application/json", "text/event-stream", "text/plain", "", "application/json; x=1"])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(EVENT_TYPES)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)
typed_events = st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.sampled_from(EVENT_TYPES) | st.text(max_size=10),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
)
payloads = typed_events | json_values | st.text(max_size=20)
request_bodies = st.just(request()) | json_values.map(json.dumps) | st.text(max_size=20)


def assert_no_crash(findings: list[Finding]) -> None:
    crashes = [f.message for f in findings if f.rule == "harness.check_crashed"]
    assert not crashes, crashes
    assert {f.rule for f in findings} <= set(RULES)
    assert all(f.level is RULES[f.rule].level and isinstance(f.message, str) for f in findings)


def slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) inside a JSON value, so a mutation can reach any depth."""
    found: list[tuple[Any, Any]] = []
    keys = value.keys() if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else ()
    for key in keys:
        found.append((value, key))
        found.extend(slots(value[key]))
    return found


def drop(draw: st.DrawFn, events: list[Any]) -> None:
    if events:
        del events[draw(st.integers(0, len(events) - 1))]


def duplicate(draw: st.DrawFn, events: list[Any]) -> None:
    if events:
        i = draw(st.integers(0, len(events) - 1))
        events.insert(draw(st.integers(0, len(events))), copy.deepcopy(events[i]))


def swap(draw: st.DrawFn, events: list[Any]) -> None:
    if events:
        i, j = draw(st.integers(0, len(events) - 1)), draw(st.integers(0, len(events) - 1))
        events[i], events[j] = events[j], events[i]


def delete_key(draw: st.DrawFn, value: Any) -> None:
    keyed = [(container, key) for container, key in slots(value) if isinstance(container, dict)]
    if keyed:
        container, key = draw(st.sampled_from(keyed))
        del container[key]


def retype(draw: st.DrawFn, value: Any) -> None:
    """Replace a value anywhere with one of another JSON type."""
    found = slots(value)
    if found:
        container, key = draw(st.sampled_from(found))
        old = type(container[key])
        container[key] = draw(json_values.filter(lambda new: type(new) is not old))


Mutation = Callable[[st.DrawFn, Any], None]
STREAM_MUTATIONS: list[Mutation] = [drop, duplicate, swap, delete_key, retype]


@st.composite
def mutated(draw: st.DrawFn, value: Any, mutations: list[Mutation]) -> Any:
    value = copy.deepcopy(value)
    for _ in range(draw(st.integers(1, 4))):
        draw(st.sampled_from(mutations))(draw, value)
    return value


def stream_variants() -> st.SearchStrategy[list[Any]]:
    pieces = st.lists(st.text(max_size=5), min_size=1, max_size=3)
    return pieces.flatmap(lambda p: mutated(conformant_stream(p), STREAM_MUTATIONS)) | st.lists(payloads, max_size=12)


@st.composite
def streamed(draw: st.DrawFn) -> Exchange:
    events = draw(stream_variants())
    size = len(events)
    names = draw(st.booleans() | st.lists(st.none() | st.sampled_from(EVENT_TYPES), min_size=size, max_size=size))
    return stream_exchange(
        events,
        names=names,
        offsets=draw(st.lists(st.floats(0, 1e6), min_size=size, max_size=size)),
        status=draw(STATUSES),
        headers={"content-type": draw(CONTENT_TYPES)},
        request_body=draw(request_bodies),
    )


bodies = mutated(conformant_response(), [delete_key, retype]) | json_values | st.text(max_size=30)


@st.composite
def answered(draw: st.DrawFn) -> Exchange:
    body = draw(bodies)
    text = body if isinstance(body, str) and draw(st.booleans()) else json.dumps(body)
    headers = {"content-type": draw(CONTENT_TYPES)}
    return exchange(status=draw(STATUSES), headers=headers, body=text, request_body=draw(request_bodies))


@FUZZ
@given(st.lists(streamed(), min_size=1, max_size=2))
def test_no_check_crashes_on_any_stream(exchanges: list[Exchange]) -> None:
    assert_no_crash(run_checks(ALL_CHECKS, exchanges))


@FUZZ
@given(st.lists(answered(), min_size=1, max_size=2))
def test_no_check_crashes_on_any_json_answer(exchanges: list[Exchange]) -> None:
    assert_no_crash(run_checks(ALL_CHECKS, exchanges))


# Bytes the parser treats specially: field names, separators, line breaks, a BOM, broken UTF-8, NUL.
SSE_TOKENS = [
    b"data:",
    b"event:",
    b"id:",
    b"retry:",
    b" ",
    b":",
    b"\r",
    b"\n",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\x00",
    b"a",
    b"7",
    b"{}",
]
wire = st.binary(max_size=200) | st.lists(st.sampled_from(SSE_TOKENS), max_size=60).map(b"".join)


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A byte stream and the same bytes cut at arbitrary places (empty chunks included)."""
    data = draw(wire)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(bounds)]


def fields(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.data, e.event, e.id, e.retry) for e in events]


@FUZZ
@given(chunked())
def test_sse_parser_never_raises_and_chunking_never_changes_the_events(stream: tuple[bytes, list[bytes]]) -> None:
    data, chunks = stream
    whole, whole_pending = parse_events([(0.0, data)])
    split, split_pending = parse_events([(float(i), c) for i, c in enumerate(chunks)])
    assert fields(split) == fields(whole)
    assert split_pending == whole_pending
    for event in split:
        assert not {"\r", "\n"} & set((event.event or "") + (event.id or ""))
        assert "\r" not in event.data


def longest_line(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    return max(len(line) for line in re.split(r"\r\n|\r|\n", text))


@FUZZ
@given(chunked())
def test_sse_parser_raises_only_for_a_line_over_the_cap(stream: tuple[bytes, list[bytes]]) -> None:
    data, chunks = stream
    parser = SSEParser(max_line=16)
    try:
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()
    except SSEError:
        assert longest_line(data) > 16


# -- round two: the parsers and encoders every hostile value goes through --------------------------------

NESTED = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20,
)


@FUZZ
@given(st.text(alphabet='[]{}"\\:,0123456789.eE-+ NaInfityrulsx', max_size=300), st.integers(1, 3000))
def test_safe_json_raises_only_its_problem(text: str, nesting: int) -> None:
    for candidate in (text, "[" * nesting + text + "]" * nesting, '{"a":' * nesting + text + "}" * nesting):
        try:
            value = safejson.loads(candidate)
        except safejson.JSONProblem:
            continue
        assert safejson.depth(value) <= safejson.MAX_DEPTH
        json.dumps(value, allow_nan=False)  # what was accepted can be written, and walked, again


@FUZZ
@given(NESTED)
def test_safe_json_reads_what_json_writes(value: Any) -> None:
    assert safejson.loads(json.dumps(value)) == value


@FUZZ
@given(st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=6, unique=True))
def test_file_names_are_reversible_distinct_and_inert(names: list[str]) -> None:
    names = [n for n in names if n not in (".", "..")]
    encoded = [file_name(n) for n in names]
    assert len(set(encoded)) == len(encoded), "distinct ids, distinct files"
    for name, enc in zip(names, encoded, strict=True):
        head, hashed, _ = enc.partition("~")
        assert decode_name(enc) == name if not hashed else name.startswith(decode_name(head))
        assert re.fullmatch(r"[A-Za-z0-9._%~-]+", enc) and not enc.startswith(".")
        assert len(enc.encode()) <= 200 and enc not in RESERVED


@FUZZ
@given(st.text(max_size=400))
def test_long_file_names_stay_short_and_distinct(tail: str) -> None:
    a, b = "m" * 300 + tail, "m" * 300 + tail + "x"
    assert file_name(a) != file_name(b) and max(len(file_name(a)), len(file_name(b))) <= 200


@FUZZ
@given(st.text(max_size=300))
def test_a_segment_is_refused_or_stays_under_the_base(value: str) -> None:
    base = "https://api.example.test/v1"
    try:
        part = segment(value)
    except UnsafeValue:
        return
    url = str(httpx.URL(f"{base}/responses/{part}"))
    under_base(url, base)
    assert re.fullmatch(r"[A-Za-z0-9._~%-]+", part) and unquote(part) == value


SECRET = "sk-Fuzz/Key-0123456789"


INVISIBLE = ["", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\\u200b", "&#8203;", "&#xFEFF;"]


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """The secret as a server may echo it: each character in either case, JSON-escaped, %- or \\x-encoded,
    or an HTML character reference; an invisible character (or an escape of one) between any two."""
    out = []
    for char in SECRET:
        form = draw(st.sampled_from(["same", "upper", "lower", "json", "pct", "hex", "entity", "hexentity"]))
        out.append(
            {
                "same": char,
                "upper": char.upper(),
                "lower": char.lower(),
                "json": f"\\u{ord(char):04x}",
                "pct": f"%{ord(char):02X}",
                "hex": f"\\x{ord(char):02x}",
                "entity": f"&#{ord(char)};",
                "hexentity": f"&#x{ord(char):X};",
            }[form]
            + draw(st.sampled_from(INVISIBLE))
        )
    return "".join(out)


@FUZZ
@given(st.text(max_size=50), disguised(), st.text(max_size=50))
def test_scrub_finds_the_key_in_any_disguise(before: str, key: str, after: str) -> None:
    assert REDACTED in scrub(before + key + after, [SECRET])
    assert SECRET.lower() not in scrub(before + key + after, [SECRET]).lower()


@FUZZ
@given(st.binary(max_size=20), st.binary(max_size=20), st.booleans())
def test_scrub_finds_the_key_in_base64_whatever_surrounds_it(before: bytes, after: bytes, url_safe: bool) -> None:
    """Base64 of a text holding the key: which characters hold it depends on where it starts in a 3-byte group."""
    encode = base64.urlsafe_b64encode if url_safe else base64.b64encode
    text = encode(before + SECRET.encode() + after).decode()
    clean = scrub(f"token {text} end", [SECRET])
    assert REDACTED in clean
    for lead in range(3):  # the middle of the key's base64, however it was aligned, is gone
        assert encode(bytes(lead) + SECRET.encode()).decode()[4:-4] not in clean


@FUZZ
@given(st.text(max_size=30), disguised(), st.text(max_size=30))
def test_scrub_finds_the_key_in_recorded_bytes_read_one_per_character(before: str, key: str, after: str) -> None:
    """Recorded bytes are searched as Latin-1 text, where an invisible character is three characters."""
    raw = (before + key + after).encode("utf-8").decode("latin-1")
    assert REDACTED in scrub(raw, [SECRET])


@FUZZ
@given(st.lists(st.integers(1, len(SECRET) - 1), min_size=1, max_size=4, unique=True), st.text(max_size=20))
def test_a_key_split_across_deltas_is_cut_from_every_share(cuts: list[int], prefix: str) -> None:
    text = prefix + SECRET + " tail"
    bounds = [0, *sorted(c + len(prefix) for c in cuts), len(text)]
    deltas = [text[a:b] for a, b in itertools.pairwise(bounds)]
    pieces = [json.dumps({"type": "response.output_text.delta", "delta": d}) for d in deltas]
    joined = "".join(json.loads(p)["delta"] for p in scrub_across(pieces, [SECRET]))
    assert SECRET not in joined and REDACTED in joined


@FUZZ
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4), st.integers(1, 64), st.booleans())
def test_bounded_decoder_undoes_every_member_and_coding(members: list[bytes], step: int, stacked: bool) -> None:
    body = b"".join(gzip.compress(m) for m in members)
    header = "gzip"
    if stacked:
        body, header = gzip.compress(zlib.compress(body)), "gzip, deflate, gzip"  # in the order applied
    decoder = BoundedDecoder(header, 1 << 20)
    out = b"".join(decoder.decode(body[i : i + step]) for i in range(0, len(body), step)) + decoder.flush()
    assert out == b"".join(members)


@FUZZ
@given(st.text(st.characters(exclude_categories=())))  # lone surrogates too: a JSON escape makes one
@example("model \ud800 id")
def test_terminal_output_is_inert(text: str) -> None:
    for shown in (inert(text), one_line(text)):
        assert not [c for c in shown if unicodedata.category(c) == "Cc" and c not in "\n\t"]
        assert not set(shown) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
        shown.encode("utf-8")  # raises on a lone surrogate
    assert "\n" not in one_line(text)


# A key the line types ("drift", "tries") is held to its type, so only other keys are free-form.
UNTYPED_KEYS = st.text(max_size=5).filter(lambda key: key not in ResultLine.model_fields)


@FUZZ
@given(
    st.lists(st.dictionaries(UNTYPED_KEYS, NESTED, max_size=3).map(lambda d: {**d, **RESULT_LINE}), max_size=5),
    st.binary(max_size=80),
)
def test_a_torn_tail_is_set_aside_and_the_rest_reads_back(records: list[dict[str, Any]], tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.jsonl"
        lines = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)  # as the writer does
        path.write_bytes(lines + tail.replace(b"\n", b""))
        with contextlib.redirect_stderr(io.StringIO()):
            set_aside_torn_tail(path)
        assert path.read_bytes() == lines
        assert [record.written() for record in read_results(path)] == records

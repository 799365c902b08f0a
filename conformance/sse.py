"""An incremental server-sent-events parser that follows the WHATWG event-stream rules, but one.

It keeps the arrival time of each event, which is why it is ours and not a library's: the streaming
checks need to know *when* each event arrived, not just what it said.

The one departure is a block that ends without a `data:` line. WHATWG drops it; the official SDKs'
decoders dispatch it as an event with empty data, which they then parse as JSON and raise on
(openai-python issues #2722 and #3833: a gateway's `retry: 3000` block ends the stream). Such a
block is kept as an event with empty data when the SDKs would dispatch it: when it named an event
(both SDKs) or set a retry (the Python SDK), and at every blank line once an id has been set, since
the Python SDK checks the last event id, which persists, to decide whether a blank line ends an
event. So the checks judge the events a client's decoder reads.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from conformance.evidence import SSEEvent

DEFAULT_MAX_LINE = 2 * 1024 * 1024  # under the body cap, so a runaway line is named as such
MAX_RETRY_DIGITS = 10  # a `retry:` longer than this is ignored, like any invalid field value
_BREAK = re.compile(r"\r\n|\r|\n")


class SSEError(ValueError):
    """The stream cannot be parsed further (a line beyond the size cap)."""


@dataclass
class SSEParser:
    """Feed it bytes as they arrive; it returns each event once its blank line is seen.

    An event with no closing blank line at the end of the stream is discarded, as the spec says;
    `pending` tells whether that happened.
    """

    max_line: int = DEFAULT_MAX_LINE
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    _pieces: list[str] = field(default_factory=list)  # the current line, as it arrived
    _line_len: int = 0
    _after_cr: bool = False
    _started: bool = False
    _data: list[str] = field(default_factory=list)
    _event: str | None = None
    _last_id: str | None = None
    _retry: int | None = None
    _has_fields: bool = False
    _retry_set: bool = False  # this block set a valid retry
    _strict: codecs.IncrementalDecoder | None = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")())
    comments: int = 0

    @property
    def valid_utf8(self) -> bool:
        """False once the stream held bytes that are not UTF-8 (they were replaced by U+FFFD)."""
        return self._strict is not None

    @property
    def pending(self) -> bool:
        """True when bytes of an unfinished event are buffered."""
        return self._has_fields or self._line_len > 0

    def feed(self, chunk: bytes, offset_ms: float = 0.0) -> list[SSEEvent]:
        self._check_utf8(chunk)
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        return self._consume(text, offset_ms)

    def close(self, offset_ms: float = 0.0) -> list[SSEEvent]:
        """Flush the decoder; a final unterminated line ends the stream without dispatching."""
        self._check_utf8(b"", final=True)
        return self._consume(self._decoder.decode(b"", final=True), offset_ms)

    def _check_utf8(self, chunk: bytes, final: bool = False) -> None:
        if self._strict is not None:
            try:
                self._strict.decode(chunk, final=final)
            except UnicodeDecodeError:
                self._strict = None

    def _consume(self, text: str, offset_ms: float) -> list[SSEEvent]:
        """Split at CRLF, CR or LF (found by a regex, not char by char); a CR ending one chunk may pair with an LF."""
        events: list[SSEEvent] = []
        start = 0
        if self._after_cr and text.startswith("\n"):
            start = 1
        if text:
            self._after_cr = False
        for match in _BREAK.finditer(text, start):
            if match.group() == "\r" and match.end() == len(text):
                self._after_cr = True  # the LF of a CRLF may come with the next chunk
            self._add(text[start : match.start()])
            line = "".join(self._pieces)
            self._pieces, self._line_len = [], 0
            start = match.end()
            event = self._process_line(line, offset_ms)
            if event is not None:
                events.append(event)
        self._add(text[start:])
        return events

    def _add(self, piece: str) -> None:
        if piece:
            self._pieces.append(piece)
            self._line_len += len(piece)
            if self._line_len > self.max_line:
                raise SSEError(f"an event-stream line exceeds {self.max_line} characters")

    def _process_line(self, line: str, offset_ms: float) -> SSEEvent | None:
        if line == "":
            return self._dispatch(offset_ms)
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self._has_fields = True
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= MAX_RETRY_DIGITS:
            self._retry = int(value)
            self._retry_set = True
        return None

    def _dispatch(self, offset_ms: float) -> SSEEvent | None:
        data, event, retry_set = self._data, self._event, self._retry_set
        self._data, self._event, self._has_fields, self._retry_set = [], None, False, False
        if not data and not (event or retry_set or self._last_id):
            return None
        return SSEEvent(data="\n".join(data), event=event, id=self._last_id, retry=self._retry, offset_ms=offset_ms)


def parse_events(chunks: list[tuple[float, bytes]]) -> tuple[list[SSEEvent], bool]:
    """Parse timed chunks at once; returns the events and whether an unterminated event was dropped.

    Recorded chunks are parsed for what a reader got of them, so this never raises: a line over the
    parser's cap ends the events there, as it ended the live read (whose error the recording keeps).
    """
    parser = SSEParser()
    events: list[SSEEvent] = []
    last = 0.0
    try:
        for offset_ms, chunk in chunks:
            events.extend(parser.feed(chunk, offset_ms))
            last = offset_ms
    except SSEError:
        return events, True
    events.extend(parser.close(last))
    return events, parser.pending

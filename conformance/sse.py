"""An incremental server-sent-events parser that follows the WHATWG event-stream rules.

It keeps the arrival time of each event, which is why it is ours and not a library's: the streaming
checks need to know *when* each event arrived, not just what it said.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from conformance.evidence import SSEEvent

DEFAULT_MAX_LINE = 16 * 1024 * 1024


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
    _line: str = ""
    _after_cr: bool = False
    _started: bool = False
    _data: list[str] = field(default_factory=list)
    _event: str | None = None
    _last_id: str | None = None
    _retry: int | None = None
    _has_fields: bool = False
    _strict: codecs.IncrementalDecoder | None = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")())
    comments: int = 0

    @property
    def valid_utf8(self) -> bool:
        """False once the stream held bytes that are not UTF-8 (they were replaced by U+FFFD)."""
        return self._strict is not None

    @property
    def pending(self) -> bool:
        """True when bytes of an unfinished event are buffered."""
        return self._has_fields or bool(self._line)

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
        events: list[SSEEvent] = []
        start = 0
        for i, ch in enumerate(text):
            if ch == "\n" and self._after_cr:
                self._after_cr = False
                start = i + 1
                continue
            self._after_cr = False
            if ch in "\r\n":
                self._line += text[start:i]
                start = i + 1
                self._after_cr = ch == "\r"
                event = self._process_line(self._line, offset_ms)
                self._line = ""
                if event is not None:
                    events.append(event)
        self._line += text[start:]
        if len(self._line) > self.max_line:
            raise SSEError(f"an event-stream line exceeds {self.max_line} characters")
        return events

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
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self, offset_ms: float) -> SSEEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._has_fields = [], None, False
        if not data:
            return None
        return SSEEvent(data="\n".join(data), event=event, id=self._last_id, retry=self._retry, offset_ms=offset_ms)


def parse_events(chunks: list[tuple[float, bytes]]) -> tuple[list[SSEEvent], bool]:
    """Parse timed chunks at once; returns the events and whether an unterminated event was dropped."""
    parser = SSEParser()
    events: list[SSEEvent] = []
    last = 0.0
    for offset_ms, chunk in chunks:
        events.extend(parser.feed(chunk, offset_ms))
        last = offset_ms
    events.extend(parser.close(last))
    return events, parser.pending

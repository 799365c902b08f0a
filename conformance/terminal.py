"""Everything the suite prints passes through here: text from catalogs and servers is made inert.

A model id or an error message is chosen by whoever runs the endpoint; printed raw, an escape
sequence in it could rewrite the terminal (move the cursor, retitle the window, fake earlier lines).
C0 and C1 control characters, DEL and the bidirectional overrides are shown as escapes instead, and
so are lone surrogates (a JSON `\\ud800` escape decodes to one), which no terminal encoding can
write; newline and tab stay, since the suite's own output is made of lines. A server may also echo the
API key in any text it sends; whatever line quotes it, the key is scrubbed here on the way out.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from conformance.redact import scrub_guarded

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_CONTROL_OR_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str) -> str:
    """The text with every control character escaped, keeping newlines and tabs."""
    return _CONTROL.sub(_escape, text)


def one_line(text: str) -> str:
    """A server-chosen value for a single line of output: newlines escaped as well."""
    return _CONTROL_OR_LINE.sub(_escape, text)


class InertStream(io.TextIOBase):
    """A text stream that scrubs guarded secrets and escapes control characters on their way to the real one."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(inert(scrub_guarded(text)))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()


@contextmanager
def inert_output() -> Iterator[None]:
    """Within the block, stdout and stderr scrub guarded secrets and escape control characters."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = InertStream(saved[0]), InertStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved

"""Content-encoding undone chunk by chunk, with a bound on what it may inflate to.

httpx's own decoders inflate a whole chunk at once, so a small gzip bomb can take gigabytes; this
one stops at the limit. The suite only asks for the encodings it can bound (gzip, deflate).
"""

from __future__ import annotations

import zlib

ACCEPT_ENCODING = "gzip, deflate"


class DecodeLimit(ValueError):
    """The decoded body would exceed the limit."""


class DecodeError(ValueError):
    """The body is not valid for its declared content-encoding."""


class BoundedDecoder:
    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding.strip().lower()
        self.limit = limit
        self.total = 0
        self._zlib = self._decompressor(self.encoding)
        self._first = True

    @staticmethod
    def _decompressor(encoding: str) -> zlib._Decompress | None:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        if encoding == "deflate":
            return zlib.decompressobj(zlib.MAX_WBITS)
        return None

    def decode(self, chunk: bytes) -> bytes:
        if self._zlib is None:
            return self._count(chunk)
        if self._first and self.encoding == "deflate" and chunk and (chunk[0] & 0x0F) != 8:
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
        self._first = False
        try:
            data = self._zlib.decompress(chunk, self.limit - self.total + 1)
        except zlib.error as exc:
            raise DecodeError(f"invalid {self.encoding} data: {exc}") from None
        if self._zlib.unconsumed_tail:
            raise DecodeLimit(f"the {self.encoding} body inflates past {self.limit} bytes; reading stopped")
        return self._count(data)

    def flush(self) -> bytes:
        return self._count(self._zlib.flush()) if self._zlib is not None else b""

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.limit:
            raise DecodeLimit(f"the body exceeds {self.limit} bytes; reading stopped")
        return data

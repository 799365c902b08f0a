"""Content-encoding undone chunk by chunk, with a bound on what it may inflate to.

httpx's own decoders inflate a whole chunk at once, so a small gzip bomb can take gigabytes; this
one stops at the limit. The suite only asks for the encodings it can bound (gzip, deflate). Every
answer body is decoded here, never by httpx (`read`, `iter_bytes`), whose decoders also undo zstd
and br, whole chunks at a time: one 8 KB zstd chunk inflated to 256 MB in a preflight.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

ACCEPT_ENCODING = "gzip, deflate"
MAX_BODY_BYTES = 4 * 1024 * 1024  # decoded body or stream a cell reads before the read is stopped
# Codings undone at most: a proxy may add one to the server's, but each costs a decompressor and its
# window, and a 64 KB header of `gzip,` x 3,000 over a body coded as often took 240 MB and 8 s.
MAX_CODINGS = 4


class DecodeLimit(ValueError):
    """The decoded body would exceed the limit."""


class DecodeError(ValueError):
    """The body is not valid for its declared content-encoding."""


class _Inflater:
    """One content-coding undone incrementally; gzip may hold several members, one after another."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.total = 0
        self._zlib: zlib._Decompress | None = None

    def _start(self, first: int) -> zlib._Decompress:
        if self.coding in GZIP:
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        raw = (first & 0x0F) != 8  # raw deflate, as some servers send it, has no zlib header
        return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            if self._zlib is None:
                if not data.strip(b"\x00"):
                    return bytes(out)  # zero padding after the last member, as gzip(1) tolerates
                self._zlib = self._start(data[0])
            try:
                chunk = self._zlib.decompress(data, self.limit - self.total + 1)
            except zlib.error as exc:
                raise DecodeError(f"invalid {self.coding} data: {exc}") from None
            if self._zlib.unconsumed_tail:
                raise DecodeLimit(f"the {self.coding} body inflates past {self.limit} bytes; reading stopped")
            self.total += len(chunk)
            if self.total > self.limit:
                raise DecodeLimit(f"the {self.coding} body inflates past {self.limit} bytes; reading stopped")
            out += chunk
            data = b""
            if self._zlib.eof:
                data, self._zlib = self._zlib.unused_data, None
                if data and self.coding not in GZIP:
                    raise DecodeError(f"invalid {self.coding} data: bytes after the end of the stream")
        return bytes(out)

    def flush(self) -> bytes:
        return self._zlib.flush() if self._zlib is not None else b""


GZIP = ("gzip", "x-gzip")
KNOWN = (*GZIP, "deflate")


def codings(header: str) -> list[str]:
    """The content-codings of a header, in the order they were applied (`identity` means none)."""
    return [c for c in (part.strip().lower() for part in header.split(",")) if c and c != "identity"]


class BoundedDecoder:
    """Undoes every coding of the header (last applied first), each stage bounded by `limit`.

    A coding it does not know (br, zstd: the suite never asks for them), or more than MAX_CODINGS of
    them, leaves the body as it came, which the checks then read as what it is; `supported` says so.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding.strip().lower()
        self.limit = limit
        self.total = 0
        applied = codings(encoding)
        self.supported = len(applied) <= MAX_CODINGS and all(c in KNOWN for c in applied)
        self._stages = [_Inflater(c, limit) for c in reversed(applied)] if self.supported else []

    def decode(self, chunk: bytes) -> bytes:
        for stage in self._stages:
            chunk = stage.feed(chunk)
        return self._count(chunk)

    def flush(self) -> bytes:
        data = b""
        for stage in self._stages:
            data = stage.feed(data) + stage.flush()
        return self._count(data)

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.limit:
            raise DecodeLimit(f"the body exceeds {self.limit} bytes; reading stopped")
        return data


def decoded_head(raw: Iterable[bytes], encoding: str, limit: int) -> bytes:
    """At most `limit` bytes of a body's start, its codings undone with a bound; reading stops at the limit,
    or where the data stops decoding, keeping what was decoded before."""
    decoder = BoundedDecoder(encoding, 2 * limit)  # room for the one raw read that crosses the limit
    data = bytearray()
    try:
        for chunk in raw:
            data += decoder.decode(chunk)
            if len(data) >= limit:
                break
        else:
            data += decoder.flush()
    except (DecodeError, DecodeLimit):
        pass
    return bytes(data[:limit])


def decode_pieces(encoding: str, pieces: list[bytes], limit: int) -> list[bytes] | None:
    """Each piece decoded as it would be on arrival (what the last flushes out joins the last), or None when
    a coding is unknown or the data does not decode; DecodeLimit past `limit`."""
    decoder = BoundedDecoder(encoding, limit)
    if not decoder.supported:
        return None
    try:
        decoded = [decoder.decode(piece) for piece in pieces]
        tail = decoder.flush()
    except DecodeError:
        return None
    if decoded:
        decoded[-1] += tail
    return decoded


def encode_pieces(encoding: str, pieces: list[bytes]) -> list[bytes]:
    """The pieces coded again with the header's (known) codings, each flushed whole, so that each decodes
    on arrival, where it did before; x-gzip is written as gzip, which it is."""
    packers = [zlib.compressobj(wbits=31 if c in GZIP else zlib.MAX_WBITS) for c in codings(encoding)]
    out = []
    for i, piece in enumerate(pieces):
        mode = zlib.Z_FINISH if i == len(pieces) - 1 else zlib.Z_SYNC_FLUSH
        for packer in packers:
            piece = packer.compress(piece) + packer.flush(mode)
        out.append(piece)
    return out

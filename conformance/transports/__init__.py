"""httpx transports for the three ways the suite runs: live, record and replay.

A transport is one method, `handle_request(request) -> Response`; recording and replaying are
transports that wrap the real one, so probes and checks never know which they got.

    httpx.BaseTransport
     ├── httpx.HTTPTransport        live: the network
     ├── NoNetworkTransport         refuses every request (replay's stand-in for the network)
     ├── CassetteTransport          replays from, and records into, one cassette
     └── CheckedTransport           passes on only answers httpx's client can take in (live, catalogs)

A paced transport checks its answers alike, so a replayed cassette is checked as a live answer is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path

import httpx

from conformance.decoding import MAX_BODY_BYTES, DecodeLimit, codings, decode_pieces, encode_pieces
from conformance.redact import redact_headers, scrub
from conformance.transports.cassette import (
    Cassette,
    CassetteError,
    Chunk,
    Incoming,
    Interaction,
    load_cassette,
    scrub_chunks,
    scrub_json,
    scrub_stream,
)

# The response extension through which a cassette transport hands the runner the Interaction whose
# chunk offsets and elapsed time it records (or recorded), so live-recorded and replayed evidence match.
TIMING_EXTENSION = "conformance.timing"


class RecordMode(str, Enum):
    """vcrpy's record modes with vcrpy's meanings, and pytest-recording's `rewrite`, so users feel at home."""

    NONE = "none"  # replay only; a request not in the cassette is an error
    ONCE = "once"  # record when the cassette does not exist, else behave like none
    NEW_EPISODES = "new_episodes"  # replay what matches, record what does not
    ALL = "all"  # record every request, never replay; what the cassette held is kept, the new tries follow it
    REWRITE = "rewrite"  # the cassette starts empty: record every request afresh (re-recording)

    @classmethod
    def parse(cls, value: str) -> RecordMode:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown record mode {value!r}; choose one of: {allowed}") from None


class NetworkDisabled(httpx.TransportError):
    """Raised instead of opening a socket when the suite runs offline."""


class CassetteMiss(httpx.TransportError):
    """A replayed request has no recorded twin."""


class UnusableAnswer(httpx.RemoteProtocolError):
    """An answer httpx's client cannot take in, such as a redirect whose Location is no URL: a transport
    error with the exchange as its evidence, where httpx would raise past its own HTTPError class."""


# What httpx raises about what a server sent: HTTPError, and the two it raises outside that class.
CLIENT_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict)
REDIRECTS = (301, 302, 303, 307, 308)  # the statuses whose Location httpx builds a next request from
DRAIN_BYTES = 1024 * 1024  # how much of an answer set aside is read (and so recorded) before it is closed


def followable(request: httpx.Request, response: httpx.Response) -> None:
    """UnusableAnswer when httpx's client would fail building the redirect from this answer's Location.

    The client resolves a Location even when it follows no redirect, and a `javascript:` URL or an
    invalid IDNA host raises InvalidURL or UnicodeError there. This resolves it as the client does
    (httpx 0.28 `Client._redirect_url`) before the answer leaves the transport; the answer is read up to
    DRAIN_BYTES (so a cassette keeps it) and closed.
    """
    location = response.headers.get("location") if response.status_code in REDIRECTS else None
    if location is None:
        return
    try:
        url = httpx.URL(location)
        if url.scheme and not url.host:
            url = url.copy_with(host=request.url.host)
        if url.is_relative_url:
            request.url.join(url)
    except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError is a ValueError
        drain(response)
        shown = ascii(location[:120])
        raise UnusableAnswer(
            f"the {response.status_code} answer's Location {shown} is not a URL a client can follow: {exc}",
            request=request,
        ) from None


def drain(response: httpx.Response) -> None:
    """Read up to DRAIN_BYTES of an answer set aside, then close it; a failure reading it is already recorded."""
    read = 0
    try:
        for chunk in response.stream:  # type: ignore[union-attr]  # a transport's response is a sync stream
            read += len(chunk)
            if read >= DRAIN_BYTES:
                break
    except httpx.TransportError:
        pass
    finally:
        response.close()


class CheckedTransport(httpx.BaseTransport):
    """Passes on only answers httpx's client can take in (`followable`), for clients that are not paced."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        followable(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


class NoNetworkTransport(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise NetworkDisabled(
            f"network access disabled (replay): {request.method} {request.url} is not in the cassette",
            request=request,
        )


class _ReplayStream(httpx.SyncByteStream):
    def __init__(self, interaction: Interaction, request: httpx.Request) -> None:
        self._interaction = interaction
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._interaction.chunks:
            yield chunk.data
        if self._interaction.error is not None:
            raise _recorded_error(self._interaction, self._request)


class ReplayedError(httpx.TransportError):
    """A failure that was recorded live (a timeout, a reset, an abort), raised again on replay.

    `recorded` is the exact text the live run reported, so replayed evidence is identical.
    """

    def __init__(self, recorded: str, request: httpx.Request) -> None:
        super().__init__(recorded, request=request)
        self.recorded = recorded


_TIMING_ATTR = "conformance_timing"


def timing_of(exc: BaseException) -> Interaction | None:
    """The Interaction a request that failed before any answer was recorded, or replayed, as.

    Its elapsed time is the evidence's, live and on replay alike; timing the failure afresh would not be.
    """
    return getattr(exc, _TIMING_ATTR, None)


def _recorded_error(interaction: Interaction, request: httpx.Request) -> ReplayedError:
    error = ReplayedError(interaction.error or "unknown recorded error", request)
    setattr(error, _TIMING_ATTR, interaction)
    return error


class _TeeStream(httpx.SyncByteStream):
    """Passes the live stream through, writing each chunk and its arrival time into the cassette."""

    def __init__(
        self, inner: httpx.SyncByteStream, interaction: Interaction, started: float, owner: CassetteTransport
    ) -> None:
        self._inner = inner
        self._interaction = interaction
        self._started = started
        self._owner = owner

    def __iter__(self) -> Iterator[bytes]:
        try:
            for data in self._inner:
                if data:
                    offset = (time.perf_counter() - self._started) * 1000
                    self._interaction.chunks.append(Chunk(offset, data))
                    yield data
        except httpx.TransportError as exc:
            self._interaction.error = self._owner.scrub(f"{type(exc).__name__}: {exc}")
            self._interaction.error_type = type(exc).__name__
            raise
        finally:
            if not self._interaction.elapsed_ms:
                self._interaction.elapsed_ms = (time.perf_counter() - self._started) * 1000

    def close(self) -> None:
        self._inner.close()
        self._owner.dirty = True


class CassetteTransport(httpx.BaseTransport):
    """Replays one probe's cassette and, as the record mode allows, records into it.

    Replay matches on method, URL and JSON body, consuming interactions in order, so a probe that
    sends the same request twice gets both answers back in sequence.
    """

    def __init__(
        self,
        cassette_file: Path,
        mode: RecordMode,
        inner: httpx.BaseTransport | None,
        *,
        provider: str,
        model: str,
        probe: str,
        secrets: Sequence[str] = (),
    ) -> None:
        self.mode = mode
        self.secrets = [s for s in secrets if s]
        self.inner = inner or NoNetworkTransport()
        exists = cassette_file.exists()
        if mode is RecordMode.NONE and not exists:
            raise CassetteError(cassette_file, "no such cassette, and record mode none never records")
        if exists and mode is not RecordMode.REWRITE:
            self.cassette = load_cassette(cassette_file)
        else:
            self.cassette = Cassette(cassette_file, provider, model, probe)
        never_replays = mode in (RecordMode.ALL, RecordMode.REWRITE)
        self._replayable = [] if never_replays else list(self.cassette.interactions)
        self._canonical: dict[int, str] = {}  # a replayable interaction's body as JSON, by id, once needed
        self.can_record = never_replays or mode is RecordMode.NEW_EPISODES or (mode is RecordMode.ONCE and not exists)
        self.dirty = False

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def _incoming(self, request: httpx.Request) -> Incoming:
        body = request.read().decode("utf-8", errors="replace")
        return Incoming(request.method.upper(), self.scrub(str(request.url)), self.scrub(body))

    def has_recording(self, request: httpx.Request) -> bool:
        """Whether a twin of this request is still waiting to be replayed (so a retry has an answer)."""
        incoming = self._incoming(request)
        return any(incoming.matches(interaction, self._canonical) for interaction in self._replayable)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        incoming = self._incoming(request)
        for i, interaction in enumerate(self._replayable):
            if incoming.matches(interaction, self._canonical):
                del self._replayable[i]
                return self._replay(interaction, request)
        if not self.can_record:
            raise CassetteMiss(
                f"{self.cassette.path}: no recorded interaction matches {request.method} {incoming.url} "
                f"(record mode {self.mode.value})",
                request=request,
            )
        return self._record(request, incoming)

    def _replay(self, interaction: Interaction, request: httpx.Request) -> httpx.Response:
        if interaction.status is None:
            raise _recorded_error(interaction, request)
        return httpx.Response(
            interaction.status,
            headers=[(header_bytes(name), header_bytes(value)) for name, value in interaction.headers.items()],
            stream=_ReplayStream(interaction, request),
            request=request,
            extensions={TIMING_EXTENSION: interaction},
        )

    def _record(self, request: httpx.Request, incoming: Incoming) -> httpx.Response:
        """Send the request on, recording it as it came (its URL and body scrubbed) and its answer as it arrives."""
        interaction = Interaction(
            method=request.method,
            url=incoming.url,
            request_headers=redact_headers(request.headers, self.secrets),
            request_body=incoming.body,
        )
        self.cassette.interactions.append(interaction)
        self.dirty = True
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError as exc:
            interaction.error = self.scrub(f"{type(exc).__name__}: {exc}")
            interaction.error_type = type(exc).__name__
            interaction.elapsed_ms = (time.perf_counter() - started) * 1000
            setattr(exc, _TIMING_ATTR, interaction)
            raise
        interaction.status = response.status_code
        interaction.headers = redact_headers(header_text(response.headers), self.secrets)
        is_stream = "text/event-stream" in response.headers.get("content-type", "")
        interaction.events = () if is_stream else None  # parsed from the chunks when the cassette is written
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _TeeStream(response.stream, interaction, started, self)
        response.extensions = {**response.extensions, TIMING_EXTENSION: interaction}
        return response

    def close(self) -> None:
        self.inner.close()
        if self.dirty:
            for interaction in self.cassette.interactions:
                interaction.chunks = _scrubbed(interaction, self.secrets)
            self.cassette.save()


def header_text(headers: httpx.Headers) -> httpx.Headers:
    """Headers decoded one character per byte (Latin-1), so every byte a server sent round-trips.

    httpx decodes a non-ASCII value as UTF-8 when it can, and cannot encode it back for replay;
    Latin-1 text maps back to the very bytes, which `header_bytes` restores.
    """
    copy = httpx.Headers(headers.raw)
    copy.encoding = "iso-8859-1"
    return copy


def header_bytes(value: str) -> bytes:
    """A recorded header value as the bytes it was; a hand-edited one beyond Latin-1 as UTF-8."""
    try:
        return value.encode("iso-8859-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _scrubbed(interaction: Interaction, secrets: list[str]) -> list[Chunk]:
    """What of a response the cassette may keep: scrubbed inside its content coding and across stream events.

    A coded body is scrubbed as the same body uncoded would be (each chunk decoded as it arrived,
    a stream's events cut across their shares), then coded again chunk by chunk, so replay decodes
    and judges what a live run judged, at the same times. A body scrubbing does not change is kept
    byte for byte. One that cannot be decoded (an unknown coding, corrupt or oversized data) cannot
    be searched, so it is not kept: the cassette holds no body and says why (replay shows the error).

    Scrubbing holds several times a body's decoded size. Up to SHARED_INFLATE, as much as a cell reads of
    a body, cells scrub side by side; a body decoding past it (a compression bomb's few raw reads inflate
    to tens of MB) is scrubbed up to INFLATE_LIMIT by one cell at a time (`_ONE_LARGE`): eight such cells
    in flight at once held 1.3 GB.
    """
    try:
        return _scrubbed_within(interaction, secrets, SHARED_INFLATE)
    except DecodeLimit:
        pass
    with _ONE_LARGE:
        try:
            return _scrubbed_within(interaction, secrets, INFLATE_LIMIT)
        except DecodeLimit:
            return _not_kept(interaction, _UNDECODED.format(interaction.headers.get("content-encoding", "")))


def _scrubbed_within(interaction: Interaction, secrets: list[str], limit: int) -> list[Chunk]:
    """`_scrubbed` with a coded body decoded up to `limit`; DecodeLimit past it."""
    encoding = interaction.headers.get("content-encoding", "")
    coded = bool(codings(encoding)) and bool(secrets) and bool(interaction.chunks)
    chunks = interaction.chunks
    if coded:
        decoded = decode_pieces(encoding, [c.data for c in chunks], limit)
        if decoded is None:
            return _not_kept(interaction, _UNDECODED.format(encoding))
        chunks = [Chunk(c.offset_ms, data) for c, data in zip(chunks, decoded, strict=True)]
    if not secrets:
        kept: list[Chunk] | None = scrub_chunks(chunks, secrets)
    else:
        kept = scrub_stream(chunks, secrets) if interaction.is_stream else scrub_json(chunks, secrets)
    if kept is None:
        return _not_kept(interaction, "a secret is split across its events in a form that cannot be cut out")
    if not coded:
        return kept
    if kept == chunks:
        return interaction.chunks
    recoded = encode_pieces(encoding, [c.data for c in kept])
    if "content-length" in interaction.headers:
        interaction.headers["content-length"] = str(sum(map(len, recoded)))
    return [Chunk(c.offset_ms, data) for c, data in zip(kept, recoded, strict=True)]


def _not_kept(interaction: Interaction, why: str) -> list[Chunk]:
    """No body at all, and the cassette says why (replay shows it as the exchange's error)."""
    if interaction.error is None:
        interaction.error, interaction.error_type = f"body not kept: {why}", NOT_KEPT
    return []


INFLATE_LIMIT = 64 * 1024 * 1024  # how much of a compressed body is searched for secrets
SHARED_INFLATE = MAX_BODY_BYTES  # how much of one is decoded beside other cells': as much as a cell reads
_ONE_LARGE = threading.Lock()  # held while a body decoding past SHARED_INFLATE is scrubbed
_UNDECODED = "its content-encoding {!r} could not be undone to scrub secrets"
NOT_KEPT = "NotKept"


__all__ = [
    "TIMING_EXTENSION",
    "CassetteError",
    "CassetteMiss",
    "CassetteTransport",
    "NetworkDisabled",
    "NoNetworkTransport",
    "RecordMode",
    "ReplayedError",
    "timing_of",
]

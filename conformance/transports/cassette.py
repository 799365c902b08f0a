"""Cassette files: versioned, human-readable JSON, one per (provider, model, probe).

A cassette holds every interaction of one probe in order: the request as sent (credentials
redacted), and the response as it arrived, a stream kept as its chunks with their arrival offsets so
replay re-creates framing and timing exactly. The parsed SSE events are written beside the chunks
for people reading the file; replay never trusts them, it re-parses the chunks.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from conformance import __version__, safejson
from conformance.evidence import Chunk, Exchange
from conformance.paths import CATALOG_DIR, UnsafeName, contained, file_name, local_text
from conformance.records import (
    CassetteRecord,
    CassetteRequest,
    CassetteResponse,
    ChunkRecord,
    EventRecord,
    InteractionRecord,
    TransportError,
)
from conformance.redact import may_hold, scrub, scrub_across, scrub_json_text, secret_pattern, secret_shares
from conformance.sse import parse_events

CASSETTE_VERSION: Literal[1] = 1
# The runner reads at most 4 MiB of an answer (MAX_BODY_BYTES); stored as base64 with its parsed events,
# beside a probe's other answers and drained retries, a cassette stays well under 16 times that.
MAX_CASSETTE_BYTES = 64 * 1024 * 1024
# A flooding stream records some 10,000 strings, commas and brackets; 64 MiB of `{}` chunks took 2.3 GB parsed.
MAX_CASSETTE_TOKENS = 500_000
READABLE_EVENTS = 1_000  # parsed events written beside a stream's chunks for readers; replay never reads them


class CassetteError(Exception):
    """A cassette cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


# A cassette's interaction is the runner's Exchange with its wire bytes kept: one record of one exchange.
Interaction = Exchange


@dataclass
class Incoming:
    """A request as the cassette transport meets it (URL and body scrubbed): what replay matches, on method, URL
    and the body as JSON (any key order or spacing), and what recording keeps.

    The body is compared as sent first, and as JSON only when the text differs: a replayed request is
    most often the recorded one byte for byte, and parsing and re-dumping a body of megabytes (the
    size-cap probe's) on both sides cost more than the rest of its cell.
    """

    method: str
    url: str
    body: str
    _canonical: str | None = None

    def matches(self, interaction: Exchange, canonical: dict[int, str]) -> bool:
        """Whether the interaction recorded this request; `canonical` keeps each interaction's JSON form by id,
        for the caller's own (living) interactions."""
        if interaction.method.upper() != self.method or interaction.url != self.url:
            return False
        if interaction.request_body == self.body:
            return True
        if self._canonical is None:
            self._canonical = canonical_body(self.body)
        recorded = canonical.get(id(interaction))
        if recorded is None:
            recorded = canonical[id(interaction)] = canonical_body(interaction.request_body)
        return recorded == self._canonical


def to_cassette_json(interaction: Exchange) -> InteractionRecord:
    """The cassette form: the response as its chunks (a stream, with the parsed events beside them) or its body.

    The parsed events are for readers only (replay reparses the chunks), so a flood keeps the first ones.
    """
    response: dict[str, Any] = {
        "status": interaction.status,
        "headers": interaction.headers,
        "elapsed_ms": round(interaction.elapsed_ms, 3),
    }
    chunks = interaction.chunks
    if interaction.is_stream:
        response["chunks"] = [_encode_chunk(c) for c in chunks]
        events, _ = parse_events([(c.offset_ms, c.data) for c in chunks])
        response["events"] = [EventRecord.of(e) for e in events[:READABLE_EVENTS]]
        if len(events) > READABLE_EVENTS:
            response["events_omitted"] = len(events) - READABLE_EVENTS
    else:
        response["first_byte_ms"] = round(chunks[0].offset_ms, 3) if chunks else None
        response.update(_encode_body(b"".join(c.data for c in chunks)))
    if interaction.error is not None:
        response["error"] = TransportError(type=interaction.error_type or "", message=interaction.error)
    request = CassetteRequest(
        method=interaction.method,
        url=interaction.url,
        headers=interaction.request_headers,
        body=interaction.request_body,
    )
    return InteractionRecord(request=request, response=CassetteResponse(**response))


def from_cassette_json(data: InteractionRecord) -> Exchange:
    """An interaction back from its cassette form; the events are parsed again from the chunks, never trusted."""
    req, resp = data.request, data.response
    events = None
    if resp.chunks is not None:
        chunks = [Chunk(c.offset_ms, _decode_body(c.body, c.body_base64)) for c in resp.chunks]
        events = tuple(parse_events([(c.offset_ms, c.data) for c in chunks])[0])
    else:
        raw = _decode_body(resp.body, resp.body_base64)
        first_byte = resp.first_byte_ms if resp.first_byte_ms is not None else resp.elapsed_ms
        chunks = [Chunk(first_byte, raw)] if raw else []
    return Exchange(
        method=req.method,
        url=req.url,
        request_headers=dict(req.headers),
        request_body=req.body,
        status=resp.status,
        headers=dict(resp.headers),
        body=resp.body or "",
        events=events,
        elapsed_ms=resp.elapsed_ms,
        first_byte_ms=chunks[0].offset_ms if chunks else None,
        error=None if resp.error is None else resp.error.message,
        error_type=None if resp.error is None else resp.error.type,
        chunks=chunks,
    )


def scrub_chunks(chunks: list[Chunk], secrets: list[str]) -> list[Chunk]:
    """Redact secrets in recorded bytes, even one split across chunks.

    Chunks that a secret straddles are merged first (keeping the later arrival time), so the
    redaction cannot miss it; every other chunk keeps its boundary and timing.
    """
    data = b"".join(c.data for c in chunks).decode("latin-1")  # one character per byte: offsets are bytes
    held = [secret for secret in secrets if secret and may_hold(data, secret)]
    spans = [m.span() for secret in held for m in secret_pattern(secret).finditer(data)]
    if not spans:  # the pattern ran once, over everything: each chunk needs only the Bearer rule
        return [Chunk(c.offset_ms, _scrub_bytes(c.data, [])) for c in chunks]
    return [Chunk(c.offset_ms, _scrub_bytes(c.data, held)) for c in _merged(chunks, spans)]


def scrub_stream(chunks: list[Chunk], secrets: list[str]) -> list[Chunk] | None:
    """A stream's chunks scrubbed, a secret split across events' strings included; None when it cannot be.

    Each string's share of a split secret (`redact.secret_shares`: deltas, and nested fields such as two
    messages' `part.text`) is found in the bytes as its JSON text and cut. A share written in another
    escaping, or whose text shows first in another string of its event, cannot be cut so: the events are
    read again, and unless each is what `redact.scrub_across` makes of it, the stream is not kept (None).
    """
    chunks = scrub_chunks(chunks, secrets)
    cut = _cut_shares(chunks, secrets)
    if cut is None or cut is chunks:
        return cut
    return cut if _events(cut) == scrub_across(_events(chunks), secrets) else None


def _events(chunks: list[Chunk]) -> list[str]:
    """Each event's data, as one JSON serialisation, so that two byte forms of one value compare equal."""
    events, _ = parse_events([(c.offset_ms, c.data) for c in chunks])
    return [_normal(e.data) for e in events]


def _normal(data: str) -> str:
    try:
        return json.dumps(safejson.loads(data), ensure_ascii=False)
    except ValueError:
        return data


def _cut_shares(chunks: list[Chunk], secrets: list[str]) -> list[Chunk] | None:
    """The chunks with each share cut where its JSON text first shows after the previous one."""
    events, _ = parse_events([(c.offset_ms, c.data) for c in chunks])
    shares = secret_shares([e.data for e in events], secrets)
    if not shares:
        return chunks
    data, cursor = b"".join(c.data for c in chunks), 0
    edits: list[tuple[int, int, bytes]] = []
    for _, value, cut in shares:
        forms = [json.dumps(value, ensure_ascii=ascii)[1:-1].encode("utf-8") for ascii in (False, True)]
        found = [(data.find(form, cursor), form) for form in forms]
        at, form = min(((i, f) for i, f in found if i != -1), default=(-1, b""))
        if at == -1:
            return None
        edits.append((at, at + len(form), json.dumps(cut, ensure_ascii=False)[1:-1].encode("utf-8")))
        cursor = at + len(form)
    merged = _merged(chunks, [(a, b) for a, b, _ in edits])
    out, start = [], 0
    for chunk in merged:
        stop = start + len(chunk.data)
        piece = bytearray(chunk.data)
        for a, b, new in reversed([e for e in edits if start <= e[0] < stop]):
            piece[a - start : b - start] = new
        out.append(Chunk(chunk.offset_ms, bytes(piece)))
        start = stop
    return out


def scrub_json(chunks: list[Chunk], secrets: list[str]) -> list[Chunk]:
    """A JSON answer's chunks scrubbed, a secret split across its strings included (two output items, two
    parts: a client's output_text joins them, and so do the checks) as the live evidence is
    (`redact.scrub_json_text`). A cassette keeps such a body whole, timed by its first byte."""
    chunks = scrub_chunks(chunks, secrets)
    try:
        text = b"".join(c.data for c in chunks).decode("utf-8")
    except UnicodeDecodeError:
        return chunks  # not JSON: no strings for a client to join
    cut = scrub_json_text(text, secrets)
    return chunks if cut == text else [Chunk(chunks[0].offset_ms, cut.encode("utf-8"))]


def _merged(chunks: list[Chunk], spans: list[tuple[int, int]]) -> list[Chunk]:
    """Chunks joined wherever a span crosses their boundary, each keeping the later arrival time."""
    ends, total = [], 0
    for chunk in chunks:
        total += len(chunk.data)
        ends.append(total)
    merge_after = {i for start, stop in spans for i, end in enumerate(ends) if start < end < stop}
    merged: list[Chunk] = []
    pending = b""
    for i, chunk in enumerate(chunks):
        pending += chunk.data
        if i not in merge_after:
            merged.append(Chunk(chunk.offset_ms, pending))
            pending = b""
    return merged


def _scrub_bytes(data: bytes, secrets: list[str]) -> bytes:
    try:
        return scrub(data.decode("utf-8"), secrets).encode("utf-8")
    except UnicodeDecodeError:  # bytes that are not UTF-8 are kept, one character per byte
        return scrub(data.decode("latin-1"), secrets).encode("latin-1", errors="replace")


def canonical_body(body: str) -> str:
    """Bodies match when they are the same JSON, whatever the key order or spacing."""
    try:
        return json.dumps(safejson.loads(body), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return body


def _encode_body(data: bytes) -> dict[str, str]:
    """Text when it is UTF-8 that JSON escaping does not blow up (control bytes cost 6 each), else base64."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and sum(text.count(c) for c in _ESCAPED) * 5 < len(text) // 3:
        return {"body": text}
    return {"body_base64": base64.b64encode(data).decode("ascii")}


_ESCAPED = [chr(c) for c in range(0x20)]


def _decode_body(body: str | None, body_base64: str | None) -> bytes:
    if body_base64 is not None:
        try:
            return base64.b64decode(body_base64, validate=True)
        except ValueError as exc:
            raise ValueError(f"body_base64 is not base64 ({exc}): {body_base64!r:.40}") from None
    return (body or "").encode("utf-8")


def _encode_chunk(chunk: Chunk) -> ChunkRecord:
    return ChunkRecord(offset_ms=round(chunk.offset_ms, 3), **_encode_body(chunk.data))


@dataclass
class Cassette:
    path: Path
    provider: str
    model: str
    probe: str
    interactions: list[Interaction] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        record = CassetteRecord(
            version=CASSETTE_VERSION,
            suite=f"conformance {__version__}",
            provider=self.provider,
            model=self.model,
            probe=self.probe,
            interactions=[to_cassette_json(i) for i in self.interactions],
        )
        return record.model_dump(mode="json", exclude_unset=True)

    def save(self) -> None:
        """Write atomically, so an interrupted run never leaves half a cassette."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self.path)


def load_cassette(path: Path) -> Cassette:
    """Read a cassette, turning every way it can be broken into a CassetteError that names it."""
    try:
        text = local_text(path, MAX_CASSETTE_BYTES)
        if safejson.tokens_past(text, MAX_CASSETTE_TOKENS):
            raise CassetteError(
                path, f"holds more than {MAX_CASSETTE_TOKENS:,} JSON values, far past any recording; not read"
            )
        raw = safejson.loads(text)
    except FileNotFoundError as exc:
        raise CassetteError(path, "no such cassette") from exc
    except UnicodeDecodeError as exc:
        raise CassetteError(path, f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise CassetteError(path, f"cannot be read ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise CassetteError(path, f"not valid JSON ({exc}); the file may be truncated or corrupt") from exc
    if not isinstance(raw, dict):
        raise CassetteError(path, f"expected a JSON object, got {type(raw).__name__}")
    version = raw.get("version")
    if version != CASSETTE_VERSION:
        raise CassetteError(path, f"unknown cassette version {version!r}; this suite reads version {CASSETTE_VERSION}")
    try:
        record = CassetteRecord.model_validate(raw)
        interactions = [from_cassette_json(i) for i in record.interactions]
    except ValidationError as exc:
        raise CassetteError(path, f"malformed cassette: {_problems(exc)}") from None
    except ValueError as exc:  # base64 that does not decode
        raise CassetteError(path, f"malformed cassette: {exc}") from exc
    return Cassette(path, record.provider, record.model, record.probe, interactions)


def _problem(error: Mapping[str, Any]) -> str:
    given = "" if error["type"] == "missing" else f" (got {error['input']!r:.80})"
    return f"{'.'.join(map(str, error['loc'])) or 'file'}: {error['msg']}{given}"


def _problems(exc: ValidationError) -> str:
    """Where the file is wrong and how, for the first few problems: "interactions.0.response.status: ..."."""
    shown = [_problem(error) for error in exc.errors(include_url=False)[:3]]
    more = exc.error_count() - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def cassette_path(root: Path, provider: str, model: str, probe: str) -> Path:
    """Where a cell's cassette lives; ids are encoded by `file_name`, and no symlink leads out of root.

    Raises CassetteError for an id that cannot be a file name (empty, `.`, `..`) or a path that escapes.
    """
    try:
        return contained(root, file_name(provider), file_name(model), f"{file_name(probe)}.json")
    except UnsafeName as exc:
        raise CassetteError(root, f"no cassette for model {model!r}: {exc}") from None


def catalog_cassette_path(root: Path, provider: str) -> Path:
    """The provider's catalog requests, beside its models' cassettes."""
    try:
        return contained(root, file_name(provider), CATALOG_DIR, "catalog.json")
    except UnsafeName as exc:
        raise CassetteError(root, f"no catalog cassette: {exc}") from None


def provider_dir(root: Path, provider: str) -> Path:
    try:
        return contained(root, file_name(provider))
    except UnsafeName as exc:
        raise CassetteError(root, str(exc)) from None

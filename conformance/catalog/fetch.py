"""Fetching a profile's catalog sources through the run's transports (live, record or replay), bounded."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance import safejson
from conformance.catalog.merge import merge_entries
from conformance.catalog.model import PROFILE_SOURCE, Catalog, ModelEntry, Parsed, SourceReport
from conformance.catalog.parsers import PARSERS
from conformance.decoding import BoundedDecoder, DecodeError, DecodeLimit
from conformance.profiles import MAX_MODELS, Profile
from conformance.redact import REDACTED, mapped_strings, may_hold, scrub
from conformance.transports import CLIENT_ERRORS, CassetteError, CheckedTransport, drain
from conformance.transports.deadline import ProbeDeadline, deadline_scope
from conformance.urls import UnsafeValue, keyless

MAX_CATALOG_BYTES = 16 * 1024 * 1024
MAX_CATALOG_MODELS = MAX_MODELS
MAX_REDIRECTS = 10


CatalogTransportFactory = Callable[[], httpx.BaseTransport]


def fetch_catalog(
    profile: Profile,
    transport_factory: CatalogTransportFactory,
    *,
    api_key: str | None = None,
    timeout_s: float = 30.0,
    budget_s: float | None = None,
) -> Catalog:
    """GET every catalog source of the profile through one transport, then parse and merge.

    The caller's transport decides live, record or replay. The key is sent only to sources on the
    endpoint's own origin, never to a third-party catalog, and never in a URL: a source or a redirect
    whose URL carries it is not fetched. A redirect to another origin is followed only where the source
    allows it (`cross_origin_redirects`), and then without the key. Nothing a server does raises: a failed
    source is a warning and contributes no models. Each source gets `timeout_s` for its whole
    answer, enforced on every socket operation (a catalog that drips bytes cannot hold the run), and
    all of them together at most `budget_s`. A server can echo the key anywhere in its answer: what
    it says is scrubbed before it is read, and a model whose id held the key is left out.
    """
    secrets = [api_key] if api_key else []
    end = time.perf_counter() + (budget_s if budget_s is not None else float("inf"))
    reports: list[SourceReport] = []
    groups: list[list[ModelEntry]] = []
    warnings: list[str] = []
    held: set[str] = set()
    try:
        transport = CheckedTransport(transport_factory())  # a redirect's Location is checked here
    except CassetteError as exc:
        return _catalog(profile, [], [f"catalog: {exc}"], [], secrets, held)
    origin = _origin(profile.base_url)
    with httpx.Client(transport=transport, timeout=timeout_s) as client:
        for source, url in profile.sources():
            headers = {"accept": "application/json"}
            if api_key and _origin(url) == origin:
                headers["authorization"] = f"Bearer {api_key}"
            left = min(timeout_s, end - time.perf_counter())
            if left <= 0:
                warnings.append(f"{source.kind} {url}: not fetched, the run's budget was spent")
                continue
            with deadline_scope(ProbeDeadline(left)):
                body, status, problem = _get_json(client, url, headers, secrets, held, source.cross_origin_redirects)
            parsed = Parsed([], [f"{source.kind} {url}: {problem}"]) if problem else _parse(source.kind, url, body)
            groups.append(parsed.entries)
            warnings.extend(parsed.warnings)
            reports.append(SourceReport(source.kind, url, status, len(parsed.entries), problem))
    return _catalog(profile, groups, warnings, reports, secrets, held)


def _catalog(
    profile: Profile,
    groups: list[list[ModelEntry]],
    warnings: list[str],
    reports: list[SourceReport],
    secrets: Sequence[str],
    held: Collection[str],
) -> Catalog:
    """The one way out of fetching: every text in it scrubbed, and no entry whose id held a secret.

    Such an id, run, would name cassette folders, cells and report pages: it is one warning instead. A
    catalog replayed from its cassette shows such an id scrubbed already (`...REDACTED`), with no key to
    know it by, so an id showing the scrubber's mark is left out the same way.
    """
    declared = [ModelEntry(id=m, sources=(PROFILE_SOURCE,)) for m in profile.models]
    merged = merge_entries([*groups, declared])
    kept = _bounded([e for e in merged.entries if not _held(e.id, held)], warnings)
    left_out = [
        f"{', '.join(e.sources)}: a model id held the API key, so it is not run: {e.id}"
        for e in merged.entries
        if _held(e.id, held)
    ]
    return Catalog(
        profile.name,
        tuple(_scrubbed_entry(e, secrets) for e in kept),
        tuple(scrub(w, secrets) for w in [*warnings, *merged.warnings, *left_out]),
        tuple(replace(r, url=scrub(r.url, secrets), problem=scrub(r.problem, secrets)) for r in reports),
        profile.claims,
    )


def _held(model_id: str, held: Collection[str]) -> bool:
    return model_id in held or REDACTED in model_id


def _bounded(entries: list[ModelEntry], warnings: list[str]) -> list[ModelEntry]:
    """The first MAX_CATALOG_MODELS entries, and every model the profile declares; a warning when any is cut."""
    if len(entries) <= MAX_CATALOG_MODELS:
        return entries
    room = MAX_CATALOG_MODELS - sum(PROFILE_SOURCE in e.sources for e in entries)
    kept: list[ModelEntry] = []
    for entry in entries:
        declared = PROFILE_SOURCE in entry.sources
        if declared or room > 0:
            kept.append(entry)
            room -= 0 if declared else 1
    warnings.append(f"{len(entries)} models listed, more than {MAX_CATALOG_MODELS}; the first kept, the rest not run")
    return kept


def scrubbed_json(value: Any, secrets: Sequence[str], held: set[str]) -> Any:
    """Decoded JSON with every string (member names too) scrubbed; each string that changed is added to
    `held` as scrubbed, so an entry whose id it became can be told apart.

    Scrubbed before the parsers read it, since their warnings quote values cut short, and a cut key
    is no longer one that scrubbing can find.
    """

    def clean(text: str) -> str:
        scrubbed = scrub(text, secrets)
        if scrubbed != text:
            held.add(scrubbed)
        return scrubbed

    return mapped_strings(value, clean)


def _scrubbed_entry(entry: ModelEntry, secrets: Sequence[str]) -> ModelEntry:
    """Every text field of an entry, whatever fields it gains, scrubbed."""
    if not secrets:
        return entry
    changes = {f.name: _scrubbed_field(getattr(entry, f.name), secrets) for f in fields(entry)}
    return replace(entry, **changes)


def _scrubbed_field(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, tuple):
        return tuple(_scrubbed_field(v, secrets) for v in value)
    if isinstance(value, Mapping):
        return {k: _scrubbed_field(v, secrets) for k, v in value.items()}
    return value


def _parse(kind: str, url: str, body: Any) -> Parsed:
    """The parsers read defensively; should one still raise, the source is a warning, not the run's end."""
    try:
        return PARSERS[kind](body)
    except Exception as exc:
        return Parsed([], [f"{kind} {url}: could not be read ({type(exc).__name__}: {str(exc)[:200]})"])


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _get_json(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    secrets: Sequence[str],
    held: set[str],
    across: bool,
) -> tuple[Any, int | None, str]:
    """(decoded body, status, problem); the body is read up to MAX_CATALOG_BYTES.

    Whatever the server says is scrubbed before anything quotes it cut short (a cut key is not found).
    """
    try:
        answer = _followed(client, client.build_request("GET", url, headers=headers), secrets, across)
        if isinstance(answer, str):
            return None, None, answer
        status, data = answer.status_code, bytearray()
        try:
            decoder = BoundedDecoder(answer.headers.get("content-encoding", ""), MAX_CATALOG_BYTES)
            for chunk in answer.iter_raw():
                data.extend(decoder.decode(chunk))
            data.extend(decoder.flush())
        finally:
            answer.close()
    except (*CLIENT_ERRORS, DecodeError, DecodeLimit) as exc:
        return None, None, scrub(f"{type(exc).__name__}: {exc}", secrets)
    text = data.decode("utf-8", errors="replace")
    if not 200 <= status < 300:
        return None, status, f"HTTP {status}: {scrub(text, secrets)[:200]}"
    try:
        body = safejson.loads_answer(text)
    except ValueError as exc:
        return None, status, scrub(f"not JSON ({exc}): ", secrets) + repr(scrub(text, secrets)[:80])
    if any(may_hold(text, secret) for secret in secrets):
        body = scrubbed_json(body, secrets, held)
    return body, status, ""


def _followed(
    client: httpx.Client, request: httpx.Request, secrets: Sequence[str], across: bool
) -> httpx.Response | str:
    """The answer, redirects followed here rather than by httpx, or why a request was not sent.

    Each request is checked before it goes: its URL must not carry the key, and its origin must be the
    source's unless `across`. A redirect's body is read up to DRAIN_BYTES (httpx's client reads it whole).
    """
    source = _origin(str(request.url))
    for hop in range(MAX_REDIRECTS + 1):
        if not across and _origin(str(request.url)) != source:
            shown = scrub(f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}", secrets)
            return (
                f"redirected to another origin ({shown}), which its source does not allow "
                "(cross_origin_redirects = true follows it, without the key)"
            )
        try:
            keyless(str(request.url), secrets)
        except UnsafeValue as exc:
            return f"{exc}{' (a redirect to it)' if hop else ''}: not sent"
        response = client.send(request, stream=True)
        if response.next_request is None:
            return response
        request = response.next_request
        drain(response)
    return f"more than {MAX_REDIRECTS} redirects"

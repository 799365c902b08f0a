"""Fetching a profile's catalog sources through the run's transports (live, record or replay), bounded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance import safejson
from conformance.catalog.merge import merge_entries
from conformance.catalog.model import PROFILE_SOURCE, Catalog, ModelEntry, Parsed, SourceReport
from conformance.catalog.parsers import PARSERS
from conformance.decoding import BoundedDecoder, DecodeError, DecodeLimit
from conformance.profiles import Profile
from conformance.transports import CLIENT_ERRORS, CassetteError, CheckedTransport
from conformance.transports.deadline import ProbeDeadline, deadline_scope

MAX_CATALOG_BYTES = 16 * 1024 * 1024
MAX_CATALOG_MODELS = 10_000  # several times the largest real catalog; each model costs a plan, threads and a report row


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
    endpoint's own origin, never to a third-party catalog. Nothing a server does raises: a failed
    source is a warning and contributes no models. Each source gets `timeout_s` for its whole
    answer, enforced on every socket operation (a catalog that drips bytes cannot hold the run), and
    all of them together at most `budget_s`.
    """
    end = time.perf_counter() + (budget_s if budget_s is not None else float("inf"))
    reports: list[SourceReport] = []
    groups: list[list[ModelEntry]] = []
    warnings: list[str] = []
    try:
        transport = CheckedTransport(transport_factory())  # a redirect's Location is followed here
    except CassetteError as exc:
        return _catalog(profile, [], [f"catalog: {exc}"], [])
    origin = _origin(profile.base_url)
    with httpx.Client(transport=transport, timeout=timeout_s, follow_redirects=True) as client:
        for source, url in profile.sources():
            headers = {"accept": "application/json"}
            if api_key and _origin(url) == origin:
                headers["authorization"] = f"Bearer {api_key}"
            left = min(timeout_s, end - time.perf_counter())
            if left <= 0:
                warnings.append(f"{source.kind} {url}: not fetched, the run's budget was spent")
                continue
            with deadline_scope(ProbeDeadline(left)):
                body, status, problem = _get_json(client, url, headers)
            parsed = Parsed([], [f"{source.kind} {url}: {problem}"]) if problem else _parse(source.kind, url, body)
            groups.append(parsed.entries)
            warnings.extend(parsed.warnings)
            reports.append(SourceReport(source.kind, url, status, len(parsed.entries), problem))
    return _catalog(profile, groups, warnings, reports)


def _catalog(
    profile: Profile, groups: list[list[ModelEntry]], warnings: list[str], reports: list[SourceReport]
) -> Catalog:
    declared = [ModelEntry(id=m, sources=(PROFILE_SOURCE,)) for m in profile.models]
    merged = merge_entries([*groups, declared])
    entries = _bounded(merged.entries, warnings)
    return Catalog(profile.name, tuple(entries), tuple(warnings + merged.warnings), tuple(reports), profile.claims)


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


def _parse(kind: str, url: str, body: Any) -> Parsed:
    """The parsers read defensively; should one still raise, the source is a warning, not the run's end."""
    try:
        return PARSERS[kind](body)
    except Exception as exc:
        return Parsed([], [f"{kind} {url}: could not be read ({type(exc).__name__}: {str(exc)[:200]})"])


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _get_json(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[Any, int | None, str]:
    """(decoded body, status, problem); the body is read up to MAX_CATALOG_BYTES."""
    try:
        with client.stream("GET", url, headers=headers) as response:
            status, data = response.status_code, bytearray()
            decoder = BoundedDecoder(response.headers.get("content-encoding", ""), MAX_CATALOG_BYTES)
            for chunk in response.iter_raw():
                data.extend(decoder.decode(chunk))
            data.extend(decoder.flush())
    except (*CLIENT_ERRORS, DecodeError, DecodeLimit) as exc:
        return None, None, f"{type(exc).__name__}: {exc}"
    text = data.decode("utf-8", errors="replace")
    if not 200 <= status < 300:
        return None, status, f"HTTP {status}: {text[:200]}"
    try:
        return safejson.loads(text), status, ""
    except ValueError as exc:
        return None, status, f"not JSON ({exc}): {text[:80]!r}"

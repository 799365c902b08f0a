"""What a run asks: which provider, models and probes, through which transports, with which defaults.

A live plan reads the provider's catalog (recorded like any exchange); a replay plan reads the
manifests beside the cassettes, so it runs as the recording did.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conformance.catalog.fetch import fetch_catalog
from conformance.catalog.model import Catalog
from conformance.manifest import read_manifest
from conformance.paths import MANIFEST
from conformance.probes import PROBES, Probe
from conformance.profiles import MAX_PER_MINUTE, Profile
from conformance.redact import guard
from conformance.runner import Target, TransportFactory
from conformance.schedule import Pacing, model_rates
from conformance.transports import CassetteTransport, NoNetworkTransport, RecordMode
from conformance.transports.cassette import cassette_path, catalog_cassette_path
from conformance.transports.deadline import live_transport

# The run options the CLI and the pytest plugin share, with one set of defaults.
DEFAULT_TIMEOUT_S = 60.0
MAX_TIMEOUT_S = 86_400.0  # a day, past any answer; the socket layer overflows near 1e10 s, and inf or nan crashed it
DEFAULT_SEMANTIC_TRIES = 3  # models are not deterministic: a cell failed only on meaning gets three tries


def api_key_for(profile: Profile, key_env: str | None) -> str | None:
    """The key from the named variable (or the profile's); an empty or unset variable is no key, paced as anonymous.

    Once read, the key is guarded: from the catalog's first request on, no log record or printed line shows it.
    """
    env = key_env if key_env is not None else profile.api_key_env
    key = (os.environ.get(env) or None) if env else None
    if key is not None:
        unsendable(key, env)
    guard([key] if key else [])
    return key


def unsendable(key: str, env: str) -> None:
    """ValueError naming the variable, never the value, when no `Authorization` header can carry the key as it
    is: httpx sends ASCII header values only, and no control character. A byte that is not UTF-8 (read as a lone
    surrogate) broke the scrub of every line printed; white space at an end would be another key once trimmed."""
    problem = (
        "a character that is not ASCII"
        if not key.isascii()
        else "a control character (a newline?)"
        if any(ord(c) < 32 or ord(c) == 127 for c in key)
        else "white space at an end"
        if key != key.strip()
        else ""
    )
    if problem:
        raise ValueError(f"the key in {env} holds {problem}, which no request header can carry as it is; nothing sent")


def utf8_text(text: str) -> str:
    """A text option (a model, a probe, a URL): the shell hands bytes that are not UTF-8 over as lone surrogates,
    which no request, file name or results line can carry. The value is not quoted: it is read before the key
    is guarded, and a URL may hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise argparse.ArgumentTypeError(f"is not valid UTF-8 (a byte that is not, at character {exc.start})") from None
    return text


def timeout_seconds(text: str) -> float:
    """A --timeout option: seconds above 0 and at most MAX_TIMEOUT_S."""
    value = float(text)
    if not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"expected seconds above 0 and at most {MAX_TIMEOUT_S:g}, got {text}")
    return value


def requests_per_minute(text: str) -> float:
    """A --rate-limit option: requests per minute, 0 for none; nan, inf or a negative rate broke the pacer."""
    value = float(text)
    if not 0 <= value <= MAX_PER_MINUTE:
        raise argparse.ArgumentTypeError(f"expected requests per minute from 0 to {MAX_PER_MINUTE:g}, got {text}")
    return value


@dataclass(frozen=True)
class Plan:
    """What to run. `mode` None means live with no cassettes; `catalog` carries the claims; `pacing` the rates."""

    target: Target
    models: tuple[str, ...]
    probes: tuple[Probe, ...]
    mode: RecordMode | None
    cassettes: Path
    catalog: Catalog | None = None
    pacing: Pacing = field(default_factory=Pacing)

    def cells(self) -> list[tuple[str, Probe]]:
        return [(model, probe) for model in self.models for probe in self.probes]


def select_probes(patterns: Sequence[str] = (), features: Sequence[str] = ()) -> tuple[Probe, ...]:
    """Probes whose id matches any glob in `patterns` and whose feature is in `features` (empty = all)."""
    chosen = [
        p
        for p in PROBES
        if (not patterns or any(fnmatch.fnmatchcase(p.id, pat) for pat in patterns))
        and (not features or p.feature in features)
    ]
    if not chosen:
        raise ValueError(f"no probe matches --probe {list(patterns)} --feature {list(features)}")
    return tuple(chosen)


def select_models(available: Sequence[str], patterns: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """Globs select among the available models; a pattern with no glob characters names a model outright."""
    chosen: list[str] = []
    for pattern in patterns or ["*"]:
        if not any(c in pattern for c in "*?[") and pattern not in available:
            chosen.append(pattern)
        chosen.extend(m for m in available if fnmatch.fnmatchcase(m, pattern))
    kept = [m for m in dict.fromkeys(chosen) if not any(fnmatch.fnmatchcase(m, x) for x in exclude)]
    return tuple(kept)


def catalog_transport(target: Target, mode: RecordMode | None, cassettes: Path) -> Callable[[], httpx.BaseTransport]:
    """Catalog requests go through the same transports as probes: one cassette per provider."""

    def factory() -> httpx.BaseTransport:
        live = live_transport()
        if mode is None:
            return live
        inner = NoNetworkTransport() if mode is RecordMode.NONE else live
        path = catalog_cassette_path(cassettes, target.provider)
        return CassetteTransport(
            path, mode, inner, provider=target.provider, model="_catalog", probe="catalog", secrets=target.secrets
        )

    return factory


@dataclass(frozen=True)
class LivePlan:
    plan: Plan
    skipped: dict[str, str]  # catalog models not probed, and why
    warnings: tuple[str, ...]  # what the catalog parsers noticed


def live_plan(
    profile: Profile,
    api_key: str | None,
    probes: tuple[Probe, ...],
    mode: RecordMode | None,
    cassettes: Path,
    models: Sequence[str] = (),
    exclude: Sequence[str] = (),
    include_unavailable: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    semantic_tries: int = DEFAULT_SEMANTIC_TRIES,
    rate_limit: float | None = None,
    budget_s: float | None = None,
    max_in_flight: int | None = None,
) -> LivePlan:
    """Models come from the provider's catalog (recorded like any exchange); claims come with them."""
    target = Target(
        profile.name,
        profile.base_url,
        api_key,
        semantic=profile.semantic_checks,
        timeout_s=timeout_s,
        semantic_tries=semantic_tries,
        semantic_probes=profile.semantic_probes,
        body_cap_bytes=profile.body_cap_bytes,
        request_defaults=dict(profile.request_defaults),
    )
    catalog = fetch_catalog(
        profile, catalog_transport(target, mode, cassettes), api_key=api_key, timeout_s=timeout_s, budget_s=budget_s
    )
    available, skipped = catalog.selection(include_unavailable)
    chosen = select_models(available, models, exclude)
    rates = model_rates(profile, catalog, chosen, keyed=api_key is not None, override=rate_limit)
    pacing = Pacing(rates, max_in_flight=max_in_flight)
    plan = Plan(target, chosen, probes, mode, cassettes, catalog, pacing)
    return LivePlan(plan, {m: r for m, r in skipped.items() if m not in chosen}, catalog.warnings)


def transports_for(plan: Plan) -> TransportFactory:
    def live() -> httpx.BaseTransport:
        return live_transport()

    mode = plan.mode
    if mode is None:
        return lambda probe, model: plan.pacing.wrap(live(), plan.target.provider, model)

    def cassette(probe: Probe, model: str) -> httpx.BaseTransport:
        path = cassette_path(plan.cassettes, plan.target.provider, model, probe.id)
        inner = NoNetworkTransport() if mode is RecordMode.NONE else live()
        recorder = CassetteTransport(
            path,
            mode,
            inner,
            provider=plan.target.provider,
            model=model,
            probe=probe.id,
            secrets=plan.target.secrets,
        )
        return plan.pacing.wrap(recorder, plan.target.provider, model)

    return cassette


def replay_plans(cassettes: Path, providers: Sequence[str] = (), probes: tuple[Probe, ...] = PROBES) -> list[Plan]:
    """One offline plan per recorded provider; no network is reachable from any of them."""
    plans = []
    for manifest_path in sorted(cassettes.glob(f"*/{MANIFEST}")):
        manifest = read_manifest(manifest_path)
        if providers and manifest.provider not in providers:
            continue
        target = Target(
            manifest.provider,
            manifest.base_url,
            semantic=manifest.semantic_checks,
            semantic_tries=manifest.semantic_tries,  # as recorded, so retries replay alike
            semantic_probes=frozenset(manifest.semantic_probes),
            body_cap_bytes=manifest.body_cap_bytes,
            request_defaults=dict(manifest.request_defaults),
        )
        catalog = None if manifest.catalog is None else manifest.catalog.catalog()
        plans.append(Plan(target, tuple(manifest.models), probes, RecordMode.NONE, cassettes, catalog))
    return plans

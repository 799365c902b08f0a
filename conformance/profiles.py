"""Provider profiles: one TOML file per provider under matrices/ (see matrices/README.md).

A profile says where a provider is, where its model catalog lives, what it documents (limits, and
claims per feature, per probe or per model), and whether model-behaviour checks mean anything there.
Misspelled keys and claim values fail loudly: a typo would otherwise drop a claim without a word.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from conformance.paths import matrices_dir
from conformance.probes import FEATURES, PROBES
from conformance.transports.cassette import safe_name
from conformance.urls import check_base_url

Claim = Literal["yes", "no", "unknown"]
CLAIM_VALUES: tuple[Claim, ...] = ("yes", "no", "unknown")

# The feature groups of DESIGN.md; a claim key names one of them, or a probe id inside one.
# Groups that probes define later are accepted too (see known_features).
FEATURE_GROUPS = (
    "core",
    "streaming",
    "structured",
    "tools",
    "vision",
    "reasoning",
    "state",
    "parameters",
    "errors",
    "catalog",
)

# Catalog formats the suite can read; conformance.catalog holds one parser per kind.
SOURCE_KINDS = ("openai_models", "ovh_models_v2", "openrouter")

_PROVIDER_KEYS = {
    "name",
    "title",
    "base_url",
    "api_key_env",
    "semantic_checks",
    "semantic_probes",
    "rate_limit_per_min",
    "rate_limit_anonymous_per_min",
    "body_cap_bytes",
    "request_defaults",
}
_TABLES = {"provider", "catalog", "claims"}


class ProfileError(ValueError):
    """A profile is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class CatalogSource:
    """One catalog to read. An openai_models source with no url reads the endpoint's own GET /models."""

    kind: str
    url: str = ""

    def resolve(self, base_url: str) -> str:
        return self.url or base_url.rstrip("/") + "/models"


@dataclass(frozen=True)
class ClaimSpec:
    """A documented claim, with where it is documented so a report can quote it."""

    value: Claim
    note: str = ""

    def to_json(self) -> dict[str, str]:
        return {"claim": self.value, "note": self.note} if self.note else {"claim": self.value}


@dataclass(frozen=True)
class Claims:
    """Documented claims keyed by feature group ("tools") or probe id ("state.previous_response_id").

    `provider` holds provider-wide claims; `models` per-model ones, which win over them.
    """

    provider: Mapping[str, ClaimSpec] = field(default_factory=dict, hash=False)
    models: Mapping[str, Mapping[str, ClaimSpec]] = field(default_factory=dict, hash=False)

    def lookup(self, model: str, probe_id: str, feature: str) -> tuple[ClaimSpec, str] | None:
        """The most specific claim, and its scope: model+probe, model+feature, probe, then feature."""
        per_model = self.models.get(model, {})
        for table, key, scope in (
            (per_model, probe_id, f"profile[{model}]"),
            (per_model, feature, f"profile[{model}]"),
            (self.provider, probe_id, "profile"),
            (self.provider, feature, "profile"),
        ):
            if key in table:
                return table[key], scope
        return None

    def claim_keys(self) -> set[str]:
        """Every key claimed, provider-wide or for some model."""
        return set(self.provider) | {k for table in self.models.values() for k in table}

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": {k: v.to_json() for k, v in self.provider.items()},
            "models": {m: {k: v.to_json() for k, v in t.items()} for m, t in self.models.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Claims:
        def table(raw: Mapping[str, Any]) -> dict[str, ClaimSpec]:
            return {k: ClaimSpec(parse_claim(v["claim"]), str(v.get("note", ""))) for k, v in raw.items()}

        return cls(table(data.get("provider", {})), {m: table(t) for m, t in data.get("models", {}).items()})


@dataclass(frozen=True)
class Profile:
    name: str
    base_url: str
    api_key_env: str = ""
    title: str = ""
    semantic_checks: bool = True
    semantic_probes: frozenset[str] = frozenset()
    path: Path | None = None
    rate_limit_per_min: int | None = None
    rate_limit_anonymous_per_min: int | None = None
    body_cap_bytes: int | None = None
    # Fields every probe's JSON body gets unless it sets them itself (OVHcloud: store = false)
    request_defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    catalog_sources: tuple[CatalogSource, ...] = ()
    models: tuple[str, ...] = ()
    claims: Claims = field(default_factory=Claims)

    def sources(self) -> tuple[tuple[CatalogSource, str], ...]:
        """Each catalog source with its URL; the endpoint's GET /models when the profile names none."""
        sources = self.catalog_sources or (CatalogSource("openai_models"),)
        return tuple((s, s.resolve(self.base_url)) for s in sources)


def known_features() -> set[str]:
    return set(FEATURE_GROUPS) | set(FEATURES)


def load_profile(name_or_path: str, root: Path | None = None) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = (root or matrices_dir()) / f"{name_or_path}.toml"
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = sorted(p.stem for p in (root or matrices_dir()).glob("*.toml"))
        raise ProfileError(f"{path}: no such provider profile (known: {', '.join(known) or 'none'})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_profile(data, path)


def profile_for(name_or_path: str | None, base_url: str | None) -> Profile | None:
    """The profile a command line names, its base URL overridden; a bare URL gets a profile named after its host."""
    profile = load_profile(name_or_path) if name_or_path else None
    if base_url is not None:
        check_base_url(base_url)  # before its host names anything: a password must not become a folder name
    if base_url is None:
        return profile
    if profile is None:
        return Profile(name=safe_name(base_url.split("://")[-1].split("/")[0]), base_url=base_url)
    return replace(profile, base_url=base_url)


def parse_profile(data: Mapping[str, Any], path: Path) -> Profile:
    """A Profile from a decoded TOML document; every problem is a ProfileError naming the file and key."""
    _no_unknown(data, _TABLES, path, "top level")
    section = data.get("provider")
    if not isinstance(section, dict) or not section.get("name") or not section.get("base_url"):
        raise ProfileError(f"{path}: expected a [provider] table with name and base_url")
    _no_unknown(section, _PROVIDER_KEYS, path, "[provider]")
    catalog = _table(data, "catalog", path)
    _no_unknown(catalog, {"sources", "models"}, path, "[catalog]")
    models = catalog.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ProfileError(f"{path}: [catalog] models must be a list of model ids")
    return Profile(
        name=str(section["name"]),
        base_url=str(section["base_url"]),
        api_key_env=str(section.get("api_key_env", "")),
        title=str(section.get("title", "")),
        semantic_checks=bool(section.get("semantic_checks", True)),
        semantic_probes=_probe_ids(section.get("semantic_probes", []), path),
        path=path,
        rate_limit_per_min=_count(section, "rate_limit_per_min", path),
        rate_limit_anonymous_per_min=_count(section, "rate_limit_anonymous_per_min", path),
        body_cap_bytes=_count(section, "body_cap_bytes", path),
        request_defaults=_request_defaults(section.get("request_defaults", {}), path),
        catalog_sources=_sources(catalog.get("sources", []), path),
        models=tuple(models),
        claims=_claims(_table(data, "claims", path), path),
    )


def _no_unknown(table: Mapping[str, Any], allowed: set[str], path: Path, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        allowed_list = ", ".join(sorted(allowed))
        raise ProfileError(f"{path}: {where}: unknown key(s) {', '.join(unknown)} (allowed: {allowed_list})")


def _table(data: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ProfileError(f"{path}: [{key}] must be a table")
    return value


def _count(section: Mapping[str, Any], key: str, path: Path) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProfileError(f"{path}: [provider] {key} must be a positive integer, got {value!r}")
    return value


def _probe_ids(raw: Any, path: Path) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ProfileError(f"{path}: [provider] semantic_probes must be a list of probe ids")
    unknown = sorted(set(raw) - {p.id for p in PROBES})
    if unknown:
        raise ProfileError(f"{path}: [provider] semantic_probes: unknown probe id(s) {', '.join(unknown)}")
    return frozenset(raw)


def _request_defaults(raw: Any, path: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ProfileError(
            f"{path}: [provider] request_defaults must be a table of request fields, e.g. {{ store = false }}"
        )
    return dict(raw)


def _sources(raw: Any, path: Path) -> tuple[CatalogSource, ...]:
    if not isinstance(raw, list):
        raise ProfileError(f"{path}: [catalog] sources must be a list of {{kind = ..., url = ...}} tables")
    sources = []
    for i, item in enumerate(raw):
        where = f"[catalog] sources[{i}]"
        if not isinstance(item, dict):
            raise ProfileError(f"{path}: {where} must be a table {{kind = ..., url = ...}}")
        _no_unknown(item, {"kind", "url"}, path, where)
        kind, url = item.get("kind"), item.get("url", "")
        if kind not in SOURCE_KINDS:
            raise ProfileError(f"{path}: {where}: kind {kind!r} is not one of {', '.join(SOURCE_KINDS)}")
        if not isinstance(url, str) or (not url and kind != "openai_models"):
            raise ProfileError(f"{path}: {where}: a {kind} source needs a url")
        sources.append(CatalogSource(kind, url))
    return tuple(sources)


def _claims(raw: dict[str, Any], path: Path) -> Claims:
    models = raw.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(t, dict) for t in models.values()):
        raise ProfileError(f'{path}: [claims.models] must hold one table per model: [claims.models."<model id>"]')
    features = known_features()
    provider = _claim_table({k: v for k, v in raw.items() if k != "models"}, features, path, "[claims]")
    return Claims(
        provider,
        {str(m): _claim_table(t, features, path, f'[claims.models."{m}"]') for m, t in models.items()},
    )


def _claim_table(raw: Mapping[str, Any], features: set[str], path: Path, where: str) -> dict[str, ClaimSpec]:
    """Claims by key. An unquoted dotted key (state.store = "no") arrives nested; it is flattened back."""
    out: dict[str, ClaimSpec] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and "claim" not in value:
            out.update(_claim_table({f"{key}.{k}": v for k, v in value.items()}, features, path, where))
            continue
        group = key.split(".", 1)[0]
        if group not in features:
            raise ProfileError(
                f"{path}: {where} {key!r}: unknown feature group {group!r} (known: {', '.join(sorted(features))})"
            )
        out[key] = _claim_spec(value, path, f"{where} {key!r}")
    return out


def _claim_spec(value: Any, path: Path, where: str) -> ClaimSpec:
    if isinstance(value, dict):
        _no_unknown(value, {"claim", "note"}, path, where)
        note = value.get("note", "")
        if not isinstance(note, str):
            raise ProfileError(f"{path}: {where}: note must be a string")
        return ClaimSpec(_checked_claim(value.get("claim"), path, where), note)
    return ClaimSpec(_checked_claim(value, path, where))


def _checked_claim(value: Any, path: Path, where: str) -> Claim:
    try:
        return parse_claim(value)
    except ValueError:
        raise ProfileError(f"{path}: {where}: claim {value!r} is not one of {', '.join(CLAIM_VALUES)}") from None


def parse_claim(value: Any) -> Claim:
    """A claim value; anything else is a ValueError naming the allowed ones."""
    if value not in CLAIM_VALUES:
        raise ValueError(f"claim {value!r} is not one of {', '.join(CLAIM_VALUES)}")
    return cast(Claim, value)

"""Provider profiles: one TOML file per provider under matrices/ (see matrices/README.md).

A profile says where a provider is, where its model catalog lives, what it documents (limits, and
claims per feature, per probe or per model), and whether model-behaviour checks mean anything there.
Misspelled keys and claim values fail loudly: a typo would otherwise drop a claim without a word.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.config import JsonDict

from conformance import safejson
from conformance.paths import local_text, matrices_dir, safe_name
from conformance.probes import FEATURES, PROBES
from conformance.urls import check_base_url, credentials_in

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
SourceKind = Literal["openai_models", "ovh_models_v2", "openrouter"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)

# Models one run takes: several times the largest real catalog; each model costs a plan, threads and a
# report row, so a catalog, a profile or a cassette manifest naming more would stall a run.
MAX_MODELS = 10_000


class ProfileError(ValueError):
    """A profile is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class CatalogSource:
    """One catalog to read. An openai_models source with no url reads the endpoint's own GET /models.

    A redirect to another origin is followed only when `cross_origin_redirects` says the source moves there.
    """

    kind: str
    url: str = ""
    cross_origin_redirects: bool = False

    def resolve(self, base_url: str) -> str:
        return self.url or base_url.rstrip("/") + "/models"


@dataclass(frozen=True)
class ClaimSpec:
    """A documented claim, with where it is documented so a report can quote it."""

    value: Claim
    note: str = ""


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


class Profile(BaseModel):
    """A provider profile as the run uses it; `ProfileFile` is its TOML layout, from which it is built."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

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
    # Fields every create's JSON body gets unless it sets them itself (OVHcloud: store = false)
    request_defaults: Mapping[str, Any] = {}
    catalog_sources: tuple[CatalogSource, ...] = ()
    models: tuple[str, ...] = ()
    claims: Claims = Claims()

    def sources(self) -> tuple[tuple[CatalogSource, str], ...]:
        """Each catalog source with its URL; the endpoint's GET /models when the profile names none."""
        sources = self.catalog_sources or (CatalogSource("openai_models"),)
        return tuple((s, s.resolve(self.base_url)) for s in sources)


# -- the TOML layout, one model per table; `python -m conformance.records` writes its JSON Schema ------------

MAX_PER_MINUTE = 10**9  # requests/min past any real limit (10**400 did not convert to the pacer's float)
RatePerMin = Annotated[int, Field(gt=0, le=MAX_PER_MINUTE, strict=True)]
# errors.body_over_cap builds a body a quarter over the cap in memory: past any documented cap (OVHcloud's is 2 MB),
# and low enough that a typo (10**12) is the profile's one line rather than a terabyte asked of the allocator
MAX_BODY_CAP_BYTES = 256 * 1024 * 1024
BodyCap = Annotated[int, Field(gt=0, le=MAX_BODY_CAP_BYTES, strict=True)]


class Unquoted(ValueError):
    """A value is wrong and holds a credential: the problem is told without quoting it."""


class _Table(BaseModel):
    """A profile table: a misspelled key fails loudly, since a typo would otherwise drop a setting unseen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ProviderTable(_Table):
    """[provider]: where the endpoint is, its key, its documented limits, and which checks mean anything there."""

    name: str = Field(min_length=1)
    base_url: str = Field(min_length=1)
    title: str = ""
    api_key_env: str = Field(default="", description="The environment variable holding the API key.")
    semantic_checks: bool = Field(default=True, description="false: answers are not judged on their meaning.")
    semantic_probes: list[str] = Field(
        default=[], description="Probes judged on their meaning even when semantic_checks is false."
    )
    rate_limit_per_min: RatePerMin | None = Field(default=None, description="Requests/min per model, with a key.")
    rate_limit_anonymous_per_min: RatePerMin | None = Field(
        default=None, description="Requests per minute per model, without a key."
    )
    body_cap_bytes: BodyCap | None = Field(default=None, description="The documented request body cap.")
    request_defaults: dict[str, Any] = Field(
        default={}, description="Fields every create (POST /responses) sends unless it sets them."
    )

    @field_validator("request_defaults")
    @classmethod
    def _json_values(cls, defaults: dict[str, Any]) -> dict[str, Any]:
        """Every probe's body is JSON: a TOML date or time, nan or inf, or deep nesting cannot be sent."""
        if safejson.depth(defaults) > safejson.MAX_DEPTH:
            raise ValueError(f"nested deeper than {safejson.MAX_DEPTH} levels")
        try:
            json.dumps(defaults, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a JSON value ({exc}): use a string, number, boolean, array or table") from None
        return defaults

    @field_validator("semantic_probes")
    @classmethod
    def _known_probes(cls, ids: list[str]) -> list[str]:
        unknown = sorted(set(ids) - {p.id for p in PROBES})
        if unknown:
            raise ValueError(f"unknown probe id(s) {', '.join(unknown)}")
        return ids


class SourceTable(_Table):
    """One catalog to read; an openai_models source with no url reads the endpoint's own GET /models."""

    kind: SourceKind
    url: str = ""
    cross_origin_redirects: bool = Field(
        default=False,
        description="Follow a redirect of this catalog to another origin (never with the key); else it is a warning.",
    )

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        """A catalog's URL is written into the catalog snapshot and the cassettes, as the base URL would be."""
        found = credentials_in(url)
        if found:
            raise Unquoted(f"carries {found}; it would be written into the catalog snapshot and the cassettes")
        return url

    @model_validator(mode="after")
    def _needs_url(self) -> SourceTable:
        if not self.url and self.kind != "openai_models":
            raise ValueError(f"the {self.kind} source needs a url")
        return self


class CatalogTable(_Table):
    """[catalog]: the catalogs to read (first wins a disagreement), and models to probe though none lists them."""

    sources: list[SourceTable] = []
    models: list[Annotated[str, Field(min_length=1)]] = Field(default=[], max_length=MAX_MODELS)


class ClaimTable(_Table):
    """A claim with where it is documented: `{ claim = "no", note = "guide: unsupported" }`."""

    claim: Claim
    note: str = ""


_CLAIM_SCHEMA: JsonDict = {
    "anyOf": [
        {"enum": list(CLAIM_VALUES)},
        ClaimTable.model_json_schema(),
        {"type": "object", "description": 'A table of claims: [claims.models."<model>"], or an unquoted dotted key.'},
    ]
}


class ProfileFile(_Table):
    """A provider profile, `matrices/<provider>.toml`. [claims] keys are feature groups or probe ids (quoted when
    dotted); [claims.models."<model id>"] holds per-model claims, which win over provider-wide ones."""

    provider: ProviderTable
    catalog: CatalogTable = CatalogTable()
    claims: dict[str, Any] = Field(default={}, json_schema_extra={"additionalProperties": _CLAIM_SCHEMA})

    def profile(self, path: Path | None) -> Profile:
        p = self.provider
        where = path or Path("<profile>")
        return Profile(
            name=p.name,
            base_url=p.base_url,
            api_key_env=p.api_key_env,
            title=p.title,
            semantic_checks=p.semantic_checks,
            semantic_probes=frozenset(p.semantic_probes),
            path=path,
            rate_limit_per_min=p.rate_limit_per_min,
            rate_limit_anonymous_per_min=p.rate_limit_anonymous_per_min,
            body_cap_bytes=p.body_cap_bytes,
            request_defaults=dict(p.request_defaults),
            catalog_sources=tuple(CatalogSource(s.kind, s.url, s.cross_origin_redirects) for s in self.catalog.sources),
            models=tuple(self.catalog.models),
            claims=_claims(self.claims, where),
        )


def known_features() -> set[str]:
    return set(FEATURE_GROUPS) | set(FEATURES)


def load_profile(name_or_path: str, root: Path | None = None) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = (root or matrices_dir()) / f"{name_or_path}.toml"
    try:
        data: dict[str, Any] = tomllib.loads(local_text(path))
    except FileNotFoundError:
        known = sorted(p.stem for p in (root or matrices_dir()).glob("*.toml"))
        raise ProfileError(f"{path}: no such provider profile (known: {', '.join(known) or 'none'})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses per nesting level: a few hundred arrays or tables exhaust it
        raise ProfileError(f"{path}: not valid TOML (nested too deep)") from None
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
    return profile.model_copy(update={"base_url": base_url})


def parse_profile(data: Mapping[str, Any], path: Path) -> Profile:
    """A Profile from a decoded TOML document; every problem is a ProfileError naming the file and key."""
    try:
        return ProfileFile.model_validate(data).profile(path)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False)]
        raise ProfileError(f"{path}: " + "; ".join(dict.fromkeys(problems))) from None


_TABLE_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): ProfileFile,
    ("provider",): ProviderTable,
    ("catalog",): CatalogTable,
    ("catalog", "sources", "*"): SourceTable,
}


def _problem(error: Mapping[str, Any]) -> str:
    """One validation error as a profile author reads it: the table, the key, what is wrong, what was given."""
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    if error["type"] == "extra_forbidden":
        key = loc.pop()
        table = _TABLE_MODELS.get(tuple("*" if part.isdigit() else part for part in loc), ProfileFile)
        return f"{_where(loc)}: unknown key {key} (allowed: {', '.join(sorted(table.model_fields))})"
    unquoted = error["type"] == "missing" or isinstance(error.get("ctx", {}).get("error"), Unquoted)
    given = "" if unquoted else f", got {error['input']!r}"
    return f"{_where(loc)}: {error['msg'].removeprefix('Value error, ')}{given}"


def _where(loc: list[str]) -> str:
    """("catalog", "sources", "0", "kind") -> "[catalog] sources[0] kind"."""
    if not loc:
        return "top level"
    return f"[{loc[0]}]" + "".join(f"[{part}]" if part.isdigit() else f" {part}" for part in loc[1:])


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
    """Claims by key. An unquoted dotted key (state.store = "no") arrives nested; it is flattened back.

    Flattened with a stack, not by recursion: a dotted key of a thousand parts must be an error, not a crash."""
    out: dict[str, ClaimSpec] = {}
    pending: list[tuple[str, Any]] = list(raw.items())[::-1]
    while pending:
        key, value = pending.pop()
        if isinstance(value, dict) and "claim" not in value:
            pending.extend([(f"{key}.{k}", v) for k, v in value.items()][::-1])
            continue
        group = key.split(".", 1)[0]
        if group not in features:
            raise ProfileError(
                f"{path}: {where} {key[:200]!r}: unknown feature group {group!r} (known: {', '.join(sorted(features))})"
            )
        out[key] = _claim_spec(value, path, f"{where} {key!r}")
    return out


def _claim_spec(value: Any, path: Path, where: str) -> ClaimSpec:
    if not isinstance(value, dict):
        return ClaimSpec(_checked_claim(value, path, where))
    try:
        table = ClaimTable.model_validate(value)
    except ValidationError as exc:
        problems = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise ProfileError(f"{path}: {where}: " + "; ".join(problems)) from None
    return ClaimSpec(table.claim, table.note)


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

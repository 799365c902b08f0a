"""Model discovery and documented claims: which models a provider says it serves, and what they support.

Parsing is pure (decoded JSON in; entries and warnings out) and apart from fetching, so a catalog
response recorded in a cassette is re-read by today's parser. Catalog formats change without notice
(OVHcloud says so of its own), so every parser reads defensively: a missing or mistyped field is a
warning, collected and returned, never an exception.

Claims are layered, most specific first: the profile's claim for the model and probe, for the model
and feature group, for the probe, for the feature group; then the catalog's claim for the model and
feature group; else "unknown".
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

from conformance import safejson
from conformance.decoding import BoundedDecoder, DecodeError, DecodeLimit
from conformance.evidence import Exchange, Status, status_info
from conformance.jsonpath import MISSING, at_path
from conformance.profiles import Claim, Claims, Profile, parse_claim
from conformance.transports import CassetteError
from conformance.transports.deadline import ProbeDeadline, deadline_scope

CATALOG_VERSION = 1
CLAIMED_FEATURES = ("tools", "structured", "vision", "reasoning", "streaming")
MAX_CATALOG_BYTES = 16 * 1024 * 1024
PROFILE_SOURCE = "profile"  # a model the profile declares because the endpoint does not list it

# A claim of "yes" is contradicted by these; a claim of "no" by a feature that works.

CatalogTransportFactory = Callable[[], httpx.BaseTransport]


@dataclass(frozen=True)
class ModelEntry:
    """One model as the catalogs describe it. None and empty mean "not said", never "no"."""

    id: str
    name: str = ""
    available: bool | None = None
    claims: Mapping[str, Claim] = field(default_factory=dict, hash=False)
    claim_sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    rate_limit_per_min: int | None = None
    rate_limit_anonymous_per_min: int | None = None
    context_length: int | None = None
    category: str = ""
    tags: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    deprecated: bool | None = None
    replaced_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "available": self.available,
            "claims": {f: {"claim": c, "source": self.claim_sources.get(f, "")} for f, c in self.claims.items()},
            "rate_limit_per_min": self.rate_limit_per_min,
            "rate_limit_anonymous_per_min": self.rate_limit_anonymous_per_min,
            "context_length": self.context_length,
            "category": self.category,
            "tags": list(self.tags),
            "input_modalities": list(self.input_modalities),
            "output_modalities": list(self.output_modalities),
            "sources": list(self.sources),
            "deprecated": self.deprecated,
            "replaced_by": self.replaced_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelEntry:
        claims = data.get("claims", {})
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            available=data.get("available"),
            claims={f: parse_claim(c["claim"]) for f, c in claims.items()},
            claim_sources={f: str(c.get("source", "")) for f, c in claims.items()},
            rate_limit_per_min=data.get("rate_limit_per_min"),
            rate_limit_anonymous_per_min=data.get("rate_limit_anonymous_per_min"),
            context_length=data.get("context_length"),
            category=str(data.get("category", "")),
            tags=tuple(data.get("tags", ())),
            input_modalities=tuple(data.get("input_modalities", ())),
            output_modalities=tuple(data.get("output_modalities", ())),
            sources=tuple(data.get("sources", ())),
            deprecated=data.get("deprecated"),
            replaced_by=str(data.get("replaced_by", "")),
        )


class Parsed(NamedTuple):
    """A parser's answer: the entries it could read, and what it had to say about the rest."""

    entries: list[ModelEntry]
    warnings: list[str]


@dataclass(frozen=True)
class ClaimRef:
    """A resolved claim and where it comes from ("profile", "profile[<model>]", "catalog:<kind>", "")."""

    value: Claim
    source: str = ""
    note: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"claim": self.value, "source": self.source}
        return {**out, "note": self.note} if self.note else out


def drift(claim: str, status: Status | str) -> bool:
    """True when a documented claim and the observed status disagree.

    A "yes" is contradicted by FAIL, IGNORED or UNSUPPORTED; a "no" by PASS or NON-STRICT (the feature
    works for clients). ERROR, ACCEPTED and NOT RUN decide nothing, and "unknown" never drifts.
    """
    info = status.info if isinstance(status, Status) else status_info(status)
    shows = None if info is None else info.shows
    return (claim == "yes" and shows is False) or (claim == "no" and shows is True)


# -- reading JSON defensively -------------------------------------------------------------------

_KINDS: dict[str, str] = {"str": "a string", "bool": "a boolean", "int": "an integer", "strings": "a list of strings"}


def _typed(value: Any, kind: str) -> Any:
    """The value when it has the kind, else MISSING. An integral float is an integer; a bool is not."""
    if kind == "str":
        return value if isinstance(value, str) else MISSING
    if kind == "bool":
        return value if isinstance(value, bool) else MISSING
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else MISSING
    if kind == "strings":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else MISSING
    raise ValueError(f"unknown kind {kind}")


@dataclass
class _Reader:
    """Typed reads from one catalog item; a documented field that is missing or mistyped is a warning."""

    item: dict[str, Any]
    where: str
    warnings: list[str]

    def read(self, paths: str | Sequence[str], kind: str, documented: bool = True) -> Any:
        """The first of `paths` present, checked against `kind`; None when absent or mistyped."""
        names = (paths,) if isinstance(paths, str) else tuple(paths)
        for path in names:
            value = at_path(self.item, path)
            if value is MISSING or value is None:
                continue
            typed = _typed(value, kind)
            if typed is MISSING:
                self.warnings.append(f"{self.where}: {path} should be {_KINDS[kind]}, got {_show(value)}; ignored")
                return None
            return typed
        if documented:
            self.warnings.append(f"{self.where}: {names[0]} is missing")
        return None


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _show(value: Any) -> str:
    """A JSON value as a warning quotes it: its JSON type and its first characters."""
    text = json.dumps(value)
    if value is None:
        return "null"
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} {text[:60]}{'...' if len(text) > 60 else ''}"


def _items(body: list[Any], source: str, warnings: list[str]) -> Iterable[_Reader]:
    """A reader for each object of a list; a non-object item is a warning and skipped."""
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            warnings.append(f"{source}: item [{i}] is {_show(item)}, not an object; skipped")
            continue
        model_id = item.get("id")
        where = f"{source}: {model_id}" if isinstance(model_id, str) and model_id else f"{source}: item [{i}]"
        yield _Reader(item, where, warnings)


def _model_id(reader: _Reader, paths: Sequence[str] = ("id",)) -> str | None:
    """The first non-empty string at `paths`; without one the item is a warning and skipped."""
    values = [at_path(reader.item, p) for p in paths]
    model_id = next((v for v in values if isinstance(v, str) and v), None)
    if model_id is None:
        found = next((v for v in values if v is not MISSING), MISSING)
        shown = "missing" if found is MISSING else _show(found)
        reader.warnings.append(f"{reader.where}: {'/'.join(paths)} is {shown}, not a model id; skipped")
    return model_id


def _yes_no(flag: bool | None) -> Claim | None:
    return None if flag is None else ("yes" if flag else "no")


def _entry(model_id: str, source: str, claims: Mapping[str, Claim | None], **fields: Any) -> ModelEntry:
    said = {f: c for f, c in claims.items() if c is not None}
    return ModelEntry(id=model_id, claims=said, claim_sources=dict.fromkeys(said, source), sources=(source,), **fields)


# -- the three catalog formats ------------------------------------------------------------------


def parse_openai_models(body: Any) -> Parsed:
    """GET /v1/models: `data[].id`. It claims nothing, so every model is listed with no claims.

    llama.cpp adds its own `models[]` beside `data[]`; it is read only when `data` is absent.
    """
    source = "openai_models"
    warnings: list[str] = []
    if not isinstance(body, dict):
        return Parsed([], [f"{source}: expected a JSON object with data[], got {_show(body)}"])
    items: Any = body.get("data")
    id_paths: tuple[str, ...] = ("id",)
    if not isinstance(items, list) and isinstance(body.get("models"), list):
        warnings.append(f"{source}: no data[]; read llama.cpp's models[] instead")
        items, id_paths = body["models"], ("model", "name")
    if not isinstance(items, list):
        return Parsed([], [f"{source}: data should be a list, got {_show(items)}"])
    entries = []
    for reader in _items(items, source, warnings):
        model_id = _model_id(reader, id_paths)
        if model_id is not None:
            context = reader.read(("context_length", "max_model_len", "meta.n_ctx"), "int", documented=False)
            entries.append(_entry(model_id, source, {}, context_length=context))
    return Parsed(entries, warnings)


def parse_ovh_models_v2(body: Any) -> Parsed:
    """OVHcloud's public catalog (rest/v1/models_v2): an array of models with capability flags.

    Both `input_modality` (the Catalog API guide's name) and `input_modalities` are read.
    `deprecated` and `replaced_by` are undocumented: read when present, never expected.
    """
    source = "ovh_models_v2"
    if not isinstance(body, list):
        return Parsed([], [f"{source}: expected a JSON array of models, got {_show(body)}"])
    warnings: list[str] = []
    entries = []
    caps = "metadata.model_specs.capabilities"
    for r in _items(body, source, warnings):
        model_id = _model_id(r)
        if model_id is None:
            continue
        inputs = r.read((f"{caps}.input_modality", f"{caps}.input_modalities"), "strings")
        outputs = r.read((f"{caps}.output_modality", f"{caps}.output_modalities"), "strings")
        claims = {
            "tools": _yes_no(r.read(f"{caps}.function_calling", "bool")),
            "reasoning": _yes_no(r.read(f"{caps}.reasoning", "bool")),
            "streaming": _yes_no(r.read(f"{caps}.streaming", "bool")),
            "vision": None if inputs is None else _yes_no("image" in inputs),
        }
        with_key, anonymous = _ovh_rate_limits(r)
        entries.append(
            _entry(
                model_id,
                source,
                claims,
                name=r.read("name", "str") or "",
                available=r.read("available", "bool"),
                category=r.read("category", "str") or "",
                tags=r.read("tags", "strings") or (),
                input_modalities=inputs or (),
                output_modalities=outputs or (),
                rate_limit_per_min=with_key,
                rate_limit_anonymous_per_min=anonymous,
                deprecated=r.read("deprecated", "bool", documented=False),
                replaced_by=r.read("replaced_by", "str", documented=False) or "",
            )
        )
    return Parsed(entries, warnings)


def _ovh_rate_limits(r: _Reader) -> tuple[int | None, int | None]:
    """`rate_limit` is either one number or an object {rate_limit_api, rate_limit_api_anonymous, ...}."""
    path = "metadata.usage_information.rate_limit"
    raw = at_path(r.item, path)
    if raw is MISSING or raw is None:
        r.warnings.append(f"{r.where}: {path} is missing")
        return None, None
    if isinstance(raw, dict):
        with_key, anonymous = (
            _per_minute(raw.get(key), f"{path}.{key}", r) for key in ("rate_limit_api", "rate_limit_api_anonymous")
        )
        return with_key, anonymous
    return _per_minute(raw, path, r), None


_PER_MINUTE = re.compile(r"(\d+)\s*(?:(?:req(?:uest)?s?\s*)?(?:/|per)\s*min(?:ute)?|rpm)?", re.IGNORECASE)


def _per_minute(value: Any, path: str, r: _Reader) -> int | None:
    """Requests per minute from 400, "400", "400/min" or "400 requests per minute"; else a warning."""
    if value is None:
        r.warnings.append(f"{r.where}: {path} is missing")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _PER_MINUTE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        r.warnings.append(f"{r.where}: {path} is not a per-minute request count: {_show(value)}; ignored")
        return None
    return int(match.group(1))


def parse_openrouter(body: Any) -> Parsed:
    """An OpenRouter-style list (OVHcloud's rest/v2/openrouter): `data[]` with supported_features.

    A feature missing from a present supported_features list is claimed "no"; a missing list claims nothing.
    """
    source = "openrouter"
    if not isinstance(body, dict):
        return Parsed([], [f"{source}: expected a JSON object with data[], got {_show(body)}"])
    items = body.get("data")
    if not isinstance(items, list):
        return Parsed([], [f"{source}: data should be a list, got {_show(items)}"])
    warnings: list[str] = []
    entries = []
    for r in _items(items, source, warnings):
        model_id = _model_id(r)
        if model_id is None:
            continue
        inputs = r.read("input_modalities", "strings")
        features = r.read("supported_features", "strings")
        claims = {
            "tools": _listed(features, "tools"),
            "structured": _listed(features, "structured_outputs", "json_mode"),
            "reasoning": _listed(features, "reasoning"),
            "vision": None if inputs is None else _yes_no("image" in inputs),
        }
        entries.append(
            _entry(
                model_id,
                source,
                claims,
                name=r.read("name", "str", documented=False) or "",
                context_length=r.read("context_length", "int"),
                input_modalities=inputs or (),
                output_modalities=r.read("output_modalities", "strings", documented=False) or (),
            )
        )
    return Parsed(entries, warnings)


def _listed(features: tuple[str, ...] | None, *names: str) -> Claim | None:
    return None if features is None else _yes_no(any(n in features for n in names))


PARSERS: dict[str, Callable[[Any], Parsed]] = {
    "openai_models": parse_openai_models,
    "ovh_models_v2": parse_ovh_models_v2,
    "openrouter": parse_openrouter,
}


# -- what a cell carries --------------------------------------------------------------------------------

X_WARNING = "x-warning"  # OVHcloud's notice that a retired model was redirected to a newer one


def claim_record(
    catalog: Catalog | None, model: str, probe_id: str, feature: str, status: Status | str
) -> dict[str, Any]:
    """The keys a results record adds for its claim, so the matrix can show it and mark DRIFT."""
    ref = catalog.claim(model, probe_id, feature) if catalog is not None else ClaimRef("unknown")
    return {"claim": ref.to_json(), "drift": drift(ref.value, status)}


def redirect_warnings(exchanges: Iterable[Exchange]) -> list[str]:
    """Each distinct `x-warning` header value the provider sent during a cell, in order."""
    return list(dict.fromkeys(ex.headers[X_WARNING] for ex in exchanges if X_WARNING in ex.headers))


# -- merging and claims ---------------------------------------------------------------------------


def merge_entries(groups: Iterable[Sequence[ModelEntry]]) -> Parsed:
    """One entry per model id, in first-seen order. Earlier sources win a disagreement, which is warned."""
    merged: dict[str, ModelEntry] = {}
    warnings: list[str] = []
    for group in groups:
        for entry in group:
            first = merged.get(entry.id)
            merged[entry.id] = entry if first is None else _merge(first, entry, warnings)
    return Parsed(list(merged.values()), warnings)


def _merge(a: ModelEntry, b: ModelEntry, warnings: list[str]) -> ModelEntry:
    if a.available is not None and b.available is not None and a.available != b.available:
        kept = a.available
        warnings.append(f"{a.id}: available is {b.available} in {b.sources[0]} but {kept} earlier; kept {kept}")
    claims, claim_sources = dict(a.claims), dict(a.claim_sources)
    for feature, claim in b.claims.items():
        if feature not in claims:
            claims[feature], claim_sources[feature] = claim, b.claim_sources[feature]
        elif claims[feature] != claim:
            warnings.append(
                f"{a.id}: {feature} claimed {claims[feature]!r} by {claim_sources[feature]} "
                f"but {claim!r} by {b.claim_sources[feature]}; kept {claims[feature]!r}"
            )
    return replace(
        a,
        name=a.name or b.name,
        available=b.available if a.available is None else a.available,
        claims=claims,
        claim_sources=claim_sources,
        rate_limit_per_min=_first(a.rate_limit_per_min, b.rate_limit_per_min),
        rate_limit_anonymous_per_min=_first(a.rate_limit_anonymous_per_min, b.rate_limit_anonymous_per_min),
        context_length=_first(a.context_length, b.context_length),
        category=a.category or b.category,
        tags=tuple(dict.fromkeys(a.tags + b.tags)),
        input_modalities=a.input_modalities or b.input_modalities,
        output_modalities=a.output_modalities or b.output_modalities,
        sources=tuple(dict.fromkeys(a.sources + b.sources)),
        deprecated=True if (a.deprecated or b.deprecated) else _first(a.deprecated, b.deprecated),
        replaced_by=a.replaced_by or b.replaced_by,
    )


def _first(a: Any, b: Any) -> Any:
    return b if a is None else a


def resolve_claim(entry: ModelEntry | None, claims: Claims, model: str, probe_id: str, feature: str) -> ClaimRef:
    """The profile's documented claim over the catalog's; "unknown" when neither says."""
    documented = claims.lookup(model, probe_id, feature)
    if documented is not None:
        spec, scope = documented
        return ClaimRef(spec.value, scope, spec.note)
    if entry is not None and feature in entry.claims:
        return ClaimRef(entry.claims[feature], f"catalog:{entry.claim_sources.get(feature, '')}")
    return ClaimRef("unknown")


# -- the catalog of one provider ------------------------------------------------------------------


@dataclass(frozen=True)
class SourceReport:
    """How one catalog source answered: HTTP status (None: no answer), models read, and any problem."""

    kind: str
    url: str
    status: int | None
    models: int
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "status": self.status,
            "models": self.models,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Catalog:
    """Everything known about a provider's models before probing; its JSON form is stored with results."""

    provider: str
    entries: tuple[ModelEntry, ...]
    warnings: tuple[str, ...] = ()
    sources: tuple[SourceReport, ...] = ()
    claims: Claims = field(default_factory=Claims)

    def get(self, model: str) -> ModelEntry | None:
        return next((e for e in self.entries if e.id == model), None)

    def claim(self, model: str, probe_id: str, feature: str) -> ClaimRef:
        return resolve_claim(self.get(model), self.claims, model, probe_id, feature)

    def selection(self, include_unavailable: bool = False) -> tuple[list[str], dict[str, str]]:
        """Models to probe, and the listed ones left out with the reason why.

        Left out: a model the catalog marks unavailable (unless asked), one whose category says it does
        not chat (embeddings, speech to text, text to speech, image generation, guard), one whose output is not text,
        and one the endpoint's own GET /models did not list although it listed others (the key or the
        endpoint does not serve it). A model the profile declares is always probed.
        """
        endpoint_listed = any(s.kind == "openai_models" and s.models for s in self.sources)
        chosen, skipped = [], {}
        for entry in self.entries:
            reason = _skip_reason(entry, endpoint_listed, include_unavailable)
            if reason:
                skipped[entry.id] = reason
            else:
                chosen.append(entry.id)
        return chosen, skipped

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CATALOG_VERSION,
            "provider": self.provider,
            "sources": [s.to_json() for s in self.sources],
            "warnings": list(self.warnings),
            "claims": self.claims.to_json(),
            "models": [e.to_json() for e in self.entries],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        """Read a stored snapshot (the suite's own format); a wrong version is a ValueError."""
        if data.get("version") != CATALOG_VERSION:
            raise ValueError(f"catalog snapshot version {data.get('version')!r}; this suite reads {CATALOG_VERSION}")
        return cls(
            provider=str(data["provider"]),
            entries=tuple(ModelEntry.from_json(m) for m in data.get("models", [])),
            warnings=tuple(data.get("warnings", [])),
            sources=tuple(SourceReport(**s) for s in data.get("sources", [])),
            claims=Claims.from_json(data.get("claims", {})),
        )


# Catalog categories (and tags) of models that do not chat: /responses has nothing to ask them.
NON_CHAT = (
    "embedding", "speech", "audio analysis", "transcri", "tts", "image generation", "text to image", "text-to-image",
    "diffusion", "segmentation", "object detection", "image classification", "guard", "moderation", "rerank",
)  # fmt: skip


def non_chat(entry: ModelEntry) -> str:
    """The category or tag that says the model does not chat (embeddings, speech, images, guard), or ""."""
    return next((label for label in (entry.category, *entry.tags) if any(k in label.lower() for k in NON_CHAT)), "")


def _skip_reason(entry: ModelEntry, endpoint_listed: bool, include_unavailable: bool) -> str:
    if PROFILE_SOURCE in entry.sources:
        return ""
    if entry.available is False and not include_unavailable:
        return "marked unavailable by the catalog"
    if entry.output_modalities and "text" not in entry.output_modalities:
        return f"outputs {', '.join(entry.output_modalities)}, not text"
    if label := non_chat(entry):
        return f"not a chat model: catalog category {label!r}"
    if endpoint_listed and "openai_models" not in entry.sources:
        return "not listed by the endpoint's GET /models"
    return ""


# -- fetching ------------------------------------------------------------------------------------------


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
        transport = transport_factory()
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
    return Catalog(
        profile.name, tuple(merged.entries), tuple(warnings + merged.warnings), tuple(reports), profile.claims
    )


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
    except (httpx.HTTPError, DecodeError, DecodeLimit) as exc:
        return None, None, f"{type(exc).__name__}: {exc}"
    text = data.decode("utf-8", errors="replace")
    if not 200 <= status < 300:
        return None, status, f"HTTP {status}: {text[:200]}"
    try:
        return safejson.loads(text), status, ""
    except ValueError as exc:
        return None, status, f"not JSON ({exc}): {text[:80]!r}"

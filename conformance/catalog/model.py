"""What is known of a provider's models before probing, and the claim each cell carries.

Claims are layered, most specific first: the profile's claim for the model and probe, for the model
and feature group, for the probe, for the feature group; then the catalog's claim for the model and
feature group; else "unknown".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple

from conformance.evidence import Exchange, Status, status_info
from conformance.profiles import Claim, Claims

CATALOG_VERSION: Literal[1] = 1
CLAIMED_FEATURES = ("tools", "structured", "vision", "reasoning", "streaming")
PROFILE_SOURCE = "profile"  # a model the profile declares because the endpoint does not list it


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


def resolve_claim(entry: ModelEntry | None, claims: Claims, model: str, probe_id: str, feature: str) -> ClaimRef:
    """The profile's documented claim over the catalog's; "unknown" when neither says."""
    documented = claims.lookup(model, probe_id, feature)
    if documented is not None:
        spec, scope = documented
        return ClaimRef(spec.value, scope, spec.note)
    if entry is not None and feature in entry.claims:
        return ClaimRef(entry.claims[feature], f"catalog:{entry.claim_sources.get(feature, '')}")
    return ClaimRef("unknown")


@dataclass(frozen=True)
class SourceReport:
    """How one catalog source answered: HTTP status (None: no answer), models read, and any problem."""

    kind: str
    url: str
    status: int | None
    models: int
    problem: str = ""


@dataclass(frozen=True)
class Catalog:
    """Everything known about a provider's models before probing; its JSON form is stored with results."""

    provider: str
    entries: tuple[ModelEntry, ...]
    warnings: tuple[str, ...] = ()
    sources: tuple[SourceReport, ...] = ()
    claims: Claims = field(default_factory=Claims)

    @cached_property
    def _by_id(self) -> dict[str, ModelEntry]:
        """The first entry of each id: a lookup per model, feature and cell must not scan every entry."""
        index: dict[str, ModelEntry] = {}
        for entry in self.entries:
            index.setdefault(entry.id, entry)
        return index

    def get(self, model: str) -> ModelEntry | None:
        return self._by_id.get(model)

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


# Catalog categories (and tags) of models that do not chat: /responses has nothing to ask them.
NON_CHAT = (
    "embedding", "speech", "audio analysis", "transcri", "tts", "image generation", "text to image", "text-to-image",
    "diffusion", "segmentation", "object detection", "image classification", "guard", "moderation", "rerank",
)  # fmt: skip


# A kind that is a medium other than text alone, as a listing's model type says it (Together's `type`): not chat.
NON_TEXT_KINDS = ("image", "audio", "video")


def non_chat(entry: ModelEntry) -> str:
    """The category or tag that says the model does not chat (embeddings, speech, images, guard), or ""."""
    return next((label for label in (entry.category, *entry.tags) if says_non_chat(label)), "")


def says_non_chat(label: str) -> bool:
    """Whether a category, tag or kind names a model that does not chat."""
    return any(k in label.lower() for k in NON_CHAT) or label.lower() in NON_TEXT_KINDS


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

"""Several catalogs of one provider merged into one entry per model; disagreements are warned, never silent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from conformance.catalog.model import ModelEntry, Parsed, says_non_chat


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
        category=_category(a.category, b.category),
        tags=tuple(dict.fromkeys(a.tags + b.tags)),
        input_modalities=a.input_modalities or b.input_modalities,
        output_modalities=a.output_modalities or b.output_modalities,
        sources=tuple(dict.fromkeys(a.sources + b.sources)),
        deprecated=True if (a.deprecated or b.deprecated) else _first(a.deprecated, b.deprecated),
        replaced_by=a.replaced_by or b.replaced_by,
    )


def _category(a: str, b: str) -> str:
    """The earlier source's category, unless a later one says the model does not chat: an endpoint's list may
    name a kind (`llm`) where the provider's catalog says Embeddings, and the model must not be probed."""
    return b if not a or (says_non_chat(b) and not says_non_chat(a)) else a


def _first(a: Any, b: Any) -> Any:
    return b if a is None else a

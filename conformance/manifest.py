"""provider.json beside a provider's cassettes: what a replay needs to run as the recording did."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from conformance.catalog.model import Catalog
from conformance.paths import MANIFEST
from conformance.profiles import MAX_MODELS
from conformance.records import CatalogRecord, Manifest, first_problem
from conformance.results import read_json_file, write_file_atomic
from conformance.runner import Target
from conformance.transports.cassette import provider_dir


def write_manifest(cassettes: Path, target: Target, models: Sequence[str], catalog: Catalog | None) -> None:
    """Record what replay needs to know about the provider: where it was and which models it had."""
    path = provider_dir(cassettes, target.provider) / MANIFEST
    previous = read_manifest(path).models if path.exists() and not path.is_symlink() else []
    manifest = Manifest(
        provider=target.provider,
        base_url=target.base_url,
        semantic_checks=target.semantic,
        semantic_tries=target.semantic_tries,
        semantic_probes=sorted(target.semantic_probes),
        models=_kept(models, previous),
        body_cap_bytes=target.body_cap_bytes,
        request_defaults=target.request_defaults,
        catalog=None if catalog is None else CatalogRecord.of(catalog),
    )
    write_file_atomic(path, json.dumps(manifest.model_dump(mode="json", exclude_none=True), indent=1) + "\n")


def _kept(models: Sequence[str], previous: Sequence[str]) -> list[str]:
    """This run's models, and as many recorded before as a manifest holds (MAX_MODELS), sorted."""
    now = set(models)
    earlier = sorted(set(previous) - now)
    return sorted(now | set(earlier[: max(0, MAX_MODELS - len(now))]))


def read_manifest(path: Path) -> Manifest:
    """A provider manifest, or one ValueError naming the file and what is wrong with it."""
    try:
        return Manifest.model_validate(read_json_file(path, "cassette manifest"))
    except ValidationError as exc:
        problems = f"{exc.error_count()} problem(s): {first_problem(exc, 'file')}"
        raise ValueError(f"{path}: not a provider manifest ({problems})") from None

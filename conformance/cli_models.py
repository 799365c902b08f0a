"""`conformance models`: what a provider says it serves and supports, before anything is probed.

Reads the profile's catalog sources live and prints one row per model: availability, the claim per
feature group (the profile's documented claims over the catalog's), rate limit and sources; then
the provider-wide claims per probe, and every warning the catalogs caused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from conformance.catalog.fetch import fetch_catalog
from conformance.catalog.model import CLAIMED_FEATURES, Catalog, ModelEntry
from conformance.plan import api_key_for, timeout_seconds, utf8_text
from conformance.probes import FEATURES, PROBES
from conformance.profiles import Profile, ProfileError, profile_for
from conformance.records import CatalogRecord
from conformance.terminal import one_line
from conformance.transports.deadline import live_transport


def add_models_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("models", help="list a provider's models and their documented claims")
    parser.add_argument("--provider", type=utf8_text, help="provider profile name in matrices/ (or a .toml path)")
    parser.add_argument(
        "--base-url", type=utf8_text, help="endpoint base URL (reads its GET /models); overrides the profile's"
    )
    parser.add_argument("--api-key-env", type=utf8_text, help="environment variable holding the API key")
    parser.add_argument(
        "--timeout", type=timeout_seconds, default=30.0, help="seconds per catalog request (default: 30)"
    )
    parser.add_argument("--json", action="store_true", help="print the catalog snapshot as JSON instead")
    return parser


def models_command(args: argparse.Namespace) -> int:
    """0 when the catalogs name at least one model, 1 when none, 3 (bad input) when no provider was given."""
    try:
        profile = profile_for(args.provider, args.base_url)
    except ProfileError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 3
    if profile is None:
        print("conformance models: give --provider NAME or --base-url URL", file=sys.stderr)
        return 3
    catalog = fetch_catalog(
        profile, live_transport, api_key=api_key_for(profile, args.api_key_env), timeout_s=args.timeout
    )
    if args.json:
        print(json.dumps(CatalogRecord.of(catalog).model_dump(mode="json"), indent=1, ensure_ascii=False))
    else:
        print(render_catalog(catalog, profile))
    return 0 if catalog.entries else 1


def render_catalog(catalog: Catalog, profile: Profile) -> str:
    """The table, the models left out, the documented per-probe claims, then the warnings; plain text."""
    header = ["model", "available", *CLAIMED_FEATURES, "rate/min", "sources", "notes"]
    rows = [_row(catalog, profile, entry) for entry in sorted(catalog.entries, key=lambda e: e.id.lower())]
    probing, skipped = catalog.selection()
    lines = [
        f"{catalog.provider}: {len(rows)} models, {len(probing)} to probe",
        *_table([header, *rows]),
        "claims: yes / no / unknown. * from the profile; otherwise from the catalog named in sources",
    ]
    if skipped:
        lines.append("not probed:")
        lines += [f"  {one_line(model)}: {one_line(reason)}" for model, reason in sorted(skipped.items())]
    unmatched = set(unmatched_claim_keys(catalog))
    scopes = [("every model", catalog.claims.provider), *sorted(catalog.claims.models.items())]
    for scope, table in scopes:
        documented = sorted((k, v) for k, v in table.items() if k not in CLAIMED_FEATURES)
        if documented:
            lines.append(f"documented claims for {scope}:")
            lines += [
                f"  {key:32s} {spec.value:8s} {'(no such probe yet) ' if key in unmatched else ''}{spec.note}".rstrip()
                for key, spec in documented
            ]
    lines.append(f"warnings ({len(catalog.warnings)}):" if catalog.warnings else "warnings: none")
    lines += [f"  {one_line(w)}" for w in catalog.warnings]
    return "\n".join(lines)


def unmatched_claim_keys(catalog: Catalog) -> list[str]:
    """Claim keys that match no current probe id or feature group: a typo, or a probe still to come."""
    known = {p.id for p in PROBES} | set(FEATURES) | set(CLAIMED_FEATURES)
    return sorted(k for k in catalog.claims.claim_keys() if k not in known)


def _row(catalog: Catalog, profile: Profile, entry: ModelEntry) -> list[str]:
    claims = []
    for feature in CLAIMED_FEATURES:
        ref = catalog.claim(entry.id, feature, feature)
        claims.append(ref.value + ("*" if ref.source.startswith("profile") else ""))
    available = {True: "yes", False: "no", None: "?"}[entry.available]
    row = [entry.id, available, *claims, _rate(entry, profile), ", ".join(entry.sources), "; ".join(_notes(entry))]
    return [one_line(cell) for cell in row]  # a catalog's text: a newline in an id must not make a row


def _rate(entry: ModelEntry, profile: Profile) -> str:
    """The catalog's per-model limits, else the profile's documented ones (marked *)."""
    if entry.rate_limit_per_min is not None:
        anonymous = entry.rate_limit_anonymous_per_min
        return f"{entry.rate_limit_per_min}" + ("" if anonymous is None else f" ({anonymous} anon)")
    if profile.rate_limit_per_min is not None:
        anonymous = profile.rate_limit_anonymous_per_min
        return f"{profile.rate_limit_per_min}*" + ("" if anonymous is None else f" ({anonymous} anon)")
    return "?"


def _notes(entry: ModelEntry) -> list[str]:
    notes = []
    if entry.deprecated:
        notes.append("deprecated" + (f", replaced by {entry.replaced_by}" if entry.replaced_by else ""))
    if entry.category:
        notes.append(entry.category)
    return notes


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]

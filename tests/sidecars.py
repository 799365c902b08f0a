"""An evidence sidecar read back as the page reads it: `conformanceEvidence({provider, model, cells})`, its
cells gzipped JSON in base64. The leak tests read what the page shows, not the packed bytes, which would
hide a key from a search."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

from conformance.report.evidence import EVIDENCE_CALLBACK

PREFIX = f"{EVIDENCE_CALLBACK}("


def is_sidecar(path: Path) -> bool:
    return path.suffix == ".js" and path.parent.name == "evidence"


def evidence_data(path: Path) -> dict[str, Any]:
    """The sidecar's one call's argument, its cells inflated."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith(PREFIX) and text.endswith(");\n")
    data = dict(json.loads(text[len(PREFIX) : -3]))
    return {**data, "cells": json.loads(gzip.decompress(base64.b64decode(data["cells"])))}


def readable(path: Path) -> bytes:
    """A file's bytes as a reader sees them: a sidecar's with its cells inflated."""
    if is_sidecar(path):
        return json.dumps(evidence_data(path), ensure_ascii=False).encode("utf-8")
    return path.read_bytes()

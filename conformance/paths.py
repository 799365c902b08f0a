"""Where the suite finds its data when it is not told: the current checkout first, then the source tree."""

from __future__ import annotations

from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def matrices_dir() -> Path:
    here = Path.cwd() / "matrices"
    return here if here.is_dir() else _SOURCE_ROOT / "matrices"


def cassettes_dir() -> Path:
    return matrices_dir() / "cassettes"


def expectations_dir() -> Path:
    return matrices_dir() / "expectations"

"""Provider profiles: one TOML file per provider under matrices/ (see matrices/README.md)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.paths import matrices_dir


class ProfileError(ValueError):
    """A profile is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Profile:
    name: str
    base_url: str
    api_key_env: str = ""
    title: str = ""
    semantic_checks: bool = True
    path: Path | None = None


def load_profile(name_or_path: str, root: Path | None = None) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = (root or matrices_dir()) / f"{name_or_path}.toml"
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = sorted(p.stem for p in (root or matrices_dir()).glob("*.toml"))
        raise ProfileError(f"{path}: no such provider profile (known: {', '.join(known) or 'none'})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from None
    section = data.get("provider")
    if not isinstance(section, dict) or not section.get("name") or not section.get("base_url"):
        raise ProfileError(f"{path}: expected a [provider] table with name and base_url")
    return Profile(
        name=str(section["name"]),
        base_url=str(section["base_url"]),
        api_key_env=str(section.get("api_key_env", "")),
        title=str(section.get("title", "")),
        semantic_checks=bool(section.get("semantic_checks", True)),
        path=path,
    )

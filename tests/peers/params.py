"""The local peers as pytest parameters."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from tests.peers.servers import PEERS


def peer_params(names: Iterable[str]) -> list[pytest.ParameterSet]:
    """Heavy peers' tests (vLLM: ~3 GB, half a minute to start) share one xdist worker under
    `--dist loadgroup` (pyproject.toml), so each such server starts once per run, not once per worker."""
    return [
        pytest.param(name, marks=[pytest.mark.xdist_group("heavy-peers")] if PEERS[name].heavy else [], id=name)
        for name in names
    ]

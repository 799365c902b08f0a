"""Fixtures that start the suite's real local peers (see tests/peers/).

At the repository root so that both the suite's own tests and a plugin run (`pytest matrices
--conformance-provider llama-server ...`) can use them. A peer that was not built is a skip,
except where CONFORMANCE_REQUIRE_PEERS=1 (CI) makes it a failure: CI must never pass by skipping.
A peer that was built but does not come up is always a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.servers import Peer, PeerNotBuilt, running


def _peer(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    try:
        with running(name, tmp_path_factory.mktemp(f"{name}-logs")) as peer:
            yield peer
    except PeerNotBuilt as exc:
        if os.environ.get("CONFORMANCE_REQUIRE_PEERS") == "1":
            pytest.fail(f"{name} is required here (CONFORMANCE_REQUIRE_PEERS=1): {exc}")
        pytest.skip(f"{name} unavailable: {exc}")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    yield from _peer("llama-server", tmp_path_factory)


@pytest.fixture(scope="session")
def transformers_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    yield from _peer("transformers-serve", tmp_path_factory)


@pytest.fixture(scope="session")
def vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    yield from _peer("vllm", tmp_path_factory)


@pytest.fixture(scope="session")
def vllm_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    yield from _peer("vllm-store", tmp_path_factory)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).parent

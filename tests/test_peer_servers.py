"""How tests/peers/servers.py starts a peer, without starting one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.peers.servers import PEERS, PeerUnavailable, running


@pytest.mark.parametrize("name", sorted(PEERS))
def test_a_taken_port_is_refused_before_anything_starts(name: str, tmp_path: Path) -> None:
    """Else the stranger on that port would answer the readiness check, and be recorded as the peer."""
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        with (
            pytest.raises(PeerUnavailable, match=f"port {port} for {name} is taken"),
            running(name, tmp_path, port=port),
        ):
            pytest.fail("started on a taken port")
    assert not (tmp_path / f"{name}.log").exists()

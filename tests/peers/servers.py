"""Start and stop the real local peers on loopback, built by tests/peers/build.sh.

These are servers someone else wrote (llama.cpp, Hugging Face transformers); the suite's live code
path is exercised against them exactly as against a remote provider.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL = "tiny-scripted"
# Address space per peer. Unbounded, `transformers serve` answers errors.body_over_cap by allocating
# ~24 GB for a 400k-token prompt until the kernel kills it (or whatever else it picks); bounded, the
# allocation fails, the request gets its error and the server lives on for the next probe.
PEER_ADDRESS_SPACE = 4 << 30


def bounded(command: list[str]) -> list[str]:
    """The command under `ulimit -v`, set by the shell that execs it (a preexec_fn is unsafe with threads)."""
    return ["/bin/sh", "-c", f'ulimit -v {PEER_ADDRESS_SPACE >> 10} && exec "$@"', "peer", *command]


def peers_dir() -> Path:
    return Path(os.environ.get("CONFORMANCE_PEERS_DIR", Path.home() / ".cache" / "conformance-peers"))


class PeerUnavailable(RuntimeError):
    """The peer cannot be used; the message says why and how to fix it."""


class PeerNotBuilt(PeerUnavailable):
    """Its binary or model is missing: tests/peers/build.sh has not run on this machine."""


@dataclass(frozen=True)
class Peer:
    name: str
    base_url: str
    model: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llama_server_command(port: int) -> list[str]:
    """With the tiny model's projector, so images reach the model (tests/peers/make_mmproj.py)."""
    root = peers_dir()
    binary = root / "bin" / "llama-server"
    if not binary.exists():
        raise PeerNotBuilt(f"{binary} is missing: run tests/peers/build.sh")
    return [
        str(binary),
        "-m",
        str(root / "models" / f"{MODEL}.gguf"),
        "--alias",
        MODEL,
        "--mmproj",
        str(root / "models" / f"{MODEL}-mmproj.gguf"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-c",
        "4096",
        "-np",
        "1",
        "-t",
        "2",
        "--offline",
    ]


def transformers_serve_command(port: int) -> list[str]:
    """`transformers serve` pinned to the model folder, named relative to the working directory (models/).

    A pinned model (the positional FORCE_MODEL) is loaded before the server listens, so ready means
    loaded. Its name is its id: /v1/models lists it verbatim and a request must name it exactly (any
    other `model` gets a 400). Relative, it is `tiny-scripted` as for llama-server, not a machine path.
    """
    root = peers_dir()
    binary = root / "venv" / "bin" / "transformers"
    if not binary.exists():
        raise PeerNotBuilt(f"{binary} is missing: run tests/peers/build.sh")
    if not (root / "models" / MODEL / "config.json").exists():
        raise PeerNotBuilt(f"{root / 'models' / MODEL} is missing: run tests/peers/build.sh")
    return [str(binary), "serve", MODEL, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]


COMMANDS = {"llama-server": llama_server_command, "transformers-serve": transformers_serve_command}


@contextlib.contextmanager
def running(name: str, log_dir: Path, ready_timeout: float = 120.0, port: int | None = None) -> Iterator[Peer]:
    """Run one peer on `port` (default: a free loopback port) until the block ends; output goes to a log."""
    port = port or free_port()
    command = COMMANDS[name](port)
    root = peers_dir()
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": str(root / "bin"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # llama-server's image placeholder in the prompt is random per process unless set; the chat
        # template reads the prompt's words, so a random one could switch the model's mode.
        "LLAMA_MEDIA_MARKER": "<__media__>",
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(bounded(command), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root / "models")
    peer = Peer(name, f"http://127.0.0.1:{port}/v1", MODEL, log)
    try:
        _wait_ready(peer, proc, ready_timeout)
        yield peer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(peer: Peer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PeerUnavailable(f"{peer.name} exited with {proc.returncode}; see {peer.log}:\n{_tail(peer.log)}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            listing = httpx.get(peer.base_url + "/models", timeout=2)
            if listing.status_code == 200:
                ids = [m.get("id") for m in listing.json().get("data", []) if isinstance(m, dict)]
                if peer.model not in ids:  # else every probe would fail on the model name, not the server
                    raise PeerUnavailable(f"{peer.name} serves {ids}, not {peer.model!r}; see {peer.log}")
                return
        time.sleep(0.3)
    raise PeerUnavailable(f"{peer.name} not ready after {timeout:.0f}s; see {peer.log}:\n{_tail(peer.log)}")


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

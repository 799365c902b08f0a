"""Shards split a run by model; merging them gives the unsharded matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.shard import Shard


def _cells(out: Path) -> list[dict]:
    matrix = json.loads((out / "matrix.json").read_text())
    return [
        {k: c[k] for k in ("provider", "model", "probe", "status", "findings", "claim", "drift")}
        for c in matrix["cells"]
    ]


def test_shard_parsing_and_ownership_are_stable() -> None:
    assert Shard.parse("2/3") == Shard(2, 3)
    for bad in ("0/3", "4/3", "a/b", "3"):
        with pytest.raises(ValueError, match="--shard"):
            Shard.parse(bad)
    models = [f"model-{i}" for i in range(40)]
    owners = [[m for m in models if Shard(k, 3).owns("p", m)] for k in (1, 2, 3)]
    assert sorted(m for owned in owners for m in owned) == sorted(models), "every model in exactly one shard"
    assert all(owners), "a 40-model catalog leaves no shard empty"


def test_merged_shards_equal_the_unsharded_run(tmp_path: Path) -> None:
    assert main(["replay", "--out", str(tmp_path / "whole"), "-q"]) == 0
    for k in (1, 2, 3):
        assert main(["replay", "--shard", f"{k}/3", "--out", str(tmp_path / f"part{k}"), "-q"]) == 0
    parts = [str(tmp_path / f"part{k}") for k in (1, 2, 3)]
    assert main(["merge", *parts, "--out", str(tmp_path / "merged")]) == 0
    assert _cells(tmp_path / "merged") == _cells(tmp_path / "whole")


def test_merging_overlapping_parts_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--probe", "core.*", "--out", str(tmp_path / "a"), "-q"]) == 0
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "m")]) == 3
    assert "shards never overlap" in capsys.readouterr().err

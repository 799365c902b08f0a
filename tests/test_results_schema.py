"""The JSON Schemas shipped in the package describe what a real run writes, and reject what it never would."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from conformance.node_column import node_records
from conformance.report import load_schema
from conformance.results import RESULTS_FILE, read_results
from conformance.sdk_column import sdk_records
from tests.replayed import replayed_run

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """Checked for real: jsonschema skips date-time unless an optional package is installed."""
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def _validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def _errors(name: str, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(instance)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, _ = replayed_run(tmp_path_factory.mktemp("schema"))
    return out


@pytest.fixture(scope="module")
def records(run: Path) -> list[dict[str, Any]]:
    """Each line as the file holds it: the schema speaks of the JSON, not of the model read from it."""
    return [record.written() for record in read_results(run / RESULTS_FILE)]


def test_every_record_of_a_replayed_run_is_valid(records: list[dict[str, Any]]) -> None:
    assert records
    assert any(x.get("events") for r in records for x in r["exchanges"]), "streamed exchanges are covered"
    assert any("body" in x for r in records for x in r["exchanges"]), "plain bodies are covered"
    for record in records:
        assert _errors("results", record) == [], (record["model"], record["probe"])


def test_the_matrix_of_a_replayed_run_is_valid(run: Path) -> None:
    matrix = json.loads((run / "matrix.json").read_text(encoding="utf-8"))
    assert _errors("matrix", matrix) == []
    lines = list(read_results(run / RESULTS_FILE))
    assert len(matrix["cells"]) == len(lines) + len(sdk_records(lines)) + len(node_records(lines))


def test_a_record_missing_its_status_is_rejected(records: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(records[0])
    del broken["status"]
    assert _errors("results", broken) == [": 'status' is a required property"]


@pytest.mark.parametrize(
    ("where", "change", "complaint"),
    [
        ("status", lambda r: r.update(status="MAYBE"), "is not one of"),
        (
            "finding level",
            lambda r: r["findings"].append({"rule": "x", "level": "MAY", "message": ""}),
            "is not one of",
        ),
        (
            "exchange with body and events",
            lambda r: r["exchanges"][0].update(body="", events=[]),
            "is not valid under any of",
        ),
        ("started_at", lambda r: r.update(started_at="yesterday"), "is not a 'date-time'"),
    ],
)
def test_what_a_run_never_writes_is_rejected(
    records: list[dict[str, Any]], where: str, change: Any, complaint: str
) -> None:
    broken = copy.deepcopy(next(r for r in records if r["exchanges"]))
    change(broken)
    errors = _errors("results", broken)
    assert errors and all(complaint in e for e in errors), errors


def test_a_matrix_cell_missing_its_claim_is_rejected(run: Path) -> None:
    matrix = json.loads((run / "matrix.json").read_text(encoding="utf-8"))
    del matrix["cells"][0]["claim"]
    assert _errors("matrix", matrix) == ["cells/0: 'claim' is a required property"]


def test_unknown_keys_are_allowed_where_the_format_grows(records: list[dict[str, Any]]) -> None:
    grown = copy.deepcopy(records[0])
    grown["flaky"] = True
    grown["findings"].append({"rule": "x", "level": "INFO", "message": "", "hint": "new"})
    assert _errors("results", grown) == []


def test_the_schemas_ship_in_the_package_data(repo_root: Path) -> None:
    text = (repo_root / "pyproject.toml").read_text(encoding="utf-8")
    assert '"report/*.json"' in text
    assert {p.name for p in (repo_root / "conformance" / "report").glob("*.schema.json")} == {
        "results.schema.json",
        "matrix.schema.json",
        "cassette.schema.json",
        "profile.schema.json",
        "catalog.schema.json",
    }

"""Expected statuses as data, kept beside the cassettes, as web-platform-tests keeps its metadata.

One TOML file per provider (`matrices/expectations/<provider>.toml`): a table per model, a line per
cell that is not PASS, with its status and the rule of the finding that decided it. A cell not
listed is expected to PASS. `known_intermittent` lists other statuses a cell may also take.

The file is regenerated from a run (`conformance expectations RUN --update`) and reviewed as a diff,
so a grading change is a reviewed change; without `--update` the run is compared with it and every
difference is printed. The test suite compares a replay of the shipped cassettes with it.

Python reads TOML (tomllib) but does not write it; the file's shape is fixed and small, so it is
written here, with strings in TOML's basic form (JSON's escapes are valid TOML escapes).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from conformance.evidence import Status
from conformance.paths import local_text
from conformance.records import MatrixCell

DEFAULT = Status.PASS.value
StatusName = str  # one of the published status strings, checked on load


class Expected(BaseModel):
    """What one cell is expected to say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: StatusName
    rule: str | None = None  # the deciding finding's rule; None: not compared
    known_intermittent: tuple[StatusName, ...] = ()

    def allows(self, status: str) -> bool:
        return status == self.status or status in self.known_intermittent


# model -> probe -> what it is expected to say (only cells that are not PASS)
Expectations = dict[str, dict[str, Expected]]


@dataclass(frozen=True)
class Mismatch:
    model: str
    probe: str
    expected: str  # "STATUS (rule)"
    got: str

    def __str__(self) -> str:
        return f"{self.model} {self.probe}: expected {self.expected}, got {self.got}"


def _shown(status: str, rule: str | None) -> str:
    return f"{status} ({rule})" if rule else status


UNDECIDED = (Status.PASS.value, Status.ACCEPTED.value)  # no finding decides these: nothing was wrong


def deciding_rule(cell: MatrixCell) -> str | None:
    """The rule of the finding that decided the cell: the first one (the runner puts it first)."""
    if cell.status in UNDECIDED or not cell.findings:
        return None
    return cell.findings[0].rule


def from_cells(cells: Iterable[MatrixCell], provider: str) -> Expectations:
    """The expectations a run's matrix cells of `provider` amount to."""
    out: Expectations = {}
    for cell in cells:
        if cell.provider != provider:
            continue
        model, probe, status = cell.model, cell.probe, cell.status
        table = out.setdefault(model, {})
        if status != DEFAULT:
            table[probe] = Expected(status=status, rule=deciding_rule(cell))
    return out


def carry_intermittent(new: Expectations, old: Expectations) -> Expectations:
    """A regenerated file keeps the known-intermittent statuses a reviewer wrote into the old one."""
    kept: Expectations = {}
    for model, table in new.items():
        kept[model] = {}
        for probe, expected in table.items():
            before = old.get(model, {}).get(probe)
            flaky = before.known_intermittent if before is not None else ()
            kept[model][probe] = expected.model_copy(update={"known_intermittent": flaky}) if flaky else expected
    return kept


def compare(expected: Expectations, cells: Iterable[MatrixCell], provider: str) -> list[Mismatch]:
    """Every cell of `provider` whose status (or deciding rule, where one is expected) differs."""
    mismatches: list[Mismatch] = []
    seen: set[tuple[str, str]] = set()
    for cell in cells:
        if cell.provider != provider:
            continue
        model, probe, status = cell.model, cell.probe, cell.status
        seen.add((model, probe))
        want = expected.get(model, {}).get(probe, Expected(status=DEFAULT))
        rule = deciding_rule(cell)
        if not want.allows(status) or (want.rule is not None and status == want.status and rule != want.rule):
            mismatches.append(Mismatch(model, probe, _shown(want.status, want.rule), _shown(status, rule)))
    for model, table in expected.items():
        for probe, want in table.items():
            if (model, probe) not in seen:
                mismatches.append(Mismatch(model, probe, _shown(want.status, want.rule), "no such cell in the run"))
    return mismatches


def render(provider: str, expected: Expectations) -> str:
    lines = [
        f"# Expected statuses of {provider}'s cells, as a replay of its shipped cassettes gives them.",
        "# A cell not listed is expected to PASS. Regenerate from a run, then review the diff:",
        f"#   conformance replay --provider {provider} --out RUN && conformance expectations RUN --update",
    ]
    for model in sorted(expected):
        lines += ["", f"[{_key(model)}]"]
        for probe in sorted(expected[model]):
            want = expected[model][probe]
            fields = [f"status = {_string(want.status)}"]
            if want.rule is not None:
                fields.append(f"rule = {_string(want.rule)}")
            if want.known_intermittent:
                fields.append(f"known_intermittent = [{', '.join(map(_string, want.known_intermittent))}]")
            lines.append(f"{_key(probe)} = {{ {', '.join(fields)} }}")
    return "\n".join(lines) + "\n"


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _key(text: str) -> str:
    return _string(text)  # always quoted: probe ids hold dots, which a bare TOML key would split on


def load(path: Path) -> Expectations:
    """The expectations in `path`; ValueError naming the file and the bad entry when it is not valid."""
    try:
        data = tomllib.loads(local_text(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read expectations ({exc})") from exc
    except RecursionError:  # tomllib recurses per nesting level
        raise ValueError(f"{path}: cannot read expectations (nested too deep)") from None
    known = {s.value for s in Status}
    out: Expectations = {}
    for model, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{model}] must be a table of probe = {{ status = ... }}")
        out[model] = {}
        for probe, entry in table.items():
            try:
                expected = Expected.model_validate(entry)
            except ValidationError as exc:
                raise ValueError(f"{path}: {model} {probe}: {exc.errors()[0]['msg']}") from exc
            unknown = {expected.status, *expected.known_intermittent} - known
            if unknown:
                raise ValueError(f"{path}: {model} {probe}: unknown status {sorted(unknown)}")
            out[model][probe] = expected
    return out


def providers_of(cells: Iterable[MatrixCell]) -> list[str]:
    return sorted({c.provider for c in cells})

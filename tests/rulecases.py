"""Broken-exchange cases: the shared shape of every "each rule can fail" test.

Each checks module's tests list Cases (a rule, a hand-made broken exchange, and the evidence its
finding must quote) and prove with `declared_in` that every rule the module declares has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from conformance.checks import Check, run_checks
from conformance.checks.rules import Rule
from conformance.evidence import Exchange, Finding, Level


@dataclass(frozen=True)
class Case:
    """A broken exchange for `rule`: `findings` produces what the suite says about it."""

    rule: str
    label: str
    findings: Callable[[], list[Finding]]
    evidence: str

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.label}"


def checked(checks: Sequence[Check], *exchanges: Exchange) -> Callable[[], list[Finding]]:
    return lambda: run_checks(checks, exchanges)


def declared_in(*modules: object) -> set[str]:
    """The ids of the rules a module declares, found by its Rule objects so no list is kept by hand."""
    return {value.id for module in modules for value in vars(module).values() if isinstance(value, Rule)}


def assert_fires(case: Case) -> list[Finding]:
    """The case's rule fires, its message quotes the evidence, and no check crashed on the way."""
    findings = case.findings()
    messages = [f.message for f in findings if f.rule == case.rule]
    assert messages, f"{case.rule} did not fire; got {findings}"
    assert any(case.evidence in m for m in messages), f"no {case.rule} message quotes {case.evidence!r}: {messages}"
    if case.rule != "harness.check_crashed":
        assert not [f for f in findings if f.rule == "harness.check_crashed"]
    return findings


def judged(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that can weigh on a verdict: INFO (the server's reason, a shape gap judged elsewhere) cannot."""
    return [f for f in findings if f.level is not Level.INFO]


def fired(cases: Iterable[Case]) -> set[str]:
    """The rules whose case really fires them."""
    return {case.rule for case in cases if case.rule in {f.rule for f in case.findings()}}

"""Checks: pure functions from a probe's exchanges to findings. One module per feature group.

A check never does I/O and never raises on bad evidence: whatever the server sent, it returns
findings. `run_checks` enforces that by turning an escaped exception into a harness finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from conformance.checks.rules import RULES, Rule, Tag, rule
from conformance.evidence import Exchange, Finding, Level

Check = Callable[[Sequence[Exchange]], Iterable[Finding]]

HARNESS_CRASH = rule("harness.check_crashed", Level.MUST, "a check raised instead of returning findings")


def run_checks(checks: Iterable[Check], exchanges: Sequence[Exchange], semantic: bool = True) -> list[Finding]:
    findings: list[Finding] = []
    for check in checks:
        try:
            for finding in check(exchanges):
                if semantic or RULES[finding.rule].tag is not Tag.SEMANTIC:
                    findings.append(finding)
        except Exception as exc:
            findings.append(HARNESS_CRASH.finding(f"{getattr(check, '__name__', check)}: {type(exc).__name__}: {exc}"))
    return findings


__all__ = ["RULES", "Check", "Rule", "Tag", "rule", "run_checks"]

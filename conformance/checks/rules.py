"""Rules and the registry every check draws its rule ids from.

A rule is declared once, with its level and tag; a check emits findings only for rules it declared.
The registry lets the suite's own tests prove that every rule can fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from conformance.evidence import Finding, Level


class Tag(str, Enum):
    PROTOCOL = "protocol"  # wire format: shapes, events, status codes, error objects
    SEMANTIC = "semantic"  # model behaviour: the answer uses the tool result, names the colour


@dataclass(frozen=True)
class Rule:
    """`effect` marks rules whose breach means the requested feature was silently ignored.

    `home` names the feature groups where a generic shape rule is judged at its full level; in any
    other group's cell it counts as SHOULD, so one missing echo field in every Response does not
    hide whether tool calling works (the home column still fails for it).
    """

    id: str
    level: Level
    summary: str
    tag: Tag = Tag.PROTOCOL
    effect: bool = False
    home: tuple[str, ...] = ()

    def finding(self, message: str) -> Finding:
        return Finding(self.id, self.level, message)

    def in_cell(self, finding: Finding, feature: str) -> Finding:
        """The finding as a cell of `feature` judges it."""
        if not self.home or feature in self.home or finding.level is not Level.MUST:
            return finding
        where = " / ".join(self.home)
        return Finding(finding.rule, Level.SHOULD, f"{finding.message} (a MUST in the {where} column)")


RULES: dict[str, Rule] = {}


def rule(
    id: str, level: Level, summary: str, *, tag: Tag = Tag.PROTOCOL, effect: bool = False, home: tuple[str, ...] = ()
) -> Rule:
    if id in RULES:
        raise ValueError(f"rule {id!r} declared twice")
    declared = Rule(id, level, summary, tag, effect, home)
    RULES[id] = declared
    return declared


def quote(value: object, limit: int = 120) -> str:
    """Evidence for a message: the value's repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"

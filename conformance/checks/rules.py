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
class Shape:
    """How a generic shape rule is graded: at `level` in its `home` columns, as INFO everywhere else."""

    home: tuple[str, ...]
    level: Level


# Generic shape rules: what every answer is checked for, whatever the feature asked. Each SHOULD is judged once per
# model, in its home column; in any other column it is INFO and leaves the cell alone, so a Response that lacks a listed
# field reads NON-STRICT once, in core, and a working tool call still reads PASS. Only what breaks the SDK is a MUST
# (stream.indices: its stream accumulator indexes by output_index; stream.item_lists: it appends each streamed part to
# the list of the item as opened; stream.response_id: it refuses a Response whose id changed mid-stream;
# stream.response_output: the Node SDK reads each lifecycle Response's output;
# stream.known_event_type: the Node SDK's accumulator raises on an event type it does not know;
# stream.event_name_thread: both SDKs hand a `thread.*`-named event over as {event, data}; response.object: the
# Node SDK adds output_text only to a JSON Response whose object is 'response'), and a MUST fails every column it shows
# in. Required fields are SHOULDs: the official SDK builds its types without validating them, so a missing or mistyped
# field it does not read breaks no client; what it does read is judged by the sdk column (sdk.parses, sdk.streams) and
# by each feature's own checks. Usage is one of them: a usage that is null or shaped like Chat Completions'
# (prompt_tokens) leaves the openai-agents and LangChain readers counting zero tokens, whatever feature was asked;
# features that count tokens judge them with rules of their own. It is judged on a JSON answer in core and on a
# stream's final Response in streaming: the Agents SDK's streamed run counts only what response.completed carries.
# Behind an API gateway the error envelope is the gateway's (`{"message": ...}`): the status code is what the SDK maps
# to its exception class, so the envelope is a SHOULD.
SHAPES: dict[str, Shape] = {
    "response.schema": Shape(("core",), Level.SHOULD),
    "response.fields": Shape(("core",), Level.SHOULD),
    "response.reference": Shape(("core",), Level.SHOULD),
    "response.usage": Shape(("core", "streaming"), Level.SHOULD),
    "response.object": Shape(("core",), Level.MUST),
    "stream.event_schema": Shape(("streaming",), Level.SHOULD),
    "stream.event_fields": Shape(("streaming",), Level.SHOULD),
    "stream.event_field": Shape(("streaming",), Level.SHOULD),
    "stream.event_matches_type": Shape(("streaming",), Level.SHOULD),
    "stream.event_name_thread": Shape(("streaming",), Level.MUST),
    "stream.sequence_number_present": Shape(("streaming",), Level.SHOULD),
    "stream.sequence_number_increasing": Shape(("streaming",), Level.SHOULD),
    "stream.in_progress_second": Shape(("streaming",), Level.SHOULD),
    "stream.done_events": Shape(("streaming",), Level.SHOULD),
    "stream.indices": Shape(("streaming",), Level.MUST),
    "stream.item_lists": Shape(("streaming",), Level.MUST),
    "stream.response_id": Shape(("streaming",), Level.MUST),
    "stream.response_output": Shape(("streaming",), Level.MUST),
    "stream.known_event_type": Shape(("streaming",), Level.MUST),
    "error.object": Shape(("errors",), Level.SHOULD),
    "error.fields": Shape(("errors",), Level.SHOULD),
    "error.content_type": Shape(("errors",), Level.SHOULD),
    "http.json_bom": Shape(("core", "errors"), Level.SHOULD),
    "sdk.parses": Shape(("sdk",), Level.MUST),
    "sdk.streams": Shape(("sdk",), Level.MUST),
}


@dataclass(frozen=True)
class Rule:
    """`effect` marks rules whose breach means the requested feature was silently ignored.

    `home` names the feature groups where a generic shape rule (see SHAPES) is judged at its level;
    in any other group's cell its findings are INFO.
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
        """The finding as a cell of `feature` judges it: a SHOULD outside its home is information only.

        A shape MUST (one that breaks the SDK, as output indices that are not integers do) stays a
        MUST wherever it shows: the feature does not work for a client there either.
        """
        if not self.home or feature in self.home or finding.level is not Level.SHOULD:
            return finding
        where = " / ".join(self.home)
        return Finding(finding.rule, Level.INFO, f"{finding.message} (judged in the {where} column)")


RULES: dict[str, Rule] = {}


def rule(
    id: str, level: Level, summary: str, *, tag: Tag = Tag.PROTOCOL, effect: bool = False, home: tuple[str, ...] = ()
) -> Rule:
    """Declare a rule; a generic shape rule takes its level and home from SHAPES, the one grading table."""
    if id in RULES:
        raise ValueError(f"rule {id!r} declared twice")
    if id in SHAPES:
        level, home = SHAPES[id].level, SHAPES[id].home
    declared = Rule(id, level, summary, tag, effect, home)
    RULES[id] = declared
    return declared


def quote(value: object, limit: int = 120) -> str:
    """Evidence for a message: the value's repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"

"""The probe catalog: every feature group's probes, in matrix column order.

One module per feature group; the group's checks live in `conformance/checks/<group>.py`.
"""

from __future__ import annotations

from conformance.probes import (
    agents,
    clients,
    core,
    errors,
    errors_more,
    guide,
    parameters,
    reasoning,
    state,
    streaming,
    structured,
    tools,
    vision,
)
from conformance.probes.base import Expect, Probe, Request, Script

PROBES: tuple[Probe, ...] = (
    *core.PROBES,
    *streaming.PROBES,
    *structured.PROBES,
    *tools.PROBES,
    *vision.PROBES,
    *reasoning.PROBES,
    *agents.PROBES,
    *state.PROBES,
    *parameters.PROBES,
    *errors.PROBES,
    *errors_more.PROBES,
    *guide.PROBES,
    *clients.PROBES,
)
BY_ID: dict[str, Probe] = {p.id: p for p in PROBES}
if len(BY_ID) != len(PROBES):
    raise RuntimeError("duplicate probe ids in the catalog")
FEATURES: tuple[str, ...] = tuple(dict.fromkeys(p.feature for p in PROBES))

__all__ = ["BY_ID", "FEATURES", "PROBES", "Expect", "Probe", "Request", "Script"]

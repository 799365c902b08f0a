"""The benchmark's machinery on a scenario small enough for the test run (`python -m conformance.bench`
is the benchmark itself, and runs on its own)."""

from __future__ import annotations

from collections import Counter

import pytest

from conformance.bench import Scenario, bench, main, met, report
from conformance.bench_endpoint import Latencies


def test_a_small_scenario_runs_through_the_session_and_reports_its_physical_bound() -> None:
    scenario = Scenario(models=2, probes=3, rpm=600, latency_ms=10, latency_max_ms=40, burst=2)
    outcome = bench(scenario)
    assert outcome.cells == 6 and set(outcome.statuses) <= {"PASS", "ACCEPTED"}
    assert outcome.admitted == {"bench-1": 3, "bench-2": 3}
    assert all(0.01 <= chain <= 0.04 for chain in outcome.chain_s.values())
    slowest = outcome.slowest
    assert outcome.bound_s == pytest.approx((3 - 2) * 0.1 + outcome.chain_s[slowest])
    assert outcome.wall_s >= outcome.cells_s >= outcome.bound_s * 0.9
    text = report(outcome)
    assert "physical bound" in text and "(N - b) * 60/R + L_chain" in text and f"for {slowest}" in text


def test_latencies_are_drawn_from_the_range_and_repeat_with_the_seed() -> None:
    scenario = Scenario(latency_ms=1000, latency_max_ms=5000, seed=7)
    first, second = Latencies(scenario), Latencies(scenario)
    draws = [first.draw("m") for _ in range(50)]
    assert draws == [second.draw("m") for _ in range(50)]
    assert all(1.0 <= d <= 5.0 for d in draws) and max(draws) - min(draws) > 2.0
    assert Latencies(Scenario(latency_ms=200, latency_max_ms=None)).draw("m") == 0.2


def test_the_targets_fail_on_a_lost_cell_or_too_many_requests() -> None:
    outcome = bench(Scenario(models=1, probes=2, rpm=600, latency_ms=5, latency_max_ms=None, burst=2))
    assert met(outcome) == (outcome.wall_s / outcome.bound_s <= 1.25)
    from dataclasses import replace

    assert not met(replace(outcome, lost=1))
    assert not met(replace(outcome, requests=outcome.cells * 2))
    assert not met(replace(outcome, statuses=outcome.statuses + Counter({"ERROR": 1})))


def test_the_command_line_rejects_a_bad_latency_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--latency-ms", "5000-1000"])
    assert "LO <= HI" in capsys.readouterr().err

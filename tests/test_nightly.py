"""A dry run of .github/workflows/nightly.yml: its steps, run here against a real peer.

Each `run:` step runs in `bash -e` as a runner runs it, with GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
files, and its env from the workflow, the job and the step. The `${{ }}` expressions the workflow
uses get their values from `_context` below: one the table does not know fails the test, so the
table follows the workflow. `uses:` steps are emulated (checkout, setup-python: nothing; artifacts:
a folder; pages: checked for an index.html). `gh` and `pip` are stubs on PATH that log their calls;
`git push` goes to a bare repository standing in for GitHub.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.bench import Scenario, serving

yaml = pytest.importorskip("yaml")

WORKFLOW = Path(__file__).parent.parent / ".github" / "workflows" / "nightly.yml"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PROFILE = "peer"

GH_STUB = r"""#!/usr/bin/env bash
# gh, stubbed: logs its arguments; past nights come from $FAKE_NIGHTS (one run id per line).
echo "gh $*" >> "$GH_LOG"
case "$1 $2" in
  "run list") cat "$FAKE_NIGHTS" 2>/dev/null || true ;;
  "run download") id="$3"; dest="${@: -1}"
    [ -d "$ARTIFACTS/conformance-$id" ] && cp -r "$ARTIFACTS/conformance-$id" "$dest" ;;
  "issue list") ;;
  "pr create") echo "https://github.test/pull/1" ;;
esac
exit 0
"""


class Runner:
    """Runs one job's steps in a workspace, as a GitHub runner would, and keeps its outputs."""

    def __init__(self, workspace: Path, tools: Path, artifacts: Path, secrets: dict[str, str]) -> None:
        self.workspace, self.tools, self.artifacts, self.secrets = workspace, tools, artifacts, secrets
        self.workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
        self.inputs: dict[str, str] = {}
        self.needs: dict[str, dict[str, Any]] = {}
        self.run_id = "1001"
        self.overrides: dict[str, str] = {}  # workflow env replaced for the dry run
        self.log: list[str] = []

    def job(self, name: str, matrix: dict[str, str] | None = None) -> dict[str, Any]:
        """Run the job's steps; returns {result, outputs, steps} as `needs.<job>` sees them."""
        job = self.workflow["jobs"][name]
        steps: dict[str, dict[str, str]] = {}
        failed = False
        for step in job["steps"]:
            condition = step.get("if")
            if condition is not None and not self._condition(condition, steps, failed, matrix):
                continue
            if condition is None and failed:
                continue
            ok = self._step(step, job, steps, matrix or {})
            failed = failed or not ok
        outputs = {k: self._value(v, steps, matrix) for k, v in job.get("outputs", {}).items()}
        result = {"result": "failure" if failed else "success", "outputs": outputs, "steps": steps}
        self.needs[name] = result
        return result

    def _step(self, step: dict[str, Any], job: dict[str, Any], steps: dict[str, Any], matrix: dict[str, str]) -> bool:
        if "uses" in step:
            return self._uses(step, matrix)
        output = self.workspace / ".github_output"
        output.write_text("")
        env = {
            **{k: str(v) for k, v in self.workflow.get("env", {}).items()},
            **{k: self._value(v, steps, matrix) for k, v in job.get("env", {}).items()},
            **{k: self._value(v, steps, matrix) for k, v in step.get("env", {}).items()},
        }
        assert not EXPR.search(step["run"]), f"a script must take values through env:, not {step['run']!r}"
        env.update(self.overrides)
        env.update(
            PATH=f"{self.tools}:{Path(sys.executable).parent}:{os.environ['PATH']}",
            HOME=os.environ.get("HOME", "/root"),
            GITHUB_OUTPUT=str(output),
            GITHUB_STEP_SUMMARY=str(self.workspace / ".step_summary"),
            GITHUB_RUN_ID=self.run_id,
            GITHUB_SERVER_URL="https://github.test",
            GITHUB_REPOSITORY="owner/conformance",
            GH_LOG=str(self.tools / "gh.log"),
            ARTIFACTS=str(self.artifacts),
            FAKE_NIGHTS=str(self.tools / "nights"),
        )
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=self.workspace, env=env, capture_output=True, text=True, timeout=600
        )
        self.log.append(f"--- {step.get('name', step['run'][:40])}: {done.returncode}\n{done.stdout}{done.stderr}")
        if "id" in step:
            steps[step["id"]] = {
                "outputs": dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
            }
        return done.returncode == 0

    def _uses(self, step: dict[str, Any], matrix: dict[str, str]) -> bool:
        action, settings = step["uses"].split("@")[0], step.get("with", {})
        if action in ("actions/checkout", "actions/setup-python"):
            return True
        if action == "actions/upload-artifact":
            name, paths = self._value(settings["name"], {}, matrix), str(settings["path"]).strip().splitlines()
            for line in paths:  # one path: its contents at the root; several: each under its own path
                relative = self._value(line.strip(), {}, matrix)
                if (self.workspace / relative).exists():
                    destination = self.artifacts / name / (relative if len(paths) > 1 else "")
                    shutil.copytree(self.workspace / relative, destination, dirs_exist_ok=True)
            return True
        if action == "actions/download-artifact":
            pattern, path = settings["pattern"], self.workspace / settings["path"]
            for artifact in self.artifacts.glob(pattern):
                shutil.copytree(artifact, path / artifact.name, dirs_exist_ok=True)
            return True
        if action == "actions/upload-pages-artifact":
            site = self.workspace / self._value(settings["path"], {}, matrix)
            assert (site / "index.html").is_file() and (site / "matrix.html").is_file()
            return True
        raise AssertionError(f"a step uses {action}, which this dry run does not emulate")

    def _value(self, text: Any, steps: dict[str, Any], matrix: dict[str, str] | None) -> str:
        return EXPR.sub(lambda m: self._expression(m.group(1), steps, matrix), str(text))

    def _expression(self, expr: str, steps: dict[str, Any], matrix: dict[str, str] | None) -> str:
        known: dict[str, Callable[[], Any]] = {
            "secrets.AI_ENDPOINT_API_KEY != ''": lambda: str(bool(self.secrets.get("AI_ENDPOINT_API_KEY"))).lower(),
            "secrets.AI_ENDPOINT_API_KEY": lambda: self.secrets.get("AI_ENDPOINT_API_KEY", ""),
            "inputs.anonymous || false": lambda: self.inputs.get("anonymous", "false"),
            "inputs.shards || '2'": lambda: self.inputs.get("shards") or "2",
            "inputs.models": lambda: self.inputs.get("models", ""),
            "inputs.probes": lambda: self.inputs.get("probes", ""),
            "steps.shards.outputs.list": lambda: steps.get("shards", {}).get("outputs", {}).get("list", ""),
            "steps.shards.outputs.count": lambda: steps.get("shards", {}).get("outputs", {}).get("count", ""),
            "matrix.shard": lambda: (matrix or {})["shard"],
            "needs.plan.outputs.count": lambda: self.needs["plan"]["outputs"]["count"],
            "needs.run.result": lambda: self.needs["run"]["result"],
            "steps.diff.outputs.bootstrap": lambda: steps["diff"]["outputs"]["bootstrap"],
            "github.token": lambda: "token-stub",
            "github.run_id": lambda: self.run_id,
            "env.OUT": lambda: self.workflow["env"]["OUT"],
        }
        if expr not in known:
            raise AssertionError(f"the workflow uses ${{{{ {expr} }}}}, which this dry run does not know")
        return str(known[expr]())

    def _condition(self, condition: str, steps: dict[str, Any], failed: bool, matrix: dict[str, str] | None) -> bool:
        out = steps.get("diff", {}).get("outputs", {})
        known: dict[str, Callable[[], bool]] = {
            "always()": lambda: True,
            "steps.diff.outputs.changed == 'true' && steps.diff.outputs.regressed != 'true'": lambda: (
                out.get("changed") == "true" and out.get("regressed") != "true"
            ),
            "always() && (steps.diff.outputs.regressed == 'true' || needs.run.result != 'success')": lambda: (
                out.get("regressed") == "true" or self.needs["run"]["result"] != "success"
            ),
        }
        if condition not in known:
            raise AssertionError(f"the workflow has `if: {condition}`, which this dry run does not know")
        return known[condition]() and (condition.startswith("always()") or not failed)  # else success() applies


def _night(runner: Runner) -> dict[str, Any]:
    """plan, then run for each shard, then report, as the workflow's `needs` order them."""
    plan = runner.job("plan")
    if plan["result"] != "success":
        return plan
    shards = json.loads(plan["outputs"]["shards"])
    results = [runner.job("run", {"shard": str(k)})["result"] for k in shards]
    runner.needs["run"] = {"result": "success" if all(r == "success" for r in results) else "failure"}
    return runner.job("report")


@pytest.fixture
def stage(tmp_path: Path) -> Callable[[str, str], Runner]:
    """A workspace (a git clone of a bare 'origin'), stubbed tools, and an artifact store."""
    workspace, tools, artifacts, origin = (tmp_path / d for d in ("ws", "tools", "artifacts", "origin.git"))
    for folder in (workspace, tools, artifacts):
        folder.mkdir()
    (tools / "gh").write_text(GH_STUB)
    (tools / "pip").write_text('#!/usr/bin/env bash\necho "pip $*" >> "$GH_LOG"\n')
    for tool in ("gh", "pip"):
        (tools / tool).chmod(0o755)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run([*git, "init", "-q", str(workspace)], check=True)
    subprocess.run(["git", "remote", "add", "origin", str(origin)], cwd=workspace, check=True)

    def make(base_url: str, model: str) -> Runner:
        matrices = workspace / "matrices"
        matrices.mkdir(exist_ok=True)
        (matrices / f"{PROFILE}.toml").write_text(
            f'[provider]\nname = "{PROFILE}"\nbase_url = "{base_url}"\napi_key_env = "AI_ENDPOINT_API_KEY"\n'
            "semantic_checks = false\n"
        )
        subprocess.run(["git", "add", "-A"], cwd=workspace, check=True)
        subprocess.run([*git, "commit", "-qm", "profile"], cwd=workspace, check=True)
        runner = Runner(workspace, tools, artifacts, {"AI_ENDPOINT_API_KEY": "sk-nightly-dry-run"})
        runner.overrides = {"PROVIDER": PROFILE}
        runner.inputs = {"models": model, "probes": "core.text_input streaming.text", "shards": "2"}
        runner.log = []
        return runner

    return make


def test_a_missing_key_secret_stops_the_night_loudly_unless_anonymous_was_asked(
    stage: Callable[[str, str], Runner],
) -> None:
    runner = stage("http://127.0.0.1:9/v1", "m")
    runner.secrets = {}
    assert runner.job("plan")["result"] == "failure"
    assert "secret AI_ENDPOINT_API_KEY is missing" in "".join(runner.log)
    runner.inputs["anonymous"] = "true"
    assert runner.job("plan")["result"] == "success"


@pytest.fixture(params=["bench-endpoint", "llama-server"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The bench's loopback endpoint (always there), and the real peer (where it was built)."""
    if request.param == "llama-server":
        peer = request.getfixturevalue("llama_server")
        yield peer.base_url, peer.model
        return
    with serving(Scenario(rpm=6000, burst=10, latency_ms=5, latency_max_ms=None), lifetime_s=300) as server:
        yield server.base_url, "bench-1"


def test_two_nights_bootstrap_the_baseline_then_alarm_on_a_regression(
    stage: Callable[[str, str], Runner], endpoint: tuple[str, str]
) -> None:
    runner = stage(*endpoint)
    first = _night(runner)
    log = "".join(runner.log)
    assert first["result"] == "success", log
    out = runner.workspace / "reports" / "nightly"
    assert {"matrix.json", "matrix.html", "index.html"} <= {p.name for p in out.iterdir()}
    cells = json.loads((out / "matrix.json").read_text())["cells"]
    assert {c["probe"] for c in cells} >= {"core.text_input", "streaming.text"}
    gh = (runner.tools / "gh.log").read_text()
    assert "gh pr create --head nightly/baseline-peer-1001" in gh, "the first night proposes its baseline"
    proposed = subprocess.run(
        ["git", "show", f"nightly/baseline-{PROFILE}-1001:matrices/baseline/{PROFILE}.json"],
        cwd=runner.workspace.parent / "origin.git",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    baseline = json.loads(proposed)
    assert sorted(c["probe"] for c in baseline["cells"]) == sorted(c["probe"] for c in cells)
    assert "sk-nightly-dry-run" not in log + gh + (out / "matrix.json").read_text()

    # The second night: the baseline was merged, and then the endpoint went away.
    subprocess.run(["git", "switch", "-q", "main"], cwd=runner.workspace, check=True)
    profile = runner.workspace / "matrices" / f"{PROFILE}.toml"
    profile.write_text(profile.read_text().replace(endpoint[0], "http://127.0.0.1:9/v1"))
    (runner.workspace / "matrices" / "baseline").mkdir()
    (runner.workspace / "matrices" / "baseline" / f"{PROFILE}.json").write_text(proposed)
    (runner.tools / "nights").write_text("1001\n")
    runner.run_id = "1002"
    for part in runner.artifacts.glob("part-*"):
        shutil.rmtree(part)
    for made in ("parts", "reports", "history"):  # each job starts from a fresh checkout
        shutil.rmtree(runner.workspace / made, ignore_errors=True)
    second = _night(runner)
    gh = (runner.tools / "gh.log").read_text()
    log = "".join(runner.log)
    assert second["result"] == "failure", "a night whose shards could not run fails"
    assert "cannot reach http://127.0.0.1:9/v1" in log, "the preflight said why, in one line"
    assert "gh issue create --title Nightly conformance regression (peer)" in gh
    assert "the shards did not all finish (failure)" in gh
    assert gh.count("gh pr create") == 1, "a failed night proposes no baseline"


def test_a_regressed_night_opens_the_issue_reads_every_past_night_and_proposes_nothing(
    stage: Callable[[str, str], Runner], tmp_path: Path
) -> None:
    """The report job alone, on a shard's results replayed offline from the shipped cassettes."""
    from conformance import cli

    runner = stage("http://127.0.0.1:9/v1", "m")
    assert cli.main(["replay", "--provider", "llama-server", "-q", "--out", str(runner.artifacts / "part-1")]) == 0
    matrix = json.loads((runner.artifacts / "part-1" / "matrix.json").read_text())
    assert any(c["status"] == "FAIL" for c in matrix["cells"])
    claimed = {"cells": [{**c, "status": "PASS"} for c in matrix["cells"]]}
    (runner.workspace / "matrices" / "baseline").mkdir()
    (runner.workspace / "matrices" / "baseline" / f"{PROFILE}.json").write_text(json.dumps(claimed))
    (runner.tools / "nights").write_text("999\n998\n")
    runner.needs = {"plan": {"result": "success", "outputs": {}}, "run": {"result": "success"}}
    report = runner.job("report")
    gh = (runner.tools / "gh.log").read_text()
    assert report["result"] == "failure", "".join(runner.log)
    assert report["steps"]["diff"]["outputs"]["regressed"] == "true"
    assert "gh issue create --title Nightly conformance regression (peer)" in gh
    assert "gh run download 999 -n conformance-999" in gh and "gh run download 998" in gh
    assert "gh run list --workflow nightly.yml --limit 8" in gh and "--status" not in gh, "regressed nights count"
    assert "gh pr create" not in gh

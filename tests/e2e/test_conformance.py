"""The conformance suite (conformance/, host/conformance/) run against agent-host through
both adapters, plus the suite's own machinery: malformed case files are rejected with the
field named, known failures turn into XFAIL, and a stale one (XPASS) fails the run.

The full runs are real: the in-process adapter on a Host in a temporary directory, the
HTTP adapter against ``agent-host serve`` on a free loopback port (started by the adapter,
or by tests/server_util.Server when a URL is given).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from host.cli import main
from host.conformance import CaseError, Suite, SuiteError, load_cases, open_suite, run
from host.conformance.cases import needs
from host.conformance.report import rules_table
from host.conformance.runner import default_suite_dir
from tests.server_util import Server

SUITE = default_suite_dir()
REPO = SUITE.parent


def _no_failures(report: Any) -> None:
    bad = [r for r in report.results if r.outcome in ("FAIL", "XPASS")]
    assert not bad, "\n".join(f"{r.outcome} {r.id}: {r.message}" for r in bad)
    assert report.ok


@pytest.mark.slow
def test_whole_suite_through_the_in_process_adapter(tmp_path: Path) -> None:
    report = run("agent-host", out=None)
    _no_failures(report)
    counts = report.counts
    assert counts["PASS"] >= 120, counts
    # Only what an in-process Host cannot do is skipped: raw HTTP and killing the process.
    for result in report.results:
        if result.outcome == "SKIP":
            assert "http" in result.message or "kill" in result.message, result


@pytest.mark.slow
def test_whole_suite_through_the_http_adapter() -> None:
    report = run("http", out=None)
    _no_failures(report)
    counts = report.counts
    assert counts["PASS"] >= 150, counts
    skipped = {r.case for r in report.results if r.outcome == "SKIP"}
    # The REST adapter has no hook into the host and cannot swap components.
    assert skipped <= {"race-window-completion", "divergence-is-named"}, skipped


def test_http_adapter_pointed_at_a_running_server_by_url(tmp_path: Path) -> None:
    server = Server(tmp_path / "store").start()
    try:
        report = run("http", url=server.url, pattern="rest-complete", out=None)
        _no_failures(report)
        assert report.counts["PASS"] == len(report.results) > 0
        # A server the suite did not start cannot be restarted: those cases skip.
        restarts = run("http", url=server.url, pattern="restart", out=None)
        assert restarts.ok and restarts.results
        assert {r.outcome for r in restarts.results} == {"SKIP"}
        assert all("restart" in r.message or "kill" in r.message for r in restarts.results)
    finally:
        server.stop()
    assert "Traceback" not in server.output()


def test_cli_run_writes_a_json_report(tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.json"
    result = CliRunner().invoke(
        main, ["conformance", "run", "-k", "await-suspends", "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "PASS  await-suspends@1.3.0" in result.output
    data = json.loads(report.read_text())
    assert data["ok"] is True and data["adapter"] == "agent-host"
    assert data["counts"]["PASS"] == 5 and data["counts"]["FAIL"] == 0
    first = data["results"][0]
    assert first["id"] == "await-suspends@0.2.0" and first["rule"] == "2.await.suspend"
    assert first["outcome"] == "PASS" and first["generation"] == "0.2.0"


# -- the suite's own files -------------------------------------------------------------------
def test_every_rule_has_a_case_and_the_readme_table_is_current() -> None:
    suite = open_suite()
    cases = load_cases(suite)
    rules = suite.rules()
    assert rules
    covered = {c.rule for c in cases}
    assert set(rules) == covered, f"rules without a case: {sorted(set(rules) - covered)}"
    readme = (SUITE / "README.md").read_text()
    assert rules_table(suite, cases) in readme, (
        "conformance/README.md's table is stale: paste `agent-host conformance list --rules`"
    )


def test_cases_conform_to_the_json_schema() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = json.loads((SUITE / "case.schema.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    for path in sorted((SUITE / "cases").glob("*.json")):
        errors = [str(e) for e in validator.iter_errors(json.loads(path.read_text()))]
        assert not errors, f"{path.name}: {errors[:3]}"


def _suite(tmp_path: Path, cases: dict[str, Any], known: dict[str, Any] | None = None) -> Path:
    """A conformance tree in tmp_path with the real guests and rules and the given cases."""
    root = tmp_path / "suite"
    (root / "cases").mkdir(parents=True)
    (root / "guests").symlink_to(SUITE / "guests")
    shutil.copy(SUITE / "rules.json", root / "rules.json")
    for name, case in cases.items():
        text = case if isinstance(case, str) else json.dumps(case)
        (root / "cases" / f"{name}.json").write_text(text)
    if known is not None:
        (root / "known-failures").mkdir()
        (root / "known-failures" / "agent-host.json").write_text(json.dumps(known))
    return root


def _load(root: Path) -> Any:
    return load_cases(Suite(root, REPO / "wit"))


CREATE = {"op": "invoke", "agent": "alice", "function": "create"}
GOOD: dict[str, Any] = {
    "rule": "2.create",
    "description": "creates",
    "guest": "promises",
    "steps": [CREATE, {"op": "complete", "agent": "alice", "promise": {"from_step": 0}}],
}


def _with(**changes: Any) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(json.dumps(GOOD))
    case.update(changes)
    return case


@pytest.mark.parametrize(
    ("case", "path", "words"),
    [
        ("{not json", "$", "not JSON"),
        (_with(rule=None), "$.rule", "non-empty string"),
        (_with(rule="2.nope"), "$.rule", "unknown rule"),
        (_with(colour="red"), "$.colour", "not a field"),
        (_with(generations=["9.9.9"]), "$.generations[0]", "no generation"),
        (_with(steps=[{"op": "teleport"}]), "$.steps[0].op", "unknown op"),
        (_with(steps=[{**CREATE, "wat": 1}]), "$.steps[0].wat", "not a field"),
        (_with(steps=[{**CREATE, "function": "poll"}]), "$.steps[0].function", "exports no"),
        (_with(steps=[{**CREATE, "args": [{"$step": 0}]}]), "$.steps[0].args[0].$step", "before"),
        (_with(steps=[{**CREATE, "expect": "maybe"}]), "$.steps[0].expect", "must be one of"),
        (_with(steps=[{**CREATE, "agent": "Alice!"}]), "$.steps[0].agent", "agent name"),
        (_with(agents={"Bob": {"type": "CounterAgent"}}), "$.agents.Bob", "agent name"),
        (_with(agents={"bob": {"type": "Counter(x)"}}), "$.agents.bob.type", "agent type"),
        (_with(agents={"bob": {"type": "C", "params": "x"}}), "$.agents.bob.params", "list"),
        (_with(agents={"bob": {"type": "C", "colour": 1}}), "$.agents.bob.colour", "not a field"),
        (
            _with(agents={"alice": {"type": "CounterAgent"}}),
            "$.steps[0].agent",
            "WAT guest",
        ),
        (
            _with(
                steps=[
                    CREATE,
                    {
                        "op": "complete",
                        "agent": "alice",
                        "promise": {"from_step": 0},
                        "expect": "maybe",
                    },
                ]
            ),
            "$.steps[1].expect",
            'true, false or "not-found"',
        ),
        (
            _with(
                steps=[
                    CREATE,
                    {
                        "op": "complete",
                        "agent": "alice",
                        "promise": {"from_step": 0},
                        "data": {"bytes": [1, 300]},
                    },
                ]
            ),
            "$.steps[1].data.bytes[1]",
            "byte",
        ),
        (
            _with(
                steps=[
                    {**CREATE, "expect": "suspended"},
                    {"op": "restart"},
                    {"op": "await_result", "step": 0},
                ]
            ),
            "$.steps[2].step",
            "restart",
        ),
        (
            _with(
                steps=[
                    {**CREATE, "expect": "suspended"},
                    {"op": "complete", "agent": "alice", "promise": {"from_step": 0}},
                ]
            ),
            "$.steps[1].promise.from_step",
            "produces no value",
        ),
        (
            _with(steps=[CREATE, {"op": "expect_oplog", "agent": "alice", "shape": ["promise"]}]),
            "$.steps[1].shape[0]",
            "unknown entry kind",
        ),
        (
            _with(
                steps=[
                    CREATE,
                    {
                        "op": "http",
                        "method": "GET",
                        "path": "/x/{worker}",
                        "expect": {"status": 200},
                    },
                ]
            ),
            "$.steps[1].path",
            "placeholder",
        ),
    ],
)
def test_a_malformed_case_is_rejected_naming_the_field(
    tmp_path: Path, case: Any, path: str, words: str
) -> None:
    root = _suite(tmp_path, {"bad": case})
    with pytest.raises(CaseError) as caught:
        _load(root)
    assert caught.value.path == path, str(caught.value)
    assert words in caught.value.message, str(caught.value)
    assert f"bad.json: {path}: " in str(caught.value)


def test_the_cli_refuses_a_malformed_suite_with_the_field(tmp_path: Path) -> None:
    root = _suite(tmp_path, {"bad": _with(steps=[{"op": "teleport"}])})
    result = CliRunner().invoke(main, ["conformance", "run", "--suite", str(root)])
    assert result.exit_code == 2
    assert "bad.json: $.steps[0].op: unknown op 'teleport'" in result.output


PASSING = _with(steps=[CREATE, {"op": "complete", "agent": "alice", "promise": {"from_step": 0}}])
FAILING = _with(
    steps=[
        CREATE,
        {"op": "complete", "agent": "alice", "promise": {"from_step": 0}, "expect": False},
    ]
)


def test_a_known_failure_that_fails_is_xfail(tmp_path: Path) -> None:
    known = {"failures": [{"case": "failing", "reason": "completing is true the first time"}]}
    root = _suite(tmp_path, {"failing": FAILING}, known)
    report = run("agent-host", suite_dir=root, pattern="@1.3.0", out=None)
    (result,) = report.results
    assert result.outcome == "XFAIL" and result.reason == known["failures"][0]["reason"]
    assert "expected false, got true" in result.message
    assert report.ok


def test_a_stale_known_failure_fails_the_run(tmp_path: Path) -> None:
    known = {"failures": [{"case": "passing@1.3.0", "reason": "was broken once"}]}
    root = _suite(tmp_path, {"passing": PASSING}, known)
    report_file = tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        ["conformance", "run", "--suite", str(root), "-k", "@1.", "--report", str(report_file)],
    )
    assert result.exit_code == 1, result.output
    assert "XPASS passing@1.3.0" in result.output
    data = json.loads(report_file.read_text())
    assert data["ok"] is False and data["counts"]["XPASS"] == 1 and data["counts"]["PASS"] == 3
    (xpass,) = [r for r in data["results"] if r["outcome"] == "XPASS"]
    assert xpass["known_failure"] == "was broken once"


def test_a_failing_case_fails_the_run(tmp_path: Path) -> None:
    root = _suite(tmp_path, {"failing": FAILING})
    result = CliRunner().invoke(main, ["conformance", "run", "--suite", str(root), "-k", "1.3.0"])
    assert result.exit_code == 1
    assert "FAIL  failing@1.3.0" in result.output
    assert "step 1 (complete)" in result.output


@pytest.mark.parametrize(
    ("known", "words"),
    [
        ({"failures": [{"case": "nothing-like-it", "reason": "x"}]}, "matches no case"),
        ({"failures": [{"case": "passing"}]}, "needs its reason"),
        ({"failures": "passing"}, '"failures" list'),
    ],
)
def test_a_bad_known_failures_file_is_refused(tmp_path: Path, known: Any, words: str) -> None:
    root = _suite(tmp_path, {"passing": PASSING}, known)
    with pytest.raises(SuiteError, match=words):
        run("agent-host", suite_dir=root, out=None)


# -- matching, without a host -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kinds", "shape", "ok"),
    [
        (["a", "b", "c"], ["a", "b", "c"], True),
        (["a", "b", "c"], ["a", "c"], False),
        (["a", "b", "c"], ["a", "...", "c"], True),
        (["a", "c"], ["a", "...", "c"], True),
        (["a", "b", "b", "c"], ["...", "b", "c"], True),
        (["a", "b", "c"], ["...", "b"], False),
        ([], ["..."], True),
        ([], ["a"], False),
        (["a"], [], False),
        (["a", "b", "a", "b"], ["...", "a", "...", "b"], True),
    ],
)
def test_oplog_shape_matching(kinds: list[str], shape: list[str], ok: bool) -> None:
    from host.conformance.adapters import OplogEntry
    from host.conformance.execute import shape_matches

    assert shape_matches([OplogEntry(k) for k in kinds], tuple(shape)) is ok


def test_patterns_match_kind_and_function() -> None:
    from host.conformance.adapters import OplogEntry
    from host.conformance.execute import entry_matches

    call = OplogEntry("host-call", "wasi:random/random@0.2.3.get-random-u64")
    assert entry_matches(call, "host-call")
    assert entry_matches(call, "host-call:get-random-u64")
    assert not entry_matches(call, "host-call:wall-clock")
    assert not entry_matches(OplogEntry("suspended"), "host-call")


@pytest.mark.parametrize(
    ("actual", "expected", "subset", "ok"),
    [
        (5, {"$type": "integer"}, False, True),
        (5, {"$type": "number"}, False, True),
        (True, {"$type": "integer"}, False, False),
        (True, 1, False, False),
        ([104, 105], [104, 105], False, True),
        ([104], [104, 105], True, False),
        ({"a": 1, "b": 2}, {"a": 1}, False, False),
        ({"a": 1, "b": 2}, {"a": 1}, True, True),
        ("Suspended", {"$regex": "^(?i:suspended)$"}, False, True),
        (3, {"$not": 4}, False, True),
        ([{"n": "x", "m": 1}], {"$contains": {"n": "x"}}, True, True),
        ([{"n": "y"}], {"$contains": {"n": "x"}}, True, False),
    ],
)
def test_value_matching(actual: Any, expected: Any, subset: bool, ok: bool) -> None:
    from host.conformance.refs import matches

    assert matches(actual, expected, subset) is ok


def test_agent_cases_name_agents_by_type_and_parameters(tmp_path: Path) -> None:
    case = {
        "rule": "12.agent.id",
        "description": "names",
        "guest": "agent15",
        "agents": {
            "alice": {"type": "CounterAgent", "params": ["alice"]},
            "spaced": {"type": "CounterAgent", "params": ["x"], "id_params": ' "x" '},
            "scratch": {"type": "ScratchAgent"},
        },
        "steps": [{"op": "invoke", "agent": "alice", "function": "increment", "args": [1]}],
    }
    (loaded,) = _load(_suite(tmp_path, {"named": case}))
    assert needs(loaded) == {"agents"}
    spec = loaded.agent_spec("alice")
    assert spec is not None and spec.agent_id("P", ["alice"]) == 'CounterAgent("alice")[P]'
    spaced = loaded.agent_spec("spaced")
    assert spaced is not None and spaced.agent_id("P", ["x"]) == 'CounterAgent( "x" )[P]'
    scratch = loaded.agent_spec("scratch")
    assert scratch is not None and scratch.agent_id("P", []) == "ScratchAgent()[P]"
    assert loaded.agent_spec("bob") is None


ROUTE_AGENTS = {"t": {"type": "RouteAgent", "params": [{"$unique": "t"}], "phantom": False}}


def _route_case(*steps: dict[str, Any], agents: Any = None) -> dict[str, Any]:
    return {
        "rule": "12.mount.status",
        "description": "routes",
        "guest": "agent15-net",
        "agents": ROUTE_AGENTS if agents is None else agents,
        "steps": list(steps),
    }


def test_route_and_webhook_steps_load_with_their_capabilities(tmp_path: Path) -> None:
    case = _route_case(
        {"op": "invoke", "agent": "t", "function": "whoami"},
        {
            "op": "route",
            "method": "GET",
            "path": "/conformance/tenants/{unique:t}/items/x",
            "expect": {"status": 404},
        },
        {"op": "webhook", "url": {"$step": 0}, "data": {"text": "x"}, "expect": {"status": 204}},
    )
    (loaded,) = _load(_suite(tmp_path, {"net": case}))
    assert needs(loaded) == {"agents", "routes", "webhooks"}
    spec = loaded.agent_spec("t")
    assert spec is not None and not spec.phantom
    # An agent a mount addresses has no phantom suffix; its params resolve at run time.
    assert spec.agent_id("P", ["t-0123"]) == 'RouteAgent("t-0123")'


@pytest.mark.parametrize(
    ("case", "path", "words"),
    [
        (
            _route_case(
                {
                    "op": "route",
                    "method": "GET",
                    "path": "/x/{component}",
                    "expect": {"status": 200},
                }
            ),
            "$.steps[0].path",
            "{unique:NAME}",
        ),
        (
            _route_case({"op": "route", "method": "GET", "path": "x", "expect": {"status": 200}}),
            "$.steps[0].path",
            "start with /",
        ),
        (
            _route_case({"op": "route", "method": "GET", "path": "/x", "expect": {"status": 99}}),
            "$.steps[0].expect.status",
            "HTTP status",
        ),
        (
            _route_case(
                {"op": "webhook", "url": "http://127.0.0.1/webhooks/x", "expect": {"status": 204}}
            ),
            "$.steps[0].url",
            "reference",
        ),
        (
            _route_case(
                {"op": "invoke", "agent": "t", "function": "whoami", "expect": "suspended"},
                {"op": "webhook", "url": {"$step": 0}, "expect": {"status": 204}},
            ),
            "$.steps[1].url",
            "produces no value",
        ),
        (
            _route_case(
                {"op": "invoke", "agent": "t", "function": "whoami"},
                {"op": "webhook", "url": {"$step": 0}, "expect": {"status": 204, "json": 1}},
            ),
            "$.steps[1].expect.json",
            "not a field",
        ),
        (
            _route_case(
                {"op": "invoke", "agent": "t", "function": "whoami"},
                agents={"t": {"type": "RouteAgent", "params": [{"$step": 0}]}},
            ),
            "$.agents.t.params",
            "$unique",
        ),
        (
            _route_case(
                {"op": "invoke", "agent": "t", "function": "whoami"},
                agents={"t": {"type": "RouteAgent", "phantom": "no"}},
            ),
            "$.agents.t.phantom",
            "true or false",
        ),
    ],
)
def test_a_malformed_route_or_webhook_step_is_rejected(
    tmp_path: Path, case: Any, path: str, words: str
) -> None:
    root = _suite(tmp_path, {"bad": case})
    with pytest.raises(CaseError) as caught:
        _load(root)
    assert caught.value.path == path, str(caught.value)
    assert words in str(caught.value)

"""A code-first Python agent (guest_examples/approval, on agent_sdk) built with
componentize-py and driven through the raw ``golem:agent/guest@1.5.0`` protocol on an
in-process host: discovery reports the declared type, schemas and mount; ``initialize``
then ``invoke`` of ``start_approval`` suspends durably on a promise; completing the
promise resumes it (by replay) with the decision as the result; values that do not fit
the schema are ``invalid-input`` agent errors naming the parameter.

The host creates the agent from its id and queues ``initialize`` itself; the method calls
here are raw ``invoke`` calls with hand-written WAVE data-values, so the guest's own
validation is what answers (the host's agent-method path, host/service/agents.py, would
refuse a value that does not fit before the guest sees it; tests/e2e/test_examples_cli.py
drives that). The build takes about 25 s the first time, then is cached by input hash;
the component is registered once for the module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from host.ids import AgentId, PromiseId
from host.oplog import PromiseCreated
from host.service import HostService

# slow: builds (first time) and compiles an 18 MB componentize-py guest
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GUEST = "golem:agent/guest@1.5.0"


def cm(nodes: str) -> str:
    """One component-model element-value with these WAVE wit-nodes."""
    return f"component-model({{nodes: [{nodes}]}})"


def initialize(name: str) -> str:
    element = cm(f'prim-string("{name}")')
    return f'{GUEST}.{{initialize}}("WorkflowAgent", tuple([{element}]), anonymous)'


def invoke(method: str, *elements: str) -> str:
    return f'{GUEST}.{{invoke}}("{method}", tuple([{", ".join(elements)}]), anonymous)'


@pytest.fixture(scope="module")
def workflow_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostService, str]]:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_examples.py"), "approval"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wasm = REPO / "guest_examples" / "approval" / "approval.wasm"
    assert done.returncode == 0 and wasm.is_file(), done.stdout + done.stderr
    host = HostService(tmp_path_factory.mktemp("sdk-agents") / "store")
    try:
        yield host, host.add_component(wasm, "approval").id
    finally:
        host.close()


def _agent(workflow_host: tuple[HostService, str], name: str) -> tuple[HostService, AgentId]:
    host, component_id = workflow_host
    agent, created = host.create_agent(component_id, f'WorkflowAgent("{name}")')
    assert created
    [init] = host.store.list_invocations(agent)  # queued by the host: initialize("name")
    assert init.function == f"{GUEST}.{{initialize}}"
    return host, agent


def _promises(host: HostService, agent: AgentId) -> list[PromiseId]:
    """The agent's promises, oldest first (a promise's oplog-idx is its creation entry's)."""
    oplog = host.store.read_oplog(agent)
    return [PromiseId(agent, n) for n, e in enumerate(oplog, 1) if isinstance(e, PromiseCreated)]


def _done(host: HostService, agent: AgentId, call: str) -> str:
    inv = host.invoke(agent, call)
    assert inv.state == "done", f"{call}: {inv.state} {inv.error}"
    assert inv.result is not None
    return inv.result


def test_discovery_reports_the_declared_type_schemas_and_mount(
    workflow_host: tuple[HostService, str],
) -> None:
    host, agent = _agent(workflow_host, "discovery")
    out = _done(host, agent, f"{GUEST}.{{discover-agent-types}}()")
    assert out.startswith('ok([{type-name: "WorkflowAgent", description: "A workflow that')
    assert 'source-language: "python"' in out
    assert (
        'input-schema: tuple([("name", component-model({nodes: [{name: none, owner: none, '
        "type: prim-string-type}]}))])" in out
    )
    methods = ["start_approval", "request", "approve", "reject", "status", "pending_promise"]
    positions = [out.index(f'{{name: "{m}", description:') for m in methods]
    assert positions == sorted(positions)  # in definition order
    assert (
        'http-mount: some({path-prefix: [literal("workflows"), '
        'path-variable({variable-name: "name"})]' in out
    )
    assert (
        '{http-method: post, path-suffix: [literal("approve")], header-vars: [], '
        "query-vars: []" in out
    )
    assert "mode: durable" in out
    definition = _done(host, agent, f"{GUEST}.{{get-definition}}()")
    assert definition.startswith('{type-name: "WorkflowAgent"')


def test_start_approval_suspends_on_a_promise_and_completion_resumes_it(
    workflow_host: tuple[HostService, str],
) -> None:
    host, agent = _agent(workflow_host, "alice")
    inv = host.invoke(agent, invoke("start_approval"))
    assert inv.state != "done"
    assert host.store.get_agent(agent).status == "suspended"
    [promise] = _promises(host, agent)

    completion = host.complete(promise, b'{"decision": "approved", "by": "bob"}')
    assert completion.completed
    record = host.store.get_invocation(inv.invocation_id)
    assert record.state == "done", record.error
    assert record.result == (
        'ok(tuple([component-model({nodes: [prim-string("Workflow alice approved by bob")]})]))'
    )
    # the instance was rebuilt by replaying initialize: its state is the agent's
    assert _done(host, agent, invoke("status")) == (
        'ok(tuple([component-model({nodes: [prim-string("Workflow alice approved by bob")]})]))'
    )


def test_a_bare_literal_decision_and_an_invalid_one(workflow_host: tuple[HostService, str]) -> None:
    host, agent = _agent(workflow_host, "carol")
    for payload, outcome in (
        (b'"rejected"', "Workflow carol rejected"),
        (b'"maybe"', "Workflow carol: invalid decision:"),
    ):
        inv = host.invoke(agent, invoke("start_approval"))
        host.complete(_promises(host, agent)[-1], payload)
        result = host.store.get_invocation(inv.invocation_id).result or ""
        assert f'prim-string("{outcome}' in result, result


def test_the_non_blocking_flow_completes_from_inside_the_agent(
    workflow_host: tuple[HostService, str],
) -> None:
    host, agent = _agent(workflow_host, "dave")
    no_by = cm("option-value(none)")
    assert "prim-bool(false)" in _done(host, agent, invoke("approve", no_by))
    promise_text = _done(host, agent, invoke("request"))
    escaped = agent.name.replace('"', '\\"')  # the id inside a WAVE string
    assert f"/{escaped}/" in promise_text
    assert "prim-bool(true)" in _done(host, agent, invoke("reject", no_by))
    [promise_id] = _promises(host, agent)
    assert str(promise_id.oplog_idx) in promise_text
    promise = host.store.get_promise(promise_id)
    assert promise.completed and promise.data == b'{"decision":"rejected","by":null}'


def test_bad_values_are_invalid_input_naming_the_parameter(
    workflow_host: tuple[HostService, str],
) -> None:
    host, agent = _agent(workflow_host, "erin")
    assert _done(host, agent, invoke("approve", cm("prim-bool(true)"))) == (
        "err(invalid-input(\"parameter 'by': expected a string or none, got a prim-bool node\"))"
    )
    assert "takes 1 parameter(s) (by), got 0" in _done(host, agent, invoke("approve"))
    assert _done(host, agent, invoke("nope")).startswith("err(invalid-method(")

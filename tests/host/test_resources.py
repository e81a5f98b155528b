"""Exported resources (issue 11, item 7): Golem's function names for constructors,
methods, static functions and drops, indexed resources (``{counter("c1").inc-by}``),
handles in results as Golem writes them (``urn:worker:<component>/<agent>/<n>``), and
instances that live in the agent across invocations and across replays."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from host.errors import InvalidInput
from host.ids import AgentId
from host.service import HostService
from host.values import ResourceRef, ResourceT, from_json, parse_value, to_json
from tests.fixtures.build import build_fixture

API = "agent-host:fixtures/api"


class Counters:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.host = HostService(data)
        if not self.host.list_components():
            self.host.add_component(build_fixture("counters"), name="counters")
        cid = self.host.list_components()[0].id
        self.agent = AgentId(uuid.UUID(cid), "c-1")
        self.uri = f"urn:worker:{cid}/c-1"

    def call(self, call: str) -> object:
        record = self.host.invoke(self.agent, f"{API}.{call}")
        view = self.host.invocation(record.invocation_id)
        assert view.state == "done", (call, view.invocation.error, view.agent.last_error)
        return view.result_json

    def restart(self) -> None:
        """A new host process: the agent's instance is gone, the next call replays."""
        self.host.close()
        self.host = HostService(self.data)


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[Counters]:
    c = Counters(tmp_path / "data")
    yield c
    c.host.close()


def test_constructor_method_static_and_drop_by_each_of_golems_names(counters: Counters) -> None:
    c = counters
    assert c.call('{[constructor]counter}("a")') == f"{c.uri}/0"
    assert c.call('{counter.new}("b")') == f"{c.uri}/1"
    c.call(f'{{[method]counter.inc-by}}("{c.uri}/0", 5)')
    c.call('{counter.inc-by}("/0", 2)')  # the uri may be left out
    assert c.call('{[method]counter.get}("/0")') == 7
    assert c.call('{counter.get}("/1")') == 0
    assert c.call("{[static]counter.live}") == 2
    assert c.call("{counter.live}") == 2  # the static function by its short name
    c.call('{counter.drop}("/1")')
    c.call(f'{{[drop]counter}}("{c.uri}/0")')
    assert c.call("{dropped}") == 2  # the guest's destructor ran for each
    assert c.call("{counter.live}") == 0


def test_handles_in_results_and_borrowed_by_free_functions(counters: Counters) -> None:
    c = counters
    handle = c.call("{make}(40)")
    assert handle == f"{c.uri}/0"
    assert c.call(f'{{peek}}("{handle}")') == 40
    c.call(f'{{counter.inc-by}}("{handle}", 2)')
    assert c.call(f'{{peek}}("{handle}")') == 42


def test_indexed_resources_are_made_on_first_use_and_found_after(counters: Counters) -> None:
    c = counters
    c.call('{counter("c1").inc-by}(5)')
    c.call('{counter("c1").inc-by}(5)')
    c.call('{counter("c2").inc-by}(1)')
    assert c.call('{counter("c1").get}') == 10
    assert c.call('{counter( "c2" ).get}') == 1  # the same instance, however spelled
    assert c.call("{counter.live}") == 2
    assert c.call('{counter("c1").new}') == f"{c.uri}/0"  # the indexed instance's handle
    c.call('{counter("c1").drop}')
    assert c.call("{counter.live}") == 1
    assert c.call('{counter("c1").get}') == 0  # made afresh after the drop


def test_the_resource_of_invocation_1_is_the_one_invocation_3_uses_after_replay(
    counters: Counters,
) -> None:
    c = counters
    handle = c.call('{counter.new}("a")')
    c.call(f'{{counter.inc-by}}("{handle}", 5)')
    c.call('{counter("c1").inc-by}(7)')
    c.restart()  # memory lost: the instance is rebuilt by replaying the oplog
    assert c.call(f'{{counter.get}}("{handle}")') == 5
    assert c.call('{counter("c1").get}') == 7
    assert c.call("{counter.live}") == 2  # replay made no extra instance
    c.call(f'{{counter.drop}}("{handle}")')
    c.restart()
    assert c.call("{dropped}") == 1
    assert c.call("{counter.live}") == 1


def test_the_cli_call_form_and_the_rest_function_name_agree(counters: Counters) -> None:
    c = counters
    call = c.host.call_from_wave(c.agent, f'{API}.{{counter("c1").inc-by}}(5)')
    assert call.export.name == f'{API}.{{counter("c1").inc-by}}'
    assert call.params == ("5",)
    json_call = c.host.call_from_json(c.agent, f'{API}.{{counter("c1").inc-by}}', [5])
    assert json_call.export.name == call.export.name and json_call.params == call.params


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("{nothing.new}()", "exports no function"),
        ("{counter(1).inc-by}(5)", "invalid constructor parameters of counter"),
        ('{counter("c1").nope}(5)', "exports no function"),
        ('{counter.get}("counter-1")', 'resource handle as "<uri>/<number>"'),
        ("{counter.get}(1)", 'handle string "<uri>/<number>"'),
    ],
)
def test_bad_resource_calls_are_clear_errors(counters: Counters, call: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        counters.host.invoke(counters.agent, f"{API}.{call}")


def test_an_unknown_handle_fails_the_invocation_with_a_clear_error(counters: Counters) -> None:
    c = counters
    record = c.host.invoke(c.agent, f'{API}.{{counter.get}}("/9")')
    view = c.host.invocation(record.invocation_id)
    assert view.state == "failed"
    assert "has no counter 9: it was dropped or never created" in (view.invocation.error or "")
    other = c.host.invoke(
        AgentId(c.agent.component_id, "c-2"), f'{API}.{{counter.get}}("urn:worker:x/y/0")'
    )
    assert "belongs to another agent" in (
        c.host.invocation(other.invocation_id).invocation.error or ""
    )


def test_handles_round_trip_as_wave_and_json() -> None:
    ty = ResourceT("counter")
    ref = ResourceRef(3, "urn:worker:c/a")
    assert parse_value('"urn:worker:c/a/3"', ty) == ref
    assert to_json(ref, ty) == "urn:worker:c/a/3"
    assert from_json("urn:worker:c/a/3", ty) == ref
    assert from_json("7", ty) == ResourceRef(7, "")

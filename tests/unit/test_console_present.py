"""The console's choice rule (host/server/ui/present.py): which Approve / Reject (or
other) buttons a pending promise offers, from the waiting method's ``Choices:`` line or
the approve/reject convention, and the cases that must offer no buttons at all (the
console then shows only its JSON / text editor)."""

from __future__ import annotations

import base64
import json

import pytest

from host import oplog
from host.agents.agenttypes import UNIT
from host.agents.model import AgentConstructor, AgentMethod, AgentType
from host.server.ui.present import (
    HEX_LIMIT,
    SHORT,
    Choice,
    Payload,
    choices,
    declared_choices,
    entry_view,
    payload,
)

APPROVE_REJECT = (Choice("Approve", '"approved"'), Choice("Reject", '"rejected"'))


def method(name: str, description: str = "") -> AgentMethod:
    return AgentMethod(name, description, (), None, UNIT, UNIT)


def agent_type(*methods: AgentMethod) -> AgentType:
    return AgentType("Workflow", "", "python", AgentConstructor(None, "", None, UNIT), methods)


def test_a_declared_line_of_words_gives_one_button_each() -> None:
    waits = method("wait", "Waits for a person.\nChoices: approved, rejected, escalate\n")
    got = choices(agent_type(waits), "wait")
    assert got == (
        Choice("Approved", '"approved"'),
        Choice("Rejected", '"rejected"'),
        Choice("Escalate", '"escalate"'),
    )


def test_declared_json_values_are_sent_as_written() -> None:
    text = 'Choices: "yes", {"level": 2, "by": "ops"}, 3, true'
    got = choices(agent_type(method("wait", text)), "wait")
    assert [json.loads(c.value) for c in got] == ["yes", {"level": 2, "by": "ops"}, 3, True]
    assert [c.label for c in got] == ["Yes", '{"level": 2, "by": "ops"}', "3", "True"]


def test_words_and_numbers_mixed_and_the_line_found_in_any_case() -> None:
    got = choices(agent_type(method("wait", "First line.\n  CHOICES: ok , 2 ,, later")), "wait")
    assert [c.value for c in got] == ['"ok"', "2", '"later"']  # the empty item is skipped


def test_the_approve_reject_convention() -> None:
    kinds = agent_type(method("start_approval"), method("approve"), method("reject"))
    assert choices(kinds, "start_approval") == APPROVE_REJECT
    assert choices(kinds, None) == APPROVE_REJECT  # the waiting method is not known


def test_a_declared_line_wins_over_the_convention() -> None:
    kinds = agent_type(method("wait", "Choices: go, stop"), method("approve"), method("reject"))
    assert [c.value for c in choices(kinds, "wait")] == ['"go"', '"stop"']


@pytest.mark.parametrize(
    ("methods", "waiting"),
    [
        # No agent type (a plain WIT component): nothing is known about the payload.
        (None, "wait"),
        # Only one half of the convention, or near-miss names.
        ((method("wait"), method("approve")), "wait"),
        ((method("wait"), method("reject")), "wait"),
        ((method("wait"), method("Approve"), method("Reject")), "wait"),
        ((method("wait"), method("approve_all"), method("reject_all")), "wait"),
        # "choices:" inside a sentence is not a declaration.
        ((method("wait", "Pick one of the choices: a, b."),), "wait"),
        # An empty declaration never takes the next line as its choices.
        ((method("wait", "Choices:\nReturns the outcome."),), "wait"),
        ((method("wait", "Choices:   "),), "wait"),
        # Declared on another method than the one waiting.
        ((method("wait"), method("other", "Choices: a, b")), "wait"),
        # A declaration of nothing but separators.
        ((method("wait", "Choices: , ,"),), "wait"),
    ],
)
def test_no_buttons(methods: tuple[AgentMethod, ...] | None, waiting: str) -> None:
    kinds = None if methods is None else agent_type(*methods)
    assert choices(kinds, waiting) == ()


def test_every_choice_value_is_json() -> None:
    for text in ("a, b", '"a", "b"', "1, {", "null, x y, [1, 2]"):
        got = declared_choices(text)
        assert got, text
        for choice in got:
            json.loads(choice.value)  # what the complete form sends must parse


# -- payloads and oplog entries, for a person ---------------------------------------------------
def test_payloads_are_shown_as_json_text_or_hex() -> None:
    assert payload(None) == Payload("none", "")
    assert payload(b'{"decision":"approved"}') == Payload("json", '{\n  "decision": "approved"\n}')
    assert payload("approved by Zoë".encode()) == Payload("text", "approved by Zoë")
    assert payload(b"\xff\x00\x01") == Payload("hex", "ff 00 01")
    assert payload(b"\x00\x01ab") == Payload("hex", "00 01 61 62")  # UTF-8, but binary
    assert payload(b"line one\n\tline two\r\n").kind == "text"
    big = payload(b"\xff" * (HEX_LIMIT + 10))
    assert big.kind == "hex" and big.text.endswith(f"... ({HEX_LIMIT + 10} bytes)")
    assert big.text.count("ff") == HEX_LIMIT


def test_entries_read_for_a_person() -> None:
    call = entry_view(3, oplog.HostCall("golem:api/host@1.3.0.create-promise", {}, {"idx": 3}))
    assert (call.label, call.summary) == ("Host call", "golem:api/host@1.3.0.create-promise")
    assert [name for name, _ in call.payloads] == ["request", "response"]
    assert call.payloads[1][1] == Payload("json", '{\n  "idx": 3\n}')

    short = entry_view(4, oplog.InvocationFinished("inv-1", '"ok"'))
    assert short.summary == '-> "ok" (invocation inv-1)' and short.payloads == ()
    long = entry_view(4, oplog.InvocationFinished("inv-1", "x" * (SHORT + 1)))
    assert long.summary.startswith("-> " + "x" * (SHORT - 3) + "...")
    assert long.payloads == (("result (WAVE)", Payload("text", "x" * (SHORT + 1))),)
    assert entry_view(5, oplog.InvocationFinished("inv-2", None)).summary.startswith("-> ()")

    failed = entry_view(6, oplog.InvocationFailed("inv-3", "trap: unreachable"))
    assert failed.label == "Invocation failed" and failed.payloads[0][1].text == "trap: unreachable"

    promise = entry_view(7, oplog.PromiseCreated("golem:api/host@1.3.0.create-promise"))
    assert promise.summary == "promise 7 (by golem:api/host@1.3.0.create-promise)"

    data = base64.b64encode(b"\x00\x01").decode()
    snap = entry_view(8, oplog.Snapshot(data, "application/octet-stream"))
    assert snap.payloads == (("payload", Payload("hex", "00 01")),)
    broken = entry_view(9, oplog.Snapshot("not base64!", "text/plain"))
    assert broken.payloads == (("payload", Payload("text", "not base64!")),)

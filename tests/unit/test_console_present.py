"""The console's choice rule (host/server/ui/present.py): which Approve / Reject (or
other) buttons a pending promise offers, from the waiting method's ``Choices:`` line or
the approve/reject convention, and the cases that must offer no buttons at all (the
console then shows only its JSON / text editor)."""

from __future__ import annotations

import json

import pytest

from host.agents.agenttypes import UNIT
from host.agents.model import AgentConstructor, AgentMethod, AgentType
from host.server.ui.present import Choice, choices, declared_choices

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

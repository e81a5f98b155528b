"""Agent names follow Golem's worker-name rule (golem-common validate_worker_name)."""

from __future__ import annotations

import pytest

from host.errors import InvalidInput
from host.ids import check_agent_name


@pytest.mark.parametrize(
    "name",
    ['counter-agent("a1")', "cart['eu'][2]", "a,b", "x" * 512, "ünïcode", "9lives", "a-b_c.d~e"],
)
def test_golem_worker_names_are_accepted(name: str) -> None:
    assert check_agent_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 513, "bad name", "tab\there", "new\nline", "a/b", "-lead", "nul\x00", "\x7f"]
)
def test_other_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidInput, match="without whitespace, control characters or '/'"):
        check_agent_name(name)

"""The conformance guest ``management`` is what tests/fixtures/management_guests.py
writes (one template per interface shape). What each generation's guest imports is
checked with the other fixtures (tests/host/test_fixtures_build.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import management_guests as mg


@pytest.mark.parametrize("generation", list(mg.SHAPES))
def test_committed_guest_is_the_generated_one(tmp_path: Path, generation: str) -> None:
    written = mg.write(generation, tmp_path)
    committed = mg.GUEST_DIR / generation
    for name in ("world.wit", "guest.wat"):
        assert (committed / name).read_text() == (written / name).read_text(), (
            f"{committed / name} is stale: run `python -m tests.fixtures.management_guests`"
        )

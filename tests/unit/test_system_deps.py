"""scripts/system-deps.sh, which setup.sh and .ci/run call: it finds what is missing and
names the package; it never runs apt-get when nothing is missing (here, with a fake
``$SUDO`` that only fails, it says the install failed instead of hiding it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "system-deps.sh"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_a_missing_browser_is_named_with_the_command_to_install_it(tmp_path: Path) -> None:
    done = _run("--check", AGENT_HOST_CHROMIUM=str(tmp_path / "no-chromium"))
    assert done.returncode == 1
    assert "chromium" in done.stderr and "apt-get install -y chromium" in done.stderr


def test_a_failed_install_is_an_error_naming_the_package(tmp_path: Path) -> None:
    done = _run(AGENT_HOST_CHROMIUM=str(tmp_path / "no-chromium"), SUDO="false")
    assert done.returncode == 1
    assert "Error: could not install chromium" in done.stderr


def test_present_packages_or_the_opt_out_need_nothing(tmp_path: Path) -> None:
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    initdb = tmp_path / "initdb"
    initdb.write_text("#!/bin/sh\n")
    initdb.chmod(0o755)
    # SUDO=false: had it tried to install anything, it would have failed.
    present = _run(AGENT_HOST_CHROMIUM=str(chromium), AGENT_HOST_INITDB=str(initdb), SUDO="false")
    assert (present.returncode, present.stderr) == (0, "")
    skipped = _run(
        AGENT_HOST_CHROMIUM=str(tmp_path / "none"), AGENT_HOST_SKIP_SYSTEM_DEPS="1", SUDO="false"
    )
    assert (skipped.returncode, skipped.stderr) == (0, "")

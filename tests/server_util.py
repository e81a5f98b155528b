"""Helpers for tests and scripts that drive a real ``agent-host serve`` process.

No mocks: the server is the console script next to ``sys.executable`` running as a
subprocess on a free loopback port, with its own data directory; clients are real
``httpx`` clients. Every response a :class:`Server` client receives is checked to be
below 500 (a 500 means a bug in agent-host, never a user's mistake).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from host.store import Store, open_store
from tests.fixtures.postgres import copy_database, env_for, url_for

AGENT_HOST = str(Path(sys.executable).with_name("agent-host"))
REPO = Path(__file__).resolve().parent.parent

T = TypeVar("T")

# Exit statuses of a server stopped cleanly with SIGTERM: 0 (uvicorn finishes its graceful
# shutdown and re-raises the signal it caught, which `serve` turns into a clean exit), or
# -SIGTERM for revisions before that (benchmarks compare against them).
CLEAN_EXIT = (0, -signal.SIGTERM)


class ServerError(AssertionError):
    """The server answered 5xx, or did not start or stop as expected."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(store: Path | str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``agent-host --store STORE ARGS...`` as a separate process."""
    return subprocess.run(
        [AGENT_HOST, "--store", str(store), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env_for(Path(store)),
    )


def add_component(store: Path | str, wasm: Path, name: str, *global_args: str) -> str:
    """Register a component through the CLI (``store``: a data directory or a store
    URL, with ``global_args`` before the command); its id."""
    done = cli(store, *global_args, "component", "add", str(wasm), "--name", name)
    if done.returncode != 0:
        raise AssertionError(f"component add {wasm} failed: {done.stderr}")
    return done.stdout.strip()


def build_example(name: str) -> Path:
    """guest_examples/<name>, built (or found up to date) by scripts/build_examples.py."""
    wasm = REPO / "guest_examples" / name / f"{name}.wasm"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_examples.py"), name],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not wasm.is_file():
        raise AssertionError(f"building the {name} example failed:\n{done.stdout}{done.stderr}")
    return wasm


def example_store(store: Path, *names: str) -> Path:
    """A data directory with the examples ``names`` (guest_examples/) built and
    registered, each under its own name."""
    for name in names:
        add_component(store, build_example(name), name)
    return store


def clone_store(template: Path, target: Path) -> Path:
    """A private copy of a data directory whose components are registered (and compiled).

    The database is copied; component files and compiled code are hard-linked (the host
    only ever replaces those files, never writes into them), so a 19 MB guest is not
    compiled again for every server."""

    def copy(src: str, dst: str) -> None:
        if ".db" in Path(src).name:
            shutil.copy2(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

    ignore = shutil.ignore_patterns("*.tmp*")
    shutil.copytree(template, target, copy_function=copy, ignore=ignore)
    # Under the PostgreSQL store switch the database is a schema, not a file: the copy gets
    # a fresh schema of its own with the template's rows (env_for and view name it).
    source = url_for(template)
    if source:
        own = url_for(target)
        assert own is not None and own != source, "clone_store: the copy shares the database"
        copy_database(source, own)
    return target


def store_view(store: Path) -> Store:
    """The store of a data directory a server or CLI process uses, opened in this process
    (its SQLite file, or its schema under the PostgreSQL switch)."""
    url = url_for(store)
    return open_store(url if url else store)


def json_bytes(value: Any) -> list[int]:
    """A JSON value as the byte list the complete endpoint takes."""
    return list(json.dumps(value).encode())


def wait_until(
    probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.005, what: str = ""
) -> T:
    """Call ``probe`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(interval)


class Server:
    """``agent-host serve`` on a free loopback port with its own data directory."""

    def __init__(
        self,
        store: Path,
        *,
        poll_interval: float = 0.1,
        await_timeout: float = 30.0,
        threads: int = 4,
        processes: int = 1,
        log: Path | None = None,
        extra_args: tuple[str, ...] = (),
        global_args: tuple[str, ...] = (),
        store_url: str | None = None,
        threads_option: str = "--threads",
    ) -> None:
        """``store``: the data directory (``store_url``: a store URL to serve instead,
        with ``global_args=("--data-dir", DIR)`` for PostgreSQL)."""
        self.store = store
        self.store_url = store_url
        self.threads_option = threads_option  # "--workers" for revisions before --threads
        self.extra_args = extra_args
        self.global_args = global_args
        self.poll_interval = poll_interval
        self.await_timeout = await_timeout
        self.threads = threads
        self.processes = processes
        self.log = log or store.with_name(store.name + "-server.log")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.responses: list[httpx.Response] = []
        self._clients: list[httpx.Client] = []

    # -- lifecycle ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        self.port = free_port()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    AGENT_HOST,
                    "--store",
                    self.store_url or str(self.store),
                    *self.global_args,
                    "serve",
                    "--port",
                    str(self.port),
                    "--poll-interval",
                    str(self.poll_interval),
                    "--await-timeout",
                    str(self.await_timeout),
                    self.threads_option,
                    str(self.threads),
                    *(("--workers", str(self.processes)) if self.processes != 1 else ()),
                    *self.extra_args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env_for(self.store),
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"the server exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"the server did not answer /healthz:\n{self.output()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait; the exit code (SIGKILL and a ServerError if it hangs).

        A clean stop exits with 0 (-SIGTERM for older revisions, see :data:`CLEAN_EXIT`)."""
        self._close_clients()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc is not None else 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ServerError(
                f"the server did not stop within {timeout} s of SIGTERM:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        self._close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def restart(self) -> Server:
        self.stop()
        return self.start()

    # -- clients ----------------------------------------------------------------------
    def _check(self, response: httpx.Response) -> None:
        self.responses.append(response)
        if response.status_code >= 500:
            response.read()
            raise ServerError(
                f"{response.request.method} {response.request.url} answered "
                f"{response.status_code}: {response.text}\n--- server output ---\n"
                + self.output()[-4000:]
            )

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """A client of this server (closed when the server stops) that raises ServerError
        on any 5xx answer."""
        client = httpx.Client(
            base_url=self.url, timeout=timeout, event_hooks={"response": [self._check]}
        )
        self._clients.append(client)
        return client

    def _close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


@contextmanager
def serving(store: Path, *args: str) -> Iterator[Server]:
    """``agent-host serve`` on ``store`` (``args``: more serve options) for the block;
    then stopped with SIGTERM, which must be a clean stop (with event streams or held
    requests still open too)."""
    server = Server(store, extra_args=args).start()
    try:
        yield server
    except BaseException:
        server.stop()
        raise
    code = server.stop()
    if code not in CLEAN_EXIT:
        raise ServerError(f"the server exited with {code} at SIGTERM:\n{server.output()[-3000:]}")


class AgentCall:
    """A method call sent through Golem's invoke-agent with ``mode: schedule`` under its
    own idempotency key; :meth:`result` and :meth:`error` await the same key, which is
    the same invocation (so they may be called after the server restarted)."""

    def __init__(
        self, server: Server, agent_type: str, name: str, method: str, params: list[Any]
    ) -> None:
        self.server = server
        self.body = {
            "agentTypeName": agent_type,
            "parameters": [name],
            "methodName": method,
            "methodParameters": params,
            "idempotencyKey": str(uuid.uuid4()),
        }
        sent = server.client().post(
            "/v1/agents/invoke-agent", json={**self.body, "mode": "schedule"}
        )
        assert sent.status_code == 200, sent.text

    def response(self, wait: float = 30.0) -> httpx.Response:
        # A plain client: the agent's error is a deliberate 500 (Golem's agent_error).
        return httpx.post(
            self.server.url + "/v1/agents/invoke-agent",
            json={**self.body, "mode": "await"},
            timeout=wait + 10,
        )

    def result(self) -> Any:
        """The method's return value (its one element's JSON)."""
        done = self.response()
        assert done.status_code == 200, done.text
        (element,) = done.json()["result"]["elements"]
        return element["value"]

    def error(self) -> str:
        """The message of the agent's error (the method raised)."""
        failed = self.response()
        assert failed.status_code == 500, failed.text
        assert failed.json()["error"]["code"] == "agent_error", failed.text
        return str(failed.json()["error"]["message"])


class Api:
    """Golem-shaped calls on one component, over one client."""

    def __init__(self, client: httpx.Client, component_id: str) -> None:
        self.http = client
        self.cid = component_id

    def path(self, worker: str | None = None, rest: str = "") -> str:
        base = f"/v1/components/{self.cid}/workers"
        return base + (f"/{worker}" if worker is not None else "") + rest

    def invoke(
        self, worker: str, function: str, params: list[Any] | None = None, key: str | None = None
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.http.post(
            self.path(worker, "/invoke"),
            params={"function": function},
            json={"params": params or []},
            headers=headers,
        )

    def invoke_and_await(
        self,
        worker: str,
        function: str,
        params: list[Any] | None = None,
        *,
        timeout: float | None = None,
        key: str | None = None,
        http_timeout: float | None = None,
    ) -> httpx.Response:
        query: dict[str, Any] = {"function": function}
        if timeout is not None:
            query["timeout"] = timeout
        headers = {"Idempotency-Key": key} if key is not None else {}
        extra: dict[str, Any] = {} if http_timeout is None else {"timeout": http_timeout}
        return self.http.post(
            self.path(worker, "/invoke-and-await"),
            params=query,
            json={"params": params or []},
            headers=headers,
            **extra,
        )

    def complete(self, worker: str, oplog_idx: int, data: list[int]) -> httpx.Response:
        return self.http.post(
            self.path(worker, "/complete"), json={"oplogIdx": oplog_idx, "data": data}
        )

    def worker(self, worker: str) -> dict[str, Any]:
        response = self.http.get(self.path(worker))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def status(self, worker: str) -> str:
        return str(self.worker(worker)["status"])

    def wait_status(self, worker: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            response = self.http.get(self.path(worker))
            if response.status_code == 404:
                return None  # not created yet (an invocation sent from another thread)
            assert response.status_code == 200, response.text
            meta = dict(response.json())
            return meta if meta["status"] == status else None

        return wait_until(probe, timeout, what=f"{worker} to be {status}")

    def oplog(self, worker: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        start: int | None = 1
        while start is not None:
            page = self.http.get(
                self.path(worker, "/oplog"),
                params={"from": start, "count": 500, "format": "agent-host"},
            )
            assert page.status_code == 200, page.text
            entries += [e["entry"] for e in page.json()["entries"]]
            start = page.json()["next"]
        return entries

    def count_entries(self, worker: str, kind: str) -> int:
        return sum(1 for e in self.oplog(worker) if e["type"] == kind)

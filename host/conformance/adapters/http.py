"""The ``http`` adapter: a host behind Golem's REST shapes (spec section 4).

Worker routes only, under ``/v1/components/{component_id}/workers``:
``POST /{name}/invoke-and-await?function=F`` with ``{"params": [...]}`` answering
``{"result": ...}``, ``POST /{name}/complete`` with ``{"oplogIdx", "data"}`` answering
a bare ``true``/``false`` (404 for an unknown promise), ``GET /{name}`` (``status``,
``pendingInvocationCount``, ``lastError``) and ``GET /{name}/oplog?from=&count=`` with
``format=agent-host`` (agent-host's own entries: the cases check what the host recorded).
Two routes are agent-host's own, used where Golem has no equivalent: the raw upload
``POST /v1/components?name=`` registers guests, and ``GET /{name}/promises`` lists
pending promises (capability ``promise-listing``).

A server that requires a token (``agent-host serve --token``) gets it from
``$AGENT_HOST_TOKEN`` as ``Authorization: Bearer`` on every request; a server the adapter
starts inherits the same variable. Given ``--url``, it tests that server and cannot
restart it. Without one, it starts
``agent-host serve`` on a free loopback port with a temporary data directory, and can
then restart it (SIGTERM, or SIGKILL for ``kill``) on the same directory.

An invocation is one held ``invoke-and-await`` request on a thread of its own, so the
runner can watch the agent suspend meanwhile and read the result when it comes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from host.conformance.adapters.base import (
    Adapter,
    AdapterError,
    AgentRef,
    AgentState,
    HttpResponse,
    Invocation,
    NotFound,
    OplogEntry,
    Outcome,
)
from host.conformance.cases import (
    AGENTS,
    HTTP,
    KILL,
    PROMISE_LISTING,
    RESTART,
    REVERT,
    ROUTES,
    UPDATE,
    WEBHOOKS,
)
from host.conformance.errors import SuiteError

HOLD_S = 300.0  # how long one invoke-and-await request may be held
POLL_INTERVAL_S = 0.05  # the started server's scan interval: timers and other processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``agent-host serve`` as a child process on a free loopback port."""

    def __init__(self, store: Path, log: Path) -> None:
        self.store = store
        self.log = log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "host", "--store", str(self.store), "serve"]
        argv += ["--port", str(self.port), "--poll-interval", str(POLL_INTERVAL_S)]
        argv += ["--await-timeout", str(HOLD_S)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AdapterError(
                    f"agent-host serve exited with {self.proc.returncode}:\n" + self.output()
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise AdapterError("agent-host serve did not answer /healthz:\n" + self.output())
            time.sleep(0.02)

    def stop(self, kill: bool = False, timeout: float = 30.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AdapterError(
                f"agent-host serve did not stop within {timeout:.0f} s of SIGTERM"
            ) from None

    def output(self, limit: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str):
            return f"HTTP {response.status_code}: {message}"
    return f"HTTP {response.status_code}: {json.dumps(body)[:500]}"


def _data_value(value: Any) -> Any:
    """invoke-agent's result, Golem's UntypedJsonDataValue of a tuple, as the suite's
    method result: null for no element, the element's value for one, else a list."""
    if not (isinstance(value, dict) and value.get("type") == "Tuple"):
        return value  # multimodal (or another host's shape): as it came
    elements = value.get("elements")
    if not isinstance(elements, list):
        raise AdapterError(f"invoke-agent's result has no elements: {json.dumps(value)[:200]}")
    plain = [e.get("value") if isinstance(e, dict) else e for e in elements]
    if len(plain) <= 1:
        return plain[0] if plain else None
    return plain


class _Invocation(Invocation):
    """One held invoke-and-await (or invoke-agent) request."""

    def __init__(
        self,
        adapter: HttpAdapter,
        url: str,
        params: dict[str, str],
        body: dict[str, Any],
        headers: dict[str, str],
        agent_call: bool = False,
    ) -> None:
        self.adapter = adapter
        self.epoch = adapter.epoch
        self.agent_call = agent_call  # invoke-agent: the result is an UntypedJsonDataValue
        self._outcome = Outcome("pending")
        self._done = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(url, params, body, headers), daemon=True
        )
        self.thread.start()

    def _run(
        self, url: str, params: dict[str, str], body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        try:
            client = self.adapter.client
            response = client.post(
                url, params=params, json=body, headers=headers, timeout=HOLD_S + 30
            )
            while response.status_code == 202:  # held past the server's limit: fetch later
                url = response.json().get("resultUrl")
                if not isinstance(url, str) or self.epoch != self.adapter.epoch:
                    self._outcome = Outcome("lost", error="no result after the hold time")
                    return
                response = client.get(url, params={"wait": 30}, timeout=60)
            self._outcome = self._read(response)
            if self.agent_call and self._outcome.state == "done":
                self._outcome = Outcome("done", _data_value(self._outcome.result))
        except httpx.TransportError as exc:
            if self.epoch != self.adapter.epoch:
                self._outcome = Outcome("lost", error="the server was restarted")
            else:
                self._outcome = Outcome("failed", error=f"transport error: {exc}")
        except Exception as exc:
            self._outcome = Outcome("failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._done.set()

    @staticmethod
    def _read(response: httpx.Response) -> Outcome:
        if response.status_code != 200:
            return Outcome("failed", error=_error_message(response))
        try:
            body = response.json()
        except ValueError:
            return Outcome(
                "failed", error=f"200 with a body that is not JSON: {response.text[:200]}"
            )
        if not isinstance(body, dict) or "result" not in body:
            return Outcome(
                "failed", error=f'200 without the {{"result": ...}} shape: {json.dumps(body)[:200]}'
            )
        return Outcome("done", body["result"])

    def outcome(self) -> Outcome:
        return self._outcome

    def wait(self, timeout: float) -> Outcome:
        self._done.wait(timeout)
        return self._outcome


class HttpAdapter(Adapter):
    name = "http"

    def __init__(self, url: str | None = None, data_dir: Path | None = None) -> None:
        super().__init__(url.rstrip("/") if url else None, data_dir)
        self._tmp: str | None = None
        self.server: ServerProcess | None = None
        self._client: httpx.Client | None = None
        self.epoch = 0  # bumped by each restart: older invocation handles are lost
        caps = {HTTP, PROMISE_LISTING, AGENTS, UPDATE, REVERT, ROUTES, WEBHOOKS}
        if url is None:
            caps |= {RESTART, KILL}
        self.capabilities = frozenset(caps)

    def describe(self) -> str:
        if self.server is not None:
            return f"http: agent-host serve started by the suite at {self.base}"
        return f"http: {self.base}"

    @property
    def base(self) -> str:
        if self.server is not None:
            return self.server.url
        return self.url or ""

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise AdapterError("the adapter is not started")
        return self._client

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.url is None:
            if self.given_dir is None:
                self._tmp = tempfile.mkdtemp(prefix="agent-host-conformance-http-")
                store = Path(self._tmp) / "store"
            else:
                store = self.given_dir
            store.mkdir(parents=True, exist_ok=True)
            self.server = ServerProcess(store, store.parent / (store.name + "-server.log"))
            self.server.start()
        self._connect()
        if self.server is None:
            try:
                self.client.get("/")  # any answer will do: is anything listening?
            except httpx.TransportError as exc:
                self.stop()
                raise SuiteError(f"cannot reach {self.url}: {exc}") from None

    def _connect(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        token = os.environ.get("AGENT_HOST_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=self.base, timeout=30.0, limits=limits, headers=headers
        )

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.server is not None:
            self.server.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def restart(self, kill: bool) -> None:
        if self.server is None:
            raise AdapterError("a server given by --url cannot be restarted by the suite")
        self.epoch += 1
        self.client.close()
        self.server.stop(kill=kill)
        self.server.start()
        self._connect()

    # -- operations -----------------------------------------------------------------------------
    def _worker(self, component_id: str, agent: str) -> str:
        return f"/v1/components/{component_id}/workers/{agent}"

    def _server_error(self, what: str, response: httpx.Response) -> AdapterError:
        tail = ""
        if response.status_code >= 500 and self.server is not None:
            tail = "\n--- server output ---\n" + self.server.output(2000)
        return AdapterError(f"{what} answered {_error_message(response)}{tail}")

    def register(self, wasm: Path, name: str) -> str:
        response = self.client.post(
            "/v1/components",
            params={"name": name},
            content=wasm.read_bytes(),
            headers={"content-type": "application/wasm"},
            timeout=120,
        )
        if response.status_code not in (200, 201):
            raise self._server_error(f"uploading {wasm.name}", response)
        cid = response.json().get("componentId")
        if not isinstance(cid, str):
            raise AdapterError(f"the upload answered no componentId: {response.text[:200]}")
        return cid

    def revert(
        self, component_id: str, agent: str, last_invocations: int | None, to_index: int | None
    ) -> None:
        body: dict[str, Any] = (
            {"type": "RevertLastInvocations", "numberOfInvocations": last_invocations}
            if last_invocations is not None
            else {"type": "RevertToOplogIndex", "lastOplogIndex": to_index}
        )
        response = self.client.post(self._worker(component_id, agent) + "/revert", json=body)
        if response.status_code != 200:
            raise self._server_error("the revert", response)

    def update(
        self, component_id: str, wasm: Path, name: str, agent: str, mode: str = "automatic"
    ) -> None:
        """Upload the new version, then Golem's ``POST .../update`` with its revision."""
        response = self.client.post(
            "/v1/components",
            params={"name": name},
            content=wasm.read_bytes(),
            headers={"content-type": "application/wasm"},
            timeout=120,
        )
        if response.status_code not in (200, 201):
            raise self._server_error(f"uploading {wasm.name}", response)
        uploaded = response.json()
        if uploaded.get("componentId") != component_id:
            raise AdapterError(f"{name} was uploaded as {uploaded.get('componentId')}")
        if mode == "none":
            return
        body = {
            "mode": "manual" if mode == "snapshot" else "automatic",
            "targetRevision": uploaded.get("componentVersion"),
        }
        response = self.client.post(self._worker(component_id, agent) + "/update", json=body)
        # 409: an update that failed at once (recorded in the oplog): later steps check it.
        if response.status_code not in (200, 409):
            raise self._server_error("the update", response)

    def invoke(
        self,
        component_id: str,
        agent: str,
        function: str,
        args: list[Any] | None,
        wave: str | None = None,
        idempotency_key: str | None = None,
    ) -> Invocation:
        if wave is not None:
            raise AdapterError("Golem's REST shapes take JSON parameters, not WAVE")
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        return _Invocation(
            self,
            self._worker(component_id, agent) + "/invoke-and-await",
            {"function": function},
            {"params": args or []},
            headers,
        )

    def invoke_agent(
        self,
        component_id: str,
        agent: AgentRef,
        method: str,
        args: list[Any] | None,
        wave: str | None = None,
        idempotency_key: str | None = None,
    ) -> Invocation:
        if wave is not None:
            raise AdapterError("Golem's REST shapes take JSON parameters, not WAVE")
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        body = {
            "appName": component_id,  # selects the component (agent-host matches its id)
            "agentTypeName": agent.type,
            "parameters": agent.params,
            "phantomId": agent.phantom,
            "methodName": method,
            "methodParameters": args or [],
            "mode": "await",
        }
        return _Invocation(self, "/v1/agents/invoke-agent", {}, body, headers, agent_call=True)

    def complete(self, component_id: str, agent: str, oplog_idx: int, data: bytes) -> bool:
        response = self.client.post(
            self._worker(component_id, agent) + "/complete",
            json={"oplogIdx": oplog_idx, "data": list(data)},
        )
        if response.status_code == 404:
            raise NotFound(_error_message(response))
        if response.status_code != 200:
            raise self._server_error("complete", response)
        body = response.json()
        if not isinstance(body, bool):
            raise AdapterError(f"complete answered 200 with {response.text[:200]}, not true/false")
        return body

    def status(self, component_id: str, agent: str) -> AgentState | None:
        response = self.client.get(self._worker(component_id, agent))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._server_error("worker metadata", response)
        meta = response.json()
        status = meta.get("status")
        if not isinstance(status, str):
            raise AdapterError(f"worker metadata without a status: {response.text[:200]}")
        pending = meta.get("pendingInvocationCount", 0)
        error = meta.get("lastError")
        retries = meta.get("retryCount")
        return AgentState(
            status.lower(),
            pending if isinstance(pending, int) else 0,
            error if isinstance(error, str) else None,
            retries if isinstance(retries, int) else None,
        )

    def oplog(self, component_id: str, agent: str) -> list[OplogEntry]:
        entries: list[OplogEntry] = []
        start: int | None = 1
        while start is not None:
            response = self.client.get(
                self._worker(component_id, agent) + "/oplog",
                params={"from": start, "count": 500, "format": "agent-host"},
            )
            if response.status_code != 200:
                raise self._server_error("oplog", response)
            page = response.json()
            for item in page.get("entries", []):
                entry = item.get("entry", item)
                function = entry.get("function", entry.get("details"))
                kind = str(entry.get("type"))
                # agent-host's entry for a guest's durable function: Golem's host call.
                kind = "host-call" if kind == "durable-function-call" else kind
                entries.append(OplogEntry(kind, function if isinstance(function, str) else None))
            nxt = page.get("next")
            start = nxt if isinstance(nxt, int) and nxt > start else None
        return entries

    def pending_promises(self, component_id: str, agent: str) -> list[int]:
        response = self.client.get(self._worker(component_id, agent) + "/promises")
        if response.status_code != 200:
            raise self._server_error("the promise listing", response)
        return [int(p["promiseId"]["oplogIdx"]) for p in response.json().get("promises", [])]

    def http(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> HttpResponse:
        response = self.client.request(method, path, headers=headers, content=body)
        return HttpResponse(
            response.status_code, response.content, response.headers.get("content-type", "")
        )

    def route(
        self,
        component_id: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> HttpResponse:
        return self.http(method, path, headers, body)

    def webhook(self, component_id: str, url: str, body: bytes) -> HttpResponse:
        # Only the host under test is contacted: a URL elsewhere is the host's mistake.
        parts, base = urlsplit(url), urlsplit(self.base)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise AdapterError(
                f"the webhook URL {url} is not on the host under test ({self.base}): "
                "is the server's --public-url right?"
            )
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.http("POST", target, {"content-type": "application/octet-stream"}, body)

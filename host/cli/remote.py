"""The CLI's agent-changing commands against a running server (``--server URL``).

Each prints what the same command prints against the store directly, so scripts
do not care which mode they run in.
"""

from __future__ import annotations

from typing import Any

from host.client import Client
from host.tracecontext import TraceContext


def invoke(
    client: Client,
    ref: str,
    name: str,
    call: str,
    key: str | None,
    await_timeout: float,
    trace: TraceContext | None = None,
) -> tuple[dict[str, Any], str]:
    headers = {"Idempotency-Key": key} if key else {}
    if trace is not None:  # the server keeps it as the invocation's trace context
        headers.update(trace.headers())
    status, data = client.request(
        "POST",
        client.workers(ref, name, "/invoke-and-await"),
        {"call": call},
        {"timeout": await_timeout, "untilSuspended": "true"},
        headers,
    )
    if status == 200:
        wave = data.get("wave")
        return {"agent": name, "state": "done", "result": wave}, wave if wave else "()"
    meta = worker(client, ref, name)
    waits = [w["oplogIdx"] for w in data.get("waitingOn", [])]
    cid = meta["workerId"]["componentId"]
    out = {
        "agent": f"{cid}/{name}",
        "invocation": data.get("invocationId"),
        "state": data.get("state"),
        "status": meta["status"].lower(),
        "oplog_indexes": waits,
        "waiting_promises": [f"{cid}/{name}/{i}" for i in waits],
    }
    if data.get("state") == "queued":
        return out, f"queued: the agent is {meta['status'].lower()}; it runs when that finishes"
    if waits:
        text = "suspended, waiting on promise " + ", ".join(
            f"{i} ({cid}/{name}/{i})" for i in waits
        )
        return out, text
    return out, f"{data.get('state')} (agent {meta['status'].lower()})"


def worker(client: Client, ref: str, name: str) -> dict[str, Any]:
    _, meta = client.request("GET", client.workers(ref, name))
    return dict(meta)


def complete(
    client: Client, ref: str, name: str, oplog_idx: int, data: bytes, wait: float = 10.0
) -> tuple[dict[str, Any], str]:
    before = worker(client, ref, name)
    waiting = [i for i in before.get("invocations", []) if i["state"] == "started"]
    # The payload travels as raw bytes (application/octet-stream), not a JSON array.
    _, completed = client.request(
        "POST", client.workers(ref, name, "/complete"), data, query={"oplogIdx": oplog_idx}
    )
    lines = ["true" if completed else "false"]
    finished = []
    if completed:
        for inv in waiting:
            path = client.workers(ref, name, f"/invocations/{inv['invocationId']}")
            try:
                status, result = client.request("GET", path, query={"wait": wait})
            except Exception as exc:  # the invocation failed: the server says why
                finished.append({"function": inv["function"], "state": "failed", "error": str(exc)})
                lines.append(f"{name} resumed: {inv['function']} failed: {exc}")
                continue
            if status == 200:
                finished.append(
                    {"function": inv["function"], "state": "done", "result": result.get("wave")}
                )
                lines.append(f"{name} resumed: {inv['function']} -> {result.get('wave')}")
        if not finished:
            after = worker(client, ref, name)
            lines.append(f"{name}: {after['status'].lower()}")
    status_now = worker(client, ref, name)["status"].lower()
    return {"completed": completed, "agent_status": status_now, "finished": finished}, (
        "\n".join(lines)
    )


def create(
    client: Client, ref: str, name: str, args: tuple[str, ...], env: list[tuple[str, str]]
) -> str:
    _, data = client.request(
        "POST", client.workers(ref), {"name": name, "args": list(args), "env": dict(env)}
    )
    return f"{data['workerId']['componentId']}/{data['workerId']['workerName']}"


def delete(client: Client, ref: str, name: str) -> str:
    meta = worker(client, ref, name)
    client.request("DELETE", client.workers(ref, name))
    return f"{meta['workerId']['componentId']}/{name}"

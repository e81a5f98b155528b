"""What the benchmark scripts share: measuring a baseline revision in the same run.

:func:`run_baseline` runs the calling script again (without ``--compare``) against
revision ``rev`` checked out in a temporary git worktree; the child finds that tree in
``$AGENT_HOST_BENCH_CODE`` (and on ``PYTHONPATH``, for the servers it starts), so its
``host`` package is the old one while the benchmark code stays the current one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CODE_ENV = "AGENT_HOST_BENCH_CODE"


async def raw_requests(
    port: int, requests: list[tuple[str, str, bytes]], clients: int
) -> list[tuple[int, bytes]]:
    """Send each (method, path, JSON body) over ``clients`` keep-alive HTTP/1.1
    connections (raw asyncio streams: the cheapest client); (status, body) in order."""
    answers: list[tuple[int, bytes]] = [(0, b"")] * len(requests)
    todo = list(reversed(range(len(requests))))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while todo:
                i = todo.pop()
                method, path, body = requests[i]
                head = (
                    f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    key, _, value = line.decode("latin-1").partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                data = await reader.readexactly(length)
                answers[i] = (int(status_line.split()[1]), data)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(clients)))
    return answers


class RawConnection:
    """One keep-alive HTTP/1.1 connection on a blocking socket (TCP_NODELAY): the
    cheapest client for one request at a time, so a latency measured through it is the
    server's and loopback's, not a client library's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, method: str, path: str, body: bytes = b"") -> None:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def response(self) -> tuple[int, bytes]:
        """The next response's (status, body); a body must come with Content-Length."""
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = None
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"a response without Content-Length: {head!r}")
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), body

    def close(self) -> None:
        self.sock.close()


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

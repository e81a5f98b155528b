"""The local wake-up channel (host/store/wakeup.py) on real Unix sockets: two channel
ends of one database file in this process stand for two host processes."""

from __future__ import annotations

import queue
import socket
import uuid
from pathlib import Path

from host.ids import AgentId
from host.store.wakeup import LocalWakeups, decode, encode, owner_tag

AGENT = AgentId(uuid.uuid4(), "a name with spaces\nand a newline")
HOST = socket.gethostname()


def _owner(pid: int, tag: str) -> str:
    return f"{HOST}:{pid}:{tag}"


def _events() -> tuple[queue.Queue[tuple[AgentId, bool]], object]:
    got: queue.Queue[tuple[AgentId, bool]] = queue.Queue()
    return got, lambda agent, work: got.put((agent, work))


def test_messages_round_trip_and_junk_is_refused() -> None:
    assert decode(encode("w", AGENT).rstrip(b"\n")) == (AGENT, True)
    assert decode(encode("d", AGENT).rstrip(b"\n")) == (AGENT, False)
    for junk in (
        b"",
        b"x 1 2",
        b"w not-a-uuid 00",
        b"\xff\xfe",
        f"q {AGENT.component_id} 00".encode(),
    ):
        assert decode(junk) is None


def test_owner_tags_are_for_this_machine_only() -> None:
    assert owner_tag(_owner(12, "abc123")) == "12-abc123"
    assert owner_tag(f"elsewhere-{HOST}:12:abc") is None
    assert owner_tag(f"{HOST}:pid:abc") is None
    assert owner_tag(f"{HOST}:12:../x") is None


def test_work_reaches_the_owner_and_ends_reach_everyone_else(tmp_path: Path) -> None:
    db = tmp_path / "agent-host.db"
    a, b, c = LocalWakeups(db), LocalWakeups(db), LocalWakeups(db)
    got_a, on_a = _events()
    got_b, on_b = _events()
    owner_a, owner_b = _owner(1_000_001, "aaaa"), _owner(1_000_002, "bbbb")
    stop_a = a.listen(owner_a, on_a)  # type: ignore[arg-type]
    stop_b = b.listen(owner_b, on_b)  # type: ignore[arg-type]
    assert stop_a is not None and stop_b is not None
    try:
        assert sorted(p.name for p in a.markers.iterdir()) == ["1000001-aaaa", "1000002-bbbb"]
        assert b.wake_owner(owner_a, AGENT)
        assert got_a.get(timeout=5) == (AGENT, True)
        assert not a.wake_owner(owner_a, AGENT)  # never to itself
        # An ended invocation, announced by B: A hears it, B does not hear its own.
        b.announce_ended(AGENT)
        assert got_a.get(timeout=5) == (AGENT, False)
        # A process that only sends (the CLI) reaches both.
        c.announce_ended(AGENT)
        assert {got_a.get(timeout=5), got_b.get(timeout=5)} == {(AGENT, False)}
        assert got_b.empty() and got_a.empty()
        # Many at once: none lost (a datagram queue would hold 10). 300 messages stay
        # within the socket's buffer, so a listener thread starved by a loaded machine
        # cannot make the sender time out (SEND_TIMEOUT_S, 0.2 s) and skip it: 2,000
        # did, under load.
        for _ in range(300):
            assert c.wake_owner(owner_b, AGENT)
        for _ in range(300):
            assert got_b.get(timeout=5) == (AGENT, True)
    finally:
        stop_a()
        stop_b()
        c.close()
    assert list(a.markers.iterdir()) == []


def test_a_gone_owner_is_reported_and_its_marker_removed(tmp_path: Path) -> None:
    db = tmp_path / "agent-host.db"
    sender = LocalWakeups(db)
    sender.markers.mkdir()
    # A process killed with -9 leaves its marker; no process 999999999 exists.
    (sender.markers / "999999999-dead").touch()
    assert not sender.wake_owner(_owner(999_999_999, "dead"), AGENT)
    sender.announce_ended(AGENT)
    assert list(sender.markers.iterdir()) == []
    sender.close()


def test_another_database_file_is_another_channel(tmp_path: Path) -> None:
    one, other = LocalWakeups(tmp_path / "one.db"), LocalWakeups(tmp_path / "two.db")
    got, on = _events()
    owner = _owner(1_000_003, "cccc")
    stop = one.listen(owner, on)  # type: ignore[arg-type]
    assert stop is not None
    try:
        assert not other.wake_owner(owner, AGENT)
        assert got.empty()
    finally:
        stop()
        other.close()


def test_a_peer_that_does_not_read_is_skipped_and_junk_dropped(tmp_path: Path) -> None:
    """A listening socket nobody reads (a stopped process): senders give up after the
    send timeout once, then skip it instead of waiting on every message."""
    import time

    from host.store import wakeup

    db = tmp_path / "agent-host.db"
    sender = LocalWakeups(db)
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.bind(sender.address("1000004-dddd"))
    stuck.listen(1)  # accepted by the kernel, never read
    owner = _owner(1_000_004, "dddd")
    try:
        sent = 0
        while sender.wake_owner(owner, AGENT):
            sent += 1
            assert sent < 10_000_000, "the socket buffer never filled"
        started = time.monotonic()
        assert not sender.wake_owner(owner, AGENT)  # skipped: no second timeout
        assert time.monotonic() - started < wakeup.SEND_TIMEOUT_S
    finally:
        stuck.close()
        sender.close()
    # A peer sending one endless line is cut off; the listener goes on serving others.
    got, on = _events()
    listener = LocalWakeups(db)
    stop = listener.listen(_owner(1_000_005, "eeee"), on)  # type: ignore[arg-type]
    assert stop is not None
    try:
        junk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        junk.connect(listener.address("1000005-eeee"))
        junk.sendall(b"x" * 100_000)
        other = LocalWakeups(db)
        assert other.wake_owner(_owner(1_000_005, "eeee"), AGENT)
        assert got.get(timeout=5) == (AGENT, True)
        other.close()
        junk.close()
    finally:
        stop()

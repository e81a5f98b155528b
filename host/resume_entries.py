"""The entries a resume reads: from the latest snapshot on, plus the few older kinds a run
needs (the creation, promises, jumps, snapshots); the others before the snapshot are
:data:`ELIDED`, so indexes stay those of the oplog (issue 13 item 4). Used by the executor
to start an instance and by :class:`host.replay.Replay` to look only at what was read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from host.oplog import Entry, Jump, Snapshot, SuccessfulUpdate


class Elided:
    """An entry before the latest snapshot that a resume did not read (see
    :func:`entries_for_resume`): replay starts after it, and nothing looks at it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<elided>"


ELIDED: Any = Elided()


class ResumeEntries(list[Entry]):
    """What :func:`entries_for_resume` reads: the oplog's entries by position, those
    before ``start`` (the snapshot's index) :data:`ELIDED` unless ``kept``."""

    def __init__(self, entries: list[Entry], start: int, kept: Sequence[tuple[int, Entry]]):
        super().__init__(entries)
        self.start = start
        self.kept = [(i, e) for i, e in kept if i < start]

    def read(self) -> Iterator[tuple[int, Entry]]:
        """(index, entry) of the entries actually read, in order (not the elided ones)."""
        yield from self.kept
        yield from enumerate(self[self.start - 1 :], start=self.start)


def indexed(entries: Sequence[Entry]) -> Iterator[tuple[int, Entry]]:
    """(index, entry) of the entries worth looking at: all, or only those read."""
    return entries.read() if isinstance(entries, ResumeEntries) else enumerate(entries, 1)


def kinds(entries: Sequence[Entry]) -> set[type]:
    """The entry types present among the entries worth looking at (one C-level pass; for
    a resume from a snapshot only over what was read, not the elided history)."""
    if isinstance(entries, ResumeEntries):
        present = set(map(type, entries.kept))
        present.update(map(type, entries[entries.start - 1 :]))
        return present
    return set(map(type, entries))


def entries_for_resume(
    kept: Sequence[tuple[int, Entry]], read_from: Callable[[int], list[Entry]]
) -> list[Entry]:
    """An agent's entries as a resume needs them, without reading what precedes its
    latest snapshot: ``kept`` are (index, entry) of the types read regardless
    (``host.oplog_codec.RESUME_KINDS``: the creation, promises, jumps, snapshots) and
    ``read_from(i)`` reads the entries from index ``i`` on. Entries before the snapshot
    that are not kept are :data:`ELIDED`, so indexes stay those of the oplog; with no
    snapshot it is the whole oplog."""
    deleted = [(e.start, e.end) for _, e in kept if isinstance(e, Jump)]
    index = 0
    for i, entry in reversed(kept):
        if any(start <= i <= end for start, end in deleted):
            continue
        if isinstance(entry, Snapshot) or (
            isinstance(entry, SuccessfulUpdate) and entry.payload is not None
        ):
            index = i
            break
    if index <= 1:
        return read_from(1)
    entries: list[Entry] = [ELIDED] * (index - 1)
    for i, entry in kept:
        if i < index:
            entries[i - 1] = entry
    entries.extend(read_from(index))
    return ResumeEntries(entries, index, kept)


def latest_snapshot(entries: Sequence[Entry]) -> tuple[int, str, str] | None:
    """(oplog index, base64 payload, mime type) of the latest snapshot that no Jump
    deleted: a :class:`Snapshot` or a snapshot-based :class:`SuccessfulUpdate`."""
    present = kinds(entries)  # most logs have no snapshot
    if Snapshot not in present and SuccessfulUpdate not in present:
        return None
    deleted = [(e.start, e.end) for _, e in indexed(entries) if isinstance(e, Jump)]
    for i in range(len(entries) - 1, 0, -1):
        entry = entries[i]
        index = i + 1
        if any(start <= index <= end for start, end in deleted):
            continue
        if isinstance(entry, Snapshot):
            return index, entry.payload, entry.mime_type
        if isinstance(entry, SuccessfulUpdate) and entry.payload is not None:
            return index, entry.payload, entry.mime_type or ""
    return None

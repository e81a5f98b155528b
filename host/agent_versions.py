"""Which component version an agent runs, as Golem tracks it: a number, not a file.

Golem keeps the worker's ``component_revision`` in its status: the revision it was
created on, then the target of each successful update. Two versions may hold the same
bytes (upload A, then B, then A again: versions 0, 1 and 2), so the file an agent runs
does not say which version it is on; the agents row keeps the number
(``component_version``, set at creation and by each successful update or revert, in the
transaction that records it). These functions derive it from an oplog, for that
column's migration (host/store/agent_version_migration.py) and for a revert. No store
and no wasm here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from host.oplog import AgentCreated, Entry, Jump, SuccessfulUpdate

# The variables naming the version in the agent's environment (host/service/core.py sets
# both at creation; REVISION is Golem 1.3+'s name).
VERSION_VARS = ("GOLEM_COMPONENT_VERSION", "GOLEM_COMPONENT_REVISION")


def creation_version(created: AgentCreated, versions: Iterable[tuple[int, str]]) -> int:
    """The version (of ``versions``: (version, hash) pairs) the agent was created on.
    The creation entry holds the file and, in its environment, the number the host gave
    it then; the number is taken when that version holds the file (a store from before
    the versions counted from 0 wrote one more), else the first version with the file
    (else 0: the component lost it)."""
    with_file = [v for v, h in versions if h == created.component_hash]
    said = next((value for key, value in created.env if key == VERSION_VARS[0]), None)
    if said is not None and said.isdigit() and int(said) in with_file:
        return int(said)
    return min(with_file, default=0)


def alive(entries: Sequence[tuple[int, Entry]]) -> list[tuple[int, Entry]]:
    """The (index, entry) pairs no Jump among them deleted."""
    deleted = [(e.start, e.end) for _, e in entries if isinstance(e, Jump)]
    return [(i, e) for i, e in entries if not any(s <= i <= t for s, t in deleted)]


def version_at(entries: Sequence[tuple[int, Entry]], created: int, index: int | None = None) -> int:
    """The version the agent runs at oplog index ``index`` (None: at its end), from its
    (index, entry) pairs (those of kinds successful-update and jump suffice): the target
    of the last successful update up to there that no Jump deleted, else ``created``.
    A Jump deletes only what comes before it, so one after ``index`` does not count."""
    upto = [(i, e) for i, e in entries if index is None or i <= index]
    found = created
    for _, e in alive(upto):
        if isinstance(e, SuccessfulUpdate):
            found = e.target_version
    return found


def with_version(env: Sequence[tuple[str, str]], version: int) -> tuple[tuple[str, str], ...]:
    """``env`` with the version variables naming ``version`` (Golem's get-environment
    gives the revision the worker runs now: its enrich_env)."""
    return tuple((k, str(version)) if k in VERSION_VARS else (k, v) for k, v in env)


__all__ = ["VERSION_VARS", "alive", "creation_version", "version_at", "with_version"]

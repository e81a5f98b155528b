"""Known failures: ``conformance/known-failures/<adapter>.json``.

::

    {"failures": [{"case": "timer-race-promise-wins@1.3.0", "reason": "why it fails"}]}

``case`` is a case instance id (``<case>@<generation>``), a case id (every generation)
or a glob over instance ids (``timer-race-*``). Every entry needs a reason and must match
at least one case of the suite: an entry that matches nothing is a typo or a leftover,
and the file is rejected.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

from host.conformance.cases import Instance
from host.conformance.errors import SuiteError


@dataclass(frozen=True)
class KnownFailure:
    pattern: str
    reason: str

    def matches(self, instance: Instance) -> bool:
        return self.pattern == instance.case.id or fnmatch.fnmatchcase(instance.id, self.pattern)


def load_known_failures(path: Path, every: list[Instance]) -> list[KnownFailure]:
    """The file's entries, checked against every instance of the suite (before ``-k``)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("failures"), list):
        raise SuiteError(f'{path}: $: must be an object with a "failures" list')
    unknown = set(data) - {"failures", "adapter", "note"}
    if unknown:
        raise SuiteError(f"{path}: $.{sorted(unknown)[0]}: is not a field here")
    found = []
    for i, item in enumerate(data["failures"]):
        where = f"{path}: $.failures[{i}]"
        if not isinstance(item, dict) or set(item) - {"case", "reason"}:
            raise SuiteError(f'{where}: must be {{"case": ..., "reason": ...}}')
        pattern, reason = item.get("case"), item.get("reason")
        if not isinstance(pattern, str) or not pattern:
            raise SuiteError(f"{where}.case: must name a case")
        if not isinstance(reason, str) or not reason.strip():
            raise SuiteError(f"{where}.reason: every known failure needs its reason")
        entry = KnownFailure(pattern, reason)
        if not any(entry.matches(inst) for inst in every):
            raise SuiteError(f"{where}.case: {pattern!r} matches no case of the suite")
        found.append(entry)
    return found


def reason_for(instance: Instance, known: list[KnownFailure]) -> str | None:
    for entry in known:
        if entry.matches(instance):
            return entry.reason
    return None

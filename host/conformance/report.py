"""Outcomes and the report of a run: the console summary and the JSON document."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.conformance.cases import Case, Suite, needs

PASS, FAIL, SKIP, XFAIL, XPASS = "PASS", "FAIL", "SKIP", "XFAIL", "XPASS"
OUTCOMES = (PASS, FAIL, SKIP, XFAIL, XPASS)


@dataclass(frozen=True)
class Result:
    id: str
    case: str
    generation: str
    rule: str
    outcome: str
    message: str = ""
    reason: str | None = None  # the known-failures reason, for XFAIL and XPASS
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "case": self.case,
            "generation": self.generation,
            "rule": self.rule,
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 3),
        }
        if self.message:
            data["message"] = self.message
        if self.reason is not None:
            data["known_failure"] = self.reason
        return data


@dataclass
class Report:
    adapter: str
    target: str
    capabilities: list[str]
    started_at: str
    results: list[Result] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return {o: sum(r.outcome == o for r in self.results) for o in OUTCOMES}

    @property
    def ok(self) -> bool:
        counts = self.counts
        return counts[FAIL] == 0 and counts[XPASS] == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": "agent-host promise conformance",
            "adapter": self.adapter,
            "target": self.target,
            "capabilities": self.capabilities,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "ok": self.ok,
            "counts": self.counts,
            "results": [r.to_json() for r in sorted(self.results, key=lambda r: r.id)],
        }

    def summary(self) -> str:
        counts = self.counts
        parts = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
        verdict = "ok" if self.ok else "FAILED"
        return f"{verdict}: {parts or 'no cases'} in {self.duration_s:.1f} s ({self.adapter})"


def rules_table(suite: Suite, cases: list[Case]) -> str:
    """The Markdown table of every rule in rules.json and the cases that check it."""
    by_rule: dict[str, list[Case]] = {}
    for case in cases:
        by_rule.setdefault(case.rule, []).append(case)
    lines = ["| rule | what the host must do | cases (generations) |", "|---|---|---|"]
    for rule, text in suite.rules().items():
        cells = []
        for case in by_rule.get(rule, []):
            every = case.generations == tuple(suite.generations(case.guest))
            gens = (
                "every generation"
                if every and len(case.generations) > 1
                else ", ".join(case.generations)
            )
            caps = sorted(needs(case))
            cells.append(
                f"`{case.id}` ({gens}" + (f"; needs {', '.join(caps)}" if caps else "") + ")"
            )
        lines.append(f"| `{rule}` | {text} | {'<br>'.join(cells) or '**no case**'} |")
    return "\n".join(lines)


def write_report(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")

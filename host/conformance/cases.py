"""What a case is, as typed values, and the suite tree it lives in.

A case is ``conformance/cases/<id>.json``: the rule it checks, the guest it runs (a
folder per interface generation under ``conformance/guests/<guest>/``), the generations
it applies to and its steps. :mod:`.loader` validates files into these values;
``conformance/specification.md`` is the written format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.conformance.build import exported_functions, guest_world, is_guest

# Capabilities an adapter may have; the steps that need each are in specification.md.
RESTART = "restart"
KILL = "kill"
HTTP = "http"
WAVE = "wave"
UPDATE = "update"
REVERT = "revert"
SUSPENSION_HOOK = "suspension-hook"
PROMISE_LISTING = "promise-listing"
AGENTS = "agents"
ROUTES = "routes"
WEBHOOKS = "webhooks"
CAPABILITIES = (
    RESTART,
    KILL,
    HTTP,
    WAVE,
    UPDATE,
    REVERT,
    SUSPENSION_HOOK,
    PROMISE_LISTING,
    AGENTS,
    ROUTES,
    WEBHOOKS,
)

STATUSES = ("running", "idle", "suspended", "interrupted", "retrying", "failed")
OPLOG_KINDS = (
    "agent-created",
    "invocation-started",
    "host-call",
    "promise-created",
    "suspended",
    "invocation-finished",
    "invocation-failed",
    # Golem's durability entries (issue 11): a retry's marker, atomic regions, jumps back
    # and persistence-level changes, named as Golem's oplog names them.
    "retried",
    "begin-atomic-region",
    "end-atomic-region",
    "jump",
    "change-persistence-level",
    # Updates (issue 11, item 6): requested, then applied or failed.
    "pending-update",
    "successful-update",
    "failed-update",
    # golem:api/context spans, as Golem's oplog names them.
    "start-span",
    "set-span-attribute",
    "finish-span",
    # golem:api/retry@1.5.0's named policies, entries of their own as in Golem.
    "set-retry-policy",
    "remove-retry-policy",
    # An in-function retry of a transient outgoing HTTP failure (Golem's Error entry).
    "in-function-retry",
)
UPDATE_MODES = ("automatic", "snapshot", "none")
WAIT_EXPECTS = ("suspended", "queued", "running", "nowait")
END_EXPECTS = ("done", "failed")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0
_GENERATION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


# -- the values a case becomes ---------------------------------------------------------------
@dataclass(frozen=True)
class Expect:
    """What an invocation must come to: ``kind`` is ``result`` (``value`` holds the
    expected JSON), ``error`` (``value`` a substring of the message), ``done``, ``failed``,
    or one of the waiting kinds ``suspended``, ``queued``, ``running``, ``nowait``."""

    kind: str
    value: Any = None


@dataclass(frozen=True)
class Step:
    index: int
    op: str
    agent: str | None = None

    @property
    def path(self) -> str:
        return f"$.steps[{self.index}]"


@dataclass(frozen=True)
class Invoke(Step):
    function: str = ""
    args: list[Any] | None = None
    wave: str | None = None
    idempotency_key: str | None = None
    expect: Expect = Expect("done")
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class AwaitResult(Step):
    step: int = 0
    expect: Expect = Expect("done")
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Complete(Step):
    oplog_idx: Any = None  # an integer or a reference
    data: Any = None  # a data spec: {"bytes"|"text"|"json": ...}
    expect: bool | str = True


@dataclass(frozen=True)
class Restart(Step):
    kill: bool = False


@dataclass(frozen=True)
class WaitStatus(Step):
    status: str = ""
    timeout: float = DEFAULT_TIMEOUT
    error: tuple[Any, ...] = ()
    pending_invocations: int | None = None
    retry_count: int | None = None


@dataclass(frozen=True)
class ExpectOplog(Step):
    ignore: tuple[str, ...] = ()
    shape: tuple[str, ...] | None = None
    contains: tuple[str, ...] | None = None
    count: tuple[tuple[str, int], ...] = ()
    at: tuple[tuple[Any, str], ...] = ()


@dataclass(frozen=True)
class Sleep(Step):
    seconds: float = 0.0


@dataclass(frozen=True)
class Request(Step):
    """An HTTP request a case sends: ``http`` (the host's REST API) or ``route`` (an
    agent type's own mount)."""

    method: str = "GET"
    target: str = "/"
    json_body: Any = None
    has_json: bool = False
    text: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    status: tuple[int, ...] = ()
    expect_json: Any = None
    has_expect_json: bool = False
    subset: bool = False


@dataclass(frozen=True)
class Http(Request):
    """A raw request to the host's REST API (capability ``http``)."""


@dataclass(frozen=True)
class Route(Request):
    """A request to the routes agent types mount (capability ``routes``)."""


@dataclass(frozen=True)
class Webhook(Step):
    """A POST to a webhook URL an agent handed out (capability ``webhooks``)."""

    url: Any = None  # a reference to the URL (a step's value)
    data: Any = None  # a data spec: the body
    status: tuple[int, ...] = ()


@dataclass(frozen=True)
class Update(Step):
    guest: str = ""
    mode: str = "automatic"  # or "snapshot" (Golem REST's "manual"), or "none": only register


@dataclass(frozen=True)
class Revert(Step):
    last_invocations: int | None = None
    to_index: int | None = None


@dataclass(frozen=True)
class CompleteAtSuspension(Step):
    data: Any = None


@dataclass(frozen=True)
class AgentSpec:
    """An agent of a Golem agent component, named by type and constructor parameters:
    ``params`` as JSON (Golem's ``parameters``) and ``id_params``, the text between the
    agent id's parentheses (by default the JSON values joined by ", ")."""

    type: str
    params: tuple[Any, ...]  # may hold {"$unique": ...} references
    id_params: str | None  # None: the resolved params as compact JSON, joined by ", "
    phantom: bool = True  # False: no [phantom] suffix (an agent a mount addresses)

    def agent_id(self, phantom: str, params: list[Any]) -> str:
        """The agent id, given the instance's phantom id and the resolved params."""
        text = self.id_params
        if text is None:
            text = ", ".join(json.dumps(p, separators=(",", ":")) for p in params)
        return f"{self.type}({text})" + (f"[{phantom}]" if self.phantom else "")


@dataclass(frozen=True)
class Case:
    id: str
    file: Path
    rule: str
    description: str
    guest: str
    generations: tuple[str, ...]
    requires: frozenset[str]
    steps: tuple[Step, ...]
    agents: tuple[tuple[str, AgentSpec], ...] = ()

    def agent_spec(self, name: str) -> AgentSpec | None:
        return dict(self.agents).get(name)

    @property
    def private_component(self) -> bool:
        """A case that updates its component registers one of its own, so that its new
        version never reaches another case's agents."""
        return any(isinstance(s, Update) for s in self.steps)


@dataclass(frozen=True)
class Instance:
    """A case at one generation: what the runner runs and reports."""

    case: Case
    generation: str

    @property
    def id(self) -> str:
        return f"{self.case.id}@{self.generation}"


# -- the suite on disk ----------------------------------------------------------------------------
@dataclass
class Suite:
    """A conformance tree: ``cases/``, ``guests/``, ``known-failures/``, ``rules.json``."""

    root: Path
    wit_dir: Path
    _exports: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @property
    def cases_dir(self) -> Path:
        return self.root / "cases"

    @property
    def guests_dir(self) -> Path:
        return self.root / "guests"

    def guest_source(self, guest: str, generation: str) -> Path:
        return self.guests_dir / guest / generation

    def generations(self, guest: str) -> list[str]:
        folder = self.guests_dir / guest
        if not folder.is_dir():
            return []
        return sorted(
            (p.name for p in folder.iterdir() if is_guest(p)),
            key=lambda g: tuple(int(x) for x in g.split(".")) if _GENERATION.match(g) else (),
        )

    def exports(self, guest: str, generation: str) -> set[str]:
        key = (guest, generation)
        if key not in self._exports:
            world = guest_world(self.guest_source(guest, generation)).read_text("utf-8")
            self._exports[key] = exported_functions(world)
        return self._exports[key]

    def rules(self) -> dict[str, str]:
        path = self.root / "rules.json"
        if not path.is_file():
            return {}
        data = json.loads(path.read_text("utf-8"))
        return {str(k): str(v) for k, v in data.get("rules", {}).items()}


def instances(cases: list[Case]) -> list[Instance]:
    return [Instance(c, g) for c in cases for g in c.generations]


def needs(case: Case) -> frozenset[str]:
    """The capabilities an adapter must have to run the case."""
    found = set(case.requires)
    if case.agents:
        found.add(AGENTS)
    for step in case.steps:
        if isinstance(step, Restart):
            found.add(KILL if step.kill else RESTART)
        elif isinstance(step, Http):
            found.add(HTTP)
        elif isinstance(step, Route):
            found.add(ROUTES)
        elif isinstance(step, Webhook):
            found.add(WEBHOOKS)
        elif isinstance(step, Invoke) and step.wave is not None:
            found.add(WAVE)
        elif isinstance(step, Update):
            found.add(UPDATE)
        elif isinstance(step, Revert):
            found.add(REVERT)
        elif isinstance(step, CompleteAtSuspension):
            found.add(SUSPENSION_HOOK)
    return frozenset(found)

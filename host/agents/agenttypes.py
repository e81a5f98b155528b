"""The dataclasses of Golem's agent model (re-exported by :mod:`host.agents.model`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from host.errors import InvalidInput
from host.values.types import WitType

Generation = Literal["1.5", "1.4"]
GENERATIONS: tuple[Generation, ...] = ("1.5", "1.4")

# --- schemas -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentModel:
    """An element typed by a WIT type; its value is a ``wit-value``."""

    wit_type: WitType


@dataclass(frozen=True, slots=True)
class UnstructuredText:
    """Text, inline or by URL; ``restrictions`` lists allowed language codes (None: any)."""

    restrictions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class UnstructuredBinary:
    """Bytes with a MIME type, inline or by URL; ``restrictions`` lists allowed MIME types."""

    restrictions: tuple[str, ...] | None = None


ElementSchema: TypeAlias = ComponentModel | UnstructuredText | UnstructuredBinary


@dataclass(frozen=True, slots=True)
class DataSchema:
    """A method's (or constructor's) inputs or outputs: named elements, positional for
    ``tuple`` (all given, in order) or any subset in any order for ``multimodal``."""

    kind: Literal["tuple", "multimodal"]
    elements: tuple[tuple[str, ElementSchema], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.elements)


UNIT = DataSchema("tuple", ())
SEGMENT_KINDS = ("literal", "system-variable", "path-variable", "remaining-path-variable")
HTTP_METHODS = ("get", "head", "post", "put", "delete", "connect", "options", "trace", "patch")

# --- http --------------------------------------------------------------------------------

SegmentKind = Literal["literal", "system-variable", "path-variable", "remaining-path-variable"]


@dataclass(frozen=True, slots=True)
class PathSegment:
    """One path segment: a literal, ``{var}``, ``{*var}`` (the rest of the path) or a system
    variable (``agent-type``, ``agent-version``)."""

    kind: SegmentKind
    value: str

    def __str__(self) -> str:
        if self.kind == "literal":
            return self.value
        if self.kind == "remaining-path-variable":
            return "{*" + self.value + "}"
        return "{" + self.value + "}"


def render_path(segments: tuple[PathSegment, ...]) -> str:
    return "/" + "/".join(str(s) for s in segments)


@dataclass(frozen=True, slots=True)
class HttpMount:
    """``http-mount-details``: where an agent type's endpoints live."""

    path_prefix: tuple[PathSegment, ...]
    auth_required: bool | None = None  # None: no auth-details
    phantom_agent: bool = False
    cors_allowed: tuple[str, ...] = ()
    webhook_suffix: tuple[PathSegment, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """``http-endpoint-details``: one route of a method under its type's mount."""

    method: str  # GET, POST, ... or a custom method's name as given
    path_suffix: tuple[PathSegment, ...]
    header_vars: tuple[tuple[str, str], ...] = ()  # (header name, variable name)
    query_vars: tuple[tuple[str, str], ...] = ()  # (query parameter name, variable name)
    auth_required: bool | None = None
    cors_allowed: tuple[str, ...] = ()


# --- agent types -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentConstructor:
    name: str | None
    description: str
    prompt_hint: str | None
    input_schema: DataSchema


@dataclass(frozen=True, slots=True)
class AgentMethod:
    name: str
    description: str
    http_endpoints: tuple[HttpEndpoint, ...]
    prompt_hint: str | None
    input_schema: DataSchema
    output_schema: DataSchema


@dataclass(frozen=True, slots=True)
class AgentDependency:
    type_name: str
    description: str | None
    constructor: AgentConstructor
    methods: tuple[AgentMethod, ...]


@dataclass(frozen=True, slots=True)
class Snapshotting:
    """``disabled``, ``default``, ``periodic`` (``value``: a duration in nanoseconds) or
    ``every-n-invocation`` (``value``: the count)."""

    kind: Literal["disabled", "default", "periodic", "every-n-invocation"] = "disabled"
    value: int | None = None


@dataclass(frozen=True, slots=True)
class ConfigDeclaration:
    source: Literal["local", "secret"]
    path: tuple[str, ...]
    value_type: WitType


@dataclass(frozen=True, slots=True)
class AgentType:
    type_name: str
    description: str
    source_language: str
    constructor: AgentConstructor
    methods: tuple[AgentMethod, ...]
    dependencies: tuple[AgentDependency, ...] = ()
    mode: Literal["durable", "ephemeral"] = "durable"
    http_mount: HttpMount | None = None
    snapshotting: Snapshotting = field(default_factory=Snapshotting)
    config: tuple[ConfigDeclaration, ...] = ()

    def method(self, name: str) -> AgentMethod:
        """The method called ``name``; InvalidInput listing the methods if there is none."""
        for m in self.methods:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.methods) or "none"
        raise InvalidInput(
            f"agent type {self.type_name} has no method {name!r} (its methods: {known})",
            field="method",
        )

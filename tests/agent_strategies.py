"""Hypothesis strategies for Golem agent types and their schemas."""

from __future__ import annotations

from hypothesis import strategies as st

from host.agents.model import (
    AgentConstructor,
    AgentDependency,
    AgentMethod,
    AgentType,
    ComponentModel,
    ConfigDeclaration,
    DataSchema,
    HttpEndpoint,
    HttpMount,
    PathSegment,
    Snapshotting,
    UnstructuredBinary,
    UnstructuredText,
)
from tests.wit_strategies import wit_types

_names = st.sampled_from(["name", "count", "a", "b", "user-id", "doc"])
_text = st.text(max_size=6)
_opt_text = st.none() | _text
_restrictions = st.none() | st.lists(st.sampled_from(["en", "de", "image/png"]), max_size=2).map(
    tuple
)
elements = st.one_of(
    wit_types.map(ComponentModel),
    _restrictions.map(UnstructuredText),
    _restrictions.map(UnstructuredBinary),
)
schemas = st.builds(
    DataSchema,
    st.sampled_from(["tuple", "multimodal"]),
    st.lists(st.tuples(_names, elements), max_size=3, unique_by=lambda e: e[0]).map(tuple),
)
segments = st.one_of(
    st.builds(
        PathSegment, st.just("system-variable"), st.sampled_from(["agent-type", "agent-version"])
    ),
    st.builds(
        PathSegment,
        st.sampled_from(["literal", "path-variable", "remaining-path-variable"]),
        st.sampled_from(["x", "name", "v1"]),
    ),
)
_segs = st.lists(segments, max_size=3).map(tuple)
_pairs = st.lists(st.tuples(_names, _names), max_size=2).map(tuple)
_cors = st.lists(st.sampled_from(["*", "https://a.example"]), max_size=2).map(tuple)
endpoints = st.builds(
    HttpEndpoint,
    st.sampled_from(["GET", "POST", "PATCH", "PROPFIND"]),
    _segs,
    _pairs,
    _pairs,
    st.none() | st.booleans(),
    _cors,
)
constructors = st.builds(AgentConstructor, _opt_text, _text, _opt_text, schemas)
methods = st.builds(
    AgentMethod, _names, _text, st.lists(endpoints, max_size=2).map(tuple), _opt_text, schemas,
    schemas,
)  # fmt: skip
_methods = st.lists(methods, max_size=3, unique_by=lambda m: m.name).map(tuple)
mounts = st.builds(HttpMount, _segs, st.none() | st.booleans(), st.booleans(), _cors, _segs)
snapshotting = st.one_of(
    st.just(Snapshotting()),
    st.just(Snapshotting("default")),
    st.builds(Snapshotting, st.sampled_from(["periodic", "every-n-invocation"]), st.integers(0, 9)),
)
agent_types = st.builds(
    AgentType,
    type_name=st.sampled_from(["WorkflowAgent", "counter", "Weather"]),
    description=_text,
    source_language=st.sampled_from(["", "rust", "typescript"]),
    constructor=constructors,
    methods=_methods,
    dependencies=st.lists(
        st.builds(AgentDependency, _names, _opt_text, constructors, _methods), max_size=1
    ).map(tuple),
    mode=st.sampled_from(["durable", "ephemeral"]),
    http_mount=st.none() | mounts,
    snapshotting=snapshotting,
    config=st.lists(
        st.builds(
            ConfigDeclaration,
            st.sampled_from(["local", "secret"]),
            st.lists(_names, max_size=2).map(tuple),
            wit_types,
        ),
        max_size=2,
    ).map(tuple),
)

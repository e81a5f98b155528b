"""Golem's agent model, without wasm: agent types, their schemas and data values, agent ids.

- :mod:`host.agents.wittype`: ``wit-type`` / ``wit-value`` node trees <-> host types and values.
- :mod:`host.agents.model`: agent types (what ``discover-agent-types`` returns) as dataclasses.
- :mod:`host.agents.datavalue`: ``data-value`` <-> JSON (plain and Golem's REST shape) and WAVE.
- :mod:`host.agents.agentid`: Golem's agent-id text (``WorkflowAgent("alice")``).
"""

"""Golem's agent model, wasm-free: agent types, data values, agent ids."""

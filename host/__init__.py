"""agent-host: a host for durable WebAssembly agents with Golem-style promises.

The dependency direction runs one way: values and ids -> oplog -> store ->
runtime (linking, durability, execution) -> cli. Only ``host.runtime`` imports
wasmtime, so the oplog and store test without any wasm.
"""

__version__ = "0.1.0"

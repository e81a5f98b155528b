;; Conformance guest for durability state (golem:api/host@1.5.0), written by hand against
;; the canonical ABI. Memory: 1024.. the stderr line.
(module
  (import "wasi:cli/stderr@0.2.3" "get-stderr" (func $get-stderr (result i32)))
  (import "wasi:io/streams@0.2.3" "[method]output-stream.blocking-write-and-flush"
    (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.3" "[resource-drop]output-stream" (func $drop (param i32)))
  (import "golem:api/host@1.5.0" "set-idempotence-mode" (func $set-idem (param i32)))
  (import "golem:api/host@1.5.0" "get-idempotence-mode" (func $get-idem (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 1024) "durable-state: about to fail\n")

  (func (export "shout-and-boom")
    (local $stream i32)
    (local.set $stream (call $get-stderr))
    (call $write (local.get $stream) (i32.const 1024) (i32.const 29) (i32.const 0))
    (call $drop (local.get $stream))
    unreachable)

  (func (export "set-idempotence") (param $on i32)
    (call $set-idem (local.get $on)))

  (func (export "idempotence") (result i32)
    (call $get-idem))

  (func (export "ok") (result i32)
    (i32.const 7))

  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (i32.const 4096))
)

;; Conformance guest for retries and durability controls (golem:api/host@1.5.0),
;; written by hand against the canonical ABI.
(module
  (import "wasi:random/random@0.2.3" "get-random-u64" (func $random (result i64)))
  (import "golem:api/host@1.5.0" "get-oplog-index" (func $index (result i64)))
  (import "golem:api/host@1.5.0" "set-oplog-index" (func $jump (param i64)))
  (import "golem:api/host@1.5.0" "oplog-commit" (func $commit (param i32)))
  (import "golem:api/host@1.5.0" "mark-begin-operation" (func $begin (result i64)))
  (import "golem:api/host@1.5.0" "mark-end-operation" (func $end (param i64)))
  ;; persistence-level: 0 persist-nothing, 1 persist-remote-side-effects, 2 smart
  (import "golem:api/host@1.5.0" "set-oplog-persistence-level" (func $level (param i32)))

  (memory (export "memory") 1)

  (func (export "boom")
    unreachable)

  (func (export "ok") (result i32)
    (i32.const 7))

  (func (export "atomic-once") (result i64)
    (local $b i64)
    (local $r i64)
    (local.set $b (call $begin))
    (local.set $r (call $random))
    ;; First attempt: the index read is the random read's, right after the begin.
    (if (i64.eq (call $index) (i64.add (local.get $b) (i64.const 1)))
      (then unreachable))
    (call $end (local.get $b))
    (local.get $r))

  (func (export "jump-loop") (param $limit i64) (result i64)
    (local $mark i64)
    (local.set $mark (call $index))
    (drop (call $random))
    (if (i64.lt_u (local.get $mark) (local.get $limit))
      (then (call $jump (local.get $mark))))
    (local.get $mark))

  (func (export "quiet-random") (result i64)
    (call $level (i32.const 0))
    (drop (call $random))
    (call $level (i32.const 2))
    (call $commit (i32.const 1))
    (call $index))

  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (i32.const 4096))
)

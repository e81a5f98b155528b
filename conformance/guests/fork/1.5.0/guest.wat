;; Conformance guest for fork of the running agent, written by hand against the canonical
;; ABI. fork() -> fork-result (variant original(fork-details) | forked(fork-details),
;; fork-details {forked-phantom-id: uuid {high-bits: u64, low-bits: u64}}) is returned
;; through a pointer: the case at 64, the uuid's high bits at 72, low bits at 80.
(module
  (import "golem:api/host@1.5.0" "fork" (func $fork (param i32)))
  ;; persistence-level: persist-nothing = 0, persist-remote-side-effects = 1, smart = 2
  (import "golem:api/host@1.5.0" "set-oplog-persistence-level" (func $level (param i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $count (mut i32) (i32.const 0))
  (data (i32.const 256) "original")
  (data (i32.const 272) "forked")

  (func (export "add") (param $n i32) (result i32)
    (global.set $count (i32.add (global.get $count) (local.get $n)))
    (global.get $count))

  ;; After the fork each branch adds its own amount: 100 in the original, 1000 in the
  ;; copy; the (ptr, len) of "original" or "forked" is returned from 32.
  (func $branch (param $forked i32) (result i32)
    (if (local.get $forked)
      (then
        (global.set $count (i32.add (global.get $count) (i32.const 1000)))
        (i32.store (i32.const 32) (i32.const 272))
        (i32.store (i32.const 36) (i32.const 6)))
      (else
        (global.set $count (i32.add (global.get $count) (i32.const 100)))
        (i32.store (i32.const 32) (i32.const 256))
        (i32.store (i32.const 36) (i32.const 8))))
    (i32.const 32))

  (func (export "fork-self") (result i32)
    (call $fork (i32.const 64))
    (call $branch (i32.load8_u (i32.const 64))))

  (func (export "fork-unpersisted") (result i32)
    (call $level (i32.const 0))
    (call $fork (i32.const 64))
    (call $level (i32.const 2))
    (call $branch (i32.load8_u (i32.const 64))))

  (func (export "phantom-high") (result i64)
    (i64.load (i32.const 72)))

  ;; A bump allocator: the host's strings land on the heap.
  (func (export "cabi_realloc") (param $old i32) (param $osize i32) (param $align i32)
    (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16))
        (i32.const 1))))))
    (local.get $p))
)

;; Test guest for agent-host:promises/secrets@0.2.0, written by hand against the
;; canonical ABI. promise-id (golem:api/host@1.3.0) flattens to
;; (i64 high, i64 low, i32 name-ptr, i32 name-len, i64 oplog-idx); a string or
;; list<u8> to (i32 ptr, i32 len). Results that do not fit in one value are written
;; at RET (64..96); the heap (1024..) is bump-allocated and never freed.
(module
  (import "golem:api/host@1.3.0" "create-promise"
    (func $create-promise (param i32)))
  (import "golem:api/host@1.3.0" "complete-promise"
    (func $complete-promise (param i64 i64 i32 i32 i64 i32 i32) (result i32)))
  ;; promise-secret: func(oplog-idx: u64) -> string               (written at retptr)
  (import "agent-host:promises/secrets@0.2.0" "promise-secret"
    (func $promise-secret (param i64 i32)))
  ;; complete-with-secret: func(promise-id, secret: string, data: list<u8>) -> bool
  (import "agent-host:promises/secrets@0.2.0" "complete-with-secret"
    (func $complete-with-secret (param i64 i64 i32 i32 i64 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (global $RET i32 (i32.const 64))
  (global $heap (mut i32) (i32.const 1024))

  (func $realloc (export "cabi_realloc")
    (param $old i32) (param $old-size i32) (param $align i32) (param $new-size i32)
    (result i32)
    (local $ptr i32) (local $end i32) (local $limit i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $new-size)))
    (local.set $limit (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $limit))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add (i32.sub (local.get $end) (local.get $limit)) (i32.const 65535))
                  (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    (if (local.get $old)
      (then
        (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old-size) (local.get $new-size)
            (i32.lt_u (local.get $old-size) (local.get $new-size))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "create") (result i64)
    (call $create-promise (global.get $RET))
    (i64.load offset=24 (global.get $RET)))

  (func (export "secret") (param $idx i64) (result i32)
    (call $promise-secret (local.get $idx) (global.get $RET))
    (global.get $RET))

  (func (export "complete-for")
    (param $high i64) (param $low i64) (param $name i32) (param $len i32) (param $idx i64)
    (param $data i32) (param $data-len i32)
    (result i32)
    (call $complete-promise (local.get $high) (local.get $low) (local.get $name) (local.get $len)
      (local.get $idx) (local.get $data) (local.get $data-len)))

  (func (export "complete-with-secret-for")
    (param $high i64) (param $low i64) (param $name i32) (param $len i32) (param $idx i64)
    (param $secret i32) (param $secret-len i32) (param $data i32) (param $data-len i32)
    (result i32)
    (call $complete-with-secret (local.get $high) (local.get $low) (local.get $name)
      (local.get $len) (local.get $idx) (local.get $secret) (local.get $secret-len)
      (local.get $data) (local.get $data-len)))
)

;; Test guest for golem:api/host@1.1.6, written by hand against the canonical ABI.
;;
;; promise-id = record { worker-id: record { component-id: record { uuid: record {
;;   high-bits: u64, low-bits: u64 } }, worker-name: string }, oplog-idx: u64 }
;; (worker-id, component-id and uuid come from golem:rpc/types@0.2.0; the component
;; therefore also imports that interface, for its types only)
;; flattens to (i64 high, i64 low, i32 name-ptr, i32 name-len, i64 oplog-idx) and is
;; laid out in memory (size 32, align 8) as:
;;   +0 high-bits  +8 low-bits  +16 name ptr  +20 name len  +24 oplog-idx
;;
;; Memory map (fixed areas below the heap):
;;   16..48     OWN  the promise id returned by the last `create` (the guest's own id)
;;   64..96     RET  return area handed to imports whose results do not fit in one value
;;   128..160   OUT  return area of this module's exports
;;   1024..     heap, bump-allocated by cabi_realloc and never freed
(module
  ;; ---- golem:api/host@1.1.6 ----
  ;; create-promise: func() -> promise-id                (result written at retptr)
  (import "golem:api/host@1.1.6" "create-promise"
    (func $create-promise (param i32)))
  ;; await-promise: func(promise-id) -> list<u8>         (ptr, len written at retptr)
  (import "golem:api/host@1.1.6" "await-promise"
    (func $await-promise (param i64 i64 i32 i32 i64 i32)))
  ;; complete-promise: func(promise-id, data: list<u8>) -> bool
  (import "golem:api/host@1.1.6" "complete-promise"
    (func $complete-promise (param i64 i64 i32 i32 i64 i32 i32) (result i32)))
  ;; poll-promise: func(promise-id) -> option<list<u8>>
  ;;   (written at retptr: +0 discriminant u8, +4 payload ptr, +8 payload len)
  (import "golem:api/host@1.1.6" "poll-promise"
    (func $poll-promise (param i64 i64 i32 i32 i64 i32)))
  ;; delete-promise: func(promise-id)
  (import "golem:api/host@1.1.6" "delete-promise"
    (func $delete-promise (param i64 i64 i32 i32 i64)))

  (memory (export "memory") 1)
  (global $OWN i32 (i32.const 16))
  (global $RET i32 (i32.const 64))
  (global $OUT i32 (i32.const 128))
  (global $heap (mut i32) (i32.const 1024))

  ;; cabi_realloc(old-ptr, old-size, align, new-size) -> ptr: a bump allocator.
  ;; The host calls it to place strings and lists in this memory.
  (func $realloc (export "cabi_realloc")
    (param $old i32) (param $old-size i32) (param $align i32) (param $new-size i32)
    (result i32)
    (local $ptr i32) (local $end i32) (local $limit i32)
    ;; ptr = heap rounded up to align (a power of two)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $new-size)))
    ;; grow the memory by whole 64 KiB pages when the block does not fit
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
    ;; a real reallocation keeps the old contents
    (if (local.get $old)
      (then
        (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old-size) (local.get $new-size)
            (i32.lt_u (local.get $old-size) (local.get $new-size))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; Calls create-promise and stores the whole id at OWN, the worker name copied
  ;; into a fresh allocation of this module. Returns the id's oplog-idx.
  (func $create-own (result i64)
    (local $len i32) (local $name i32)
    (call $create-promise (global.get $RET))
    (local.set $len (i32.load offset=20 (global.get $RET)))
    (local.set $name (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $len)))
    (memory.copy (local.get $name) (i32.load offset=16 (global.get $RET)) (local.get $len))
    (i64.store offset=0 (global.get $OWN) (i64.load offset=0 (global.get $RET)))
    (i64.store offset=8 (global.get $OWN) (i64.load offset=8 (global.get $RET)))
    (i32.store offset=16 (global.get $OWN) (local.get $name))
    (i32.store offset=20 (global.get $OWN) (local.get $len))
    (i64.store offset=24 (global.get $OWN) (i64.load offset=24 (global.get $RET)))
    (i64.load offset=24 (global.get $OWN)))

  ;; await-promise on a full id; the host writes the list<u8> (ptr, len) at OUT,
  ;; which is also how this module returns a list<u8>.
  (func $await-id
    (param $high i64) (param $low i64) (param $name i32) (param $len i32) (param $idx i64)
    (result i32)
    (call $await-promise (local.get $high) (local.get $low) (local.get $name) (local.get $len)
      (local.get $idx) (global.get $OUT))
    (global.get $OUT))

  ;; create: func() -> u64
  (func (export "create") (result i64)
    (call $create-own))

  ;; await: func(idx: u64) -> list<u8>
  (func (export "await") (param $idx i64) (result i32)
    (call $await-id
      (i64.load offset=0 (global.get $OWN)) (i64.load offset=8 (global.get $OWN))
      (i32.load offset=16 (global.get $OWN)) (i32.load offset=20 (global.get $OWN))
      (local.get $idx)))

  ;; complete: func(idx: u64, data: list<u8>) -> bool
  (func (export "complete") (param $idx i64) (param $data i32) (param $data-len i32) (result i32)
    (call $complete-promise
      (i64.load offset=0 (global.get $OWN)) (i64.load offset=8 (global.get $OWN))
      (i32.load offset=16 (global.get $OWN)) (i32.load offset=20 (global.get $OWN))
      (local.get $idx) (local.get $data) (local.get $data-len)))

  ;; await-for: func(high: u64, low: u64, name: string, idx: u64) -> list<u8>
  (func (export "await-for")
    (param $high i64) (param $low i64) (param $name i32) (param $len i32) (param $idx i64)
    (result i32)
    (call $await-id (local.get $high) (local.get $low) (local.get $name) (local.get $len)
      (local.get $idx)))

  ;; complete-for: func(high: u64, low: u64, name: string, idx: u64, data: list<u8>) -> bool
  (func (export "complete-for")
    (param $high i64) (param $low i64) (param $name i32) (param $len i32) (param $idx i64)
    (param $data i32) (param $data-len i32)
    (result i32)
    (call $complete-promise (local.get $high) (local.get $low) (local.get $name) (local.get $len)
      (local.get $idx) (local.get $data) (local.get $data-len)))

  ;; poll: func(idx: u64) -> option<list<u8>>
  ;; The host writes the option at OUT, in the layout this module returns it in.
  (func (export "poll") (param $idx i64) (result i32)
    (call $poll-promise
      (i64.load offset=0 (global.get $OWN)) (i64.load offset=8 (global.get $OWN))
      (i32.load offset=16 (global.get $OWN)) (i32.load offset=20 (global.get $OWN))
      (local.get $idx) (global.get $OUT))
    (global.get $OUT))

  ;; delete: func(idx: u64)
  (func (export "delete") (param $idx i64)
    (call $delete-promise
      (i64.load offset=0 (global.get $OWN)) (i64.load offset=8 (global.get $OWN))
      (i32.load offset=16 (global.get $OWN)) (i32.load offset=20 (global.get $OWN))
      (local.get $idx)))

  ;; create-and-await: func() -> list<u8>
  (func (export "create-and-await") (result i32)
    (local $idx i64)
    (local.set $idx (call $create-own))
    (call $await-id
      (i64.load offset=0 (global.get $OWN)) (i64.load offset=8 (global.get $OWN))
      (i32.load offset=16 (global.get $OWN)) (i32.load offset=20 (global.get $OWN))
      (local.get $idx)))
)

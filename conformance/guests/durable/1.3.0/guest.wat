;; Test guest for durable replay, written by hand against the canonical ABI.
;; Imports golem:api/host@1.3.0 and wasi random, wall-clock, monotonic-clock and
;; poll at 0.2.3.
;;
;; promise-id = record { agent-id: record { component-id: record { uuid: record {
;;   high-bits: u64, low-bits: u64 } }, agent-id: string }, oplog-idx: u64 }
;; flattens to (i64 high, i64 low, i32 name-ptr, i32 name-len, i64 oplog-idx) and is
;; laid out in memory (size 32, align 8) as:
;;   +0 high-bits  +8 low-bits  +16 name ptr  +20 name len  +24 oplog-idx
;; option<list<u8>>: +0 discriminant u8 (0 none, 1 some), +4 payload ptr, +8 payload len
;; datetime: +0 seconds u64, +8 nanoseconds u32 (size 16, align 8)
;; tuple<u64, u64, list<u8>>: +0 u64, +8 u64, +16 list ptr, +20 list len (size 24, align 8)
;; Resource handles (get-promise-result, pollable) are i32 indices into this
;; instance's handle table; owned ones must be dropped with [resource-drop].
;;
;; Memory map (fixed areas below the heap):
;;   16..48     OWN    the promise id returned by the last `create` (the guest's own id)
;;   64..96     RET    return area handed to imports whose results do not fit in one value
;;   128..160   OUT    return area of this module's exports
;;   192..200   POLLS  list<borrow<pollable>> handed to wasi:io/poll.poll (two handles)
;;   1024..     heap, bump-allocated by cabi_realloc and never freed
(module
  ;; ---- golem:api/host@1.3.0 ----
  ;; create-promise: func() -> promise-id                (result written at retptr)
  (import "golem:api/host@1.3.0" "create-promise"
    (func $create-promise (param i32)))
  ;; get-promise: func(promise-id) -> get-promise-result (an owned handle)
  (import "golem:api/host@1.3.0" "get-promise"
    (func $get-promise (param i64 i64 i32 i32 i64) (result i32)))
  ;; complete-promise: func(promise-id, data: list<u8>) -> bool
  (import "golem:api/host@1.3.0" "complete-promise"
    (func $complete-promise (param i64 i64 i32 i32 i64 i32 i32) (result i32)))
  ;; get-promise-result.subscribe: func(self: borrow) -> pollable (an owned handle)
  (import "golem:api/host@1.3.0" "[method]get-promise-result.subscribe"
    (func $subscribe (param i32) (result i32)))
  ;; get-promise-result.get: func(self: borrow) -> option<list<u8>> (written at retptr)
  (import "golem:api/host@1.3.0" "[method]get-promise-result.get"
    (func $get (param i32 i32)))
  (import "golem:api/host@1.3.0" "[resource-drop]get-promise-result"
    (func $drop-get-promise-result (param i32)))

  ;; ---- wasi:random/random@0.2.3 ----
  ;; get-random-u64: func() -> u64
  (import "wasi:random/random@0.2.3" "get-random-u64"
    (func $get-random-u64 (result i64)))

  ;; ---- wasi:clocks/wall-clock@0.2.3 ----
  ;; now: func() -> datetime                             (result written at retptr)
  (import "wasi:clocks/wall-clock@0.2.3" "now"
    (func $wall-clock-now (param i32)))

  ;; ---- wasi:clocks/monotonic-clock@0.2.3 ----
  ;; subscribe-duration: func(when: duration) -> pollable (an owned handle)
  (import "wasi:clocks/monotonic-clock@0.2.3" "subscribe-duration"
    (func $subscribe-duration (param i64) (result i32)))

  ;; ---- wasi:io/poll@0.2.3 ----
  ;; pollable.block: func(self: borrow)
  (import "wasi:io/poll@0.2.3" "[method]pollable.block"
    (func $block (param i32)))
  ;; poll: func(in: list<borrow<pollable>>) -> list<u32>  (ptr, len written at retptr)
  (import "wasi:io/poll@0.2.3" "poll"
    (func $poll (param i32 i32 i32)))
  (import "wasi:io/poll@0.2.3" "[resource-drop]pollable"
    (func $drop-pollable (param i32)))

  (memory (export "memory") 1)
  (global $OWN i32 (i32.const 16))
  (global $RET i32 (i32.const 64))
  (global $OUT i32 (i32.const 128))
  (global $POLLS i32 (i32.const 192))
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

  ;; Calls create-promise and stores the whole id at OWN, the agent name copied
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

  ;; get-promise on {own id, idx}: an owned get-promise-result handle.
  (func $get-own-promise (param $idx i64) (result i32)
    (call $get-promise
      (i64.load offset=0 (global.get $OWN)) (i64.load offset=8 (global.get $OWN))
      (i32.load offset=16 (global.get $OWN)) (i32.load offset=20 (global.get $OWN))
      (local.get $idx)))

  ;; Blocking await of {own id, idx}: get-promise, subscribe, pollable.block, get
  ;; (which must then be some), drop the pollable and the get-promise-result.
  ;; Returns the payload's (ptr, len).
  (func $await-own (param $idx i64) (result i32 i32)
    (local $result i32) (local $pollable i32)
    (local.set $result (call $get-own-promise (local.get $idx)))
    (local.set $pollable (call $subscribe (local.get $result)))
    (call $block (local.get $pollable))
    (call $get (local.get $result) (global.get $RET))
    ;; the pollable was ready, so the option must be `some`
    (if (i32.eqz (i32.load8_u (global.get $RET)))
      (then unreachable))
    (call $drop-pollable (local.get $pollable))
    (call $drop-get-promise-result (local.get $result))
    (i32.load offset=4 (global.get $RET))
    (i32.load offset=8 (global.get $RET)))

  ;; create: func() -> u64
  (func (export "create") (result i64)
    (call $create-own))

  ;; complete: func(idx: u64, data: list<u8>) -> bool
  (func (export "complete") (param $idx i64) (param $data i32) (param $data-len i32) (result i32)
    (call $complete-promise
      (i64.load offset=0 (global.get $OWN)) (i64.load offset=8 (global.get $OWN))
      (i32.load offset=16 (global.get $OWN)) (i32.load offset=20 (global.get $OWN))
      (local.get $idx) (local.get $data) (local.get $data-len)))

  ;; observe-and-await: func() -> tuple<u64, u64, list<u8>>
  ;; Host-call order: get-random-u64, wall-clock now, create-promise, get-promise, ...
  (func (export "observe-and-await") (result i32)
    (local $r i64) (local $t i64) (local $payload i32) (local $payload-len i32)
    ;; r = get-random-u64
    (local.set $r (call $get-random-u64))
    ;; t = seconds * 1_000_000_000 + nanoseconds
    (call $wall-clock-now (global.get $RET))
    (local.set $t
      (i64.add
        (i64.mul (i64.load offset=0 (global.get $RET)) (i64.const 1000000000))
        (i64.load32_u offset=8 (global.get $RET))))
    ;; a new promise, awaited
    (call $await-own (call $create-own))
    (local.set $payload-len)
    (local.set $payload)
    (i64.store offset=0 (global.get $OUT) (local.get $r))
    (i64.store offset=8 (global.get $OUT) (local.get $t))
    (i32.store offset=16 (global.get $OUT) (local.get $payload))
    (i32.store offset=20 (global.get $OUT) (local.get $payload-len))
    (global.get $OUT))

  ;; sleep: func(ns: u64)
  (func (export "sleep") (param $ns i64)
    (local $pollable i32)
    (local.set $pollable (call $subscribe-duration (local.get $ns)))
    (call $block (local.get $pollable))
    (call $drop-pollable (local.get $pollable)))

  ;; race: func(idx: u64, ns: u64) -> option<list<u8>>
  ;; poll([promise pollable, timer pollable]); the promise counts as ready when
  ;; index 0 is in the returned list<u32>.
  (func (export "race") (param $idx i64) (param $ns i64) (result i32)
    (local $result i32) (local $promise-pollable i32) (local $timer i32)
    (local $ready i32) (local $ready-len i32) (local $i i32) (local $promise-ready i32)
    (local.set $result (call $get-own-promise (local.get $idx)))
    (local.set $promise-pollable (call $subscribe (local.get $result)))
    (local.set $timer (call $subscribe-duration (local.get $ns)))
    ;; the list<borrow<pollable>> argument: two i32 handles at POLLS
    (i32.store offset=0 (global.get $POLLS) (local.get $promise-pollable))
    (i32.store offset=4 (global.get $POLLS) (local.get $timer))
    (call $poll (global.get $POLLS) (i32.const 2) (global.get $RET))
    (local.set $ready (i32.load offset=0 (global.get $RET)))
    (local.set $ready-len (i32.load offset=4 (global.get $RET)))
    ;; is index 0 (the promise) among the ready indices?
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (local.get $ready-len)))
        (if (i32.eqz (i32.load (i32.add (local.get $ready) (i32.shl (local.get $i) (i32.const 2)))))
          (then (local.set $promise-ready (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (if (local.get $promise-ready)
      (then (call $get (local.get $result) (global.get $OUT)))  ;; host writes the option at OUT
      (else (i32.store8 (global.get $OUT) (i32.const 0))))      ;; none
    (call $drop-pollable (local.get $timer))
    (call $drop-pollable (local.get $promise-pollable))
    (call $drop-get-promise-result (local.get $result))
    (global.get $OUT))

  ;; spin: func(n: u64) -> u64
  (func (export "spin") (param $n i64) (result i64)
    (local $i i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $i))
)

  ;; ---- agent-host poll shim (host/runtime/pollshim.py inserts this) ----
  ;; $POLL is the index of the guest's wasi:io/poll import instance, $HELPER the
  ;; name of the host's helper interface (wit/agent-host-io-0.1.0).
  (alias export $POLL "pollable" (type $ah-pollable))
  (import "$HELPER" (instance $ah-helper
    (alias outer 1 $ah-pollable (type $ah-outer-pollable))
    (export "pollable" (type $ah-helper-pollable (eq $ah-outer-pollable)))
    (type $ah-borrow (borrow $ah-helper-pollable))
    (type $ah-add (func (param "p" $ah-borrow) (param "index" u32)))
    (export "add" (func (type $ah-add)))
    (type $ah-indexes (list u32))
    (type $ah-wait (func (param "count" u32) (result $ah-indexes)))
    (export "wait" (func (type $ah-wait)))
  ))
  (alias export $ah-helper "add" (func $ah-add))
  (alias export $ah-helper "wait" (func $ah-wait))

  ;; The shim's own memory: the guest's list of borrows is copied in, and the host's
  ;; list of ready indexes is written here; post-return frees both.
  (core module $ah-memory-module
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 64))
    (func (export "realloc") (param $old i32) (param $old-size i32) (param $align i32)
      (param $size i32) (result i32)
      (local $ptr i32) (local $end i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $ptr) (local.get $size)))
      (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
        (then
          (if (i32.lt_s
                (memory.grow
                  (i32.shr_u
                    (i32.add
                      (i32.sub (local.get $end) (i32.shl (memory.size) (i32.const 16)))
                      (i32.const 65535))
                    (i32.const 16)))
                (i32.const 0))
            (then unreachable))))
      (if (local.get $old)
        (then (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old-size) (local.get $size)
            (i32.lt_u (local.get $old-size) (local.get $size))))))
      (global.set $heap (local.get $end))
      (local.get $ptr))
    (func (export "reset") (param i32)
      (global.set $heap (i32.const 64))))
  (core instance $ah-memory-instance (instantiate $ah-memory-module))
  (alias core export $ah-memory-instance "memory" (core memory $ah-memory))
  (alias core export $ah-memory-instance "realloc" (core func $ah-realloc))
  (alias core export $ah-memory-instance "reset" (core func $ah-reset))
  (core func $ah-add-lowered (canon lower (func $ah-add)))
  (core func $ah-wait-lowered (canon lower (func $ah-wait) (memory $ah-memory) (realloc $ah-realloc)))
  (core func $ah-drop (canon resource.drop $ah-pollable))

  ;; poll(in: list<borrow<pollable>>) -> list<u32>: each borrow to the host alone,
  ;; then the host's wait over the whole set, then the borrows are released.
  (core module $ah-shim-module
    (import "env" "memory" (memory 1))
    (import "env" "add" (func $add (param i32 i32)))
    (import "env" "wait" (func $wait (param i32 i32)))
    (import "env" "drop" (func $drop (param i32)))
    (func (export "poll") (param $ptr i32) (param $len i32) (result i32)
      (local $i i32)
      (block $done
        (loop $next
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (call $add
            (i32.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 2))))
            (local.get $i))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
      ;; the (ptr, len) of the ready indexes lands at address 16
      (call $wait (local.get $len) (i32.const 16))
      (local.set $i (i32.const 0))
      (block $dropped
        (loop $next
          (br_if $dropped (i32.ge_u (local.get $i) (local.get $len)))
          (call $drop
            (i32.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
      (i32.const 16)))
  (core instance $ah-shim (instantiate $ah-shim-module
    (with "env" (instance
      (export "memory" (memory $ah-memory))
      (export "add" (func $ah-add-lowered))
      (export "wait" (func $ah-wait-lowered))
      (export "drop" (func $ah-drop))))))
  (type $ah-borrows (list (borrow $ah-pollable)))
  (type $ah-ready (list u32))
  (type $ah-poll-type (func (param "in" $ah-borrows) (result $ah-ready)))
  (alias core export $ah-shim "poll" (core func $ah-poll-core))
  (func $ah-poll (type $ah-poll-type)
    (canon lift (core func $ah-poll-core) (memory $ah-memory) (realloc $ah-realloc)
      (post-return $ah-reset)))

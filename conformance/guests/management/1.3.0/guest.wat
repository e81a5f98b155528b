;; Conformance guest `management` at golem:api/host@1.3.0, written against the canonical ABI by
;; tests/fixtures/management_guests.py (edit that, not this file).
;; Memory: 16.. get-self-metadata (72 bytes; its agent-id's component-id at 16, 24),
;; 128.. get-agent-metadata's option, 256 find's (ptr, len), 264 get-next's option<list>,
;; 384 idem-key's uuid, 400 the last key, 448 get-environment's list, 512 resolve's
;; option, 1024.. find's filter, 8192..65536 find's joined list, 65536.. the heap.
;; Fork: 416 the last forked-phantom-id, 576 fork's fork-result, 624 fork-self's
;; string, 640 and 656 its two values.
(module
  (import "golem:api/host@1.3.0" "get-self-metadata" (func $self (param i32)))
  ;; agent-id (component high, low, name ptr, len), retptr
  (import "golem:api/host@1.3.0" "get-agent-metadata" (func $meta (param i64 i64 i32 i32 i32)))
  ;; component-id (high, low), option<agent-any-filter> (disc, ptr, len), precise
  (import "golem:api/host@1.3.0" "[constructor]get-agents"
    (func $enum (param i64 i64 i32 i32 i32 i32) (result i32)))
  (import "golem:api/host@1.3.0" "[method]get-agents.get-next" (func $next (param i32 i32)))
  (import "golem:api/host@1.3.0" "[resource-drop]get-agents" (func $drop (param i32)))
  ;; agent-id, target-version, update-mode (0 automatic)
  (import "golem:api/host@1.3.0" "update-agent" (func $update (param i64 i64 i32 i32 i64 i32)))
  (import "golem:api/host@1.3.0" "generate-idempotency-key" (func $key (param i32)))
  (import "wasi:cli/environment@0.2.3" "get-environment" (func $environment (param i32)))
  (import "golem:api/host@1.3.0" "fork-agent"
    (func $fork (param i64 i64 i32 i32 i64 i64 i32 i32 i64)))
  ;; agent-id, revert-agent-target (discriminant, payload)
  (import "golem:api/host@1.3.0" "revert-agent" (func $revert (param i64 i64 i32 i32 i32 i64)))
  (import "golem:api/host@1.3.0" "resolve-component-id" (func $resolve-c (param i32 i32 i32)))
  (import "golem:api/host@1.3.0" "resolve-agent-id" (func $resolve (param i32 i32 i32 i32 i32)))
  (import "golem:api/host@1.3.0" "resolve-agent-id-strict" (func $resolve-s (param i32 i32 i32 i32 i32)))
  ;; persistence-level: persist-nothing = 0, persist-remote-side-effects = 1, smart = 2
  (import "golem:api/host@1.3.0" "set-oplog-persistence-level" (func $level (param i32)))
  ;; retptr: fork-result (case at +0, fork-details' uuid at +8, +16)
  (import "golem:api/host@1.3.0" "fork" (func $fork-self (param i32)))

  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $total (mut i64) (i64.const 0))

  ;; find's filter: one all-filter of two property filters (32 bytes each, the case's
  ;; payload at +8): name(comparator like = 2, the string), status(equal = 0, status).
  (data (i32.const 1024) "\00\00\00\00\00\00\00\00\02")
  (data (i32.const 1056) "\01\00\00\00\00\00\00\00\00")
  (data (i32.const 1088) "\00\04\00\00\02\00\00\00")
  (data (i32.const 640) "original")
  (data (i32.const 656) "forked")

  (func (export "self-metadata") (result i32)
    (call $self (i32.const 16))
    (i32.const 16))

  (func (export "metadata-of") (param $p i32) (param $l i32) (result i32)
    (call $self (i32.const 16))
    (call $meta (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $p) (local.get $l)
      (i32.const 128))
    (i32.const 128))

  (func $find (export "find") (param $p i32) (param $l i32) (param $status i32) (result i32)
    (local $h i32) (local $n i32) (local $len i32)
    (i32.store (i32.const 1036) (local.get $p))
    (i32.store (i32.const 1040) (local.get $l))
    (i32.store8 (i32.const 1065) (local.get $status))
    (call $self (i32.const 16))
    (local.set $h (call $enum (i64.load (i32.const 16)) (i64.load (i32.const 24))
      (i32.const 1) (i32.const 1088) (i32.const 1) (i32.const 1)))
    (block $done
      (loop $batch
        (call $next (local.get $h) (i32.const 264))
        (br_if $done (i32.eqz (i32.load8_u (i32.const 264))))
        (local.set $len (i32.load (i32.const 272)))
        (if (i32.gt_u (i32.mul (i32.add (local.get $n) (local.get $len)) (i32.const 72))
              (i32.const 57344))
          (then unreachable))
        (memory.copy (i32.add (i32.const 8192) (i32.mul (local.get $n) (i32.const 72)))
          (i32.load (i32.const 268)) (i32.mul (local.get $len) (i32.const 72)))
        (local.set $n (i32.add (local.get $n) (local.get $len)))
        (br $batch)))
    (call $drop (local.get $h))
    (i32.store (i32.const 256) (i32.const 8192))
    (i32.store (i32.const 260) (local.get $n))
    (i32.const 256))

  (func (export "find-names") (param $p i32) (param $l i32) (param $status i32) (result i32)
    (local $i i32) (local $n i32) (local $names i32) (local $elem i32)
    (drop (call $find (local.get $p) (local.get $l) (local.get $status)))
    (local.set $n (i32.load (i32.const 260)))
    (local.set $names (call $alloc (i32.const 0) (i32.const 0) (i32.const 4)
      (i32.mul (local.get $n) (i32.const 8))))
    (block $end
      (loop $each
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        ;; element i's agent-id name (ptr, len) at +16, +20
        (local.set $elem (i32.add (i32.const 8192) (i32.mul (local.get $i) (i32.const 72))))
        (i64.store (i32.add (local.get $names) (i32.mul (local.get $i) (i32.const 8)))
          (i64.load (i32.add (local.get $elem) (i32.const 16))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i32.store (i32.const 256) (local.get $names))
    (i32.store (i32.const 260) (local.get $n))
    (i32.const 256))

  (func (export "update") (param $p i32) (param $l i32) (param $version i64)
    (call $self (i32.const 16))
    (call $update (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $p) (local.get $l)
      (local.get $version) (i32.const 0)))

  (func (export "idem-key") (result i32)
    (call $key (i32.const 384))
    (i64.store (i32.const 400) (i64.load (i32.const 384)))
    (i64.store (i32.const 408) (i64.load (i32.const 392)))
    (i32.const 384))

  (func (export "last-key") (result i32)
    (i32.const 400))

  (func (export "add") (param $n i64) (result i64)
    (global.set $total (i64.add (global.get $total) (local.get $n)))
    (global.get $total))

  (func (export "env") (result i32)
    (call $environment (i32.const 448))
    (i32.const 448))

  (func (export "fork-to") (param $sp i32) (param $sl i32) (param $tp i32) (param $tl i32)
    (param $cut i64)
    (call $self (i32.const 16))
    (call $fork (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $sp) (local.get $sl)
      (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $tp) (local.get $tl)
      (local.get $cut)))

  (func (export "revert-last") (param $p i32) (param $l i32) (param $count i64)
    (call $self (i32.const 16))
    (call $revert (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $p) (local.get $l)
      (i32.const 1) (local.get $count)))

  (func (export "fork-to-unpersisted") (param $sp i32) (param $sl i32) (param $tp i32)
    (param $tl i32) (param $cut i64)
    (call $self (i32.const 16))
    (call $level (i32.const 0))
    (call $fork (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $sp) (local.get $sl)
      (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $tp) (local.get $tl)
      (local.get $cut))
    (call $level (i32.const 2)))

  (func (export "revert-last-unpersisted") (param $p i32) (param $l i32) (param $count i64)
    (call $self (i32.const 16))
    (call $level (i32.const 0))
    (call $revert (i64.load (i32.const 16)) (i64.load (i32.const 24)) (local.get $p) (local.get $l)
      (i32.const 1) (local.get $count))
    (call $level (i32.const 2)))

  (func (export "resolve-component") (param $p i32) (param $l i32) (result i32)
    (call $resolve-c (local.get $p) (local.get $l) (i32.const 512))
    (i32.const 512))

  (func (export "resolve-id") (param $rp i32) (param $rl i32) (param $p i32) (param $l i32)
    (result i32)
    (call $resolve (local.get $rp) (local.get $rl) (local.get $p) (local.get $l) (i32.const 512))
    (i32.const 512))

  (func (export "resolve-id-strict") (param $rp i32) (param $rl i32) (param $p i32) (param $l i32)
    (result i32)
    (call $resolve-s (local.get $rp) (local.get $rl) (local.get $p) (local.get $l) (i32.const 512))
    (i32.const 512))

  ;; After fork each branch adds its own amount to the total, 100 in the original and
  ;; 1000 in the copy, and returns the case's name ((ptr, len) at 624).
  (func $branch (param $forked i32) (result i32)
    (if (local.get $forked)
      (then
        (global.set $total (i64.add (global.get $total) (i64.const 1000)))
        (i32.store (i32.const 624) (i32.const 656))
        (i32.store (i32.const 628) (i32.const 6)))
      (else
        (global.set $total (i64.add (global.get $total) (i64.const 100)))
        (i32.store (i32.const 624) (i32.const 640))
        (i32.store (i32.const 628) (i32.const 8))))
    (i32.const 624))

  (func (export "fork-self") (result i32)
    (call $fork-self (i32.const 576))
    (i64.store (i32.const 416) (i64.load (i32.const 584)))
    (i64.store (i32.const 424) (i64.load (i32.const 592)))
    (call $branch (i32.load8_u (i32.const 576))))

  (func (export "fork-phantom") (result i32)
    (i32.const 416))

  (func (export "fork-self-unpersisted") (result i32)
    (call $level (i32.const 0))
    (call $fork-self (i32.const 576))
    (call $level (i32.const 2))
    (i64.store (i32.const 416) (i64.load (i32.const 584)))
    (i64.store (i32.const 424) (i64.load (i32.const 592)))
    (call $branch (i32.load8_u (i32.const 576))))

  ;; A bump allocator: the host's lists and strings land on the heap.
  (func $alloc (export "cabi_realloc") (param $old i32) (param $osize i32) (param $align i32)
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

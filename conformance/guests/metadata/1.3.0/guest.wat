;; Conformance guest for agent metadata and enumeration, written by hand against the
;; canonical ABI. Memory: 16..88 an agent-metadata record (agent-id: component-id
;; high 16, low 24, name ptr 32, len 36; args 40; env 48; config-vars 56; status 64;
;; revision 72; retry-count 80), 96..108 get-next's option<list>, 112..120 the
;; list-agents result, 8192.. its (ptr, len) pairs, 65536.. the allocator's heap.
(module
  (import "golem:api/host@1.3.0" "get-self-metadata" (func $self (param i32)))
  ;; component-id (high, low), option<agent-any-filter> (disc, ptr, len), precise
  (import "golem:api/host@1.3.0" "[constructor]get-agents"
    (func $agents (param i64 i64 i32 i32 i32 i32) (result i32)))
  (import "golem:api/host@1.3.0" "[method]get-agents.get-next" (func $next (param i32 i32)))
  (import "golem:api/host@1.3.0" "[resource-drop]get-agents" (func $drop (param i32)))

  (memory (export "memory") 4)
  (global $heap (mut i32) (i32.const 65536))

  (func (export "self-name") (result i32)
    (call $self (i32.const 16))
    (i32.const 32))

  (func (export "self-component") (result i32)
    (call $self (i32.const 16))
    (i32.const 16))

  (func (export "list-agents") (result i32)
    (local $h i32) (local $n i32) (local $i i32) (local $len i32) (local $elem i32)
    (call $self (i32.const 16))
    (local.set $h (call $agents (i64.load (i32.const 16)) (i64.load (i32.const 24))
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1)))
    (block $done
      (loop $batch
        (call $next (local.get $h) (i32.const 96))
        (br_if $done (i32.eqz (i32.load8_u (i32.const 96))))
        (local.set $len (i32.load (i32.const 104)))
        (local.set $i (i32.const 0))
        (block $end
          (loop $each
            (br_if $end (i32.ge_u (local.get $i) (local.get $len)))
            ;; element i of the batch: 72 bytes; its agent-id name at +16, +20
            (local.set $elem (i32.add (i32.load (i32.const 100))
              (i32.mul (local.get $i) (i32.const 72))))
            (i32.store (i32.add (i32.const 8192) (i32.mul (local.get $n) (i32.const 8)))
              (i32.load (i32.add (local.get $elem) (i32.const 16))))
            (i32.store (i32.add (i32.const 8196) (i32.mul (local.get $n) (i32.const 8)))
              (i32.load (i32.add (local.get $elem) (i32.const 20))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $each)))
        (br $batch)))
    (call $drop (local.get $h))
    (i32.store (i32.const 112) (i32.const 8192))
    (i32.store (i32.const 116) (local.get $n))
    (i32.const 112))

  ;; A bump allocator: the host's lists and strings land on the heap.
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

;; Version 0 (the first upload; versions count from 0, as in Golem) of the conformance
;; guest `updater`, by hand against the canonical ABI.
;; Memory: 0..8 the total; 96..112 save's return area;
;; 112..124 load's; 128..152 "application/octet-stream"; 160.. "snapshot must be 8
;; bytes"; 1024.. get-self-metadata's agent-metadata record (agent-id: component-id
;; high 1024, low 1032, name ptr 1040, len 1044); 65536.. the allocator's heap.
(module
  (import "golem:api/host@1.5.0" "get-self-metadata" (func $self (param i32)))
  (import "golem:api/host@1.5.0" "update-agent"
    (func $update (param i64 i64 i32 i32 i64 i32)))
  (import "golem:api/host@1.5.0" "set-oplog-persistence-level" (func $level (param i32)))

  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 128) "application/octet-stream")
  (data (i32.const 160) "snapshot must be 8 bytes")

  (func (export "add") (param $n i64) (result i64)
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (local.get $n)))
    (i64.load (i32.const 0)))

  (func (export "total") (result i64)
    (i64.load (i32.const 0)))

  (func (export "work") (param $n i64) (result i64)
    (local $k i64)
    (block $done
      (loop $more
        (br_if $done (i64.ge_u (local.get $k) (local.get $n)))
        (local.set $k (i64.add (local.get $k) (i64.const 1)))
        (br $more)))
    (i64.load (i32.const 0)))

  (func (export "version") (result i32)
    (i32.const 0))

  (func (export "update-self") (param $target i64) (param $snapshot i32) (result i64)
    (call $self (i32.const 1024))
    ;; update-mode: automatic = 0, snapshot-based = 1
    (call $update (i64.load (i32.const 1024)) (i64.load (i32.const 1032))
      (i32.load (i32.const 1040)) (i32.load (i32.const 1044))
      (local.get $target) (local.get $snapshot))
    (i64.load (i32.const 0)))

  ;; Its flattened parameters are update-agent's: agent-id (component-id halves, name),
  ;; target, mode.
  (func (export "update-self-unpersisted") (param $target i64) (param $snapshot i32)
    (result i64)
    (call $self (i32.const 1024))
    ;; persistence-level: persist-nothing = 0, smart = 2
    (call $level (i32.const 0))
    (call $update (i64.load (i32.const 1024)) (i64.load (i32.const 1032))
      (i32.load (i32.const 1040)) (i32.load (i32.const 1044))
      (local.get $target) (local.get $snapshot))
    (call $level (i32.const 2))
    (i64.load (i32.const 0)))

  (func (export "update-other") (param $high i64) (param $low i64) (param $name i32)
    (param $len i32) (param $target i64) (param $snapshot i32)
    (call $update (local.get $high) (local.get $low) (local.get $name) (local.get $len)
      (local.get $target) (local.get $snapshot)))

  ;; update-other with the call under persist-nothing: a replay reaches it again.
  (func (export "update-other-unpersisted") (param $high i64) (param $low i64)
    (param $name i32) (param $len i32) (param $target i64) (param $snapshot i32)
    (call $level (i32.const 0))
    (call $update (local.get $high) (local.get $low) (local.get $name) (local.get $len)
      (local.get $target) (local.get $snapshot))
    (call $level (i32.const 2)))

  (func (export "golem:api/save-snapshot@1.5.0#save") (result i32)
    (i32.store offset=0 (i32.const 96) (i32.const 0))
    (i32.store offset=4 (i32.const 96) (i32.const 8))
    (i32.store offset=8 (i32.const 96) (i32.const 128))
    (i32.store offset=12 (i32.const 96) (i32.const 24))
    (i32.const 96))

  (func (export "golem:api/load-snapshot@1.5.0#load")
    (param $data i32) (param $len i32) (param $mime i32) (param $mime-len i32) (result i32)
    (if (i32.ne (local.get $len) (i32.const 8))
      (then
        (i32.store8 (i32.const 112) (i32.const 1))
        (i32.store offset=4 (i32.const 112) (i32.const 160))
        (i32.store offset=8 (i32.const 112) (i32.const 24))
        (return (i32.const 112))))
    (i64.store (i32.const 0) (i64.load (local.get $data)))
    (i32.store8 (i32.const 112) (i32.const 0))
    (i32.const 112))

  ;; A bump allocator: the host's strings and lists land on the heap.
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

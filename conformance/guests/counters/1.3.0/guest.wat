;; Test guest for exported resources, written by hand against the canonical ABI.
;; A counter's representation is its slot number n >= 1; its value is the u64 at 8*n.
;; Memory: 0..8 unused, 8..8+8*1024 counter values, 65536.. the bump allocator's space.
(module
  (import "[export]agent-host:fixtures/api" "[resource-new]counter"
    (func $new (param i32) (result i32)))

  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $next (mut i32) (i32.const 1))
  (global $live (mut i32) (i32.const 0))
  (global $dropped (mut i32) (i32.const 0))

  (func $create (param $start i64) (result i32)
    (local $rep i32)
    (local.set $rep (global.get $next))
    (global.set $next (i32.add (global.get $next) (i32.const 1)))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (i64.store (i32.mul (local.get $rep) (i32.const 8)) (local.get $start))
    (call $new (local.get $rep)))

  (func (export "agent-host:fixtures/api#[constructor]counter")
    (param $ptr i32) (param $len i32) (result i32)
    (call $create (i64.const 0)))

  (func (export "agent-host:fixtures/api#[method]counter.inc-by") (param $rep i32) (param $n i64)
    (i64.store (i32.mul (local.get $rep) (i32.const 8))
      (i64.add (i64.load (i32.mul (local.get $rep) (i32.const 8))) (local.get $n))))

  (func (export "agent-host:fixtures/api#[method]counter.get") (param $rep i32) (result i64)
    (i64.load (i32.mul (local.get $rep) (i32.const 8))))

  (func (export "agent-host:fixtures/api#[static]counter.live") (result i32)
    (global.get $live))

  (func (export "agent-host:fixtures/api#make") (param $start i64) (result i32)
    (call $create (local.get $start)))

  (func (export "agent-host:fixtures/api#peek") (param $rep i32) (result i64)
    (i64.load (i32.mul (local.get $rep) (i32.const 8))))

  (func (export "agent-host:fixtures/api#dropped") (result i32)
    (global.get $dropped))

  (func (export "agent-host:fixtures/api#[dtor]counter") (param $rep i32)
    (global.set $live (i32.sub (global.get $live) (i32.const 1)))
    (global.set $dropped (i32.add (global.get $dropped) (i32.const 1))))

  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.add (local.get 3) (i32.const 8))))
    (local.get $p))
)

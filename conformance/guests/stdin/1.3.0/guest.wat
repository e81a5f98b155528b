;; Conformance guest for standard input, written by hand against the canonical ABI.
;; Memory: 0..12 the return area of blocking-read (discriminant, list ptr, len).
(module
  (import "wasi:cli/stdin@0.2.3" "get-stdin" (func $get-stdin (result i32)))
  (import "wasi:io/streams@0.2.3" "[method]input-stream.blocking-read"
    (func $read (param i32 i64 i32)))
  (import "wasi:io/streams@0.2.3" "[resource-drop]input-stream" (func $drop (param i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

  (func (export "read") (param $n i64) (result i64)
    (local $stream i32)
    (local.set $stream (call $get-stdin))
    (call $read (local.get $stream) (local.get $n) (i32.const 0))
    (call $drop (local.get $stream))
    (if (result i64) (i32.load8_u (i32.const 0))
      (then (i64.const 0))
      (else (i64.extend_i32_u (i32.load (i32.const 8))))))

  (func (export "ok") (result i32)
    (i32.const 1))

  (func (export "cabi_realloc")
    (param $old i32) (param $old-size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))
)

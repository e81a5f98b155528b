;; Test guest for interruption and recorded output, written by hand against the
;; canonical ABI. Memory: 0..16 a return area, 64..71 the line "tick d\n".
(module
  (import "wasi:cli/stdout@0.2.3" "get-stdout" (func $get-stdout (result i32)))
  (import "wasi:io/streams@0.2.3" "[method]output-stream.blocking-write-and-flush"
    (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.3" "[resource-drop]output-stream" (func $drop (param i32)))

  (memory (export "memory") 1)
  (data (i32.const 64) "tick 0\0a")

  (func (export "tick") (param $n i32) (param $spin i64) (result i32)
    (local $i i32)
    (local $k i64)
    (local $out i32)
    (local.set $out (call $get-stdout))
    (block $end
      (loop $next
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.const 69) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
        (call $write (local.get $out) (i32.const 64) (i32.const 7) (i32.const 0))
        (local.set $k (i64.const 0))
        (block $spun
          (loop $more
            (br_if $spun (i64.ge_u (local.get $k) (local.get $spin)))
            (local.set $k (i64.add (local.get $k) (i64.const 1)))
            (br $more)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $drop (local.get $out))
    (local.get $n))

  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (i32.const 1024))
)

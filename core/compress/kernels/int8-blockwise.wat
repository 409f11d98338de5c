;; Blockwise absmax int8 kernels for core/compress/int8-blockwise.ts. The scalar TypeScript there
;; is the reference: these functions must give the same scales and levels bit for bit, so the
;; arithmetic below is the reference's, in the same precision (float64 where it uses numbers,
;; float32 where it rounds with Math.fround).
(module
  (import "env" "memory" (memory 0))

  ;; Largest |x| bits over float32 entries [$p, $end): for non-negative floats the integer order
  ;; of the bits is the float order, and NaN/Infinity bits (>= 0x7f800000) exceed every finite.
  (func $absMaxBits (param $p i32) (param $end i32) (result i32)
    (local $vecEnd i32)
    (local $m0 v128)
    (local $m1 v128)
    (local $max i32)
    (local.set $vecEnd
      (i32.add (local.get $p) (i32.and (i32.sub (local.get $end) (local.get $p)) (i32.const -32))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $vecEnd)))
        (local.set $m0
          (i32x4.max_u
            (local.get $m0)
            (v128.and (v128.load (local.get $p)) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
        (local.set $m1
          (i32x4.max_u
            (local.get $m1)
            (v128.and
              (v128.load offset=16 (local.get $p))
              (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $next)))
    (local.set $m0 (i32x4.max_u (local.get $m0) (local.get $m1)))
    (local.set $m0 (i32x4.max_u (local.get $m0) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m0) (local.get $m0))))
    (local.set $m0 (i32x4.max_u (local.get $m0) (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $m0) (local.get $m0))))
    (local.set $max (i32x4.extract_lane 0 (local.get $m0)))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.gt_u (i32.and (i32.load (local.get $p)) (i32.const 0x7fffffff)) (local.get $max))
          (then (local.set $max (i32.and (i32.load (local.get $p)) (i32.const 0x7fffffff)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $tail)))
    (local.get $max))

  ;; q = the float32 quotient x / divisor rounded to nearest even, for float32 entries [$p, $end)
  ;; into int8 at $q. The quotient lies in [-127, 127] (up to rounding), so adding 1.5 · 2^23
  ;; rounds it to an integer k (ties to even, like the reference's float64 rounding of the same
  ;; float32 quotient) and the sum's bits are 0x4b400000 + k: the low byte is k as an int8.
  (func $quantiseRange (param $p i32) (param $end i32) (param $q i32) (param $divisor f32)
    (local $vecEnd i32)
    (local $by v128)
    (local.set $by (f32x4.splat (local.get $divisor)))
    (local.set $vecEnd
      (i32.add (local.get $p) (i32.and (i32.sub (local.get $end) (local.get $p)) (i32.const -64))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $vecEnd)))
        (v128.store
          (local.get $q)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (i8x16.shuffle 0 4 8 12 16 20 24 28 0 0 0 0 0 0 0 0
              (f32x4.add (f32x4.div (v128.load (local.get $p)) (local.get $by)) (v128.const f32x4 0x1.8p23 0x1.8p23 0x1.8p23 0x1.8p23))
              (f32x4.add (f32x4.div (v128.load offset=16 (local.get $p)) (local.get $by)) (v128.const f32x4 0x1.8p23 0x1.8p23 0x1.8p23 0x1.8p23)))
            (i8x16.shuffle 0 4 8 12 16 20 24 28 0 0 0 0 0 0 0 0
              (f32x4.add (f32x4.div (v128.load offset=32 (local.get $p)) (local.get $by)) (v128.const f32x4 0x1.8p23 0x1.8p23 0x1.8p23 0x1.8p23))
              (f32x4.add (f32x4.div (v128.load offset=48 (local.get $p)) (local.get $by)) (v128.const f32x4 0x1.8p23 0x1.8p23 0x1.8p23 0x1.8p23)))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $next)))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $p) (local.get $end)))
        (i32.store8
          (local.get $q)
          (i32.trunc_f32_s (f32.nearest (f32.div (f32.load (local.get $p)) (local.get $divisor)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $tail))))

  ;; Quantises n float32 at $src in blocks of $block entries: levels (int8) to $q, one float32
  ;; scale per block to $scales. Returns 1 when some entry is NaN or ±Infinity, else 0.
  (func (export "quantise")
    (param $src i32) (param $q i32) (param $scales i32) (param $n i32) (param $block i32) (result i32)
    (local $p i32)
    (local $srcEnd i32)
    (local $blockEnd i32)
    (local $maxBits i32)
    (local $scale f32)
    (local.set $p (local.get $src))
    (local.set $srcEnd (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $srcEnd)))
        (local.set $blockEnd (i32.add (local.get $p) (i32.shl (local.get $block) (i32.const 2))))
        (if (i32.gt_u (local.get $blockEnd) (local.get $srcEnd)) (then (local.set $blockEnd (local.get $srcEnd))))
        (local.set $maxBits (call $absMaxBits (local.get $p) (local.get $blockEnd)))
        (if (i32.ge_u (local.get $maxBits) (i32.const 0x7f800000)) (then (return (i32.const 1))))
        ;; Math.fround(max / 127), with the 2^-149 floor for a non-zero block that underflows.
        (local.set $scale
          (f32.demote_f64 (f64.div (f64.promote_f32 (f32.reinterpret_i32 (local.get $maxBits))) (f64.const 127))))
        (if (i32.and (f32.eq (local.get $scale) (f32.const 0)) (i32.ne (local.get $maxBits) (i32.const 0)))
          (then (local.set $scale (f32.reinterpret_i32 (i32.const 1)))))
        ;; A subnormal scale may round far below max / 127: one ulp up keeps every level <= 127.
        (if (i32.and
              (f32.lt (local.get $scale) (f32.const 0x1p-126))
              (f64.lt
                (f64.mul (f64.promote_f32 (local.get $scale)) (f64.const 127))
                (f64.promote_f32 (f32.reinterpret_i32 (local.get $maxBits)))))
          (then (local.set $scale (f32.reinterpret_i32 (i32.add (i32.reinterpret_f32 (local.get $scale)) (i32.const 1))))))
        (f32.store (local.get $scales) (local.get $scale))
        ;; An all-zero block divides by 1.
        (call $quantiseRange (local.get $p) (local.get $blockEnd) (local.get $q)
          (select (local.get $scale) (f32.const 1) (f32.gt (local.get $scale) (f32.const 0))))
        (local.set $q (i32.add (local.get $q) (i32.shr_u (i32.sub (local.get $blockEnd) (local.get $p)) (i32.const 2))))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (local.set $p (local.get $blockEnd))
        (br $next)))
    (i32.const 0))

  ;; out = q × scale (float32, exact product rounded once, as the reference's double product
  ;; stored into a Float32Array) for n int8 levels at $q, scales per block of $block entries.
  (func (export "dequantise")
    (param $q i32) (param $scales i32) (param $dst i32) (param $n i32) (param $block i32)
    (local $qEnd i32)
    (local $blockEnd i32)
    (local $vecEnd i32)
    (local $scale f32)
    (local $s v128)
    (local.set $qEnd (i32.add (local.get $q) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $q) (local.get $qEnd)))
        (local.set $blockEnd (i32.add (local.get $q) (local.get $block)))
        (if (i32.gt_u (local.get $blockEnd) (local.get $qEnd)) (then (local.set $blockEnd (local.get $qEnd))))
        (local.set $scale (f32.load (local.get $scales)))
        (local.set $s (f32x4.splat (local.get $scale)))
        (local.set $vecEnd
          (i32.add (local.get $q) (i32.and (i32.sub (local.get $blockEnd) (local.get $q)) (i32.const -8))))
        (block $vecDone
          (loop $vec
            (br_if $vecDone (i32.ge_u (local.get $q) (local.get $vecEnd)))
            (v128.store
              (local.get $dst)
              (f32x4.mul
                (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (v128.load8x8_s (local.get $q))))
                (local.get $s)))
            (v128.store offset=16
              (local.get $dst)
              (f32x4.mul
                (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (v128.load8x8_s (local.get $q))))
                (local.get $s)))
            (local.set $q (i32.add (local.get $q) (i32.const 8)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (br $vec)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $q) (local.get $blockEnd)))
            (f32.store
              (local.get $dst)
              (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $q))) (local.get $scale)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
            (br $tail)))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (br $next)))))

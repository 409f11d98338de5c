;; binary16 kernels for core/compress/float16.ts. The scalar TypeScript there is the reference:
;; these functions must give the same bits for every input (test/unit/core/compress/kernels/).
;; Memory is imported: each compressor instance brings its own, sized for its layout.
(module
  (import "env" "memory" (memory 0))

  ;; float32 bits -> binary16 bits for four lanes (the sign is added by the caller):
  ;;   normal:    (a - 0x38000000 + 0xfff + ((a >> 13) & 1)) >> 13, the reference's rebias with
  ;;              round to nearest even; an arithmetic shift makes it <= 0 below 2^-15;
  ;;   subnormal: 0.5 + min(a, 2^-14) lies in [0.5, 1), whose ulp is 2^-24, so the float32 add
  ;;              rounds to the nearest multiple of 2^-24 (ties to even) and the low bits are k;
  ;;              it is >= the normal formula below 2^-14 and exactly 0x400 from there up;
  ;;   then the larger of the two, capped at 0x7bff (65504) for finite values from 65520 up.
  (func $magnitudes (param $a v128) (result v128)
    (i32x4.min_s
      (i32x4.max_s
        (i32x4.shr_s
          (i32x4.add
            (i32x4.add (local.get $a) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
            (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
          (i32.const 13))
        (i32x4.sub
          (f32x4.add
            (i32x4.min_s (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))
            (v128.const f32x4 0.5 0.5 0.5 0.5))
          (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
      (v128.const i32x4 0x7bff 0x7bff 0x7bff 0x7bff)))

  ;; Encodes n float32 at $src into n u16 at $dst. Returns 1 when some entry is NaN or ±Infinity
  ;; (the caller throws; what was written is garbage), else 0.
  (func (export "encode") (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $end i32)
    (local $u0 v128)
    (local $u1 v128)
    (local $a0 v128)
    (local $a1 v128)
    (local $h0 v128)
    (local $h1 v128)
    (local $maxA v128)
    (local $h i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $u0 (v128.load (local.get $src)))
        (local.set $u1 (v128.load offset=16 (local.get $src)))
        (local.set $a0 (v128.and (local.get $u0) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (local.set $a1 (v128.and (local.get $u1) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        ;; NaN and ±Infinity are the only bits >= 0x7f800000.
        (local.set $maxA (i32x4.max_u (local.get $maxA) (i32x4.max_u (local.get $a0) (local.get $a1))))
        ;; Magnitudes from the inline copy of $magnitudes (a call per vector costs ~20% here).
        (local.set $h0
          (i32x4.min_s
            (i32x4.max_s
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add (local.get $a0) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
                  (v128.and (i32x4.shr_u (local.get $a0) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                (i32.const 13))
              (i32x4.sub
                (f32x4.add
                  (i32x4.min_s (local.get $a0) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))
                  (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
            (v128.const i32x4 0x7bff 0x7bff 0x7bff 0x7bff)))
        (local.set $h1
          (i32x4.min_s
            (i32x4.max_s
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add (local.get $a1) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
                  (v128.and (i32x4.shr_u (local.get $a1) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                (i32.const 13))
              (i32x4.sub
                (f32x4.add
                  (i32x4.min_s (local.get $a1) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))
                  (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
            (v128.const i32x4 0x7bff 0x7bff 0x7bff 0x7bff)))
        ;; Magnitudes fit in 15 bits: narrow to u16 lanes, then put the sign bit on top.
        (v128.store
          (local.get $dst)
          (v128.or
            (i16x8.narrow_i32x4_u (local.get $h0) (local.get $h1))
            (v128.and
              (i8x16.shuffle 2 3 6 7 10 11 14 15 18 19 22 23 26 27 30 31 (local.get $u0) (local.get $u1))
              (v128.const i16x8 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000))))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $u0 (i32x4.splat (i32.load (local.get $src))))
        (local.set $a0 (v128.and (local.get $u0) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (local.set $maxA (i32x4.max_u (local.get $maxA) (local.get $a0)))
        (i32.store16
          (local.get $dst)
          (i32.or
            (i32x4.extract_lane 0 (call $magnitudes (local.get $a0)))
            (i32.and (i32.shr_u (i32x4.extract_lane 0 (local.get $u0)) (i32.const 16)) (i32.const 0x8000))))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 2)))
        (br $tail)))
    (v128.any_true
      (i32x4.gt_u (local.get $maxA) (v128.const i32x4 0x7f7fffff 0x7f7fffff 0x7f7fffff 0x7f7fffff))))

  ;; binary16 bits sign-extended to i32 lanes -> float32 bits, exactly as the reference's table:
  ;;   normal:    exponent rebias 15 -> 127 by adding 112 << 23 to (h & 0x7fff) << 13;
  ;;   subnormal: the same plus 1 << 23 is 2^-14 · (1 + m / 1024); minus 2^-14 leaves m · 2^-24,
  ;;              exactly, with no subnormal float32 operand;
  ;;   the sign: bit 31 of the sign-extended lane.
  ;; Exponent-31 patterns give finite garbage: decode reports them and the caller throws.
  (func $floatsOf (param $h v128) (result v128)
    (local $magnitude v128)
    (local $isSubnormal v128)
    (local.set $magnitude (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)))
    (local.set $isSubnormal (i32x4.lt_s (local.get $magnitude) (v128.const i32x4 0x400 0x400 0x400 0x400)))
    (v128.or
      (f32x4.sub
        (i32x4.add
          (i32x4.add
            (i32x4.shl (local.get $magnitude) (i32.const 13))
            (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))
          (v128.and (local.get $isSubnormal) (v128.const i32x4 0x800000 0x800000 0x800000 0x800000)))
        (v128.and (local.get $isSubnormal) (v128.const f32x4 0x1p-14 0x1p-14 0x1p-14 0x1p-14)))
      (v128.and (local.get $h) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; Decodes n u16 at $src into n float32 at $dst. Returns 1 when some entry holds an Infinity or
  ;; NaN pattern (exponent 31), else 0.
  (func (export "decode") (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $end i32)
    (local $x v128)
    (local $h v128)
    (local $magnitude v128)
    (local $isSubnormal v128)
    (local $maxMagnitude v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (v128.load (local.get $src)))
        (local.set $maxMagnitude
          (i16x8.max_u
            (local.get $maxMagnitude)
            (v128.and (local.get $x) (v128.const i16x8 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff))))
        ;; Two inline copies of $floatsOf (a call per vector costs ~20% here).
        (local.set $h (i32x4.extend_low_i16x8_s (local.get $x)))
        (local.set $magnitude (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)))
        (local.set $isSubnormal (i32x4.lt_s (local.get $magnitude) (v128.const i32x4 0x400 0x400 0x400 0x400)))
        (v128.store
          (local.get $dst)
          (v128.or
            (f32x4.sub
              (i32x4.add
                (i32x4.add
                  (i32x4.shl (local.get $magnitude) (i32.const 13))
                  (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))
                (v128.and (local.get $isSubnormal) (v128.const i32x4 0x800000 0x800000 0x800000 0x800000)))
              (v128.and (local.get $isSubnormal) (v128.const f32x4 0x1p-14 0x1p-14 0x1p-14 0x1p-14)))
            (v128.and (local.get $h) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $h (i32x4.extend_high_i16x8_s (local.get $x)))
        (local.set $magnitude (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)))
        (local.set $isSubnormal (i32x4.lt_s (local.get $magnitude) (v128.const i32x4 0x400 0x400 0x400 0x400)))
        (v128.store offset=16
          (local.get $dst)
          (v128.or
            (f32x4.sub
              (i32x4.add
                (i32x4.add
                  (i32x4.shl (local.get $magnitude) (i32.const 13))
                  (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))
                (v128.and (local.get $isSubnormal) (v128.const i32x4 0x800000 0x800000 0x800000 0x800000)))
              (v128.and (local.get $isSubnormal) (v128.const f32x4 0x1p-14 0x1p-14 0x1p-14 0x1p-14)))
            (v128.and (local.get $h) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $next)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 1))))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (i16x8.splat (i32.load16_u (local.get $src))))
        (local.set $maxMagnitude
          (i16x8.max_u
            (local.get $maxMagnitude)
            (v128.and (local.get $x) (v128.const i16x8 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff))))
        (i32.store (local.get $dst) (i32x4.extract_lane 0 (call $floatsOf (i32x4.extend_low_i16x8_s (local.get $x)))))
        (local.set $src (i32.add (local.get $src) (i32.const 2)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (br $tail)))
    (v128.any_true
      (i16x8.gt_u
        (local.get $maxMagnitude)
        (v128.const i16x8 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff)))))

;; QSGD kernels for core/compress/qsgd.ts. The scalar TypeScript there is the reference: the norm,
;; the counter-hash random numbers and the stochastic rounding must give the same codes bit for
;; bit, so the arithmetic is the reference's: float64 where it uses numbers, wrapping i32 for
;; Math.imul, and Σ p² accumulated in the reference's order (four accumulators, entry i into
;; accumulator i mod 4, chunks of 16384 entries, a chunk's tail into the first accumulator).
(module
  (import "env" "memory" (memory 0))

  ;; Σ x² over n float32 at $src, in float64. A NaN/Infinity input makes the sum non-finite.
  (func (export "sumOfSquares") (param $src i32) (param $n i32) (result f64)
    (local $p i32)
    (local $end i32)
    (local $chunkEnd i32)
    (local $vecEnd i32)
    (local $x v128)
    (local $y v128)
    (local $acc01 v128)
    (local $acc23 v128)
    (local $s0 f64)
    (local $v f64)
    (local $total f64)
    (local.set $p (local.get $src))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $chunksDone
      (loop $chunk
        (br_if $chunksDone (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $chunkEnd (i32.add (local.get $p) (i32.const 65536)))
        (if (i32.gt_u (local.get $chunkEnd) (local.get $end)) (then (local.set $chunkEnd (local.get $end))))
        (local.set $vecEnd
          (i32.add (local.get $p) (i32.and (i32.sub (local.get $chunkEnd) (local.get $p)) (i32.const -16))))
        (local.set $acc01 (v128.const f64x2 0 0))
        (local.set $acc23 (v128.const f64x2 0 0))
        (block $vecDone
          (loop $vec
            (br_if $vecDone (i32.ge_u (local.get $p) (local.get $vecEnd)))
            (local.set $x (v128.load (local.get $p)))
            (local.set $y (f64x2.promote_low_f32x4 (local.get $x)))
            (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.mul (local.get $y) (local.get $y))))
            (local.set $y
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $x) (local.get $x))))
            (local.set $acc23 (f64x2.add (local.get $acc23) (f64x2.mul (local.get $y) (local.get $y))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $vec)))
        (local.set $s0 (f64x2.extract_lane 0 (local.get $acc01)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $p) (local.get $chunkEnd)))
            (local.set $v (f64.promote_f32 (f32.load (local.get $p))))
            (local.set $s0 (f64.add (local.get $s0) (f64.mul (local.get $v) (local.get $v))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $tail)))
        (local.set $total
          (f64.add
            (local.get $total)
            (f64.add
              (f64.add
                (f64.add (local.get $s0) (f64x2.extract_lane 1 (local.get $acc01)))
                (f64x2.extract_lane 0 (local.get $acc23)))
              (f64x2.extract_lane 1 (local.get $acc23)))))
        (br $chunk)))
    (local.get $total))

  ;; The b-bit code of entry $j (float32 at $p): level = min(s, floor(|x| · inverseUnit + u)),
  ;; u = counterHash(j, key) · 2^-32 (prng.ts), the sign bit on top. For the tail entries.
  (func $codeOf (param $p i32) (param $j i32) (param $inverseUnit f64) (param $key i32) (param $levels i32)
    (param $signShift i32) (result i32)
    (local $h i32)
    (local $level i32)
    (local.set $h (i32.add (i32.mul (local.get $j) (i32.const 0x9e3779b9)) (local.get $key)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))) (i32.const 0x85ebca6b)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae35)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (local.set $level
      (i32.trunc_f64_s
        (f64.add
          (f64.mul (f64.promote_f32 (f32.abs (f32.load (local.get $p)))) (local.get $inverseUnit))
          (f64.mul (f64.convert_i32_u (local.get $h)) (f64.const 0x1p-32)))))
    (if (i32.gt_u (local.get $level) (local.get $levels)) (then (local.set $level (local.get $levels))))
    (i32.or (local.get $level) (i32.shl (i32.shr_u (i32.load (local.get $p)) (i32.const 31)) (local.get $signShift))))

  ;; Encodes n float32 at $src into b-bit codes at $dst (b in 2, 4, 8, 16; ceil(n·b / 8) bytes,
  ;; LSB first, padding bits 0). Eight entries per step (two vectors of four codes), whose codes
  ;; fill b whole bytes. For each vector:
  ;;   counterHash(j, key) for four consecutive j: $hashIn holds j · 0x9e3779b9 + key, kept by
  ;;   adding 8 · 0x9e3779b9 per step (wrapping, as Math.imul) instead of multiplying;
  ;;   u = h · 2^-32 exactly: the double with high word 0x41300000 (2^20) and low word h is
  ;;   2^20 + h · 2^-32, and subtracting 2^20 is exact;
  ;;   level = floor(|x| · inverseUnit + u) in float64, where + 2^52 puts the integer in the low
  ;;   32 bits, capped at s; the sign bit goes on top.
  (func (export "encode") (param $src i32) (param $dst i32) (param $n i32) (param $inverseUnit f64)
    (param $key i32) (param $levels i32) (param $b i32)
    (local $p i32)
    (local $vecEnd i32)
    (local $j i32)
    (local $hashIn v128)
    (local $levelsv v128)
    (local $inv v128)
    (local $h v128)
    (local $x v128)
    (local $a v128)
    (local $lo v128)
    (local $hi v128)
    (local $codes0 v128)
    (local $codes1 v128)
    (local $pairs v128)
    (local $signShift i32)
    (local $code i32)
    (local $word i64)
    (local $shift i64)
    (local $bytes i32)
    (local.set $signShift (i32.sub (local.get $b) (i32.const 1)))
    (local.set $levelsv (i32x4.splat (local.get $levels)))
    (local.set $inv (f64x2.splat (local.get $inverseUnit)))
    (local.set $hashIn
      (i32x4.add (v128.const i32x4 0 0x9e3779b9 0x3c6ef372 0xdaa66d2b) (i32x4.splat (local.get $key))))
    (local.set $p (local.get $src))
    (local.set $vecEnd (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $vecEnd)))
        ;; Entries j .. j + 3.
        (local.set $h
          (i32x4.mul
            (v128.xor (local.get $hashIn) (i32x4.shr_u (local.get $hashIn) (i32.const 16)))
            (v128.const i32x4 0x85ebca6b 0x85ebca6b 0x85ebca6b 0x85ebca6b)))
        (local.set $h
          (i32x4.mul
            (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 13)))
            (v128.const i32x4 0xc2b2ae35 0xc2b2ae35 0xc2b2ae35 0xc2b2ae35)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (local.set $x (v128.load (local.get $p)))
        (local.set $a (v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (local.set $lo
          (f64x2.add
            (f64x2.floor
              (f64x2.add
                (f64x2.mul (f64x2.promote_low_f32x4 (local.get $a)) (local.get $inv))
                (f64x2.sub
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 16 17 18 19
                    (local.get $h) (v128.const i32x4 0x41300000 0x41300000 0x41300000 0x41300000))
                  (v128.const f64x2 0x1p20 0x1p20))))
            (v128.const f64x2 0x1p52 0x1p52)))
        (local.set $hi
          (f64x2.add
            (f64x2.floor
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $a) (local.get $a)))
                  (local.get $inv))
                (f64x2.sub
                  (i8x16.shuffle 8 9 10 11 16 17 18 19 12 13 14 15 16 17 18 19
                    (local.get $h) (v128.const i32x4 0x41300000 0x41300000 0x41300000 0x41300000))
                  (v128.const f64x2 0x1p20 0x1p20))))
            (v128.const f64x2 0x1p52 0x1p52)))
        (local.set $codes0
          (v128.or
            (i32x4.min_u
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $lo) (local.get $hi))
              (local.get $levelsv))
            (i32x4.shl (i32x4.shr_u (local.get $x) (i32.const 31)) (local.get $signShift))))
        ;; Entries j + 4 .. j + 7.
        (local.set $hashIn (i32x4.add (local.get $hashIn) (v128.const i32x4 0x78dde6e4 0x78dde6e4 0x78dde6e4 0x78dde6e4)))
        (local.set $h
          (i32x4.mul
            (v128.xor (local.get $hashIn) (i32x4.shr_u (local.get $hashIn) (i32.const 16)))
            (v128.const i32x4 0x85ebca6b 0x85ebca6b 0x85ebca6b 0x85ebca6b)))
        (local.set $h
          (i32x4.mul
            (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 13)))
            (v128.const i32x4 0xc2b2ae35 0xc2b2ae35 0xc2b2ae35 0xc2b2ae35)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (local.set $x (v128.load offset=16 (local.get $p)))
        (local.set $a (v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (local.set $lo
          (f64x2.add
            (f64x2.floor
              (f64x2.add
                (f64x2.mul (f64x2.promote_low_f32x4 (local.get $a)) (local.get $inv))
                (f64x2.sub
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 16 17 18 19
                    (local.get $h) (v128.const i32x4 0x41300000 0x41300000 0x41300000 0x41300000))
                  (v128.const f64x2 0x1p20 0x1p20))))
            (v128.const f64x2 0x1p52 0x1p52)))
        (local.set $hi
          (f64x2.add
            (f64x2.floor
              (f64x2.add
                (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $a) (local.get $a)))
                  (local.get $inv))
                (f64x2.sub
                  (i8x16.shuffle 8 9 10 11 16 17 18 19 12 13 14 15 16 17 18 19
                    (local.get $h) (v128.const i32x4 0x41300000 0x41300000 0x41300000 0x41300000))
                  (v128.const f64x2 0x1p20 0x1p20))))
            (v128.const f64x2 0x1p52 0x1p52)))
        (local.set $codes1
          (v128.or
            (i32x4.min_u
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $lo) (local.get $hi))
              (local.get $levelsv))
            (i32x4.shl (i32x4.shr_u (local.get $x) (i32.const 31)) (local.get $signShift))))
        (local.set $hashIn (i32x4.add (local.get $hashIn) (v128.const i32x4 0x78dde6e4 0x78dde6e4 0x78dde6e4 0x78dde6e4)))
        ;; The eight codes as u16 lanes (every code fits), then packed to b bits each.
        (local.set $pairs (i16x8.narrow_i32x4_u (local.get $codes0) (local.get $codes1)))
        (if (i32.eq (local.get $b) (i32.const 8))
          (then (v128.store64_lane 0 (local.get $dst) (i8x16.narrow_i16x8_u (local.get $pairs) (local.get $pairs))))
          (else
            (if (i32.eq (local.get $b) (i32.const 16))
              (then (v128.store (local.get $dst) (local.get $pairs)))
              (else
                (if (i32.eq (local.get $b) (i32.const 4))
                  (then
                    ;; i32 lane k holds codes 2k and 2k + 1 (at bit 16): bring the second to bit 4.
                    (local.set $pairs (v128.or (local.get $pairs) (i32x4.shr_u (local.get $pairs) (i32.const 12))))
                    (v128.store32_lane 0
                      (local.get $dst)
                      (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0 (local.get $pairs) (local.get $pairs))))
                  (else
                    ;; b = 2: two codes per i32 lane into bits 0-3, then two lanes per i64 into a byte.
                    (local.set $pairs (v128.or (local.get $pairs) (i32x4.shr_u (local.get $pairs) (i32.const 14))))
                    (local.set $pairs (v128.or (local.get $pairs) (i64x2.shr_u (local.get $pairs) (i32.const 28))))
                    (v128.store16_lane 0
                      (local.get $dst)
                      (i8x16.shuffle 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0 (local.get $pairs) (local.get $pairs)))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $dst (i32.add (local.get $dst) (local.get $b)))
        (br $next)))
    ;; Up to seven entries left, starting on a byte boundary: b = 16 stores each code, smaller
    ;; codes are packed into one word (at most 56 bits), then its whole bytes are stored.
    (local.set $j (i32.and (local.get $n) (i32.const -8)))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $code
          (call $codeOf (local.get $p) (local.get $j) (local.get $inverseUnit) (local.get $key)
            (local.get $levels) (local.get $signShift)))
        (if (i32.eq (local.get $b) (i32.const 16))
          (then
            (i32.store16 (local.get $dst) (local.get $code))
            (local.set $dst (i32.add (local.get $dst) (i32.const 2))))
          (else
            (local.set $word
              (i64.or (local.get $word) (i64.shl (i64.extend_i32_u (local.get $code)) (local.get $shift))))
            (local.set $shift (i64.add (local.get $shift) (i64.extend_i32_u (local.get $b))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $tail)))
    (local.set $bytes (i32.wrap_i64 (i64.shr_u (i64.add (local.get $shift) (i64.const 7)) (i64.const 3))))
    (block $bytesDone
      (loop $byte
        (br_if $bytesDone (i32.eqz (local.get $bytes)))
        (i64.store8 (local.get $dst) (local.get $word))
        (local.set $word (i64.shr_u (local.get $word) (i64.const 8)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $bytes (i32.sub (local.get $bytes) (i32.const 1)))
        (br $byte))))

  ;; Decodes n b-bit codes at $src into c = level · (±unit) at $dst (float32: the exact product
  ;; rounded once, as the reference's float64 product stored into a Float32Array). Returns the
  ;; largest level seen. Reads up to 8 bytes past the last code byte: the caller leaves room.
  (func (export "decode") (param $src i32) (param $dst i32) (param $n i32) (param $unit f32) (param $b i32)
    (result i32)
    (local $end i32)
    (local $vecEnd i32)
    (local $step i32)
    (local $gather v128)
    (local $multiply v128)
    (local $levelShift i32)
    (local $unitv v128)
    (local $x v128)
    (local $level v128)
    (local $maxv v128)
    (local $max i32)
    (local $k i32)
    (local $code i32)
    (local $lvl i32)
    ;; Gather the byte(s) holding entry k into lane k, then multiply so its code lands in the
    ;; top b bits of the lane: the sign is bit 31, the level the b - 1 bits below it.
    (if (i32.eq (local.get $b) (i32.const 2))
      (then
        (local.set $gather (v128.const i8x16 0 255 255 255 0 255 255 255 0 255 255 255 0 255 255 255))
        (local.set $multiply (v128.const i32x4 0x40000000 0x10000000 0x4000000 0x1000000))))
    (if (i32.eq (local.get $b) (i32.const 4))
      (then
        (local.set $gather (v128.const i8x16 0 255 255 255 0 255 255 255 1 255 255 255 1 255 255 255))
        (local.set $multiply (v128.const i32x4 0x10000000 0x1000000 0x10000000 0x1000000))))
    (if (i32.eq (local.get $b) (i32.const 8))
      (then
        (local.set $gather (v128.const i8x16 0 255 255 255 1 255 255 255 2 255 255 255 3 255 255 255))
        (local.set $multiply (v128.const i32x4 0x1000000 0x1000000 0x1000000 0x1000000))))
    (if (i32.eq (local.get $b) (i32.const 16))
      (then
        (local.set $gather (v128.const i8x16 0 1 255 255 2 3 255 255 4 5 255 255 6 7 255 255))
        (local.set $multiply (v128.const i32x4 0x10000 0x10000 0x10000 0x10000))))
    (local.set $levelShift (i32.sub (i32.const 33) (local.get $b)))
    (local.set $step (i32.shr_u (local.get $b) (i32.const 1)))
    (local.set $unitv (f32x4.splat (local.get $unit)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $dst) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $vecEnd)))
        (local.set $x
          (i32x4.mul (i8x16.swizzle (v128.load64_zero (local.get $src)) (local.get $gather)) (local.get $multiply)))
        (local.set $level (i32x4.shr_u (i32x4.shl (local.get $x) (i32.const 1)) (local.get $levelShift)))
        (local.set $maxv (i32x4.max_u (local.get $maxv) (local.get $level)))
        (v128.store
          (local.get $dst)
          (v128.xor
            (f32x4.mul (f32x4.convert_i32x4_s (local.get $level)) (local.get $unitv))
            (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $src (i32.add (local.get $src) (local.get $step)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next)))
    (local.set $maxv (i32x4.max_u (local.get $maxv) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $maxv) (local.get $maxv))))
    (local.set $maxv (i32x4.max_u (local.get $maxv) (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $maxv) (local.get $maxv))))
    (local.set $max (i32x4.extract_lane 0 (local.get $maxv)))
    ;; Up to three entries left, starting on a byte boundary.
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $dst) (local.get $end)))
        (if (i32.eq (local.get $b) (i32.const 16))
          (then (local.set $code (i32.load16_u (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 1))))))
          (else
            (local.set $code
              (i32.and
                (i32.shr_u
                  (i32.load8_u (i32.add (local.get $src) (i32.shr_u (i32.mul (local.get $k) (local.get $b)) (i32.const 3))))
                  (i32.and (i32.mul (local.get $k) (local.get $b)) (i32.const 7)))
                (i32.sub (i32.shl (i32.const 1) (local.get $b)) (i32.const 1))))))
        (local.set $lvl (i32.and (local.get $code) (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $b) (i32.const 1))) (i32.const 1))))
        (if (i32.gt_u (local.get $lvl) (local.get $max)) (then (local.set $max (local.get $lvl))))
        (f32.store
          (local.get $dst)
          (f32.reinterpret_i32
            (i32.xor
              (i32.reinterpret_f32 (f32.mul (f32.convert_i32_s (local.get $lvl)) (local.get $unit)))
              (i32.shl (i32.shr_u (local.get $code) (i32.sub (local.get $b) (i32.const 1))) (i32.const 31)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (br $tail)))
    (local.get $max)))

;; Scaled-sign kernels for core/compress/scaled-sign.ts. The scalar TypeScript there is the
;; reference: the L1 sum must be bit-identical, so it is accumulated exactly as there, in
;; float64 with four accumulators (entry i into accumulator i mod 4) over chunks of 16384
;; entries (KERNEL_CHUNK in wire-format.ts), the tail of a chunk into the first accumulator.
(module
  (import "env" "memory" (memory 0))

  ;; One pass over n float32 at $src: writes the sign bits to $dst (ceil(n / 8) bytes, LSB first,
  ;; padding bits 0) and returns Σ|x| in float64. A NaN/Infinity input makes the sum non-finite.
  (func (export "compress") (param $src i32) (param $dst i32) (param $n i32) (result f64)
    (local $p i32)
    (local $end i32)
    (local $chunkEnd i32)
    (local $vec16End i32)
    (local $vec4End i32)
    (local $x0 v128)
    (local $x1 v128)
    (local $x2 v128)
    (local $x3 v128)
    (local $acc01 v128)
    (local $acc23 v128)
    (local $s0 f64)
    (local $total f64)
    (local $bits i32)
    (local $bit i32)
    (local.set $p (local.get $src))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $chunksDone
      (loop $chunk
        (br_if $chunksDone (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $chunkEnd (i32.add (local.get $p) (i32.const 65536)))
        (if (i32.gt_u (local.get $chunkEnd) (local.get $end)) (then (local.set $chunkEnd (local.get $end))))
        (local.set $vec16End
          (i32.add (local.get $p) (i32.and (i32.sub (local.get $chunkEnd) (local.get $p)) (i32.const -64))))
        (local.set $vec4End
          (i32.add (local.get $p) (i32.and (i32.sub (local.get $chunkEnd) (local.get $p)) (i32.const -16))))
        (local.set $acc01 (v128.const f64x2 0 0))
        (local.set $acc23 (v128.const f64x2 0 0))
        ;; 16 entries: four 4-entry steps of the sum, in order, and two bytes of sign bits.
        (block $vec16Done
          (loop $vec16
            (br_if $vec16Done (i32.ge_u (local.get $p) (local.get $vec16End)))
            (local.set $x0 (v128.load (local.get $p)))
            (local.set $x1 (v128.load offset=16 (local.get $p)))
            (local.set $x2 (v128.load offset=32 (local.get $p)))
            (local.set $x3 (v128.load offset=48 (local.get $p)))
            ;; Signed saturating narrowing keeps each lane's sign; the byte bitmask collects them.
            (i32.store16
              (local.get $dst)
              (i8x16.bitmask
                (i8x16.narrow_i16x8_s
                  (i16x8.narrow_i32x4_s (local.get $x0) (local.get $x1))
                  (i16x8.narrow_i32x4_s (local.get $x2) (local.get $x3)))))
            (local.set $x0 (f32x4.abs (local.get $x0)))
            (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.promote_low_f32x4 (local.get $x0))))
            (local.set $acc23
              (f64x2.add
                (local.get $acc23)
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $x0) (local.get $x0)))))
            (local.set $x1 (f32x4.abs (local.get $x1)))
            (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.promote_low_f32x4 (local.get $x1))))
            (local.set $acc23
              (f64x2.add
                (local.get $acc23)
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $x1) (local.get $x1)))))
            (local.set $x2 (f32x4.abs (local.get $x2)))
            (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.promote_low_f32x4 (local.get $x2))))
            (local.set $acc23
              (f64x2.add
                (local.get $acc23)
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $x2) (local.get $x2)))))
            (local.set $x3 (f32x4.abs (local.get $x3)))
            (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.promote_low_f32x4 (local.get $x3))))
            (local.set $acc23
              (f64x2.add
                (local.get $acc23)
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $x3) (local.get $x3)))))
            (local.set $p (i32.add (local.get $p) (i32.const 64)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 2)))
            (br $vec16)))
        ;; Only the last chunk gets here with entries left: sums only, the bits come at the end.
        (block $vec4Done
          (loop $vec4
            (br_if $vec4Done (i32.ge_u (local.get $p) (local.get $vec4End)))
            (local.set $x0 (f32x4.abs (v128.load (local.get $p))))
            (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.promote_low_f32x4 (local.get $x0))))
            (local.set $acc23
              (f64x2.add
                (local.get $acc23)
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $x0) (local.get $x0)))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $vec4)))
        (local.set $s0 (f64x2.extract_lane 0 (local.get $acc01)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $p) (local.get $chunkEnd)))
            (local.set $s0 (f64.add (local.get $s0) (f64.promote_f32 (f32.abs (f32.load (local.get $p))))))
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
    ;; Sign bits of the entries after the last 16-entry group: whole bytes, then the padded last.
    (local.set $p (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -16)) (i32.const 2))))
    (block $bytesDone
      (loop $byte
        (br_if $bytesDone (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $end)))
        (i32.store8
          (local.get $dst)
          (i32.or
            (i32x4.bitmask (v128.load (local.get $p)))
            (i32.shl (i32x4.bitmask (v128.load offset=16 (local.get $p))) (i32.const 4))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (br $byte)))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (local.set $bits (i32.const 0))
        (local.set $bit (i32.const 0))
        (block $lastDone
          (loop $last
            (br_if $lastDone (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $bits
              (i32.or
                (local.get $bits)
                (i32.shl (i32.shr_u (i32.load (local.get $p)) (i32.const 31)) (local.get $bit))))
            (local.set $bit (i32.add (local.get $bit) (i32.const 1)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $last)))
        (i32.store8 (local.get $dst) (local.get $bits))))
    (local.get $total))

  ;; Writes ±scale for n entries from their sign bits at $src: the float32 bits of scale with the
  ;; sign bit flipped where the entry's bit is 1 (for scale = -0 too, like the reference's -scale).
  (func (export "decompress") (param $src i32) (param $dst i32) (param $n i32) (param $scaleBits i32)
    (local $end i32)
    (local $vecEnd i32)
    (local $scale v128)
    (local $bits v128)
    (local $byte i32)
    (local $bit i32)
    (local.set $scale (i32x4.splat (local.get $scaleBits)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $dst) (i32.shl (i32.and (local.get $n) (i32.const -16)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $vecEnd)))
        (local.set $bits (i32x4.splat (i32.load16_u (local.get $src))))
        ;; A lane whose bit is clear compares equal to 0: flip the sign everywhere else.
        (v128.store (local.get $dst)
          (v128.xor
            (local.get $scale)
            (v128.andnot
              (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)
              (i32x4.eq (v128.and (local.get $bits) (v128.const i32x4 1 2 4 8)) (v128.const i32x4 0 0 0 0)))))
        (v128.store offset=16 (local.get $dst)
          (v128.xor
            (local.get $scale)
            (v128.andnot
              (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)
              (i32x4.eq (v128.and (local.get $bits) (v128.const i32x4 16 32 64 128)) (v128.const i32x4 0 0 0 0)))))
        (v128.store offset=32 (local.get $dst)
          (v128.xor
            (local.get $scale)
            (v128.andnot
              (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)
              (i32x4.eq (v128.and (local.get $bits) (v128.const i32x4 256 512 1024 2048)) (v128.const i32x4 0 0 0 0)))))
        (v128.store offset=48 (local.get $dst)
          (v128.xor
            (local.get $scale)
            (v128.andnot
              (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)
              (i32x4.eq
                (v128.and (local.get $bits) (v128.const i32x4 4096 8192 16384 32768))
                (v128.const i32x4 0 0 0 0)))))
        (local.set $src (i32.add (local.get $src) (i32.const 2)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (br $next)))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $byte (i32.load8_u (local.get $src)))
        (local.set $bit (i32.const 0))
        (block $byteDone
          (loop $inByte
            (br_if $byteDone (i32.or (i32.ge_u (local.get $dst) (local.get $end)) (i32.ge_u (local.get $bit) (i32.const 8))))
            (i32.store
              (local.get $dst)
              (i32.xor
                (local.get $scaleBits)
                (i32.shl (i32.shr_u (local.get $byte) (local.get $bit)) (i32.const 31))))
            (local.set $bit (i32.add (local.get $bit) (i32.const 1)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
            (br $inByte)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (br $tail)))))

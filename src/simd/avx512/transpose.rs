//! Whole tiles of short rows (16 f32 or 8 f64) to class-major buffers and back, with both halves
//! of the tile in one register (AVX-512F).
//!
//! The AVX2 copies (`avx2/transpose.rs`, same layout: `buf[c * 16 + l]` for row `l`, class `c`)
//! transpose 8×8 blocks of f32 (4×4 of f64) of one half of the tile's rows at a time, 24 (8)
//! shuffles per block. Here register `r` of a block holds row `r`'s block of classes in its low
//! half and row `r + 8`'s (`r + 4`'s) in its high half, and one transpose on 512-bit registers
//! moves both halves: its output `c` is class `c` of all the tile's rows, one store into the
//! buffer. Per 8 classes of 16 f32 rows that is 8 inserts and 24 shuffles (the last stage a
//! two-source permute), against 48 shuffles; per 4 classes of 8 f64 rows, 4 inserts and 8
//! shuffles against 16.
//!
//! Only whole tiles whose loads stay inside the input take this route; everything else (partial
//! tiles, a tile whose last row's last block would read past the input) takes the AVX2 copy.
//! Stores into the rows are 8 (4) wide, the last class block first (a store that runs into the
//! next row is overwritten by that row's own, later store), the low half's rows before the high
//! half's; one that would run past the tile is masked to the row's elements. Only data moves, so
//! the result is the same bits as the portable copy's.

use std::arch::x86_64::{
    __m256, __m256d, __m512, __m512d, _mm256_castpd_ps, _mm256_castps_pd, _mm256_loadu_pd,
    _mm256_loadu_ps, _mm256_storeu_pd, _mm256_storeu_ps, _mm512_castpd256_pd512,
    _mm512_castpd512_pd256, _mm512_castpd_ps, _mm512_castps512_ps256, _mm512_castps_pd,
    _mm512_extractf64x4_pd, _mm512_insertf64x4, _mm512_loadu_pd, _mm512_loadu_ps,
    _mm512_mask_storeu_pd, _mm512_mask_storeu_ps, _mm512_permutex2var_pd, _mm512_permutex2var_ps,
    _mm512_setr_epi32, _mm512_setr_epi64, _mm512_shuffle_ps, _mm512_storeu_pd, _mm512_storeu_ps,
    _mm512_unpackhi_pd, _mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps,
};

use super::super::avx2::transpose as avx2;
use super::super::lanes::{tile_len, SHORT_ROW};

/// Whether a tile of `rows` rows of `classes` takes the two-half route (`tile` rows: 16 f32,
/// 8 f64), with `len` elements of input from the tile on (gather) or of output in the tile
/// (scatter).
#[inline(always)]
fn whole_tile(tile: usize, rows: usize, classes: usize, buf_len: usize, len: usize) -> bool {
    rows == tile
        && classes > 0
        && classes < SHORT_ROW
        && buf_len >= tile_len(classes)
        && len >= tile * classes
}

/// Defines the gather and scatter of one element type: `$w` lanes per half register (8 f32, 4
/// f64), tiles of `2 * $w` rows, blocks of `$w` classes through `$transpose`; `$join` puts two
/// half registers into one, `$low` and `$high` take them back out, `$mask` is the store mask type.
macro_rules! two_half_copies {
    ($gather:ident, $scatter:ident, $t:ty, $full:ty, $w:literal, $load:ident,
     $store:ident, $loadu:ident, $storeu:ident, $mask_storeu:ident, $mask:ty, $join:ident,
     $low:ident, $high:ident, $transpose:ident, $avx2_gather:path, $avx2_scatter:path) => {
        /// Copies the first `2 * $w` rows of `src` (rows of `classes` elements) into
        /// `buf[c * 16 + l]`, as the AVX2 gather (which takes every other tile).
        #[inline]
        #[target_feature(enable = "avx512f,avx2")]
        pub(in crate::simd) fn $gather(src: &[$t], rows: usize, classes: usize, buf: &mut [$t]) {
            let blocks = classes.div_ceil($w);
            let last = (2 * $w - 1) * classes + $w * blocks;
            if !whole_tile(2 * $w, rows, classes, buf.len(), src.len()) || last > src.len() {
                $avx2_gather(src, rows, classes, buf);
                return;
            }
            let (p, q) = (src.as_ptr(), buf.as_mut_ptr());
            for b in 0..blocks {
                let cb = b * $w;
                // SAFETY: AVX-512F is available (target feature). Row r's block is $w elements
                // from r C + cb, and the last row's last block ends at `last` <= src.len()
                // (tested above).
                let v: [$full; $w] = std::array::from_fn(|r| unsafe {
                    $join(
                        $load(p.add(r * classes + cb)),
                        $load(p.add((r + $w) * classes + cb)),
                    )
                });
                for (c, col) in $transpose(v).into_iter().enumerate() {
                    // SAFETY: AVX-512F is available. cb + c < $w * blocks <= 8 * ceil(C / 8),
                    // and the 2 $w slots from (cb + c) * 16 lie below tile_len(classes) <=
                    // buf.len().
                    unsafe { $storeu(q.add((cb + c) * 16), col) };
                }
            }
        }

        /// Copies `buf[c * 16 + l]` back into the `2 * $w` rows of `dst`, as the AVX2 scatter
        /// (which takes every other tile); nothing outside `dst[..2 * $w * classes]` is
        /// written.
        #[inline]
        #[target_feature(enable = "avx512f,avx2")]
        pub(in crate::simd) fn $scatter(buf: &[$t], rows: usize, classes: usize, dst: &mut [$t]) {
            if !whole_tile(2 * $w, rows, classes, buf.len(), dst.len()) {
                $avx2_scatter(buf, rows, classes, dst);
                return;
            }
            let end = 2 * $w * classes;
            let (p, q) = (buf.as_ptr(), dst.as_mut_ptr());
            let mut cb = (classes - 1) / $w * $w;
            loop {
                // SAFETY: AVX-512F is available; the slots (cb + c) * 16 .. + 2 $w lie below
                // tile_len(classes) <= buf.len(), as in the gather.
                let v: [$full; $w] =
                    std::array::from_fn(|c| unsafe { $loadu(p.add((cb + c) * 16)) });
                let rows = $transpose(v);
                let k = (classes - cb).min($w);
                for half in 0..2 {
                    for (r, &row) in rows.iter().enumerate() {
                        let at = (r + $w * half) * classes + cb;
                        // SAFETY: AVX-512F is available. A full store writes dst[at..at + $w],
                        // inside dst[..end] (tested); a masked one only the row's k elements,
                        // at + k <= end, from a base $w * half elements before `at` (at >= $w
                        // when half is 1, since classes >= 1), with the high half's lanes for
                        // the high half's rows.
                        unsafe {
                            if at + $w <= end {
                                let h = if half == 0 { $low(row) } else { $high(row) };
                                $store(q.add(at), h);
                            } else {
                                let mask = (((1u32 << k) - 1) << ($w * half)) as $mask;
                                $mask_storeu(q.add(at - $w * half), mask, row);
                            }
                        }
                    }
                }
                if cb == 0 {
                    break;
                }
                cb -= $w;
            }
        }
    };
}

two_half_copies!(
    gather_f32,
    scatter_f32,
    f32,
    __m512,
    8,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_mask_storeu_ps,
    u16,
    join_f32,
    _mm512_castps512_ps256,
    high_f32,
    transpose8x2,
    avx2::gather_f32,
    avx2::scatter_f32
);
two_half_copies!(
    gather_f64,
    scatter_f64,
    f64,
    __m512d,
    4,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_mask_storeu_pd,
    u8,
    join_f64,
    _mm512_castpd512_pd256,
    high_f64,
    transpose4x2,
    avx2::gather_f64,
    avx2::scatter_f64
);

/// `lo` and `hi` as the low and high halves of one register. (AVX-512F has no 8×f32 insert; the
/// bits move as 4×f64.)
#[inline(always)]
fn join_f32(lo: __m256, hi: __m256) -> __m512 {
    // SAFETY: AVX-512F is available (callers' target feature).
    unsafe {
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(
            _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
            _mm256_castps_pd(hi),
        ))
    }
}

/// The high half of `v`.
#[inline(always)]
fn high_f32(v: __m512) -> __m256 {
    // SAFETY: AVX-512F is available (callers' target feature).
    unsafe { _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))) }
}

/// [`join_f32`] of f64.
#[inline(always)]
fn join_f64(lo: __m256d, hi: __m256d) -> __m512d {
    // SAFETY: AVX-512F is available (callers' target feature).
    unsafe { _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi) }
}

/// [`high_f32`] of f64.
#[inline(always)]
fn high_f64(v: __m512d) -> __m256d {
    // SAFETY: AVX-512F is available (callers' target feature).
    unsafe { _mm512_extractf64x4_pd::<1>(v) }
}

/// The 4×4 transpose of f64 in each 256-bit half (the AVX2 `transpose4`, on both halves).
#[inline(always)]
fn transpose4x2(r: [__m512d; 4]) -> [__m512d; 4] {
    // SAFETY: AVX-512F is available (callers' target feature). Indices 0-7 name the first
    // operand's elements, 8-15 the second's.
    unsafe {
        let t0 = _mm512_unpacklo_pd(r[0], r[1]);
        let t1 = _mm512_unpackhi_pd(r[0], r[1]);
        let t2 = _mm512_unpacklo_pd(r[2], r[3]);
        let t3 = _mm512_unpackhi_pd(r[2], r[3]);
        let lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
        let hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
        [
            _mm512_permutex2var_pd(t0, lo, t2),
            _mm512_permutex2var_pd(t1, lo, t3),
            _mm512_permutex2var_pd(t0, hi, t2),
            _mm512_permutex2var_pd(t1, hi, t3),
        ]
    }
}

/// The 8×8 transpose of each 256-bit half: element `c` of input `r`'s half becomes element `r`
/// of output `c`'s half (the AVX2 `transpose8`, on both halves at once).
#[inline(always)]
fn transpose8x2(r: [__m512; 8]) -> [__m512; 8] {
    // SAFETY: AVX-512F is available (callers' target feature). Unpacks and shuffles work within
    // 128-bit lanes as their AVX2 forms do; the last stage joins 128-bit lanes of two registers
    // within each half (AVX2's permute2f128 0x20 and 0x31).
    unsafe {
        let t0 = _mm512_unpacklo_ps(r[0], r[1]);
        let t1 = _mm512_unpackhi_ps(r[0], r[1]);
        let t2 = _mm512_unpacklo_ps(r[2], r[3]);
        let t3 = _mm512_unpackhi_ps(r[2], r[3]);
        let t4 = _mm512_unpacklo_ps(r[4], r[5]);
        let t5 = _mm512_unpackhi_ps(r[4], r[5]);
        let t6 = _mm512_unpacklo_ps(r[6], r[7]);
        let t7 = _mm512_unpackhi_ps(r[6], r[7]);
        let s0 = _mm512_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm512_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm512_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm512_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm512_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm512_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm512_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm512_shuffle_ps::<0xEE>(t5, t7);
        // Indices 0-15 name the first operand's elements, 16-31 the second's.
        let lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        let hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
        [
            _mm512_permutex2var_ps(s0, lo, s4),
            _mm512_permutex2var_ps(s1, lo, s5),
            _mm512_permutex2var_ps(s2, lo, s6),
            _mm512_permutex2var_ps(s3, lo, s7),
            _mm512_permutex2var_ps(s0, hi, s4),
            _mm512_permutex2var_ps(s1, hi, s5),
            _mm512_permutex2var_ps(s2, hi, s6),
            _mm512_permutex2var_ps(s3, hi, s7),
        ]
    }
}

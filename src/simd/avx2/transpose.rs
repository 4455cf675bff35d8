//! Short contiguous rows to class-major tiles and back with register transposes (AVX2).
//!
//! A tile of short rows (`classes < SHORT_ROW`, one row per lane) is computed on a class-major
//! copy, `buf[c * 16 + l]` for row `l`, class `c`. Copying it element by element costs about two
//! cycles per element, as much as the arithmetic on it; here blocks of 8×8 f32 (4×4 f64) are loaded
//! a row at a time, transposed in registers and stored a whole class block at a time (slots of
//! classes past the last get values nothing reads). A row's last block is loaded 8 (4) wide,
//! running into the next row; the caller passes the input from the tile to the end of its chunk, so
//! only a block that would run past that is loaded per row, with a `vmaskmov` for the rows at the
//! end. Stores into the rows are 8 (4) wide too, and a store running into the next row is
//! overwritten by that row's own, later store; at the end of the tile the store writes only the
//! row's elements (`vmaskmov` stores are slow on AMD), so nothing outside the tile is written. Rows
//! past the last whole block are copied one by one. Only data moves, so the result is the same bits
//! as the portable copy's.
//!
//! The AVX-512 path moves whole tiles with its own copies (`avx512/transpose.rs`: both halves of
//! a tile in one register) and calls these for the rest (its entry point enables avx2).

use std::arch::x86_64::{
    __m256, __m256d, __m256i, _mm256_cmpgt_epi32, _mm256_cmpgt_epi64, _mm256_loadu_pd,
    _mm256_loadu_ps, _mm256_maskload_pd, _mm256_maskload_ps, _mm256_permute2f128_pd,
    _mm256_permute2f128_ps, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_setr_epi32,
    _mm256_setr_epi64x, _mm256_shuffle_ps, _mm256_storeu_pd, _mm256_storeu_ps, _mm256_unpackhi_pd,
    _mm256_unpackhi_ps, _mm256_unpacklo_pd, _mm256_unpacklo_ps,
};

use super::super::lanes::{gather_rest, scatter_rest, tile_len, SHORT_ROW};

/// Defines the gather and scatter of one element type: `$w` lanes per register, blocks of
/// `$w` × `$w` through `$transpose`. Plain `while` loops and fixed-size arrays: iterator adaptors
/// (`step_by().rev()`, `take(k)`) here kept the transposed registers on the stack.
macro_rules! tile_copies {
    ($gather:ident, $scatter:ident, $t:ty, $v:ty, $w:literal, $loadu:ident, $maskload:ident,
     $storeu:ident, $mask:ident, $transpose:ident) => {
        /// Copies `rows` (at most 16) contiguous rows of `classes` (below `SHORT_ROW`) elements
        /// from the start of `src` into `buf[c * 16 + l]`. Reads may run past the rows into the
        /// rest of `src`; slots of classes past the last (up to the end of their block) get
        /// unspecified values. `buf` holds `tile_len(classes)` elements (else, or for rows not
        /// short, the element-by-element copy runs).
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(in crate::simd) fn $gather(src: &[$t], rows: usize, classes: usize, buf: &mut [$t]) {
            if classes == 0 || classes >= SHORT_ROW || buf.len() < tile_len(classes) {
                gather_rest(src, classes, 0..rows.min(16), buf);
                return;
            }
            let rows = whole_rows(rows, classes, src.len());
            let whole = rows - rows % $w;
            let mut rb = 0;
            while rb < whole {
                let mut cb = 0;
                while cb < classes {
                    let at = rb * classes + cb;
                    let v: [$v; $w] = if at + ($w - 1) * classes + $w <= src.len() {
                        // One test for the block (slice indexing per row would spill).
                        let p = src.as_ptr();
                        // SAFETY: AVX is available (target feature); row r's $w elements start
                        // at `at + r * classes`, and the last row's end is tested above.
                        std::array::from_fn(|r| unsafe { $loadu(p.add(at + r * classes)) })
                    } else {
                        let mask = $mask((classes - cb).min($w));
                        std::array::from_fn(|r| {
                            let row = &src[at + r * classes..];
                            // SAFETY: AVX is available; a full load reads `row[..$w]`, a masked
                            // load only the row's first `min(classes - cb, $w) <= row.len()`.
                            unsafe {
                                if row.len() >= $w {
                                    $loadu(row.as_ptr())
                                } else {
                                    $maskload(row.as_ptr(), mask)
                                }
                            }
                        })
                    };
                    let cols = $transpose(v);
                    let p = buf.as_mut_ptr();
                    for (c, col) in cols.into_iter().enumerate() {
                        // SAFETY: AVX is available. cb is a multiple of $w (which divides 8)
                        // below classes, so cb + c < classes rounded up to 8; rb + $w <= whole
                        // <= 16: the slots (cb + c) * 16 + rb .. + $w lie below
                        // tile_len(classes) <= buf.len() (classes < SHORT_ROW, a multiple of 8).
                        unsafe { $storeu(p.add((cb + c) * 16 + rb), col) };
                    }
                    cb += $w;
                }
                rb += $w;
            }
            gather_rest(src, classes, whole..rows, buf);
        }

        /// Copies `buf[c * 16 + l]` back into the `rows` (at most 16) rows of `dst` (the inverse
        /// of the gather); nothing outside `dst[..rows * classes]` is written.
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(in crate::simd) fn $scatter(buf: &[$t], rows: usize, classes: usize, dst: &mut [$t]) {
            if classes == 0 || classes >= SHORT_ROW || buf.len() < tile_len(classes) {
                scatter_rest(buf, classes, 0..rows.min(16), dst);
                return;
            }
            let rows = whole_rows(rows, classes, dst.len());
            let dst = &mut dst[..rows * classes];
            let whole = rows - rows % $w;
            let mut rb = 0;
            while rb < whole {
                // Last class block first: a full store that runs into the next row is
                // overwritten by that row's own store, which comes later.
                let mut cb = (classes - 1) / $w * $w;
                loop {
                    let p = buf.as_ptr();
                    // SAFETY: AVX is available; as in the gather, the slots lie below
                    // tile_len(classes) <= buf.len().
                    let v: [$v; $w] =
                        std::array::from_fn(|c| unsafe { $loadu(p.add((cb + c) * 16 + rb)) });
                    let out = $transpose(v);
                    let at = rb * classes + cb;
                    if at + ($w - 1) * classes + $w <= dst.len() {
                        // Every row's store fits (one test, so that the loop unrolls and the
                        // transposed rows stay in registers).
                        let p = dst.as_mut_ptr();
                        for (r, row) in out.into_iter().enumerate() {
                            // SAFETY: AVX is available; row r's $w elements start at
                            // `at + r * classes`, and the last row's end is tested above.
                            unsafe { $storeu(p.add(at + r * classes), row) };
                        }
                    } else {
                        // The tile's last rows: a store past `dst` writes the row's part only.
                        for (r, row) in out.into_iter().enumerate() {
                            let at = at + r * classes;
                            if let Some(d) = dst.get_mut(at..at + $w) {
                                // SAFETY: AVX is available; `d` holds $w writable elements.
                                unsafe { $storeu(d.as_mut_ptr(), row) };
                            } else {
                                let k = (classes - cb).min($w);
                                let mut lanes = [<$t>::default(); $w];
                                // SAFETY: AVX is available; `lanes` holds $w elements.
                                unsafe { $storeu(lanes.as_mut_ptr(), row) };
                                dst[at..at + k].copy_from_slice(&lanes[..k]);
                            }
                        }
                    }
                    if cb == 0 {
                        break;
                    }
                    cb -= $w;
                }
                rb += $w;
            }
            scatter_rest(buf, classes, whole..rows, dst);
        }
    };
}

tile_copies!(
    gather_f32,
    scatter_f32,
    f32,
    __m256,
    8,
    _mm256_loadu_ps,
    _mm256_maskload_ps,
    _mm256_storeu_ps,
    mask8,
    transpose8
);
tile_copies!(
    gather_f64,
    scatter_f64,
    f64,
    __m256d,
    4,
    _mm256_loadu_pd,
    _mm256_maskload_pd,
    _mm256_storeu_pd,
    mask4,
    transpose4
);

/// `rows` (at most 16), or fewer when a slice of `len` elements holds fewer rows of `classes`
/// (nonzero): the division only where the product does not fit.
#[inline(always)]
fn whole_rows(rows: usize, classes: usize, len: usize) -> usize {
    let rows = rows.min(16);
    if rows * classes <= len {
        rows
    } else {
        len / classes
    }
}

/// Lanes `0..k` (k <= 8) of 8 f32 selected.
#[inline(always)]
fn mask8(k: usize) -> __m256i {
    // SAFETY: AVX2 is available (callers' target feature). k <= 8 fits an i32.
    unsafe {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let k = _mm256_set1_epi32(k as i32);
        _mm256_cmpgt_epi32(k, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }
}

/// Lanes `0..k` (k <= 4) of 4 f64 selected.
#[inline(always)]
fn mask4(k: usize) -> __m256i {
    // SAFETY: AVX2 is available (callers' target feature). k <= 4 fits an i64.
    unsafe {
        #[allow(clippy::cast_possible_wrap)]
        let k = _mm256_set1_epi64x(k as i64);
        _mm256_cmpgt_epi64(k, _mm256_setr_epi64x(0, 1, 2, 3))
    }
}

/// The 8×8 transpose: element `c` of input `r` becomes element `r` of output `c`.
#[inline(always)]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: AVX is available (callers' target feature). Unpacks interleave row pairs,
    // shuffles gather 4-element column pieces per 128-bit half, permutes join the halves.
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ]
    }
}

/// The 4×4 transpose of f64.
#[inline(always)]
fn transpose4(r: [__m256d; 4]) -> [__m256d; 4] {
    // SAFETY: AVX is available (callers' target feature).
    unsafe {
        let t0 = _mm256_unpacklo_pd(r[0], r[1]);
        let t1 = _mm256_unpackhi_pd(r[0], r[1]);
        let t2 = _mm256_unpacklo_pd(r[2], r[3]);
        let t3 = _mm256_unpackhi_pd(r[2], r[3]);
        [
            _mm256_permute2f128_pd::<0x20>(t0, t2),
            _mm256_permute2f128_pd::<0x20>(t1, t3),
            _mm256_permute2f128_pd::<0x31>(t0, t2),
            _mm256_permute2f128_pd::<0x31>(t1, t3),
        ]
    }
}

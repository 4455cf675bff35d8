//! `Lanes::exp_in_range` gives `Lanes::exp`'s bits on its whole domain `[EXP_IN_RANGE_LO, 0]`
//! (and for NaN), on every supported path: its ends, the neighbour of the lower end, signed zeros,
//! subnormal and tiny arguments, and uniform samples both over the interval and over the bit
//! patterns inside it (10^7 each per dtype in `--release`).

use super::math::{EXP_IN_RANGE_LO_F32, EXP_IN_RANGE_LO_F64};
use super::supported;
use super::tests::{bits32, bits64, Func, Rng};

const SAMPLES: usize = if cfg!(debug_assertions) {
    200_000
} else {
    10_000_000
};

fn check32(x: &[f32]) {
    for path in supported() {
        let (full, fast) = (
            bits32(path, Func::Exp, x),
            bits32(path, Func::ExpInRange, x),
        );
        for ((&x, f), q) in x.iter().zip(full).zip(fast) {
            assert_eq!(f, q, "f32 exp_in_range({x:e}) [{}]", path.name());
        }
    }
}

fn check64(x: &[f64]) {
    for path in supported() {
        let (full, fast) = (
            bits64(path, Func::Exp, x),
            bits64(path, Func::ExpInRange, x),
        );
        for ((&x, f), q) in x.iter().zip(full).zip(fast) {
            assert_eq!(f, q, "f64 exp_in_range({x:e}) [{}]", path.name());
        }
    }
}

#[test]
fn exp_in_range_f32_is_exp() {
    let lo = EXP_IN_RANGE_LO_F32;
    let mut edges = vec![lo, lo.next_up(), -0.0, 0.0, -f32::from_bits(1), -1e-30];
    edges.extend([
        -f32::MIN_POSITIVE,
        -1.0,
        -0.5,
        f32::from_bits(0xffc0_1234),
        f32::NAN,
    ]);
    check32(&edges);
    let mut rng = Rng(0xe1);
    let lo_bits = lo.to_bits() & 0x7fff_ffff;
    let mut batch = Vec::with_capacity(1 << 16);
    for _ in 0..SAMPLES / (1 << 15) {
        batch.clear();
        for _ in 0..1 << 15 {
            let uniform = lo * rng.unit() as f32;
            let pattern = -f32::from_bits((rng.next() % u64::from(lo_bits + 1)) as u32);
            batch.extend([uniform, pattern]);
        }
        check32(&batch);
    }
}

#[test]
fn exp_in_range_f64_is_exp() {
    let lo = EXP_IN_RANGE_LO_F64;
    let mut edges = vec![lo, lo.next_up(), -0.0, 0.0, -f64::from_bits(1), -1e-300];
    edges.extend([
        -f64::MIN_POSITIVE,
        -1.0,
        -0.5,
        f64::from_bits(0x7ff8_0000_dead_beef),
    ]);
    check64(&edges);
    let mut rng = Rng(0xe2);
    let lo_bits = lo.to_bits() & 0x7fff_ffff_ffff_ffff;
    let mut batch = Vec::with_capacity(1 << 16);
    for _ in 0..SAMPLES / (1 << 15) {
        batch.clear();
        for _ in 0..1 << 15 {
            let uniform = lo * rng.unit();
            let pattern = -f64::from_bits(rng.next() % (lo_bits + 1));
            batch.extend([uniform, pattern]);
        }
        check64(&batch);
    }
}

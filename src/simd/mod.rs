//! Vectorised `exp`/`ln` and the lane abstraction the kernels are written in, with runtime CPU
//! dispatch.
//!
//! Paths: [`Path::Avx512`] (x86-64 AVX-512F, one 16×f32 register per [`Lanes`] value),
//! [`Path::Avx2`] (x86-64 AVX2+FMA, two 8×f32 registers), [`Path::Neon`] (aarch64, four 4×f32
//! registers) and [`Path::Scalar`] (portable arrays). The active path is chosen once per
//! process — the best the CPU supports, lowered by `SOFTLOSS_SIMD=scalar|avx2|avx512|neon` if
//! set (a request the CPU cannot honour falls back to the best supported path that is not
//! higher; unknown values are ignored).
//!
//! Kernels are generic over an [`Isa`] and run through [`dispatch`], which instantiates them inside
//! a `#[target_feature]` entry point for the active path. Every path executes the same IEEE
//! operations in the same order (FMA everywhere, fixed reduction trees, the `exp`/`ln` of `math.rs`
//! lane by lane), so results are bitwise identical across paths and machines.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod lanes;
pub mod math;
#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;
mod stores;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_exp_in_range;
#[cfg(test)]
mod tests_paths;
#[cfg(test)]
mod tests_tiny;

pub use lanes::{tile_len, Isa, Lanes, SHORT_ROW, TILE_BUF};
pub use portable::Portable;
pub use stores::streaming_stores;

use std::sync::OnceLock;

/// An implementation path for the kernels in this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// Portable scalar code (always available).
    Scalar,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
    /// aarch64 Advanced SIMD (NEON).
    Neon,
}

const ALL: [Path; 4] = [Path::Scalar, Path::Avx2, Path::Avx512, Path::Neon];

impl Path {
    /// Lower-case name, as accepted by `SOFTLOSS_SIMD`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Path::Scalar => "scalar",
            Path::Avx2 => "avx2",
            Path::Avx512 => "avx512",
            Path::Neon => "neon",
        }
    }

    /// Parses a `SOFTLOSS_SIMD` value (case-insensitive); `None` if unknown.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Path> {
        ALL.into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Rank used for "not higher than" fallbacks (NEON ranks with AVX2).
    fn rank(self) -> u8 {
        match self {
            Path::Scalar => 0,
            Path::Avx2 | Path::Neon => 1,
            Path::Avx512 => 2,
        }
    }

    /// Whether this CPU (detected at run time) can execute the path.
    #[must_use]
    pub fn is_supported(self) -> bool {
        match self {
            Path::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
            }
            // NEON is mandatory on aarch64.
            #[cfg(target_arch = "aarch64")]
            Path::Neon => true,
            #[allow(unreachable_patterns)] // every arm above may be cfg'd in
            _ => false,
        }
    }
}

/// All paths this CPU supports, lowest first (always starts with `Scalar`).
#[must_use]
pub fn supported() -> Vec<Path> {
    ALL.into_iter().filter(|p| p.is_supported()).collect()
}

/// The best supported path whose rank is not higher than `want`'s.
/// Never returns an unsupported path (the invariant the dispatch relies on).
#[must_use]
pub fn resolve(want: Path) -> Path {
    static TABLE: OnceLock<[Path; 4]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        ALL.map(|w| {
            ALL.into_iter()
                .filter(|p| p.is_supported() && p.rank() <= w.rank())
                .max_by_key(|p| p.rank())
                .unwrap_or(Path::Scalar)
        })
    });
    table[want as usize]
}

/// The path used by the non-`_with` functions, chosen once per process:
/// the best supported path, lowered by `SOFTLOSS_SIMD` if set.
#[must_use]
pub fn active() -> Path {
    static ACTIVE: OnceLock<Path> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let requested = std::env::var("SOFTLOSS_SIMD")
            .ok()
            .and_then(|v| Path::from_name(&v))
            .unwrap_or(Path::Avx512);
        resolve(requested)
    })
}

/// A computation generic over the instruction set, run by [`dispatch`].
pub trait Kernel {
    /// What the computation returns.
    type Output;
    /// Runs on instruction set `I` (implementations are `#[inline(always)]` so that they are
    /// compiled inside the entry point's target features).
    fn run<I: Isa>(self, isa: I) -> Self::Output;
}

/// Runs `k` on the active path.
pub fn dispatch<K: Kernel>(k: K) -> K::Output {
    dispatch_on(active(), k)
}

/// Runs `k` on `path`, lowered to a supported one (for tests and benchmarks).
pub fn dispatch_on<K: Kernel>(path: Path, k: K) -> K::Output {
    match resolve(path) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `resolve` only yields paths whose features were detected at run time
        // (`is_supported` checks avx512f; every AVX-512F CPU also implements avx2 and fma).
        Path::Avx512 => unsafe { entry_avx512(k) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above (avx2 and fma detected).
        Path::Avx2 => unsafe { entry_avx2(k) },
        // NEON is part of the aarch64 baseline: no target-feature entry point needed.
        #[cfg(target_arch = "aarch64")]
        Path::Neon => k.run(neon::Neon::new()),
        _ => k.run(Portable),
    }
}

/// # Safety
/// The CPU must support avx512f, avx2 and fma.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn entry_avx512<K: Kernel>(k: K) -> K::Output {
    // SAFETY: the caller guarantees the features `Avx512` stands for.
    k.run(unsafe { avx512::Avx512::new() })
}

/// # Safety
/// The CPU must support avx2 and fma.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn entry_avx2<K: Kernel>(k: K) -> K::Output {
    // SAFETY: the caller guarantees the features `Avx2` stands for.
    k.run(unsafe { avx2::Avx2::new() })
}

//! Whether outputs far larger than the last-level cache are written with non-temporal stores
//! (`kernels::streams`), chosen once per process.
//!
//! Measured on the 2-core AVX-512 machines this project runs on: on Intel Xeons the streamed
//! softmax and log_softmax route ran at 0.84-0.93x of the plain route's time with `out=`
//! (unchanged into a new array); on an AMD EPYC (Zen 4), the non-temporal stores alone put
//! softmax rows at 0.90-3.04x the plain-store time (35 of 40 rows at 1.1x or more) and
//! log_softmax rows at 0.87-2.13x (`benches/streaming_stores.py`). So the default is on, except on AMD and Hygon
//! x86-64 CPUs; `SOFTLOSS_STREAMING_STORES=on|off` overrides it.

use std::sync::OnceLock;

/// Whether kernels may write their largest outputs with non-temporal stores:
/// `SOFTLOSS_STREAMING_STORES` (`on`/`off`, `1`/`0`, `true`/`false`, case-insensitive) if set to
/// one of those, else [`cpu_default`].
#[must_use]
pub fn streaming_stores() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("SOFTLOSS_STREAMING_STORES")
            .ok()
            .and_then(|v| parse_switch(&v))
            .unwrap_or_else(cpu_default)
    })
}

/// `on`/`off` (and `1`/`0`, `true`/`false`), case-insensitive; `None` for anything else.
fn parse_switch(v: &str) -> Option<bool> {
    let v = v.trim();
    let is = |names: [&str; 3]| names.iter().any(|n| v.eq_ignore_ascii_case(n));
    if is(["on", "1", "true"]) {
        Some(true)
    } else if is(["off", "0", "false"]) {
        Some(false)
    } else {
        None
    }
}

/// The default of [`streaming_stores`] for this CPU: off on AMD and Hygon x86-64 CPUs, on
/// elsewhere.
#[must_use]
pub fn cpu_default() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !matches!(&vendor(), b"AuthenticAMD" | b"HygonGenuine")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// The CPU's vendor string (CPUID leaf 0).
#[cfg(target_arch = "x86_64")]
fn vendor() -> [u8; 12] {
    let r = std::arch::x86_64::__cpuid(0);
    let mut v = [0u8; 12];
    for (bytes, reg) in v.chunks_exact_mut(4).zip([r.ebx, r.edx, r.ecx]) {
        bytes.copy_from_slice(&reg.to_le_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_values_parse_and_unknown_ones_are_ignored() {
        for on in ["on", "ON", " 1", "true", "True "] {
            assert_eq!(parse_switch(on), Some(true), "{on:?}");
        }
        for off in ["off", "Off", "0", "false", "FALSE"] {
            assert_eq!(parse_switch(off), Some(false), "{off:?}");
        }
        for other in ["", "yes", "2", "stream", "o n"] {
            assert_eq!(parse_switch(other), None, "{other:?}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vendor_string_is_printable_ascii() {
        let v = vendor();
        assert!(v.iter().all(u8::is_ascii_graphic), "{v:?}");
        let amd = matches!(&v, b"AuthenticAMD" | b"HygonGenuine");
        assert_eq!(cpu_default(), !amd);
    }
}

//! The crate's one private rayon pool, the size thresholds, thread-count control and a fork guard.
//!
//! * Thread count: `SOFTLOSS_NUM_THREADS`, else `RAYON_NUM_THREADS`, else the CPU count;
//!   [`set_num_threads`] rebuilds the pool. The global rayon pool is never used. The calling
//!   thread is one of the threads: it works on the chunks beside `n - 1` pool threads ([`share`]),
//!   which wait a while for the next call before they sleep ([`crew`],
//!   `SOFTLOSS_HELPER_WAIT_US`).
//! * Work is split into chunks of whole items (rows or `(classes, inner)` blocks) of at least
//!   [`TASK_ELEMS`] elements, and into at most [`MAX_CHUNKS`] chunks. The chunking depends only on
//!   the sizes, never on the thread count, and per-chunk results come back in chunk order, so
//!   reductions are bitwise reproducible.
//! * Below [`PARALLEL_MIN_ELEMS`] everything runs on the calling thread.
//! * Fork guard: the pool's state remembers the process id that made it. A forked child (whose
//!   copy of the pool has no threads, and whose copy of the state's lock may be held by a parent
//!   thread that does not exist in it, e.g. one building the pool at the moment of the fork)
//!   leaves that state alone and makes a fresh one, instead of waiting forever on either. And no
//!   fork happens while a pool is being built ([`fork_fence`]): glibc can hand a child forked in
//!   the middle of a `pthread_create` a heap that the child's own next thread corrupts.

mod crew;
mod fork_fence;
mod share;

use crew::Crew;
use rayon::ThreadPoolBuilder;
use std::ops::Range;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Minimum elements per task (64 KiB of f32): smaller tasks cost more to schedule than to run.
pub const TASK_ELEMS: usize = 16 * 1024;
/// The most chunks a call is split into: enough to balance 16 threads with room to spare.
pub const MAX_CHUNKS: usize = 64;
/// Below this many elements a call stays on the calling thread: two chunks' worth. With the
/// calling thread at work ([`share`]) a call of two chunks already gains from a second thread:
/// 1.1-1.9x faster than on one at 40-64K elements
/// (`benches/results/parallel-threshold-avx512-2core.txt`).
pub const PARALLEL_MIN_ELEMS: usize = 2 * TASK_ELEMS;

/// The largest thread count accepted: far past any useful count (work is split into chunks of
/// at least 16K elements), and small enough that a typo cannot make the next call spend seconds
/// starting threads.
pub const MAX_THREADS: usize = 1024;

/// Requested thread count; 0 means "not read from the environment yet".
static THREADS: AtomicUsize = AtomicUsize::new(0);
/// The pool of one process, and the process id that made it.
struct PoolState {
    pid: u32,
    pool: Mutex<Option<Arc<Crew>>>,
}

/// This process's [`PoolState`] (null before first use). Never freed: a forked child leaks its
/// copy of the parent's, whose lock it cannot trust.
static STATE: AtomicPtr<PoolState> = AtomicPtr::new(std::ptr::null_mut());

/// The pool state of this process, made on first use and again after a fork.
fn state() -> &'static PoolState {
    let pid = std::process::id();
    loop {
        let current = STATE.load(Ordering::Acquire);
        // SAFETY: a non-null STATE points to a leaked `Box<PoolState>` (below), never freed.
        if let Some(st) = unsafe { current.as_ref() } {
            if st.pid == pid {
                return st;
            }
        }
        let fresh = Box::into_raw(Box::new(PoolState {
            pid,
            pool: Mutex::new(None),
        }));
        match STATE.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` is now STATE's, leaked for the rest of the process.
            Ok(_) => return unsafe { &*fresh },
            // Another thread installed one first: free ours (never shared) and use that.
            // SAFETY: `fresh` came from `Box::into_raw` above and was never published.
            Err(_) => drop(unsafe { Box::from_raw(fresh) }),
        }
    }
}

fn env_threads() -> usize {
    ["SOFTLOSS_NUM_THREADS", "RAYON_NUM_THREADS"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find_map(|v| v.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            |n| n.min(MAX_THREADS),
        )
}

/// The number of threads parallel kernels use.
#[must_use]
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = env_threads();
            // Another thread may have raced us with set_num_threads: keep whatever is there.
            match THREADS.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => n,
                Err(current) => current,
            }
        }
        n => n,
    }
}

/// Sets the thread count (`1 <= n <= MAX_THREADS`) and drops the current pool; the next parallel
/// call builds a new one. Returns `false` (and changes nothing) for any other `n`.
pub fn set_num_threads(n: usize) -> bool {
    if n == 0 || n > MAX_THREADS {
        return false;
    }
    let mut pool = state().pool.lock().unwrap_or_else(PoisonError::into_inner);
    THREADS.store(n, Ordering::Relaxed);
    *pool = None;
    true
}

/// The pool for this process, built on first use (or after `set_num_threads`, or after a fork).
fn pool() -> Option<Arc<Crew>> {
    // A forked child gets a fresh state: the parent's pool, whose workers do not exist here, is
    // leaked with the parent's state rather than dropped (its destructor would signal them).
    let mut slot = state().pool.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = slot.as_ref() {
        return Some(Arc::clone(pool));
    }
    let built = fork_fence::building(|| {
        ThreadPoolBuilder::new()
            // The calling thread works too (`share`): the pool holds the other threads.
            .num_threads(num_threads().saturating_sub(1).max(1))
            .thread_name(|i| format!("softloss-{i}"))
            .build()
    })
    .ok()
    .map(|pool| Arc::new(Crew::new(pool, crew::helper_wait())))?;
    *slot = Some(Arc::clone(&built));
    Some(built)
}

/// Items per chunk: at least [`TASK_ELEMS`] elements, and few enough chunks (at most
/// [`MAX_CHUNKS`]) that a chunk holds several long rows, so that row kernels can overlap one
/// row's memory traffic with the previous row's arithmetic.
#[must_use]
pub fn items_per_chunk(items: usize, item_elems: usize) -> usize {
    TASK_ELEMS
        .div_ceil(item_elems.max(1))
        .max(items.div_ceil(MAX_CHUNKS))
        .max(1)
}

/// Runs `f` over fixed chunks of `items` items, handing each chunk its item range and its pieces of
/// `out_a` and `out_b` (`a_per` and `b_per` elements per item; either may be 0 with an empty
/// slice). `item_elems` is the work per item, for the size thresholds. Returns the chunk results
/// in chunk order, whatever the thread count.
pub fn map_chunks<A, B, R, F>(
    items: usize,
    item_elems: usize,
    out_a: &mut [A],
    a_per: usize,
    out_b: &mut [B],
    b_per: usize,
    f: F,
) -> Vec<R>
where
    A: Send,
    B: Send,
    R: Send,
    F: Fn(Range<usize>, &mut [A], &mut [B]) -> R + Sync,
{
    let per = items_per_chunk(items, item_elems);
    let n_chunks = items.div_ceil(per);
    let run = |c: usize, a: &mut [A], b: &mut [B]| f(c * per..((c + 1) * per).min(items), a, b);
    if n_chunks == 1 {
        // The common small call: no splitting, no allocation beyond the result.
        let a = if a_per == 0 { &mut [] } else { out_a };
        let b = if b_per == 0 { &mut [] } else { out_b };
        return vec![run(0, a, b)];
    }
    let a_parts = chunk_or_empty(out_a, a_per * per, n_chunks);
    let b_parts = chunk_or_empty(out_b, b_per * per, n_chunks);
    let parallel =
        n_chunks > 1 && items.saturating_mul(item_elems) >= PARALLEL_MIN_ELEMS && num_threads() > 1;
    let pool = if parallel { pool() } else { None };
    match pool {
        Some(pool) => {
            // Each chunk's pieces and result slot, taken and filled by whichever thread claims it.
            let parts: Vec<_> = a_parts
                .into_iter()
                .zip(b_parts)
                .map(|p| Mutex::new(Some(p)))
                .collect();
            let results: Vec<Mutex<Option<R>>> = (0..n_chunks).map(|_| Mutex::new(None)).collect();
            pool.run(num_threads() - 1, n_chunks, &|c| {
                let taken = parts
                    .get(c)
                    .and_then(|p| p.lock().unwrap_or_else(PoisonError::into_inner).take());
                if let (Some((a, b)), Some(slot)) = (taken, results.get(c)) {
                    let r = run(c, a, b);
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
                }
            });
            results
                .into_iter()
                .filter_map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
                .collect()
        }
        None => a_parts
            .into_iter()
            .zip(b_parts)
            .enumerate()
            .map(|(c, (a, b))| run(c, a, b))
            .collect(),
    }
}

/// Splits `s` into `n` consecutive pieces of `width` elements (the last may be shorter); a zero
/// width (where `chunks_mut` would panic) gives `n` empty pieces.
fn chunk_or_empty<T>(s: &mut [T], width: usize, n: usize) -> Vec<&mut [T]> {
    if width == 0 {
        return (0..n).map(|_| <&mut [T]>::default()).collect();
    }
    let mut parts: Vec<&mut [T]> = s.chunks_mut(width).collect();
    parts.resize_with(n, <&mut [T]>::default);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_item_once_in_order() {
        let items = 100_000;
        let mut out = vec![0u32; items * 2];
        let ranges = map_chunks(items, 8, &mut out, 2, &mut [] as &mut [u8], 0, |r, a, _| {
            for (k, v) in a.iter_mut().enumerate() {
                *v = (r.start * 2 + k) as u32;
            }
            r
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v as usize == i));
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(ranges.last().map(|r| r.end), Some(items));
    }

    #[test]
    fn shared_chunks_run_once_each_whatever_the_helper_count() {
        let pool = ThreadPoolBuilder::new().num_threads(3).build();
        let Ok(pool) = pool else { return };
        let crew = Crew::new(pool, crew::DEFAULT_HELPER_WAIT);
        for (helpers, n) in [(0, 5), (1, 1), (1, 64), (3, 7), (7, 3), (16, 64)] {
            let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            crew.run(helpers, n, &|c| {
                counts[c].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                counts.iter().all(|k| k.load(Ordering::Relaxed) == 1),
                "{helpers} {n}"
            );
        }
    }

    #[test]
    fn a_panicking_chunk_is_resumed_on_the_caller_after_every_chunk() {
        let pool = ThreadPoolBuilder::new().num_threads(2).build();
        let Ok(pool) = pool else { return };
        let crew = Crew::new(pool, crew::DEFAULT_HELPER_WAIT);
        let finished = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crew.run(2, 16, &|c| {
                assert!(c != 5, "chunk 5");
                finished.fetch_add(1, Ordering::Relaxed);
            });
        }));
        assert!(caught.is_err());
        assert_eq!(finished.load(Ordering::Relaxed), 15);
    }

    #[test]
    fn thread_count_rejects_zero() {
        assert!(!set_num_threads(0));
        assert!(num_threads() >= 1);
    }
}

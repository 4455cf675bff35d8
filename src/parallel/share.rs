//! Work sharing between the calling thread and its helpers for one call.
//!
//! `ThreadPool::install` hands a call's whole job to the pool and parks the calling thread until
//! it is done: a hand-off to a worker, which may be parked itself, and one back, on the critical
//! path of every parallel call. On a VM each wake of a parked thread can cost microseconds, which
//! is the whole time of a cache-resident call. Here the calling thread works too: it posts the
//! call to its helpers (`crew.rs`) and starts on the chunks at once. Each thread owns a contiguous
//! run of the chunks and claims them front to back (one stream of memory per thread, as the
//! pool's halving split gave; interleaved chunks cost 13-26% on softmax `512x32000`, whose chunks
//! are 8 rows); a thread whose run is done claims the others' remaining chunks from their backs.
//! A helper that joins late finds its run taken and returns, so the caller never waits for a
//! thread to wake, only for chunks that a helper has claimed and is running. Which thread runs a
//! chunk does not change its result.
//!
//! Helpers outlive the call, while the task borrows the call's data, so the task is handed to them
//! as an untyped pointer with a function that calls it. That is sound because a helper calls it
//! only for a chunk it claimed (index below `n`), and the caller returns only after all `n`
//! chunks have finished: a helper that claims nothing never touches the pointer. A panic in a
//! chunk is caught where it happens, counted as finished, and resumed on the calling thread once
//! every chunk has finished.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Spins of the calling thread, waiting for a helper's last chunk, before it yields its core.
const SPINS_BEFORE_YIELD: u32 = 1 << 12;

/// What the calling thread and its helpers share for one call.
pub struct Shared {
    /// Per thread (the caller first), the chunks of its run not yet claimed: `[front, back)`,
    /// packed as `front | back << 32`. Its owner claims at the front, other threads at the back.
    runs: Vec<AtomicU64>,
    /// Chunks finished (their task returned or panicked).
    done: AtomicUsize,
    /// Seats handed out: the caller has seat 0 and owns run 0; each helper that joins takes the
    /// next seat, and owns that run if there is one.
    seats: AtomicUsize,
    /// The call's task (`F`, borrowed by `run`), called through `call` only for a claimed chunk
    /// (module docs).
    task: *const (),
    /// `call(task, c)` runs chunk `c`: [`call_task`] for the task's type.
    call: unsafe fn(*const (), usize),
    /// The first panic of a chunk, resumed by the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `task` points to a `Sync` closure that is only called (never moved or dropped) through
// the pointer, for claimed chunks, while the caller keeps it alive (module docs); the rest of
// `Shared` is atomics and a mutex.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`: shared access only calls the `Sync` task or touches atomics/the mutex.
unsafe impl Sync for Shared {}

impl Shared {
    /// Claims a chunk of run `r`: its first unclaimed one (`front`) or its last.
    fn claim(&self, r: usize, front: bool) -> Option<usize> {
        let run = self.runs.get(r)?;
        let mut packed = run.load(Ordering::Relaxed);
        loop {
            let (lo, hi) = (packed & 0xffff_ffff, packed >> 32);
            if lo >= hi {
                return None;
            }
            let (next, claimed) = if front {
                (packed + 1, lo)
            } else {
                (packed - (1 << 32), hi - 1)
            };
            match run.compare_exchange_weak(packed, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(claimed as usize),
                Err(now) => packed = now,
            }
        }
    }

    /// Runs chunk `c`, which this thread has claimed.
    fn execute(&self, c: usize) {
        // SAFETY: chunk `c` was claimed by this thread, so the caller is still inside `run` (it
        // returns only once `done == n`): `task` points to its live `F`, and `call` is
        // `call_task::<F>`.
        let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { (self.call)(self.task, c) }));
        if let Err(payload) = outcome {
            let mut slot = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
            slot.get_or_insert(payload);
        }
        self.done.fetch_add(1, Ordering::Release);
    }

    /// Thread `me`'s work: its own run front to back, then the other runs' rests from their backs.
    fn work(&self, me: usize) {
        while let Some(c) = self.claim(me, true) {
            self.execute(c);
        }
        let threads = self.runs.len();
        for r in (1..threads).map(|k| (me + k) % threads) {
            while let Some(c) = self.claim(r, false) {
                self.execute(c);
            }
        }
    }
}

impl Shared {
    /// A call of `n` chunks over `threads` threads (the caller and `threads - 1` helpers), in
    /// contiguous runs of `n / threads` chunks (a chunk count fits in 32 bits: at most
    /// `MAX_CHUNKS`). The caller must keep `task` alive until [`Shared::finish`] returns.
    pub fn new<F: Fn(usize) + Sync>(threads: usize, n: usize, task: &F) -> Self {
        let threads = threads.clamp(1, n.max(1));
        let bound = |t: usize| (t * n / threads) as u64;
        Shared {
            runs: (0..threads)
                .map(|t| AtomicU64::new(bound(t) | bound(t + 1) << 32))
                .collect(),
            done: AtomicUsize::new(0),
            seats: AtomicUsize::new(1),
            task: std::ptr::from_ref(task).cast(),
            call: call_task::<F>,
            panic: Mutex::new(None),
        }
    }

    /// The threads this call was planned for: the caller and its helpers.
    pub fn threads(&self) -> usize {
        self.runs.len()
    }

    /// A helper's part: takes the next seat and, if the call was planned with that many threads,
    /// works its run and then the others' rests. Extra helpers leave at once.
    pub fn join(&self) {
        let seat = self.seats.fetch_add(1, Ordering::Relaxed);
        if seat < self.runs.len() {
            self.work(seat);
        }
    }

    /// The caller's part: works run 0 and the others' rests, waits until every chunk of the `n`
    /// has finished, and resumes the first panic of a chunk, if any.
    pub fn finish(&self, n: usize) {
        self.work(0);
        let mut spins = 0;
        while self.done.load(Ordering::Acquire) < n {
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        let payload = self
            .panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(payload) = payload {
            resume_unwind(payload);
        }
    }
}

/// Runs chunk `c` of the task `task` points to.
///
/// # Safety
/// `task` must point to a live `F`.
unsafe fn call_task<F: Fn(usize)>(task: *const (), c: usize) {
    // SAFETY: the caller's contract: `task` points to a live `F`.
    let f = unsafe { &*task.cast::<F>() };
    f(c);
}

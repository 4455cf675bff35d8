//! The pool's helpers, which stay a while after a call to take the next one.
//!
//! A rayon worker that finds no work goes to sleep within microseconds, and waking it takes tens
//! of microseconds on a VM. A call made 100-300 µs after the last one waited for a helper that
//! came late, and ran slower on two threads than on one (0.43-0.71x the one-thread speed on
//! `64x1000` and `128x1000`, `benches/helper_latency.py --gaps 0 100 300 1000`). So a helper job
//! does not end with its call. It polls a mailbox for a while ([`DEFAULT_HELPER_WAIT`], as OpenMP
//! threads spin for their blocktime), yielding its core between polls so that it only takes time
//! no other runnable thread wants, takes the next call posted there, and ends after a wait without
//! one. A caller posts its call, counts the helper jobs still alive (queued, working or waiting),
//! and spawns only the missing ones, so jobs never pile up in the pool's queue.
//!
//! A helper ending its wait and a caller posting can cross. The helper gives up its place in the
//! count, then looks at the mailbox once more; the caller posts, then reads the count. With both
//! orders sequentially consistent, either the helper sees the new call (and takes its place back,
//! since that caller may have counted on it), or the caller sees the lower count and spawns a
//! helper. A helper that arrives after its call has ended, or one more than the call planned
//! for, finds nothing to claim and goes back to waiting.

use super::share::Shared;
use rayon::ThreadPool;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a helper polls for the next call before its job ends and its thread sleeps, unless
/// `SOFTLOSS_HELPER_WAIT_US` says otherwise.
pub const DEFAULT_HELPER_WAIT: Duration = Duration::from_millis(1);
/// Polls between two looks at the clock.
const POLLS_PER_CLOCK: u32 = 8;

/// A pool, and the mailbox its waiting helpers poll.
pub struct Crew {
    pool: ThreadPool,
    mailbox: Arc<Mailbox>,
}

/// The helper wait: `SOFTLOSS_HELPER_WAIT_US` microseconds (0: helpers end with their call), else
/// [`DEFAULT_HELPER_WAIT`]; at most a second.
pub fn helper_wait() -> Duration {
    std::env::var("SOFTLOSS_HELPER_WAIT_US")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_HELPER_WAIT, |us| {
            Duration::from_micros(us.min(1_000_000))
        })
}

/// The latest call, and how many helper jobs will look at it.
struct Mailbox {
    /// Calls posted so far (the latest call's number).
    posted: AtomicU64,
    /// The latest call and its number.
    latest: Mutex<Option<(u64, Arc<Shared>)>>,
    /// Helper jobs spawned and not yet ended: queued, working or waiting.
    live: AtomicUsize,
    /// How long a helper waits for the next call.
    wait: Duration,
}

impl Crew {
    /// A crew whose helpers run on `pool`'s threads and wait `wait` for the next call.
    pub fn new(pool: ThreadPool, wait: Duration) -> Self {
        Crew {
            pool,
            mailbox: Arc::new(Mailbox {
                posted: AtomicU64::new(0),
                latest: Mutex::new(None),
                live: AtomicUsize::new(0),
                wait,
            }),
        }
    }

    /// Runs `task(c)` once for every chunk `c < n`, on the calling thread and on up to `helpers`
    /// helpers, and returns when all have finished (resuming the first panic, if any).
    pub fn run<F: Fn(usize) + Sync>(&self, helpers: usize, n: usize, task: &F) {
        let shared = Arc::new(Shared::new(helpers + 1, n, task));
        let wanted = shared.threads() - 1;
        if wanted > 0 {
            let number = self.mailbox.post(&shared);
            let missing = wanted.saturating_sub(self.mailbox.live.load(SeqCst));
            self.mailbox.live.fetch_add(missing, SeqCst);
            for _ in 0..missing {
                let (mailbox, call) = (Arc::clone(&self.mailbox), Arc::clone(&shared));
                self.pool.spawn(move || mailbox.serve(call, number));
            }
        }
        shared.finish(n);
    }

    /// Helper jobs alive now (for tests).
    #[cfg(test)]
    pub fn live(&self) -> usize {
        self.mailbox.live.load(SeqCst)
    }
}

impl Mailbox {
    /// Makes `call` the latest; returns its number.
    fn post(&self, call: &Arc<Shared>) -> u64 {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let number = self.posted.load(SeqCst) + 1;
        *latest = Some((number, Arc::clone(call)));
        self.posted.store(number, SeqCst);
        number
    }

    /// A helper job: joins `call` (number `seen`), then each later call posted before a wait
    /// runs out.
    fn serve(&self, mut call: Arc<Shared>, mut seen: u64) {
        loop {
            call.join();
            drop(call);
            match self.next_call(seen) {
                Some((number, next)) => (seen, call) = (number, next),
                None => return,
            }
        }
    }

    /// Waits for a call after number `seen`. `None` when the wait ran out: the job has left the
    /// live count and ends.
    fn next_call(&self, seen: u64) -> Option<(u64, Arc<Shared>)> {
        let start = Instant::now();
        loop {
            for _ in 0..POLLS_PER_CLOCK {
                if self.posted.load(SeqCst) != seen {
                    return self.take_latest();
                }
                std::thread::yield_now();
            }
            if start.elapsed() >= self.wait {
                self.live.fetch_sub(1, SeqCst);
                if self.posted.load(SeqCst) == seen {
                    return None;
                }
                // A caller posted meanwhile and may have counted this job: take its call.
                self.live.fetch_add(1, SeqCst);
                return self.take_latest();
            }
        }
    }

    /// The latest call (there is one once `posted` has moved past a helper's call).
    fn take_latest(&self) -> Option<(u64, Arc<Shared>)> {
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if latest.is_none() {
            self.live.fetch_sub(1, SeqCst);
        }
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::ThreadPoolBuilder;
    use std::sync::atomic::AtomicBool;

    /// One call of two chunks whose first waits (up to 2 s) until the second has started: true
    /// when a helper ran the second chunk beside the caller.
    fn helper_took_part(crew: &Crew) -> bool {
        let started = AtomicUsize::new(0);
        let met = AtomicBool::new(false);
        crew.run(1, 2, &|c| {
            started.fetch_add(1, SeqCst);
            if c == 0 {
                let deadline = Instant::now() + Duration::from_secs(2);
                while started.load(SeqCst) < 2 && Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                met.store(started.load(SeqCst) == 2, SeqCst);
            }
        });
        met.load(SeqCst)
    }

    /// 200 calls in a row each get a helper without jobs piling up; the helper job ends after
    /// `wait`, and the next call gets a new one.
    fn check_helpers(wait: Duration) {
        let Ok(pool) = ThreadPoolBuilder::new().num_threads(1).build() else {
            return;
        };
        let crew = Crew::new(pool, wait);
        for call in 0..200 {
            assert!(helper_took_part(&crew), "call {call} ran without a helper");
            // One job, or two for a moment when a helper's wait ran out just as a call came.
            assert!(
                crew.live() <= 2,
                "{} helper jobs after call {call}",
                crew.live()
            );
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while crew.live() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(crew.live(), 0, "the helper did not end after its wait");
        assert!(
            helper_took_part(&crew),
            "no helper after the last one ended"
        );
    }

    #[test]
    fn a_waiting_helper_takes_each_call_and_ends_after_its_wait() {
        check_helpers(DEFAULT_HELPER_WAIT);
    }

    #[test]
    fn without_a_wait_each_call_spawns_its_helper() {
        check_helpers(Duration::ZERO);
    }

    #[test]
    fn calls_from_several_threads_each_run_every_chunk_once() {
        let Ok(pool) = ThreadPoolBuilder::new().num_threads(3).build() else {
            return;
        };
        let crew = Crew::new(pool, DEFAULT_HELPER_WAIT);
        std::thread::scope(|s| {
            for caller in 0..3 {
                let crew = &crew;
                s.spawn(move || {
                    for call in 0..300 {
                        let n = 2 + (call + caller) % 20;
                        let counts: Vec<AtomicUsize> =
                            (0..n).map(|_| AtomicUsize::new(0)).collect();
                        crew.run(1 + call % 3, n, &|c| {
                            counts[c].fetch_add(1, SeqCst);
                        });
                        assert!(counts.iter().all(|k| k.load(SeqCst) == 1));
                    }
                });
            }
        });
        // Each caller spawns only up to its call's helpers (at most 3) less the live jobs.
        assert!(crew.live() <= 3 * 3, "{} helper jobs", crew.live());
    }
}

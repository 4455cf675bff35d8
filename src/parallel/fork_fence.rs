//! Keeps `fork()` out of this process's pool builds.
//!
//! glibc's `pthread_create` can reuse the stack of a thread that has exited. It takes the stack
//! off its cache under a lock, releases the lock, and only then frees the old thread's dynamic
//! TLS blocks (`get_cached_stack` in `nptl/allocatestack.c`). A `fork()` from another thread in
//! that window gives the child a stack whose TLS blocks the parent has freed, which the child's
//! `__reclaim_stacks` puts back in its cache; the child's next `pthread_create` takes it and frees
//! those blocks again. The double free corrupts the child's heap: it aborted with "double free or
//! corruption (fasttop)", "unaligned fastbin chunk detected" or "malloc_consolidate(): invalid
//! chunk size" in 2 of 40,000 children forked while another parent thread rebuilt the pool in a
//! loop (`benches/fork_stress.py`), and in one CI run of the fork tests.
//!
//! Building a pool is the only place this crate starts threads. Every build holds the fence, and a
//! `pthread_atfork` prepare handler takes the fence too, so a fork waits for a build in progress
//! to end (a build takes well under a millisecond) and no build starts until the fork is done.
//! Threads that other code starts are outside this fence.

use std::sync::atomic::{AtomicBool, Ordering};

/// Held by a pool build, or by a fork from its prepare handler to its parent and child handlers.
static FENCE: AtomicBool = AtomicBool::new(false);

fn lock() {
    while FENCE
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

fn unlock() {
    FENCE.store(false, Ordering::Release);
}

/// Releases the fence when dropped, so that a build that unwinds still releases it.
struct Held;

impl Drop for Held {
    fn drop(&mut self) {
        unlock();
    }
}

/// Runs `build` (which may start threads) with the fence held: no `fork()` of this process
/// happens while it runs.
pub fn building<R>(build: impl FnOnce() -> R) -> R {
    install_fork_handlers();
    lock();
    let _held = Held;
    build()
}

#[cfg(unix)]
fn install_fork_handlers() {
    use std::sync::Once;
    static INSTALL: Once = Once::new();

    extern "C" fn prepare() {
        lock();
    }
    // In the child only the forking thread exists, and it holds the fence: an atomic store (which
    // is async-signal-safe) releases it.
    extern "C" fn after() {
        unlock();
    }

    INSTALL.call_once(|| {
        // SAFETY: the handlers are `extern "C"` functions without arguments that live as long as
        // the process; they only touch an atomic. A nonzero result (out of memory) leaves forks
        // unfenced, as they were before.
        let _ = unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
    });
}

#[cfg(not(unix))]
fn install_fork_handlers() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_is_released_after_a_build_and_after_a_panicking_one() {
        assert_eq!(building(|| 7), 7);
        let caught = std::panic::catch_unwind(|| building(|| panic!("build")));
        assert!(caught.is_err());
        assert_eq!(building(|| 8), 8);
    }

    #[cfg(unix)]
    #[test]
    fn a_fork_called_during_a_build_waits_for_its_end() {
        use std::sync::atomic::AtomicI32;
        use std::time::Duration;
        let forking = AtomicBool::new(false);
        let built = AtomicBool::new(false);
        let saw_built = AtomicBool::new(false);
        let status = AtomicI32::new(-1);
        std::thread::scope(|s| {
            building(|| {
                s.spawn(|| {
                    forking.store(true, Ordering::SeqCst);
                    // SAFETY: the child only calls `_exit`, which is async-signal-safe.
                    let pid = unsafe { libc::fork() };
                    if pid == 0 {
                        // SAFETY: ends the child at once, without running any of its destructors.
                        unsafe { libc::_exit(0) };
                    }
                    saw_built.store(built.load(Ordering::SeqCst), Ordering::SeqCst);
                    let mut st = 0;
                    // SAFETY: waits for the child forked above; `st` is a valid out-pointer.
                    unsafe { libc::waitpid(pid, &raw mut st, 0) };
                    status.store(st, Ordering::SeqCst);
                });
                while !forking.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                // The other thread is calling fork() now: without the fence it returns at once.
                std::thread::sleep(Duration::from_millis(50));
                built.store(true, Ordering::SeqCst);
            });
        });
        assert!(
            saw_built.load(Ordering::SeqCst),
            "fork returned during the build"
        );
        assert_eq!(
            status.load(Ordering::SeqCst),
            0,
            "the child did not exit cleanly"
        );
    }
}

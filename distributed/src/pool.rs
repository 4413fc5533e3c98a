//! The worker's delivery threads, kept between deliveries instead of one
//! new thread per delivery.
//!
//! Guarantees:
//! - a job submitted never waits for another job to end: it goes to a
//!   thread that is idle, or to a new one when none is (the pool grows to
//!   the most jobs that ran at once, never more);
//! - [`Pool::join`] returns once every job submitted before it has ended
//!   and every thread has exited;
//! - a thread lives from its first job until [`Pool::join`], so a child
//!   process spawned on it (whose parent-death signal is tied to the
//!   spawning thread) is never signalled because its thread ended early.

use crate::lock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Threads that run jobs.
pub(crate) struct Pool {
    tx: Sender<Job>,
    rx: Arc<Mutex<Receiver<Job>>>,
    /// Threads waiting for a job and not yet promised one by [`Pool::submit`].
    idle: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    /// An empty pool (threads start with the first jobs).
    pub(crate) fn new() -> Pool {
        let (tx, rx) = std::sync::mpsc::channel();
        Pool { tx, rx: Arc::new(Mutex::new(rx)), idle: Arc::new(AtomicUsize::new(0)), threads: Vec::new() }
    }

    /// Run `job` on an idle thread, or on a new one when none is idle.
    pub(crate) fn submit(&mut self, job: impl FnOnce() + Send + 'static) {
        // Promise an idle thread this job; none: start one more.
        let promised = self.idle.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if !promised {
            let (rx, idle) = (self.rx.clone(), self.idle.clone());
            self.threads.push(std::thread::spawn(move || serve(&rx, &idle)));
        }
        // Never fails: the pool holds the receiving end.
        let _ = self.tx.send(Box::new(job));
    }

    /// The threads started so far.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Wait for every job submitted to end and every thread to exit.
    pub(crate) fn join(self) {
        let Pool { tx, rx, threads, .. } = self;
        // The threads end once the queue is empty and closed.
        drop(tx);
        drop(rx);
        for t in threads {
            let _ = t.join();
        }
    }
}

/// A pool thread: run jobs until the pool is joined.
fn serve(rx: &Mutex<Receiver<Job>>, idle: &AtomicUsize) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = lock(rx).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
        idle.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn jobs_that_run_at_once_each_get_a_thread_and_threads_are_reused_after() {
        let mut pool = Pool::new();
        // Three jobs that can only end together: none may wait for another.
        let barrier = Arc::new(Barrier::new(3));
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let (b, r) = (barrier.clone(), ran.clone());
            pool.submit(move || {
                b.wait();
                r.fetch_add(1, Ordering::SeqCst);
            });
        }
        // Wait until all three threads are idle again.
        let t0 = std::time::Instant::now();
        while pool.idle.load(Ordering::SeqCst) < 3 {
            assert!(t0.elapsed() < std::time::Duration::from_secs(10), "the jobs never ended");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(pool.threads(), 3);
        for _ in 0..3 {
            let r = ran.clone();
            pool.submit(move || {
                r.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(pool.threads(), 3, "idle threads are reused, not new ones started");
        pool.join();
        assert_eq!(ran.load(Ordering::SeqCst), 6, "join waits for every job");
    }

    #[test]
    fn a_job_runs_on_a_thread_that_lives_until_the_pool_is_joined() {
        let mut pool = Pool::new();
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(move || {
            let _ = tx.send(std::thread::current().id());
        });
        let first = rx.recv_timeout(std::time::Duration::from_secs(10)).ok();
        let t0 = std::time::Instant::now();
        while pool.idle.load(Ordering::SeqCst) < 1 {
            assert!(t0.elapsed() < std::time::Duration::from_secs(10), "the job never ended");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(move || {
            let _ = tx.send(std::thread::current().id());
        });
        let second = rx.recv_timeout(std::time::Duration::from_secs(10)).ok();
        assert!(first.is_some());
        assert_eq!(first, second, "the second job ran on the first job's thread");
        pool.join();
    }
}

//! One request budget for the whole process.
//!
//! Every job shares the provider's rate limit, so the cap on requests per
//! second and on requests in flight is enforced here, once, rather than per
//! job. Requests are spaced evenly (no bursts): a fleet pass then costs the
//! provider a steady trickle instead of a spike that earns 429s.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Limiter {
    in_flight: Semaphore,
    /// Operations (a create or a delete, with its retries) under way at
    /// once: twice the requests allowed in flight, so the next request is
    /// always ready when one is answered. A fleet pass has thousands of jobs
    /// wanting to create or delete at the same moment; they wait here,
    /// small, instead of each holding a request's full state while queued
    /// for `in_flight` (about 1.5 KB per server at 5000 servers).
    ops: Semaphore,
    /// Operations waiting for admission: work that will take the whole
    /// request budget for a while.
    queued: AtomicUsize,
    /// Woken when `queued` drops to zero.
    drained: Notify,
    /// Minimum gap between two request starts; zero = no rate limit.
    spacing: Duration,
    next_start: Mutex<Option<Instant>>,
}

impl Limiter {
    /// `per_second <= 0` disables the rate limit; `max_concurrency` is at least 1.
    pub(crate) fn new(per_second: f64, max_concurrency: usize) -> Self {
        let spacing = if per_second > 0.0 {
            Duration::from_secs_f64(1.0 / per_second)
        } else {
            Duration::ZERO
        };
        Limiter {
            in_flight: Semaphore::new(max_concurrency.max(1)),
            ops: Semaphore::new(max_concurrency.max(1) * 2),
            queued: AtomicUsize::new(0),
            drained: Notify::new(),
            spacing,
            next_start: Mutex::new(None),
        }
    }

    /// Waits until an operation may start; hold the permit until it ends.
    /// Always taken before, never while holding, a request permit (and
    /// listings take none), so the two cannot deadlock.
    pub(crate) async fn admit(&self) -> SemaphorePermit<'_> {
        if let Ok(permit) = self.ops.try_acquire() {
            return permit;
        }
        let _queued = Queued::new(self);
        self.ops
            .acquire()
            .await
            .expect("the limiter's semaphore is never closed")
    }

    /// How many operations wait for admission.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Returns once no operation waits for admission.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.queued() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Waits for a free slot and for this request's turn; hold the permit
    /// until the response has been read.
    pub(crate) async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the limiter's semaphore is never closed");
        if !self.spacing.is_zero() {
            let start = {
                let mut next = self.next_start.lock().expect("limiter lock poisoned");
                let now = Instant::now();
                let start = next.map_or(now, |n| n.max(now));
                *next = Some(start + self.spacing);
                start
            };
            tokio::time::sleep_until(start).await;
        }
        permit
    }
}

/// Counts one operation waiting for admission, also when its wait is cancelled.
struct Queued<'a>(&'a Limiter);

impl<'a> Queued<'a> {
    fn new(limiter: &'a Limiter) -> Self {
        limiter.queued.fetch_add(1, Ordering::SeqCst);
        Queued(limiter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.0.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_evenly() {
        let limiter = Limiter::new(10.0, 4);
        let t0 = Instant::now();
        for _ in 0..5 {
            drop(limiter.acquire().await);
        }
        // 5 starts at 0, 100, 200, 300, 400 ms.
        assert_eq!(t0.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test]
    async fn admits_twice_the_requests_in_flight_and_counts_the_queue() {
        let limiter = std::sync::Arc::new(Limiter::new(0.0, 2));
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(limiter.admit().await);
        }
        assert!(limiter.ops.try_acquire().is_err());
        assert_eq!(limiter.queued(), 0);
        let waiter = {
            let limiter = std::sync::Arc::clone(&limiter);
            tokio::spawn(async move { drop(limiter.admit().await) })
        };
        while limiter.queued() == 0 {
            tokio::task::yield_now().await;
        }
        let drained = limiter.drained();
        drop(held);
        waiter.await.unwrap();
        drained.await;
        assert_eq!(limiter.queued(), 0);
    }

    #[tokio::test]
    async fn caps_concurrency() {
        let limiter = Limiter::new(0.0, 2);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        assert!(limiter.in_flight.try_acquire().is_err());
        drop(a);
        assert!(limiter.in_flight.try_acquire().is_ok());
    }
}

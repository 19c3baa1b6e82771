//! One request budget for the whole process.
//!
//! Every job shares the provider's rate limit, so the cap on requests per
//! second and on requests in flight is enforced here, once, rather than per
//! job. Requests are spaced evenly (no bursts): a fleet pass then costs the
//! provider a steady trickle instead of a spike that earns 429s.

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Limiter {
    in_flight: Semaphore,
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
            spacing,
            next_start: Mutex::new(None),
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
    async fn caps_concurrency() {
        let limiter = Limiter::new(0.0, 2);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        assert!(limiter.in_flight.try_acquire().is_err());
        drop(a);
        assert!(limiter.in_flight.try_acquire().is_ok());
    }
}

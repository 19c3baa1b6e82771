//! When a failed job is fired again for the same slot: the daemon's half of
//! "every slot gets its restore point".
//!
//! A cron-fired tool does not heal by itself the way sanoid's "is the
//! newest item older than the interval?" timer does: without this, a 5xx at
//! 03:00 costs a nightly policy its whole day. So a job that failed is
//! fired again for its slot after `retry_backoff`, doubling up to
//! [`MAX_BACKOFF`], while the slot's window is open: `retry_window` after
//! the slot, and never at or past the policy's next slot (that fire makes
//! its own restore point). Each retry is a whole job from a fresh listing,
//! so whatever landed meanwhile (a late create, another writer's item) is
//! adopted rather than made twice. Pure: time is an argument.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Policy;
use crate::pass::JobSpec;

/// The longest wait between two tries of one slot.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// The wait before retry number `retry` (1 = the first): `first`,
/// doubling, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(first: Duration, retry: u32) -> Duration {
    let doublings = retry.saturating_sub(1).min(20);
    first
        .checked_mul(1 << doublings)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// When retries of `slot` stop: `retry_window` after `from` (the slot; for
/// a catch-up run, which comes late, its first failure), or the policy's
/// next slot if that comes first. `None` when retries are off
/// (`retry_window = "0s"`).
pub(crate) fn window_end(
    policy: &Policy,
    slot: DateTime<Utc>,
    from: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if policy.retry_window.is_zero() {
        return None;
    }
    let by_window = TimeDelta::from_std(policy.retry_window)
        .ok()
        .and_then(|w| from.max(slot).checked_add_signed(w))?;
    Some(match policy.schedule.next_after(slot) {
        Some(next) => by_window.min(next),
        None => by_window,
    })
}

/// The job to fire, and when, after `failed` failed at `now`: the same
/// slot, one attempt later. `None` when the window is closed by then.
pub(crate) fn next_retry(
    policy: &Policy,
    failed: &JobSpec,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, JobSpec)> {
    let end = match failed.retry_until {
        Some(end) => end,
        None if failed.catch_up => window_end(policy, failed.slot, now)?,
        None => window_end(policy, failed.slot, failed.slot)?,
    };
    let retry = failed.attempt.saturating_add(1);
    let at =
        now.checked_add_signed(TimeDelta::from_std(backoff(policy.retry_backoff, retry)).ok()?)?;
    (at < end).then(|| {
        (
            at,
            JobSpec {
                attempt: retry,
                catch_up: false,
                retry_until: Some(end),
                ..failed.clone()
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config;

    fn policy(schedule: &str, extra: &str) -> Policy {
        let text = format!(
            "[[policy]]\nname = \"p\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"{schedule}\"\nkeep_last = 3\n{extra}"
        );
        config::parse_str(&text, "t.toml")
            .unwrap_or_else(|e| panic!("{e}"))
            .policies
            .remove(0)
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_fifteen_minutes() {
        let m = |n: u64| Duration::from_secs(60 * n);
        let waits: Vec<Duration> = (1..=7).map(|r| backoff(m(1), r)).collect();
        assert_eq!(waits, [m(1), m(2), m(4), m(8), m(15), m(15), m(15)]);
        assert_eq!(backoff(Duration::from_secs(20), 1), Duration::from_secs(20));
        assert_eq!(backoff(m(1), u32::MAX), m(15));
        assert_eq!(backoff(Duration::from_secs(366 * 86_400), 1), m(15));
    }

    #[test]
    fn the_window_is_retry_window_but_never_past_the_next_slot() {
        let daily = policy("0 3 * * *", "");
        let three = at("2025-02-01T03:00:00Z");
        assert_eq!(
            window_end(&daily, three, at("2025-02-01T12:00:00Z")),
            Some(at("2025-02-01T14:00:00Z")),
            "a catch-up at noon gets its window from noon"
        );
        assert_eq!(
            window_end(&daily, three, three),
            Some(at("2025-02-01T05:00:00Z")),
            "the default is 2h"
        );
        let hourly = policy("0 * * * *", "retry_window = \"2h\"\n");
        assert_eq!(
            window_end(&hourly, three, three),
            Some(at("2025-02-01T04:00:00Z"))
        );
        let off = policy("0 3 * * *", "retry_window = \"0s\"\n");
        assert_eq!(window_end(&off, three, three), None);
    }

    #[test]
    fn retries_come_at_1_2_4_8_15_minutes_and_stop_at_the_window() {
        let p = policy("0 3 * * *", "retry_window = \"40m\"\n");
        let mut spec = JobSpec::new(1, 0, at("2025-02-01T03:00:00Z"));
        let mut now = at("2025-02-01T03:00:30Z");
        let mut fired = Vec::new();
        while let Some((when, next)) = next_retry(&p, &spec, now) {
            assert_eq!(next.slot, spec.slot, "the same slot");
            assert!(!next.catch_up);
            fired.push(((when - now).num_seconds(), next.attempt));
            // Each try takes 30 s and fails again.
            now = when + TimeDelta::seconds(30);
            spec = next;
        }
        assert_eq!(
            fired,
            [(60, 1), (120, 2), (240, 3), (480, 4), (900, 5)],
            "03:01:30, 03:04, 03:08:30, 03:17, 03:32:30; 03:48 is past 03:40"
        );
    }

    #[test]
    fn a_catch_up_that_fails_is_retried_from_when_it_ran_until_the_window_closes() {
        // The daemon starts at noon and catches up the 03:00 slot; it fails.
        // The window (2h) counts from then, and stays where it was.
        let p = policy("0 3 * * *", "");
        let mut spec = JobSpec::new(1, 0, at("2025-02-01T03:00:00Z"));
        spec.catch_up = true;
        let (when, retry) = next_retry(&p, &spec, at("2025-02-01T12:00:00Z")).expect("retried");
        assert_eq!(when, at("2025-02-01T12:01:00Z"));
        assert_eq!(retry.retry_until, Some(at("2025-02-01T14:00:00Z")));
        assert!(next_retry(&p, &retry, at("2025-02-01T13:59:00Z")).is_none());
        // Without the catch-up mark, a slot nine hours old has no window.
        spec.catch_up = false;
        assert!(next_retry(&p, &spec, at("2025-02-01T12:00:00Z")).is_none());
    }
}

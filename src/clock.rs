//! Where "now" comes from.
//!
//! Logic never reads the clock itself: it is handed one. Production uses the
//! system clock; the demo runs a clock that jumps a day per pass so a
//! newcomer watches a week of rotation in seconds; tests pin time.

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

pub(crate) trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock shifted by an adjustable offset (the demo's time machine).
#[derive(Debug, Default)]
pub(crate) struct ShiftedClock {
    offset: Mutex<Duration>,
}

impl ShiftedClock {
    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().expect("clock lock")
    }
}

/// A clock that always says the same time (tests).
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedClock(pub(crate) DateTime<Utc>);

#[cfg(test)]
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Wall time that follows tokio's clock from a fixed start (tests): with
/// `#[tokio::test(start_paused = true)]` a day of the daemon's timers
/// passes in milliseconds, and the wall clock the daemon reads moves with
/// them.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
}

#[cfg(test)]
impl TokioClock {
    /// Reads `start` now; later reads add the tokio time elapsed since.
    pub(crate) fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(test)]
impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = Duration::from_std(self.origin.elapsed()).unwrap_or(Duration::MAX);
        self.start + elapsed
    }
}

/// A duration for people, two units at most: `45s`, `1h 30m`, `1d 12h`, `3d`.
pub(crate) fn compact_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (big, big_unit, small, small_unit) = match s {
        s if s < 60 => return format!("{s}s"),
        s if s < 3600 => (s / 60, "m", s % 60, "s"),
        s if s < 86_400 => (s / 3600, "h", s % 3600 / 60, "m"),
        s => (s / 86_400, "d", s % 86_400 / 3600, "h"),
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

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

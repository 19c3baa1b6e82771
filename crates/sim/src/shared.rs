//! The state the simulator's handle and its request handlers share: one
//! lock around the world, the faults, the RNG and the request log. Its own
//! module so that the handlers (`routes`, `control`) and the handle
//! (`server`) depend on it rather than on each other.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use tokio::time::Instant;

use super::faults::Faults;
use super::record::RequestLog;
use super::state::World;

/// State shared by the handle and the request handlers.
pub(crate) struct Shared {
    pub(crate) token: String,
    pub(crate) addr: SocketAddr,
    inner: Mutex<Inner>,
}

/// What changes while running; one lock, held briefly and never across an await.
pub(crate) struct Inner {
    pub(crate) world: World,
    pub(crate) faults: Faults,
    pub(crate) rng: fastrand::Rng,
    pub(crate) log: RequestLog,
}

impl Shared {
    pub(crate) fn new(token: String, addr: SocketAddr, inner: Inner) -> Shared {
        Shared {
            token,
            addr,
            inner: Mutex::new(inner),
        }
    }

    /// Locks the state, with every lifecycle settled against the clock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock (a bug in a test) should not make
        // every later request fail too.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let lag = inner.faults.list_lag;
        inner.world.settle(now);
        inner.world.forget_deleted(now, lag);
        inner
    }
}

//! The state the simulator's handle and its request handlers share: one
//! lock around the world, the faults, the RNG and the request log. Its own
//! module so that the handlers (`routes`, `control`) and the handle
//! (`server`) depend on it rather than on each other.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use tokio::time::Instant;

use super::faults::{Faults, ScriptCursor};
use super::record::RequestLog;
use super::state::World;

/// State shared by the handle and the request handlers.
pub(crate) struct Shared {
    /// Each account's (name, token); the first is the primary account
    /// (`default`, `SimConfig::token`). Its index is its world's.
    pub(crate) accounts: Vec<(String, String)>,
    pub(crate) addr: SocketAddr,
    inner: Mutex<Inner>,
}

/// What changes while running; one lock, held briefly and never across an await.
pub(crate) struct Inner {
    /// One world per account (same order as `Shared::accounts`): an
    /// account's token sees only its own servers and items.
    pub(crate) worlds: Vec<World>,
    /// The account whose request is being answered (set under the lock,
    /// before the request's work): what [`Inner::world`] is.
    pub(crate) active: usize,
    pub(crate) faults: Faults,
    /// How far `faults.scripts` have been played; set anew with the faults
    /// ([`Inner::set_faults`]).
    pub(crate) scripts: ScriptCursor,
    pub(crate) rng: fastrand::Rng,
    pub(crate) log: RequestLog,
}

impl Shared {
    pub(crate) fn new(accounts: Vec<(String, String)>, addr: SocketAddr, inner: Inner) -> Shared {
        Shared {
            accounts,
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
        for world in &mut inner.worlds {
            world.settle(now);
            world.forget_deleted(now, lag);
        }
        inner
    }

    /// The account whose token `token` is.
    pub(crate) fn account_of(&self, token: &str) -> Option<usize> {
        self.accounts.iter().position(|(_, t)| t == token)
    }
}

impl Inner {
    /// Replaces every fault; scripts start again from their first step.
    pub(crate) fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
        self.scripts = ScriptCursor::default();
    }

    /// The world of the account being answered.
    pub(crate) fn world(&mut self) -> &mut World {
        &mut self.worlds[self.active]
    }

    /// The world of the account being answered, to read.
    pub(crate) fn world_ref(&self) -> &World {
        &self.worlds[self.active]
    }
}

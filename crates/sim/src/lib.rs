//! The embedded VPS.org API simulator, used by `snapkeep demo`, `snapkeep sim`
//! and the tests — never by production code paths (tests/architecture.rs
//! checks that).
//!
//! snapkeep cannot be tested against the real provider: snapshots take
//! minutes, cost money, and the failures that matter (429s, 5xx, a create
//! whose response is lost, items stuck `in_progress`) cannot be provoked on
//! demand. This crate serves the part of the API snapkeep drives
//! (`/api/v1/snapshots/`, `/api/v1/backups/`, `/api/v1/servers/{id}/restore/`)
//! faithfully to the API digest in `crates/sim/VPS-ORG-API.md` (what VPS.org
//! documents and what it does not): DRF-style JSON and pagination,
//! bearer auth, the per-server caps, lifecycles that complete after a
//! configurable delay, list results in no useful order, and seeded,
//! reproducible fault injection (including the misbehaviours the API digest
//! lists: lagging lists, shifting pages, malformed items, absurd headers, and
//! other writers acting through [`Simulator`]), or faults scripted request by
//! request per server ([`Faults::with_script`]) where a test compares a
//! run's whole output. It records every request so
//! tests can check what the client did, not just where it ended up.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use snapkeep_sim::{Endpoint, FaultSpec, Faults, SimConfig, Simulator};
//! let sim = Simulator::start("127.0.0.1:0".parse().unwrap(), SimConfig::default()).await?;
//! sim.set_faults(Faults::none().with_endpoint(
//!     Endpoint::SnapshotsCreate,
//!     FaultSpec::none().with_lost_responses(1.0),
//! ));
//! // ... point the client at sim.base_url() with sim.token() ...
//! assert!(sim.max_snapshots_seen(12345) <= 5);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod conn;
mod control;
mod faults;
pub mod junk;
mod model;
mod options;
mod pagination;
mod record;
mod routes;
mod seed;
mod server;
mod shared;
mod state;
mod wire;

#[cfg(test)]
mod tests;

pub use faults::{
    DEFAULT_PAGE_SIZE, Endpoint, FaultScript, FaultSpec, Faults, InjectedFault, Scripted,
    UnknownEndpoint,
};
pub use model::{BackupType, SimBackup, SimServer, SimSnapshot, SimStatus};
pub use options::{AdversityOptions, SimOptions};
pub use record::{DEFAULT_RECORD_LIMIT, RecordedRequest};
pub use seed::{Seed, SeedBackup, SeedError, SeedFormat, SeedServer, SeedSnapshot, SeedTime};
pub use server::{PRIMARY_ACCOUNT, SimAccount, SimConfig, SimRefusal, Simulator};
pub use state::{MANUAL_BACKUP_CAP, SNAPSHOT_CAP};

//! How a job makes its API calls without growing: the one performance
//! mechanism inside the rotation rules, kept here so the rules read as
//! rules.
//!
//! A fleet pass holds one job future per server for the whole pass, mostly
//! waiting for an item to complete. A future is as big as the largest state
//! it can be in, so one HTTP call awaited inline would make every waiting
//! job as big as that call — kilobytes per server. [`OutOfLine`] puts each
//! call in its own allocation that lives only while the call runs, and
//! creates and deletes wait for the client's admission *before* their
//! request state exists (thousands of jobs can queue for admission at once).
//!
//! What it buys (BENCHMARKS.md, "Memory: what keeps a waiting job small"):
//! a server's task went from 6.5 KB to 1.4 KB and a 5000-server pass's peak
//! from 49 to 29 MiB when it was introduced; a waiting job's future is now
//! about 1.0 KB (`pass::rule_tests::a_waiting_job_stays_small` keeps it
//! under 1152 bytes).
//! Behaviour is the same as awaiting inline: only where the state lives
//! changes.
//!
//! Two layout rules go with it, because a future keeps room for a local
//! across every await that local's scope spans (for a local that was ever
//! borrowed, even after it was moved away), and keeps it in front of every
//! other await of the same function when the local spans several:
//! - what follows a create that did not go through (`Job::not_created`) is
//!   its own function, called through [`OutOfLine::call`]: its error and its
//!   searches are not part of the job that waits for completion;
//! - the created item is handed to `Job::accepted` (not async), which moves
//!   it into the job's items and report, so the wait that follows does not
//!   also hold it (and the create's `Result`) in the job's future.
//!
//! With `pass::run_server` an `async move` block (an async fn keeps its
//! arguments twice), they took a pass's per-server task from 2176 to 1792
//! bytes (`-Zprint-type-sizes`; a heap profile of a 5000-server pass: the
//! tasks are more than half of its peak).

use std::future::Future;
use std::pin::Pin;

use crate::api::Client;

/// Awaits API calls out of line (boxed), admitted first where the client
/// limits them. A namespace: it has no state.
pub(super) struct OutOfLine;

impl OutOfLine {
    /// `call`, boxed: the caller holds a pointer while it runs, not its
    /// state. Not `async`: an async fn would hold `call` inline itself.
    pub(super) fn call<F: Future>(call: F) -> Pin<Box<F>> {
        Box::pin(call)
    }

    /// Waits for the client's admission (a small wait), then builds the
    /// call and runs it boxed. Takes a closure, not a future, so nothing of
    /// the call exists while it waits.
    pub(super) async fn admitted<F: Future>(
        client: &Client,
        call: impl FnOnce() -> F,
    ) -> F::Output {
        let _turn = client.admit().await;
        Box::pin(call()).await
    }
}

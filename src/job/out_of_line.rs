//! How a job makes its API calls without growing: the one performance
//! mechanism at the edge of the rules (`job::rules` decides; `Job` calls
//! through here), kept apart so the rules read as rules.
//!
//! A fleet pass holds one job future per server for the whole pass, mostly
//! waiting for an item to complete. A future is as big as the largest state
//! it can be in, so one HTTP call awaited inline would make every waiting
//! job as big as that call. [`OutOfLine`] puts each call in its own
//! allocation that lives only while the call runs, and creates and deletes
//! wait for the client's admission *before* their request state exists
//! (thousands of jobs can queue for admission at once). Behaviour is the
//! same as awaiting inline: only where the state lives changes.
//!
//! What it buys, and what each layout choice below saved, is measured in
//! BENCHMARKS.md ("Memory: what keeps a waiting job small");
//! `pass::rule_tests::a_waiting_job_stays_small` holds the job's future
//! under its limit.
//!
//! Layout rules that go with it, because a future keeps room for a local
//! across every await that local's scope spans (for a local that was ever
//! borrowed, even after it was moved away), and for every nested async call
//! level:
//! - what follows a create that did not go through (`Job::not_created`) is
//!   its own function, called through [`OutOfLine::call`];
//! - the created item is handed to `Job::accepted` (not async), which moves
//!   it into the job's items and report, so the wait that follows does not
//!   also hold it;
//! - what a loop deletes is decided (and its texts made) before the loop,
//!   and the slot's keeper is waited for where it lies in the job's items;
//! - `pass::ServerTask::run` is an `async move` block over the task's one
//!   struct (an async fn keeps its arguments twice).

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

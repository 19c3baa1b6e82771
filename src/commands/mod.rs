//! One file per subcommand; each turns arguments into work and an exit code.

pub(crate) mod check;
pub(crate) mod daemon;
pub(crate) mod demo;
pub(crate) mod docs;
pub(crate) mod prune_orphans;
pub(crate) mod restore;
pub(crate) mod run_now;
pub(crate) mod schedule;
pub(crate) mod sim;
pub(crate) mod simulate;
pub(crate) mod status;
pub(crate) mod status_check;

/// `--from RFC3339` (schedule, simulate), or now.
pub(crate) fn from_arg(
    from: Option<&str>,
) -> Result<chrono::DateTime<chrono::Utc>, crate::error::AppError> {
    match from {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| {
                crate::error::AppError::Usage(format!(
                    "--from {text:?} is not RFC 3339 (e.g. 2025-03-30T00:00:00+01:00): {e}"
                ))
            }),
        None => Ok(chrono::Utc::now()),
    }
}

/// The async runtime every networked command runs on: two workers (the
/// daemon's footprint is measured with this; BENCHMARKS.md).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, crate::error::AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::error::AppError::io("cannot start the async runtime", e))
}

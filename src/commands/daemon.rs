//! The default command: run as a daemon. Wires the process's signals and
//! its config file to the daemon loop (`crate::daemon::run_loop`), which
//! takes them as inputs (`Control`, a reload function) so its tests drive
//! reload and shutdown in-process.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::info;

use crate::clock::SystemClock;
use crate::config::{self, Clients, Config};
use crate::daemon::{self, Control};
use crate::error::AppError;
use crate::metrics::Metrics;

/// Runs until SIGTERM/SIGINT; SIGHUP re-reads the config at `path`.
pub(crate) async fn run(path: PathBuf, config: Config, clients: Clients) -> Result<u8, AppError> {
    let watch = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| AppError::io(format!("cannot watch {name}"), e))
    };
    let mut term = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut int = watch(SignalKind::interrupt(), "SIGINT")?;
    let mut hup = watch(SignalKind::hangup(), "SIGHUP")?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let control = tokio::select! {
                _ = term.recv() => { info!("SIGTERM: finishing in-flight work, starting nothing new"); Control::Shutdown }
                _ = int.recv() => { info!("SIGINT: finishing in-flight work, starting nothing new"); Control::Shutdown }
                _ = hup.recv() => Control::Reload,
            };
            if tx.send(control).await.is_err() {
                return;
            }
        }
    });
    let reload = move |stats| config::load_and_connect(&path, stats);
    let metrics = Arc::new(Metrics::new());
    daemon::run_loop(config, clients, Arc::new(SystemClock), metrics, rx, reload).await?;
    Ok(0)
}

//! The default command: run as a daemon (see `crate::daemon`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::Client;
use crate::app::AppError;
use crate::clock::SystemClock;
use crate::config::Config;

pub(crate) async fn run(path: PathBuf, config: Config, client: Client) -> Result<u8, AppError> {
    crate::daemon::run(path, config, client, Arc::new(SystemClock)).await
}

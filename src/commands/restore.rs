//! `snapkeep restore`: put a server back to a snapshot or backup.
//!
//! Destructive and irreversible, so it demands `--yes` and says exactly what
//! it is about to overwrite. Not retried except on 429 (see the client).

use crate::api::Client;
use crate::cli::RestoreArgs;
use crate::error::AppError;

pub(crate) async fn run(client: Client, args: &RestoreArgs) -> Result<u8, AppError> {
    let what = match (args.snapshot, args.backup, args.server) {
        (Some(id), _, _) => format!("snapshot #{id}"),
        (None, Some(id), Some(server)) => format!("backup #{id} onto server {server}"),
        _ => {
            return Err(AppError::Usage(
                "restore needs --snapshot ID, or --backup ID --server ID".into(),
            ));
        }
    };
    if !args.yes {
        return Err(AppError::Usage(format!(
            "restoring {what} overwrites all current data on the server and cannot be undone; re-run with --yes to go ahead"
        )));
    }
    let result = match (args.snapshot, args.backup, args.server) {
        (Some(id), _, _) => client.restore_snapshot(id).await,
        (None, Some(id), Some(server)) => client.restore_backup(server, id).await,
        _ => unreachable!("checked above"),
    };
    match result {
        Ok(accepted) => {
            tracing::info!(action = "restore", target_item = %what, "restore accepted");
            println!(
                "restore of {what}: {} — {}",
                accepted.status.as_deref().unwrap_or("accepted"),
                accepted
                    .message
                    .as_deref()
                    .unwrap_or("VPS.org is restoring the server")
            );
            Ok(0)
        }
        Err(e) => Err(AppError::api(format!("restore of {what} failed"), e)),
    }
}

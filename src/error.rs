//! The errors that end a command, and the exit code each one means.
//!
//! Exit codes are a contract with schedulers: 0 everything succeeded, 1 a
//! job or the run failed, 2 the config or the command line is wrong (fix it
//! before retrying). Every variant keeps its cause (`source()`), and its
//! text says what to do next; `app::run` prints it once.

use crate::api::{ApiError, SetupError};
use crate::config::{ConfigError, StartError, TokenError};
use crate::daemon::DaemonError;
use crate::pass::SelectError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
    /// The config, the token or the HTTP client (`config::connect`).
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The command line asks for what cannot be; the text says what to do
    /// instead. (It has no cause: it is the cause.)
    #[error("{0}")]
    Usage(String),
    /// Input the command line points at is unusable (e.g. `snapkeep sim
    /// --seed FILE`); `what` names the command or the file.
    #[error("{what}: {source}")]
    Input {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The system refused something the command needs (a runtime, a socket,
    /// stdout); `what` says what was being done.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The provider refused or failed the operation the command exists for.
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: ApiError,
    },
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

impl AppError {
    /// `what` failed because of `source` (an I/O error).
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> AppError {
        AppError::Io {
            what: what.into(),
            source,
        }
    }

    /// `what` failed because of `source` (an API error).
    pub(crate) fn api(what: impl Into<String>, source: ApiError) -> AppError {
        AppError::Api {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            AppError::Start(_)
            | AppError::Select(_)
            | AppError::Usage(_)
            | AppError::Input { .. } => 2,
            AppError::Io { .. } | AppError::Api { .. } | AppError::Daemon(_) => 1,
        }
    }
}

/// `?` on a config, token or client error: each is a [`StartError`].
macro_rules! start_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> AppError {
                AppError::Start(StartError::from(e))
            }
        }
    )*};
}
start_error_from!(ConfigError, TokenError, SetupError);

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn wrapped_errors_keep_their_cause_and_their_text() {
        let e = AppError::io(
            "cannot watch SIGTERM",
            std::io::Error::other("no signal driver"),
        );
        assert_eq!(e.to_string(), "cannot watch SIGTERM: no signal driver");
        assert_eq!(e.source().unwrap().to_string(), "no signal driver");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(AppError::Usage("--from: bad".into()).exit_code(), 2);
    }
}

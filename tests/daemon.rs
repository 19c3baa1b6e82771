//! Daemon tests (filled in with the daemon issue).

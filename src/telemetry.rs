//! Logging setup.
//!
//! Logs go to stderr so stdout stays for results (summaries, dry-run plans,
//! JSON). Text logs drop their own timestamps under journald (which stamps
//! every line itself, and says so through `JOURNAL_STREAM`); JSON logs are
//! one flat object per line for collectors.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. Safe to call once per process.
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("snapkeep: bad log filter {filter:?} ({e}); using \"info\"");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            if std::env::var_os("JOURNAL_STREAM").is_some() {
                builder.with_ansi(false).without_time().try_init()
            } else {
                builder.with_ansi(ansi).try_init()
            }
        }
    };
    if let Err(e) = result {
        eprintln!("snapkeep: logging was already set up: {e}");
    }
}

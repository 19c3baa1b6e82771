//! Logging setup.
//!
//! Logs go to stderr so stdout stays for results (summaries, dry-run plans,
//! JSON). Text logs drop their own timestamps under journald (which stamps
//! every line itself, and says so through `JOURNAL_STREAM`); JSON logs are
//! one flat object per line for collectors.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FieldFn, Writer};

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
            let builder = builder.fmt_fields(text_fields());
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

/// Text fields: the message, then `key=value` pairs — except the audit
/// fields, whose content the audit message already reads out in words.
fn text_fields() -> FieldFn<
    impl Fn(&mut Writer<'_>, &tracing::field::Field, &dyn std::fmt::Debug) -> std::fmt::Result + Clone,
> {
    tracing_subscriber::fmt::format::debug_fn(
        |w: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
            let name = field.name();
            if name == "message" {
                write!(w, "{value:?}")
            } else if crate::events::AUDIT_FIELDS.contains(&name) {
                Ok(())
            } else {
                write!(w, " {name}={value:?}")
            }
        },
    )
}

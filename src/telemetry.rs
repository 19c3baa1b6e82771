//! Logging setup.
//!
//! Logs go to stderr so stdout stays for results (summaries, dry-run plans,
//! JSON). Text logs drop their own timestamps under journald (which stamps
//! every line itself, and says so through `JOURNAL_STREAM`); JSON logs are
//! one flat object per line for collectors.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{FieldFn, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written (`--log-format`, re-exported as
/// `cli::LogFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Safe to call once per process.
pub fn init_logging(format: LogFormat, filter: &str) {
    let (targets, refused) = log_filter(filter);
    if let Some(why) = refused {
        eprintln!("snapkeep: {why}");
    }
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Json => builder
            .event_format(JsonLines)
            .finish()
            .with(targets)
            .try_init(),
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let builder = builder.fmt_fields(text_fields());
            if std::env::var_os("JOURNAL_STREAM").is_some() {
                builder
                    .with_ansi(false)
                    .without_time()
                    .finish()
                    .with(targets)
                    .try_init()
            } else {
                builder.with_ansi(ansi).finish().with(targets).try_init()
            }
        }
    };
    if let Err(e) = result {
        eprintln!("snapkeep: logging was already set up: {e}");
    }
}

/// The `--log-level` filter: a level (`info`), or comma-separated
/// `target=level` pairs after an optional level (`info,reqwest=debug`).
/// Not tracing's `EnvFilter`, whose span and field filters bring a regex
/// engine: 0.35 MiB of every process (BENCHMARKS.md, "Memory: time zones
/// as bytes"). An unreadable filter is `info`, with the reason to print.
fn log_filter(text: &str) -> (Targets, Option<String>) {
    match text.parse() {
        Ok(targets) => (targets, None),
        Err(e) => (
            Targets::new().with_default(LevelFilter::INFO),
            Some(format!("bad log filter {text:?} ({e}); using \"info\"")),
        ),
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

/// One flat JSON object per line with stable keys: `ts` (RFC 3339, UTC,
/// milliseconds), `level` (lowercase), `message`, then the event's fields
/// (for audit events: action, server_id, server_name, policy, item_id,
/// item_name, reason, outcome, duration_ms).
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = JsonFields(Map::new());
        fields.0.insert(
            "ts".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        fields.0.insert(
            "level".into(),
            Value::String(event.metadata().level().as_str().to_ascii_lowercase()),
        );
        event.record(&mut fields);
        writeln!(writer, "{}", Value::Object(fields.0))
    }
}

struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
pub(crate) mod capture;

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::log_filter;

    #[test]
    fn a_level_or_targets_with_levels_filter_and_anything_else_is_info_with_a_reason() {
        let (all, refused) = log_filter("debug");
        assert_eq!(refused, None);
        assert!(all.would_enable("snapkeep::pass", &Level::DEBUG));
        assert!(all.would_enable("reqwest::connect", &Level::DEBUG));
        assert!(!all.would_enable("snapkeep::pass", &Level::TRACE));

        let (mixed, refused) = log_filter("info,snapkeep::api=trace");
        assert_eq!(refused, None);
        assert!(mixed.would_enable("snapkeep::api::client", &Level::TRACE));
        assert!(!mixed.would_enable("snapkeep::pass", &Level::DEBUG));
        assert!(mixed.would_enable("hyper", &Level::INFO));

        let (fallback, refused) = log_filter("snapkeep=loud");
        assert_eq!(
            refused.as_deref(),
            Some(
                "bad log filter \"snapkeep=loud\" (error parsing level filter: expected one of \
                 \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\", or a number 0-5); \
                 using \"info\""
            )
        );
        assert!(fallback.would_enable("snapkeep::pass", &Level::INFO));
        assert!(!fallback.would_enable("snapkeep::pass", &Level::DEBUG));
    }
}

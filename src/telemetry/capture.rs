//! Tests: the log lines a test's own thread writes, captured in memory.

use std::sync::{Arc, Mutex};

/// Captures what `tracing` logs on this thread (up to `level`, plain text)
/// until dropped. A current-thread tokio runtime runs a test's tasks on this
/// thread too, so a pass's events land here.
pub(crate) struct CapturedLogs {
    sink: Sink,
    _guard: tracing::subscriber::DefaultGuard,
    _second: tracing::Dispatch,
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    pub(crate) fn on_this_thread(level: tracing::Level) -> CapturedLogs {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // tracing-core quirk: while only one dispatcher exists in the
        // process, a callsite first hit on another thread (a test running in
        // parallel, with no subscriber) is cached as "never" for every
        // thread, and this capture would silently miss that event. A second
        // live dispatcher makes tracing ask every dispatcher.
        let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let guard = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        CapturedLogs {
            sink,
            _guard: guard,
            _second: second,
        }
    }

    /// Everything logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.sink.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

//! The API token, held so it cannot leak by accident.
//!
//! Operators trust snapkeep with a token that can delete every snapshot they
//! own. It must never reach a log line, an error message or `{:?}` output, so
//! it lives in a type whose `Debug` and `Display` are redacted and whose value
//! is only reachable through an explicitly named method.

use std::fmt;

/// A VPS.org API token. `Debug`/`Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiToken(String);

impl ApiToken {
    /// Wraps a token, trimming surrounding whitespace (token files end in a newline).
    pub(crate) fn new(raw: impl Into<String>) -> Self {
        let raw = raw.into();
        ApiToken(raw.trim().to_owned())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret itself. Only the HTTP layer calls this, to build the
    /// `Authorization` header (which it marks sensitive).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let t = ApiToken::new(" canary-123\n");
        assert_eq!(t.expose(), "canary-123");
        assert!(!format!("{t:?} {t}").contains("canary"));
    }
}

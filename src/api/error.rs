//! Typed API errors, each with a retry class.
//!
//! Retry logic, rotation and the exit code all need to know *what kind* of
//! failure happened — a bad token must fail fast, a 503 is worth another try,
//! a 400 "limit reached" is a fact about the server's state. Messages carry
//! the status and whatever text the provider sent, never the token.

use std::time::Duration;

/// Where a 401 says to look when the token came from the `[api]` order.
pub(crate) const DEFAULT_TOKEN_CHECK: &str = "VPS_API_TOKEN or api.token_file";

/// Whether trying the same request again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// Will fail the same way again (401, 400, 404).
    Permanent,
    /// May succeed later (429, 5xx, transport, garbled body).
    Temporary,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// `check`: where the token came from ([`DEFAULT_TOKEN_CHECK`] unless
    /// the client says otherwise: an account's own source).
    #[error("{endpoint}: VPS.org refused the API token (401: {detail}); check {check}")]
    Unauthorized {
        endpoint: String,
        detail: String,
        check: String,
    },

    #[error("{endpoint}: not found (404: {detail})")]
    NotFound { endpoint: String, detail: String },

    #[error("{endpoint}: request rejected (400: {detail})")]
    Rejected { endpoint: String, detail: String },

    #[error("{endpoint}: rate limited (429{})", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        endpoint: String,
        retry_after: Option<Duration>,
    },

    #[error("{endpoint}: VPS.org server error ({status}: {detail})")]
    Server {
        endpoint: String,
        status: u16,
        detail: String,
    },

    #[error("{endpoint}: unexpected answer ({status}: {detail})")]
    Unexpected {
        endpoint: String,
        status: u16,
        detail: String,
    },

    /// No answer. `sent` is false only when the connection was never made,
    /// so the provider cannot have acted on the request.
    #[error("{endpoint}: could not reach the VPS.org API ({message})")]
    Transport {
        endpoint: String,
        message: String,
        sent: bool,
    },

    /// The provider asked us to come back later than `api.retry_deadline` allows.
    #[error(
        "{endpoint}: rate limited (429) with Retry-After {}s, past api.retry_deadline ({}s); gave up, try again later",
        retry_after.as_secs(),
        deadline.as_secs()
    )]
    RetryAfterTooLong {
        endpoint: String,
        retry_after: Duration,
        deadline: Duration,
    },

    #[error("{endpoint}: could not read the answer ({message})")]
    Decode { endpoint: String, message: String },

    #[error("{endpoint}: refusing to follow a pagination link to another origin ({url})")]
    ForeignLink { endpoint: String, url: String },

    /// A create was not (or no more) sent: its send-by time passed first
    /// (the pre hook's `max_freeze`); nothing goes out after a thaw.
    #[error("{endpoint}: not sent: {what}")]
    SendWindowClosed { endpoint: String, what: String },
}

impl ApiError {
    pub(crate) fn class(&self) -> RetryClass {
        match self {
            ApiError::RateLimited { .. }
            | ApiError::Server { .. }
            | ApiError::Transport { .. }
            | ApiError::Decode { .. } => RetryClass::Temporary,
            ApiError::Unauthorized { .. }
            | ApiError::NotFound { .. }
            | ApiError::Rejected { .. }
            | ApiError::Unexpected { .. }
            | ApiError::RetryAfterTooLong { .. }
            | ApiError::ForeignLink { .. }
            | ApiError::SendWindowClosed { .. } => RetryClass::Permanent,
        }
    }

    pub(crate) fn is_temporary(&self) -> bool {
        self.class() == RetryClass::Temporary
    }

    /// The provider's `Retry-After`, when it gave one.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } => *retry_after,
            ApiError::RetryAfterTooLong { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// True for the 400 the provider sends when a server is at its cap
    /// ("Snapshot limit reached (5 per server).", "Manual backup limit
    /// reached …"), not for any rejection that happens to say "limit".
    pub(crate) fn is_limit_reached(&self) -> bool {
        match self {
            ApiError::Rejected { detail, .. } => {
                detail.to_ascii_lowercase().contains("limit reached")
            }
            _ => false,
        }
    }

    /// Whether the provider may have carried out the request although it
    /// did not say so: a 5xx (a proxy can fail after the backend acted), an
    /// answer lost after the request was sent, or a success whose body could
    /// not be read. Only an answer that proves otherwise (4xx, 429, a
    /// connection never made) allows sending a create again.
    pub(crate) fn may_have_applied(&self) -> bool {
        match self {
            ApiError::Server { .. } | ApiError::Decode { .. } | ApiError::Unexpected { .. } => true,
            ApiError::Transport { sent, .. } => *sent,
            ApiError::Unauthorized { .. }
            | ApiError::NotFound { .. }
            | ApiError::Rejected { .. }
            | ApiError::RateLimited { .. }
            | ApiError::RetryAfterTooLong { .. }
            | ApiError::ForeignLink { .. }
            | ApiError::SendWindowClosed { .. } => false,
        }
    }

    /// A short stable label for metrics and summaries.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Rejected { .. } => "rejected",
            ApiError::RateLimited { .. } | ApiError::RetryAfterTooLong { .. } => "rate_limited",
            ApiError::Server { .. } => "server_error",
            ApiError::Unexpected { .. } => "unexpected",
            ApiError::Transport { .. } => "transport",
            ApiError::Decode { .. } => "decode",
            ApiError::ForeignLink { .. } => "foreign_link",
            ApiError::SendWindowClosed { .. } => "send_window_closed",
        }
    }

    /// Classifies a non-success HTTP answer. `body` may be anything: DRF's
    /// `{"detail": …}`, another JSON shape, HTML from a proxy, or nothing.
    pub(crate) fn from_status(
        endpoint: String,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> ApiError {
        let detail = detail_text(body);
        match status {
            401 | 403 => ApiError::Unauthorized {
                endpoint,
                detail,
                check: DEFAULT_TOKEN_CHECK.to_owned(),
            },
            404 => ApiError::NotFound { endpoint, detail },
            400 | 409 | 422 => ApiError::Rejected { endpoint, detail },
            429 => ApiError::RateLimited {
                endpoint,
                retry_after,
            },
            500..=599 => ApiError::Server {
                endpoint,
                status,
                detail,
            },
            _ => ApiError::Unexpected {
                endpoint,
                status,
                detail,
            },
        }
    }
}

/// The human part of an error body: `detail` when it is DRF-shaped, else the
/// text itself, shortened so an HTML error page does not flood the log.
fn detail_text(body: &[u8]) -> String {
    const MAX: usize = 300;
    if body.is_empty() {
        return "no body".to_owned();
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        match value.get("detail") {
            Some(serde_json::Value::String(s)) => return s.clone(),
            Some(other) => return other.to_string(),
            None => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let e = |s| ApiError::from_status("x".into(), s, b"", None);
        assert_eq!(e(401).class(), RetryClass::Permanent);
        assert_eq!(e(400).class(), RetryClass::Permanent);
        assert_eq!(e(404).class(), RetryClass::Permanent);
        assert_eq!(e(429).class(), RetryClass::Temporary);
        assert_eq!(e(502).class(), RetryClass::Temporary);
    }

    #[test]
    fn detail_from_drf_html_or_nothing() {
        let e = ApiError::from_status(
            "snapshots.create".into(),
            400,
            br#"{"detail":"Snapshot limit reached (5 per server)."}"#,
            None,
        );
        assert!(e.is_limit_reached());
        let other = ApiError::from_status(
            "snapshots.create".into(),
            400,
            br#"{"detail":"name exceeds the length limit"}"#,
            None,
        );
        assert!(!other.is_limit_reached());
        let backups = ApiError::from_status(
            "backups.create".into(),
            400,
            br#"{"detail":"Manual backup limit reached (10 per server)."}"#,
            None,
        );
        assert!(backups.is_limit_reached());
        assert_eq!(
            e.to_string(),
            "snapshots.create: request rejected (400: Snapshot limit reached (5 per server).)"
        );
        let html = ApiError::from_status("x".into(), 502, b"<html>bad gateway</html>", None);
        assert!(html.to_string().contains("<html>bad gateway</html>"));
        let long = vec![b'a'; 5000];
        assert!(
            ApiError::from_status("x".into(), 500, &long, None)
                .to_string()
                .len()
                < 400
        );
    }
}

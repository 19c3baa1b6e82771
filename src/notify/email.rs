//! Email over SMTP (lettre on tokio and rustls): the transport a target's
//! `tls` asks for, its password read from `password_file` at each send,
//! and one plain-text message per event.
//!
//! `starttls` *requires* STARTTLS (a server that does not offer it is an
//! error, never a plain-text fallback) and `implicit` speaks TLS from the
//! first byte; `none` is plain SMTP, which the config allows only to a
//! loopback host. The password is read when a message goes out, so a
//! rotated file is picked up without a reload; it lives in [`Password`],
//! whose `Debug` is redacted, and no error says more than the file's path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{EmailTarget, SmtpTls};

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EmailError {
    #[error("cannot read password_file {path}: {source}")]
    Password {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("SMTP {host}:{port}: {source}")]
    Smtp {
        host: String,
        port: u16,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("SMTP {host}:{port}: no answer within {timeout:?}")]
    TimedOut {
        host: String,
        port: u16,
        timeout: Duration,
    },
}

/// An SMTP password. `Debug` prints `***`; only the transport reads it.
pub(crate) struct Password(String);

impl Password {
    /// Reads `path`; a trailing newline (as `echo` leaves) is not part of it.
    pub(crate) fn read(path: &Path) -> Result<Password, EmailError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmailError::Password {
            path: path.to_owned(),
            source,
        })?;
        Ok(Password(text.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The message for `target` (addresses were checked by the config).
pub(crate) fn message(
    target: &EmailTarget,
    subject: &str,
    body: String,
) -> Result<Message, EmailError> {
    let parse = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| EmailError::Message(format!("{a:?}: {e}")))
    };
    let mut builder = Message::builder()
        .from(parse(&target.from)?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &target.to {
        builder = builder.to(parse(to)?);
    }
    builder
        .body(body)
        .map_err(|e| EmailError::Message(e.to_string()))
}

/// How the connection is protected: lettre's name for `tls`.
fn tls(target: &EmailTarget) -> Result<Tls, EmailError> {
    let params = || {
        TlsParameters::new(target.smtp_host.clone()).map_err(|source| EmailError::Smtp {
            host: target.smtp_host.clone(),
            port: target.smtp_port,
            source,
        })
    };
    Ok(match target.tls {
        SmtpTls::StartTls => Tls::Required(params()?),
        SmtpTls::Implicit => Tls::Wrapper(params()?),
        SmtpTls::None => Tls::None,
    })
}

/// Sends `message` through `target`'s server, within `timeout`.
pub(crate) async fn send(
    target: &EmailTarget,
    message: Message,
    timeout: Duration,
) -> Result<(), EmailError> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&target.smtp_host)
        .port(target.smtp_port)
        .tls(tls(target)?)
        .timeout(Some(timeout));
    if let (Some(user), Some(path)) = (&target.username, &target.password_file) {
        let password = Password::read(path)?;
        builder = builder.credentials(Credentials::new(user.clone(), password.0));
    }
    let transport = builder.build();
    let smtp = |source| EmailError::Smtp {
        host: target.smtp_host.clone(),
        port: target.smtp_port,
        source,
    };
    match tokio::time::timeout(timeout, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(smtp(e)),
        Err(_) => Err(EmailError::TimedOut {
            host: target.smtp_host.clone(),
            port: target.smtp_port,
            timeout,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tls: SmtpTls, port: u16) -> EmailTarget {
        EmailTarget {
            smtp_host: "127.0.0.1".into(),
            smtp_port: port,
            tls,
            from: "snapkeep <snapkeep@example.com>".into(),
            to: vec!["ops@example.com".into()],
            username: None,
            password_file: None,
        }
    }

    #[test]
    fn tls_is_what_the_target_asks_for_and_starttls_is_required() {
        let mode = |t| match tls(&target(t, 25)).expect("params") {
            Tls::Required(_) => "required starttls",
            Tls::Wrapper(_) => "implicit",
            Tls::None => "none",
            Tls::Opportunistic(_) => "opportunistic",
        };
        assert_eq!(
            [SmtpTls::StartTls, SmtpTls::Implicit, SmtpTls::None].map(mode),
            ["required starttls", "implicit", "none"]
        );
    }

    #[test]
    fn a_password_is_read_without_its_newline_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("snapkeep-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("pw");
        std::fs::write(&path, "canary-pw-42\n").expect("write");
        let p = Password::read(&path).expect("read");
        assert_eq!(p.0, "canary-pw-42");
        assert_eq!(format!("{p:?}"), "Password(***)");
        let missing = Password::read(&dir.join("nope")).expect_err("missing");
        assert!(
            missing
                .to_string()
                .starts_with("cannot read password_file "),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A server that does not offer STARTTLS gets no message from a
    /// `starttls` target: the transport refuses before MAIL FROM.
    #[tokio::test]
    async fn starttls_never_falls_back_to_plain_text() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let mut heard = Vec::new();
            write.write_all(b"220 test ESMTP\r\n").await.expect("greet");
            while let Ok(Some(line)) = lines.next_line().await {
                heard.push(line.clone());
                let reply: &[u8] = if line.starts_with("EHLO") {
                    b"250-test\r\n250 8BITMIME\r\n"
                } else if line.starts_with("QUIT") {
                    b"221 bye\r\n"
                } else {
                    b"250 ok\r\n"
                };
                if write.write_all(reply).await.is_err() {
                    break;
                }
            }
            heard
        });
        let t = target(SmtpTls::StartTls, port);
        let m = message(&t, "s", "b".into()).expect("message");
        let err = send(&t, m, Duration::from_secs(5))
            .await
            .expect_err("refused");
        assert!(
            err.to_string()
                .starts_with(&format!("SMTP 127.0.0.1:{port}: ")),
            "{err}"
        );
        let heard = server.await.expect("server");
        assert!(
            !heard.iter().any(|l| l.starts_with("MAIL")),
            "no message over plain text: {heard:?}"
        );
    }
}

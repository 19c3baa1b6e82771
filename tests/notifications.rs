//! Notifications from a real `--run-now` to real receivers on loopback: the
//! old `[notify]` webhook and ping, and `[[notify.target]]` of every type
//! (webhook, Slack, ntfy, email over SMTP), each message compared whole.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use snapkeep_sim::Seed;

use crate::support::{Normalize, Ran, Test, assert_text, free_port};

/// (request line, body) of each request a receiver got.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on a free port: records each request body, answers 200.
fn receiver() -> (u16, Received) {
    let (port, got, _) = receiver_with_headers(&[]);
    (port, got)
}

/// (request line, the `wanted` headers as `Name: value`) of each request.
type Headers = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// [`receiver`] that also records the headers named in `wanted`.
fn receiver_with_headers(wanted: &'static [&'static str]) -> (u16, Received, Headers) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let headers: Headers = Arc::default();
    let sink = Arc::clone(&got);
    let header_sink = Arc::clone(&headers);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0;
            let mut seen = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if let Some((name, value)) = h.split_once(':') {
                    if let Some(w) = wanted.iter().find(|w| w.eq_ignore_ascii_case(name)) {
                        seen.push(format!("{w}: {}", value.trim()));
                    }
                }
            }
            header_sink
                .lock()
                .unwrap()
                .push((request_line.trim().to_owned(), seen));
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            sink.lock().unwrap().push((
                request_line.trim().to_owned(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got, headers)
}

/// One message an [`smtp_receiver`] took: the AUTH line, the envelope and
/// the data as sent.
#[derive(Debug, Clone, Default)]
struct Mail {
    auth: Option<String>,
    from: String,
    to: Vec<String>,
    data: String,
}

/// An SMTP server on a free loopback port, enough for one client at a
/// time: EHLO (offering AUTH PLAIN and LOGIN, no STARTTLS), AUTH, MAIL,
/// RCPT, DATA, RSET, NOOP, QUIT. Records each message.
fn smtp_receiver() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { continue };
            let mut reader = BufReader::new(out.try_clone().unwrap());
            let _ = out.write_all(b"220 test ESMTP\r\n");
            let mut mail = Mail::default();
            let mut auth = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let command = line.trim_end().to_owned();
                let upper = command.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250-test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                } else if upper.starts_with("AUTH") {
                    auth = Some(command);
                    b"235 2.7.0 ok\r\n"
                } else if upper.starts_with("MAIL FROM:") {
                    mail = Mail {
                        auth: auth.clone(),
                        from: command["MAIL FROM:".len()..].to_owned(),
                        ..Mail::default()
                    };
                    b"250 ok\r\n"
                } else if upper.starts_with("RCPT TO:") {
                    mail.to.push(command["RCPT TO:".len()..].to_owned());
                    b"250 ok\r\n"
                } else if upper == "DATA" {
                    let _ = out.write_all(b"354 go on\r\n");
                    loop {
                        let mut l = String::new();
                        if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                            break;
                        }
                        mail.data.push_str(&l);
                    }
                    sink.lock().unwrap().push(std::mem::take(&mut mail));
                    b"250 queued\r\n"
                } else if upper == "QUIT" {
                    let _ = out.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                if out.write_all(reply).is_err() {
                    break;
                }
            }
        }
    });
    (port, got)
}

/// The requests a receiver got, each its request line and body, sorted
/// (targets are told at once); `duration_ms` (timing) set to 0.
fn bodies(got: &Received) -> String {
    let mut v: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|(line, body)| {
            let body = match serde_json::from_str::<serde_json::Value>(body) {
                Ok(mut v) if v.get("duration_ms").is_some() => {
                    v["duration_ms"] = 0.into();
                    v.to_string()
                }
                _ => body.clone(),
            };
            format!("{line}\n{body}\n")
        })
        .collect();
    v.sort();
    v.concat()
}

const ONE_FAILED: &str = "ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
FAILED  server 999 policy nightly (not_found): create failed: snapshots.create (server 999): not found (404: Server not found.) [{T}]
2 job(s): 1 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
";
const ONE_FAILED_LOG: &str = "INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})
ERROR fail server 999 policy nightly: create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)
";
const ONE_FAILED_HOOK: &str = r#"POST /hook HTTP/1.1
{"duration_ms":0,"error":"create failed: snapshots.create (server 999): not found (404: Server not found.)","event":"pass_failed","failed":1,"failures":[{"error":"create failed: snapshots.create (server 999): not found (404: Server not found.)","kind":"not_found","policy":"nightly","server_id":999,"server_name":""}],"jobs":2,"policy":"nightly","server_id":999}
"#;
const QUIET: &str =
    "ok      server 1 (web-01) policy nightly: slot already taken, nothing created [{T}]
1 job(s): 1 ok, 0 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
";
/// Both pings (start and finish) and the webhook fail (nobody listens),
/// each after its retries; the pass is ok.
const UNDELIVERED_LOG: &str = r#"WARN notification could not be delivered; the pass is unaffected target="ping" error="error sending request"
WARN notification could not be delivered; the pass is unaffected target="ping" error="error sending request"
WARN notification could not be delivered; the pass is unaffected target="webhook" error="error sending request"
INFO skip server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: slot {SLOT} already has this item (completed); not creating another
"#;

#[test]
fn a_failing_pass_makes_exactly_one_webhook_call() {
    let (port, got) = receiver();
    let (down, ping) = (free_port(), free_port());
    let ran = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .literal(format!("127.0.0.1:{port}"), "127.0.0.1:{HOOK}")
        .literal(format!("127.0.0.1:{down}"), "127.0.0.1:{DOWN}")
        .literal(format!("127.0.0.1:{ping}"), "127.0.0.1:{PING}")
        .normalize(Normalize::jobs_concurrently)
        .policies(&format!(
            "[notify]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\n\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"{{daily}}\"\nkeep_last = 1\n"
        ))
        .args(&["--run-now"])
        .status(1)
        .stdout(ONE_FAILED)
        .stderr(ONE_FAILED_LOG)
        .run();
    assert_text(
        "webhook calls",
        ONE_FAILED_HOOK,
        &ran.normalize.apply(&bodies(&got)),
    );

    // A success sends nothing unless on_success; an unreachable receiver never fails a pass.
    let quiet = ran.second_config(&format!(
        "[notify]\nwebhook_url = \"http://127.0.0.1:{down}/hook\"\non_success = true\nping_url = \"http://127.0.0.1:{ping}/ping\"\ntimeout = \"2s\"\n\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"{{daily}}\"\nkeep_last = 1\n",
    ));
    ran.again_with(&quiet, &["--run-now"], 0, QUIET, UNDELIVERED_LOG);
}

/// Four targets, one of each type, on the HTTP receiver `http` and the
/// SMTP receiver `smtp`; the SMTP password in `password_file`.
fn every_target_type(http: u16, smtp: u16, password_file: &std::path::Path) -> String {
    format!(
        r#"[notify]
timeout = "5s"

[[notify.target]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{http}/hook"
events = ["failed", "succeeded"]

[[notify.target]]
name = "chat"
type = "slack"
url = "http://127.0.0.1:{http}/slack"
events = ["failed"]

[[notify.target]]
name = "phone"
type = "ntfy"
url = "http://127.0.0.1:{http}/snapkeep-alerts"
events = ["failed", "succeeded"]

[[notify.target]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
tls = "none"
from = "snapkeep <snapkeep@example.com>"
to = ["ops@example.com", "oncall@example.com"]
username = "snapkeep"
password_file = "{}"
events = ["failed"]

[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1, 999]
schedule = "{{daily}}"
keep_last = 1
"#,
        password_file.display()
    )
}

const TARGETS_STDOUT: &str = "ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
FAILED  server 999 policy nightly (not_found): create failed: snapshots.create (server 999): not found (404: Server not found.) [{T}]
2 job(s): 1 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
";
const TARGETS_LOG: &str = "INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})
ERROR fail server 999 policy nightly: create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)
";

const TARGETS_HTTP: &str = r#"POST /hook HTTP/1.1
{"duration_ms":0,"error":"create failed: snapshots.create (server 999): not found (404: Server not found.)","event":"pass_failed","failed":1,"failures":[{"error":"create failed: snapshots.create (server 999): not found (404: Server not found.)","kind":"not_found","policy":"nightly","server_id":999,"server_name":""}],"jobs":2,"policy":"nightly","server_id":999}
POST /slack HTTP/1.1
{"text":"snapkeep: nightly on server 999 failed: the slot {SLOT} ended without its snapshot after 1 try: create failed: snapshots.create (server 999): not found (404: Server not found.)"}
POST /snapkeep-alerts HTTP/1.1
nightly on server 999 failed: the slot {SLOT} ended without its snapshot after 1 try: create failed: snapshots.create (server 999): not found (404: Server not found.)
POST /snapkeep-alerts HTTP/1.1
nightly on web-01 (server 1) succeeded: the slot {SLOT} has its snapshot
"#;

const TARGETS_HEADERS: &str = "POST /hook HTTP/1.1
Content-Type: application/json
POST /slack HTTP/1.1
Content-Type: application/json
POST /snapkeep-alerts HTTP/1.1
Title: snapkeep: nightly on server 999 failed
Priority: high
Tags: rotating_light,snapkeep,failed
POST /snapkeep-alerts HTTP/1.1
Title: snapkeep: nightly on web-01 (server 1) succeeded
Priority: low
Tags: heavy_check_mark,snapkeep,succeeded
";

/// The one mail: AUTH line, envelope, then the data (its `Date:` and
/// `at:` lines are the clock's).
const TARGETS_MAIL: &str = "AUTH PLAIN AHNuYXBrZWVwAGNhbmFyeS1zbXRwLXB3LTc=
MAIL FROM:<snapkeep@example.com>
RCPT TO:<ops@example.com> <oncall@example.com>
From: snapkeep <snapkeep@example.com>
Subject: [snapkeep] nightly on server 999 failed
Content-Type: text/plain; charset=utf-8
To: ops@example.com, oncall@example.com
Content-Transfer-Encoding: quoted-printable
Date: {DATE}

nightly on server 999 failed: the slot {SLOT} ended without i=
ts snapshot after 1 try: create failed: snapshots.create (server 999): not =
found (404: Server not found.)

server:  server 999
policy:  nightly (snapshot)
event:   failed
slot:    {SLOT}
tries:   1
reason:  not_found
error:   create failed: snapshots.create (server 999): not found (404: Serv=
er not found.)
at:      {AT}

--=20
snapkeep; `snapkeep status` shows every policy on every server.

";

/// What the HTTP receiver got, sorted (targets are told concurrently):
/// (request lines and bodies, request lines and headers).
fn http_received(ran: &Ran, got: &Received, headers: &Headers) -> (String, String) {
    let mut heads: Vec<(String, Vec<String>)> = headers.lock().unwrap().clone();
    heads.sort();
    let heads = heads
        .iter()
        .map(|(l, h)| format!("{l}\n{}\n", h.join("\n")))
        .collect();
    (ran.normalize.apply(&bodies(got)), heads)
}

/// The mails an [`smtp_receiver`] took, as [`TARGETS_MAIL`] shows them.
fn mail_text(ran: &Ran, mails: &[Mail]) -> String {
    mails
        .iter()
        .map(|m| {
            let data: String = m
                .data
                .replace("\r\n", "\n")
                .lines()
                .map(|l| {
                    if l.starts_with("Date: ") {
                        "Date: {DATE}\n".to_owned()
                    } else if l.starts_with("at: ") {
                        "at:      {AT}\n".to_owned()
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            format!(
                "{}\nMAIL FROM:{}\nRCPT TO:{}\n{}",
                m.auth.as_deref().unwrap_or("(no AUTH)"),
                m.from,
                m.to.join(" "),
                ran.normalize.apply(&data)
            )
        })
        .collect()
}

/// `[[notify.target]]` of every type against real receivers on loopback:
/// one failing job (server 999 does not exist) and one good one. Each
/// target gets the events it asked for, in its shape, compared whole; the
/// SMTP password from `password_file` is sent in AUTH and shown nowhere
/// (the whole outputs do not hold it).
#[test]
fn every_target_type_gets_its_messages_from_a_real_run() {
    let (http, got, headers) =
        receiver_with_headers(&["Title", "Priority", "Tags", "Content-Type"]);
    let (smtp, mails) = smtp_receiver();
    let secrets = crate::support::temp_dir();
    let password_file = secrets.join("smtp-password");
    std::fs::write(&password_file, "canary-smtp-pw-7\n").unwrap();
    let ran = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(&every_target_type(http, smtp, &password_file))
        .normalize(Normalize::jobs_concurrently)
        .args(&["--run-now"])
        .status(1)
        .stdout(TARGETS_STDOUT)
        .stderr(TARGETS_LOG)
        .run();
    let (bodies, heads) = http_received(&ran, &got, &headers);
    assert_text("HTTP targets", TARGETS_HTTP, &bodies);
    assert_text("HTTP headers", TARGETS_HEADERS, &heads);
    // "\0snapkeep\0canary-smtp-pw-7": the password file's line, no newline.
    assert_text(
        "email",
        TARGETS_MAIL,
        &mail_text(&ran, &mails.lock().unwrap()),
    );
}

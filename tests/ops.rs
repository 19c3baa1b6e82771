//! Operating snapkeep: status, metrics, health, notifications, JSON audit log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use snapkeep_sim::{Seed, SeedSnapshot, SimStatus};

use crate::support::{Daily, Setup, Sim};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP GET; (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

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

#[test]
fn metrics_and_health_after_a_pass() {
    let sim = Sim::start(Seed::empty().server(1, "web-01").snapshot(
        1,
        "manual",
        Utc::now() - TimeDelta::days(3),
        SimStatus::Completed,
    ));
    let port = free_port();
    let s = Setup::new(
        &sim,
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[[policy]]\nname = \"fast\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"*/2 * * * * *\"\nmissed = \"skip\"\nkeep_last = 2\n"
        ),
    );
    let d = s.spawn_daemon();
    let scraped = || {
        http_get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    };
    assert!(
        d.wait_until(Duration::from_secs(15), || scraped()
            .contains("snapkeep_last_success_timestamp_seconds{")),
        "{}\n{}",
        scraped(),
        d.log()
    );
    let m = scraped();
    let value = |prefix: &str| -> f64 {
        m.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing:\n{m}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let last = value("snapkeep_last_success_timestamp_seconds{server=\"1\",policy=\"fast\"}");
    assert!(
        (last - Utc::now().timestamp() as f64).abs() < 30.0,
        "{last}"
    );
    assert_eq!(
        value("snapkeep_items{server=\"1\",policy=\"fast\",state=\"not_ours\"}"),
        1.0
    );
    assert!(value("snapkeep_items{server=\"1\",policy=\"fast\",state=\"completed\"}") >= 1.0);
    assert!(
        value("snapkeep_api_requests_total{endpoint=\"snapshots.create\",status=\"201\"}") >= 1.0
    );
    assert!(value("snapkeep_pass_duration_seconds_count") >= 1.0);
    assert_eq!(http_get(port, "/healthz").unwrap().0, 200);
    assert_eq!(http_get(port, "/readyz").unwrap().0, 200);
}

#[test]
fn a_failing_pass_makes_exactly_one_webhook_call() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let (port, got) = receiver();
    let s = Setup::new(
        &sim,
        &format!(
            "[notify]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\n\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"@daily\"\nkeep_last = 1\n"
        ),
    );
    s.run(&["--run-now"]).expect(1);
    let calls = got.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].0.starts_with("POST /hook"));
    let body: serde_json::Value = serde_json::from_str(&calls[0].1).unwrap();
    assert_eq!(body["event"], "pass_failed");
    assert_eq!(body["server_id"], 999);
    assert_eq!(body["policy"], "nightly");
    assert!(body["error"].as_str().unwrap().contains("404"), "{body}");
    assert_eq!(body["failures"].as_array().unwrap().len(), 1);

    // A success sends nothing unless on_success; an unreachable receiver never fails a pass.
    let quiet = Setup::new(
        &sim,
        &format!(
            "[notify]\nwebhook_url = \"http://127.0.0.1:{}/hook\"\non_success = true\nping_url = \"http://127.0.0.1:{}/ping\"\ntimeout = \"1s\"\n\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"@daily\"\nkeep_last = 1\n",
            free_port(),
            free_port()
        ),
    );
    let run = quiet.run(&["--run-now"]).expect(0);
    assert!(
        run.stderr().contains("could not be delivered"),
        "{}",
        run.stderr()
    );
}

#[test]
fn json_logs_parse_line_by_line_with_the_documented_fields() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let s = Setup::new(
        &sim,
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"@daily\"\nkeep_last = 1\n",
    );
    let run = s.run(&["--run-now", "--log-format", "json"]).expect(1);
    let mut actions = Vec::new();
    for line in run.stderr().lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["ts"].is_string() && v["level"].is_string() && v["message"].is_string(),
            "{line}"
        );
        if let Some(action) = v["action"].as_str() {
            for key in [
                "server_id",
                "server_name",
                "policy",
                "item_id",
                "item_name",
                "reason",
                "outcome",
                "duration_ms",
            ] {
                assert!(v.get(key).is_some(), "{key} missing: {line}");
            }
            actions.push(action.to_owned());
        }
    }
    for want in ["create", "wait", "completed", "fail"] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} not in {actions:?}"
        );
    }
}

#[test]
fn status_json_matches_the_simulator_and_flags_stale() {
    let daily = Daily::now();
    let slot_days_ago = |d: i64| (daily.snapshot("daily", d), daily.slot(d));
    let (old1, t1) = slot_days_ago(5);
    let (old2, t2) = slot_days_ago(6);
    let (fresh, t3) = slot_days_ago(0);
    let seed = Seed::empty()
        .server(1, "web-01")
        .server(2, "db-01")
        .add_snapshot(SeedSnapshot::new(1, old1, t1, SimStatus::Completed).with_size_mb(5120))
        .add_snapshot(SeedSnapshot::new(1, old2, t2, SimStatus::Completed).with_size_mb(3072))
        .add_snapshot(SeedSnapshot::new(1, "manual", t2, SimStatus::Completed).with_size_mb(99_999))
        .add_snapshot(SeedSnapshot::new(2, fresh, t3, SimStatus::Completed).with_size_mb(512));
    let sim = Sim::start(seed);
    let s = Setup::new(
        &sim,
        &daily.policies("[[policy]]\nname = \"daily\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"{daily}\"\nkeep_last = 1\n"),
    );
    let run = s.run(&["status", "--json"]).expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["orphans"], serde_json::json!([]));
    let rows = &report["pairs"];
    let row = |id: u64| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["server_id"] == id)
            .unwrap()
            .clone()
    };
    let r1 = row(1);
    assert_eq!(r1["ours"]["completed"], 2);
    assert_eq!(r1["ours"]["not_ours"], 1);
    assert_eq!(r1["server_name"], "web-01");
    assert_eq!(
        r1["stale"], true,
        "newest is 5 days old on a daily schedule"
    );
    assert_eq!(r1["would_delete"].as_array().unwrap().len(), 1);
    let r2 = row(2);
    assert_eq!(r2["stale"], false);
    assert_eq!(r2["ours"]["completed"], 1);
    // Stored: our completed items' size_mb (the manual one is not ours).
    const MIB: u64 = 1_048_576;
    assert_eq!(r1["ours"]["stored_bytes"], 8192 * MIB);
    assert_eq!(r2["ours"]["stored_bytes"], 512 * MIB);
    assert_eq!(
        report["stored"],
        serde_json::json!([{
            "account": "default",
            "bytes": 8704 * MIB,
            "without_size": 0,
            "servers": [
                {"server_id": 1, "server_name": "web-01", "bytes": 8192 * MIB, "without_size": 0},
                {"server_id": 2, "server_name": "db-01", "bytes": 512 * MIB, "without_size": 0},
            ],
        }])
    );
    // The table fits 100 columns and says STALE.
    let table = s.run(&["status"]).expect(0).stdout();
    assert!(
        table.contains("STALE") && table.lines().all(|l| l.chars().count() <= 100),
        "{table}"
    );
    let stored = &table[table.find("\nstored (").expect("a stored section")..];
    assert_eq!(
        &stored[..stored.find("\nnext pass").unwrap_or(stored.len())],
        "
stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  1 web-01           daily          snap     2      8.0 GiB
  1 web-01           server total            2      8.0 GiB
  2 db-01            daily          snap     1    512.0 MiB
  2 db-01            server total            1    512.0 MiB
  account default    total                   3      8.5 GiB
"
    );
    assert_eq!(sim.count(&["POST", "DELETE"]), 0, "status changes nothing");
}

/// `[[notify.target]]` of every type against real receivers on loopback:
/// one failing job (server 999 does not exist) and one good one. Each
/// target gets the events it asked for, in its shape, compared whole; the
/// SMTP password from `password_file` is sent in AUTH and shown nowhere.
#[test]
fn every_target_type_gets_its_messages_from_a_real_run() {
    let daily = Daily::now();
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let (http, got, headers) =
        receiver_with_headers(&["Title", "Priority", "Tags", "Content-Type"]);
    let (smtp, mails) = smtp_receiver();
    let secrets = crate::support::temp_dir();
    let password_file = secrets.join("smtp-password");
    std::fs::write(&password_file, "canary-smtp-pw-7\n").unwrap();
    let s = Setup::new(
        &sim,
        &daily.policies(&format!(
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
        )),
    );
    let run = s.run(&["--run-now"]).expect(1);
    assert!(
        !run.stderr().contains("canary-smtp-pw") && !run.stdout().contains("canary-smtp-pw"),
        "{}",
        run.stderr()
    );
    let slot = daily.slot(0).format("%Y-%m-%d %H:%M UTC").to_string();
    let norm = |t: &str| t.replace(&slot, "{SLOT}");
    let mut http_got: Vec<(String, String)> = got
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
            (line.clone(), norm(&body))
        })
        .collect();
    http_got.sort();
    let mut heads: Vec<(String, Vec<String>)> = headers.lock().unwrap().clone();
    heads.sort();
    let text = |v: Vec<(String, String)>| -> String {
        v.iter().map(|(l, b)| format!("{l}\n{b}\n")).collect()
    };
    crate::support::assert_text(
        "HTTP targets",
        r#"POST /hook HTTP/1.1
{"duration_ms":0,"error":"create failed: snapshots.create (server 999): not found (404: Server not found.)","event":"pass_failed","failed":1,"failures":[{"error":"create failed: snapshots.create (server 999): not found (404: Server not found.)","kind":"not_found","policy":"nightly","server_id":999,"server_name":""}],"jobs":2,"policy":"nightly","server_id":999}
POST /slack HTTP/1.1
{"text":"snapkeep: nightly on server 999 failed: the slot {SLOT} ended without its snapshot after 1 try: create failed: snapshots.create (server 999): not found (404: Server not found.)"}
POST /snapkeep-alerts HTTP/1.1
nightly on server 999 failed: the slot {SLOT} ended without its snapshot after 1 try: create failed: snapshots.create (server 999): not found (404: Server not found.)
POST /snapkeep-alerts HTTP/1.1
nightly on web-01 (server 1) succeeded: the slot {SLOT} has its snapshot
"#,
        &text(http_got),
    );
    let heads: String = heads
        .iter()
        .map(|(l, h)| format!("{l}\n{}\n", h.join("\n")))
        .collect();
    crate::support::assert_text(
        "HTTP headers",
        "POST /hook HTTP/1.1
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
",
        &heads,
    );
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let m = &mails[0];
    // "\0snapkeep\0canary-smtp-pw-7": the password file's line, no newline.
    assert_eq!(
        m.auth.as_deref(),
        Some("AUTH PLAIN AHNuYXBrZWVwAGNhbmFyeS1zbXRwLXB3LTc=")
    );
    assert_eq!(
        (m.from.as_str(), m.to.join(" ")),
        (
            "<snapkeep@example.com>",
            "<ops@example.com> <oncall@example.com>".to_owned()
        )
    );
    let data: String = norm(&m.data.replace("\r\n", "\n"))
        .lines()
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: {DATE}".to_owned()
            } else if l.starts_with("at: ") {
                "at:      {AT}".to_owned()
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    crate::support::assert_text(
        "email",
        "From: snapkeep <snapkeep@example.com>
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

",
        &data,
    );
}

/// The daemon's status page is built from the model `status --json` prints:
/// the same pairs and orphans (ages move on between the two, so those are
/// left out), served before any pass from the listing taken at start.
#[test]
fn the_daemon_serves_the_status_model_and_its_page() {
    let sim = Sim::start(
        Seed::empty()
            .server(1, "web-<01>")
            .snapshot(
                1,
                "snapkeep-gone-20250101-030000",
                Utc::now() - TimeDelta::days(30),
                SimStatus::Completed,
            )
            .server(2, "web-02"),
    );
    let port = free_port();
    let s = Setup::new(
        &sim,
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"0 3 * * *\"\nmissed = \"skip\"\nkeep_last = 2\n"
        ),
    );
    let d = s.spawn_daemon();
    assert!(
        d.wait_until(Duration::from_secs(15), || http_get(port, "/status.json")
            .is_some_and(|(status, _)| status == 200)),
        "{:?}\n{}",
        http_get(port, "/status.json"),
        d.log()
    );
    let strip = |mut v: serde_json::Value| {
        for pair in v["pairs"].as_array_mut().unwrap() {
            let pair = pair.as_object_mut().unwrap();
            pair.remove("newest_age_seconds");
            pair.remove("next_fire");
        }
        for orphan in v["orphans"].as_array_mut().unwrap() {
            orphan.as_object_mut().unwrap().remove("group_age_seconds");
        }
        v
    };
    let served = strip(serde_json::from_str(&http_get(port, "/status.json").unwrap().1).unwrap());
    let printed =
        strip(serde_json::from_str(&s.run(&["status", "--json"]).expect(0).stdout()).unwrap());
    assert_eq!(served, printed);
    assert_eq!(served["pairs"].as_array().unwrap().len(), 2);
    assert_eq!(
        served["orphans"][0]["name"],
        "snapkeep-gone-20250101-030000"
    );
    let (status, page) = http_get(port, "/").unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<tr class=\"pair stale\" data-server=\"1\" data-policy=\"nightly\">"),
        "{page}"
    );
    assert!(page.contains("<b>1</b> web-&lt;01&gt;</td>"), "{page}");
    assert!(!page.contains("web-<01>"), "{page}");
}

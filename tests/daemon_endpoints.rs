//! Operating snapkeep: status, metrics, health, notifications, JSON audit log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use snapkeep_sim::{Seed, SeedSnapshot, SimStatus};

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

/// `/metrics` after one pass: the last success is now, the pass's polls
/// and duration are timing (`{V}`); one pass, one create, one item not ours.
const METRICS: &str = r#"# HELP snapkeep_last_success_timestamp_seconds Unix time of the last successful job per server and policy.
# TYPE snapkeep_last_success_timestamp_seconds gauge
snapkeep_last_success_timestamp_seconds{server="1",policy="fast"} {NOW}
# HELP snapkeep_items Items on a server by state, from a policy's point of view (completed, in_progress, failed, unknown: ours; not_ours: everyone else's).
# TYPE snapkeep_items gauge
snapkeep_items{server="1",policy="fast",state="completed"} 1
snapkeep_items{server="1",policy="fast",state="failed"} 0
snapkeep_items{server="1",policy="fast",state="in_progress"} 0
snapkeep_items{server="1",policy="fast",state="not_ours"} 1
snapkeep_items{server="1",policy="fast",state="unknown"} 0
# HELP snapkeep_stored_bytes Bytes a policy's completed items hold on a server, from VPS.org's size_mb (items without a size left out), as the policy's latest job saw them.
# TYPE snapkeep_stored_bytes gauge
snapkeep_stored_bytes{account="default",server="1",policy="fast",kind="snapshot"} 4560257024
# HELP snapkeep_keep_shortfall How many fewer completed items a policy can hold on a server than its keep rules ask, because the cap is shared with items it may not delete (manual, other tools', protected, other policies').
# TYPE snapkeep_keep_shortfall gauge
snapkeep_keep_shortfall{server="1",policy="fast"} 0
# HELP snapkeep_api_requests VPS.org API requests by endpoint and HTTP status (0 = no answer).
# TYPE snapkeep_api_requests counter
snapkeep_api_requests_total{endpoint="backups.list",status="200"} 1
snapkeep_api_requests_total{endpoint="snapshots.create",status="201"} 1
snapkeep_api_requests_total{endpoint="snapshots.list",status="200"} {V}
# HELP snapkeep_api_retries VPS.org API calls retried after a temporary failure.
# TYPE snapkeep_api_retries counter
snapkeep_api_retries_total 0
# HELP snapkeep_pass_duration_seconds Wall time of one pass.
# TYPE snapkeep_pass_duration_seconds histogram
snapkeep_pass_duration_seconds_bucket{le="+Inf"} 1
snapkeep_pass_duration_seconds_bucket{le="0.5"} {V}
snapkeep_pass_duration_seconds_bucket{le="1.0"} {V}
snapkeep_pass_duration_seconds_bucket{le="1024.0"} 1
snapkeep_pass_duration_seconds_bucket{le="128.0"} 1
snapkeep_pass_duration_seconds_bucket{le="16.0"} 1
snapkeep_pass_duration_seconds_bucket{le="2.0"} 1
snapkeep_pass_duration_seconds_bucket{le="2048.0"} 1
snapkeep_pass_duration_seconds_bucket{le="256.0"} 1
snapkeep_pass_duration_seconds_bucket{le="32.0"} 1
snapkeep_pass_duration_seconds_bucket{le="4.0"} 1
snapkeep_pass_duration_seconds_bucket{le="4096.0"} 1
snapkeep_pass_duration_seconds_bucket{le="512.0"} 1
snapkeep_pass_duration_seconds_bucket{le="64.0"} 1
snapkeep_pass_duration_seconds_bucket{le="8.0"} 1
snapkeep_pass_duration_seconds_count 1
snapkeep_pass_duration_seconds_sum {V}
# HELP snapkeep_job_failing 1 while the latest try of a (server, policy) failed (being retried, or its slot given up); 0 once a job succeeds.
# TYPE snapkeep_job_failing gauge
snapkeep_job_failing{server="1",policy="fast"} 0
# HELP snapkeep_api_undecodable_items List items the provider sent that could not be read (skipped, never deleted).
# TYPE snapkeep_api_undecodable_items counter
snapkeep_api_undecodable_items_total 0
# HELP snapkeep_orphans Items in snapkeep's naming format that no configured policy prunes (policy removed, or server no longer in its servers), by kind.
# TYPE snapkeep_orphans gauge
snapkeep_orphans{kind="snapshot"} 0
# HELP snapkeep_policy_paused 1 when the (server, policy) is paused (enabled = false: not fired, nothing pruned, not stale), 0 when it runs; one series per configured pair.
# TYPE snapkeep_policy_paused gauge
snapkeep_policy_paused{server="1",policy="fast"} 0
# EOF
"#;
const METRICS_LOG: &str = "INFO metrics at http://{METRICS}/metrics, health at /healthz and /readyz addr={METRICS}
INFO snapkeep daemon started config={DIR}/config.toml policies=1 servers=1
INFO catching up a missed slot (once) slot={SLOT}
INFO create server 1 (web-01) policy fast #1002 snapkeep-fast-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy fast #1002 snapkeep-fast-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1002 snapkeep-fast-{SLOT} ({T})
INFO ok      server 1 (web-01) policy fast: created #1002 snapkeep-fast-{SLOT} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
INFO SIGTERM: finishing in-flight work, starting nothing new
INFO snapkeep daemon stopped
";

#[test]
fn metrics_and_health_after_a_pass() {
    let t = Test::new();
    let seed = Seed::empty().server(1, "web-01").snapshot(
        1,
        "manual",
        t.daily.at(3),
        SimStatus::Completed,
    );
    let mut d = t
        .seed(seed)
        .policies(
            "[metrics]\nlisten = \"{metrics}\"\n\n[[policy]]\nname = \"fast\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"{daily}\"\nkeep_last = 2\n",
        )
        .start();
    d.wait_for(
        "INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}",
    );
    let exposition = Normalize::default().unix_times().exposition(&[
        "snapkeep_api_requests_total{endpoint=\"snapshots.list\"",
        "snapkeep_pass_duration_seconds_sum",
        "snapkeep_pass_duration_seconds_bucket{le=\"0.5\"}",
        "snapkeep_pass_duration_seconds_bucket{le=\"1.0\"}",
    ]);
    let metrics = exposition.apply(&d.get("/metrics", 200));
    assert_text("/metrics", METRICS, &metrics);
    assert_text("/healthz", "ok\n", &d.get("/healthz", 200));
    assert_text("/readyz", "ready\n", &d.get("/readyz", 200));
    d.stop("TERM", 0, METRICS_LOG);
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
        .literal(port, "{HOOK}")
        .literal(down, "{DOWN}")
        .literal(ping, "{PING}")
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

const JSON_LOG: &str = r#"{"action":"create","duration_ms":"{MS}","item_id":1001,"item_name":"snapkeep-nightly-{SLOT}","level":"info","message":"create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot","outcome":"ok","policy":"nightly","reason":"scheduled slot","server_id":1,"server_name":"web-01","ts":"{TS}"}
{"action":"wait","duration_ms":"{MS}","item_id":1001,"item_name":"snapkeep-nightly-{SLOT}","level":"info","message":"wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)","outcome":"ok","policy":"nightly","reason":"until completed (poll every 100ms, give up after 20s)","server_id":1,"server_name":"web-01","ts":"{TS}"}
{"action":"completed","duration_ms":"{MS}","item_id":1001,"item_name":"snapkeep-nightly-{SLOT}","level":"info","message":"completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})","outcome":"ok","policy":"nightly","reason":"","server_id":1,"server_name":"web-01","ts":"{TS}"}
{"action":"fail","duration_ms":"{MS}","item_id":-1,"item_name":"","level":"error","message":"fail server 999 policy nightly: create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)","outcome":"error","policy":"nightly","reason":"create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)","server_id":999,"server_name":"","ts":"{TS}"}
"#;

#[test]
fn json_logs_parse_line_by_line_with_the_documented_fields() {
    Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies("[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"{daily}\"\nkeep_last = 1\n")
        .args(&["--run-now", "--log-format", "json"])
        .status(1)
        .stdout(ONE_FAILED)
        .normalize(|n| n.json_log().jobs_concurrently())
        .stderr(JSON_LOG)
        .run();
}

const STATUS_JSON: &str = r#"{
  "pairs": [
    {
      "server_id": 1,
      "server_name": "web-01",
      "policy": "daily",
      "kind": "snapshot",
      "ours": {
        "completed": 2,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 1,
        "protected": 0,
        "can_hold": 1,
        "shortfall": 0,
        "stored_bytes": 8589934592,
        "without_size": 0
      },
      "newest_completed": "{SLOT-5d}",
      "newest_age_seconds": {AGE},
      "next_fire": "{SLOT+1d}",
      "paused": false,
      "health": "critical",
      "warn_after_seconds": 129600,
      "crit_after_seconds": 172800,
      "stale": true,
      "would_delete": [
        {
          "id": 1002,
          "name": "snapkeep-daily-{SLOT-6d}",
          "reasons": [
            "no-rule"
          ]
        }
      ],
      "protected": [],
      "shared_cap": null,
      "retry": null
    },
    {
      "server_id": 2,
      "server_name": "db-01",
      "policy": "daily",
      "kind": "snapshot",
      "ours": {
        "completed": 1,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 0,
        "protected": 0,
        "can_hold": 1,
        "shortfall": 0,
        "stored_bytes": 536870912,
        "without_size": 0
      },
      "newest_completed": "{SLOT}",
      "newest_age_seconds": {AGE},
      "next_fire": "{SLOT+1d}",
      "paused": false,
      "health": "ok",
      "warn_after_seconds": 129600,
      "crit_after_seconds": 172800,
      "stale": false,
      "would_delete": [],
      "protected": [],
      "shared_cap": null,
      "retry": null
    }
  ],
  "orphans": [],
  "stored": [
    {
      "account": "default",
      "bytes": 9126805504,
      "without_size": 0,
      "servers": [
        {
          "server_id": 1,
          "server_name": "web-01",
          "bytes": 8589934592,
          "without_size": 0
        },
        {
          "server_id": 2,
          "server_name": "db-01",
          "bytes": 536870912,
          "without_size": 0
        }
      ]
    }
  ]
}
"#;
const STATUS_TABLE: &str =
    "SERVER             POLICY         KIND OURS RUN FAIL NOT NEWEST  NEXT             PRUNE  STATE
1 web-01           daily          snap    2   0    0   1     5d  {SLOT+1d}      1  STALE
2 db-01            daily          snap    1   0    0   0    12h  {SLOT+1d}      0  ok

1 STALE: newest completed item older than crit_after (default 2 × the schedule's interval), or none

next pass on server 1 policy daily would delete:
  #1002 snapkeep-daily-{SLOT-6d} (no-rule)

stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  1 web-01           daily          snap     2      8.0 GiB
  1 web-01           server total            2      8.0 GiB
  2 db-01            daily          snap     1    512.0 MiB
  2 db-01            server total            1    512.0 MiB
  account default    total                   3      8.5 GiB
";

#[test]
fn status_json_matches_the_simulator_and_flags_stale() {
    let t = Test::new();
    let daily = t.daily.clone();
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
    let ran = t
        .seed(seed)
        .policies("[[policy]]\nname = \"daily\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"{daily}\"\nkeep_last = 1\n")
        .normalize(|n| n.json_field("newest_age_seconds", "{AGE}"))
        .args(&["status", "--json"])
        .stdout(STATUS_JSON)
        .run();
    // The table fits 100 columns and says STALE.
    let table = ran.again(&["status"], 0, STATUS_TABLE, "").stdout();
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert_eq!(
        ran.sim().count(&["POST", "DELETE"]),
        0,
        "status changes nothing"
    );
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

/// JSON `text` pretty-printed (keys in order) and normalised.
fn pretty(ran: &Ran, text: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    ran.normalize
        .apply(&serde_json::to_string_pretty(&v).unwrap())
}

const STATUS_MODEL: &str = r#"{
  "orphans": [
    {
      "group_age_seconds": {AGE},
      "id": 1001,
      "kind": "snapshot",
      "live": false,
      "name": "snapkeep-gone-20250101-030000",
      "newest_completed": true,
      "policy": "gone",
      "protected": false,
      "reason": "no snapshot policy \"gone\" with prefix \"snapkeep\" is configured",
      "server_id": 1,
      "server_name": "web-<01>",
      "slot": "2025-01-01T03:00:00Z",
      "status": "completed"
    }
  ],
  "pairs": [
    {
      "crit_after_seconds": 172800,
      "health": "critical",
      "kind": "snapshot",
      "newest_age_seconds": null,
      "newest_completed": null,
      "next_fire": "{SLOT+1d}",
      "ours": {
        "can_hold": 2,
        "completed": 0,
        "failed": 0,
        "in_progress": 0,
        "not_ours": 1,
        "protected": 0,
        "shortfall": 0,
        "stored_bytes": 0,
        "unknown": 0,
        "without_size": 0
      },
      "paused": false,
      "policy": "nightly",
      "protected": [],
      "retry": null,
      "server_id": 1,
      "server_name": "web-<01>",
      "shared_cap": null,
      "stale": true,
      "warn_after_seconds": 129600,
      "would_delete": []
    },
    {
      "crit_after_seconds": 172800,
      "health": "critical",
      "kind": "snapshot",
      "newest_age_seconds": null,
      "newest_completed": null,
      "next_fire": "{SLOT+1d}",
      "ours": {
        "can_hold": 2,
        "completed": 0,
        "failed": 0,
        "in_progress": 0,
        "not_ours": 0,
        "protected": 0,
        "shortfall": 0,
        "stored_bytes": 0,
        "unknown": 0,
        "without_size": 0
      },
      "paused": false,
      "policy": "nightly",
      "protected": [],
      "retry": null,
      "server_id": 2,
      "server_name": "",
      "shared_cap": null,
      "stale": true,
      "warn_after_seconds": 129600,
      "would_delete": []
    }
  ],
  "stored": [
    {
      "account": "default",
      "bytes": 0,
      "servers": [
        {
          "bytes": 0,
          "server_id": 1,
          "server_name": "web-<01>",
          "without_size": 0
        },
        {
          "bytes": 0,
          "server_id": 2,
          "server_name": "",
          "without_size": 0
        }
      ],
      "without_size": 0
    }
  ]
}"#;
const STATUS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta http-equiv="refresh" content="30">
<title>snapkeep status</title>
<style>
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d; --panel: #151b23; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 1.5rem; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 0 0 .25rem; }
.muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
:root { --stale: #cf222e; --old: #9a6700; --retrying: #0969da; --paused: #59636e; --ok: #1a7f37; }
a { color: var(--retrying); }
.tally { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem; margin: .75rem 0 1.25rem; }
.tally li { border: 1px solid var(--line); border-radius: 6px; padding: .25rem .6rem; }
.tally b { font-size: 1.1rem; }
.tally .stale b, .tally .failed b { color: var(--stale); } .tally .old b { color: var(--old); }
.tally .retrying b { color: var(--retrying); } .tally .paused b { color: var(--paused); } .tally .ok b { color: var(--ok); }
section { margin-bottom: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); background: var(--panel); }
.badge { display: inline-block; min-width: 4.8rem; text-align: center; border-radius: 999px; padding: 0 .5rem; font-size: .8rem; font-weight: 700; color: #fff; background: var(--ok); }
tr.stale { background: color-mix(in srgb, var(--stale) 10%, transparent); } tr.stale .badge { background: var(--stale); }
tr.old { background: color-mix(in srgb, var(--old) 9%, transparent); } tr.old .badge { background: var(--old); }
tr.retrying { background: color-mix(in srgb, var(--retrying) 9%, transparent); } tr.retrying .badge { background: var(--retrying); }
tr.paused { color: var(--muted); font-style: italic; } tr.paused .badge { background: var(--paused); }
.holds .failed { color: var(--stale); font-weight: 700; }
.none { color: var(--stale); font-weight: 600; }
.notes { font-size: .9em; max-width: 28rem; }
</style>
</head>
<body>
<header>
<h1>snapkeep status</h1>
<p class="muted">2 (server, policy) pairs · account listed {AGE} ago at {NOW} · page at {NOW} · reloads every 30 s · <a href="status.json">status.json</a></p>
<ul class="tally">
<li class="stale" data-state="stale"><b>2</b> STALE</li>
<li class="retrying" data-state="retrying"><b>0</b> RETRYING</li>
<li class="old" data-state="old"><b>0</b> old</li>
<li class="paused" data-state="paused"><b>0</b> PAUSED</li>
<li class="ok" data-state="ok"><b>0</b> ok</li>
<li class="quiet"><b>0</b> failed items</li>
<li class="orphans"><b>1</b> orphan</li>
</ul>
</header>
<section>
<h2>Servers and policies</h2>
<table class="pairs">
<thead><tr><th>state</th><th>server</th><th>policy</th><th>kind</th><th title="completed / in progress / failed items of the policy's own; others on the server">holds</th><th>newest completed</th><th>next fire</th><th>next pass prunes</th><th>notes</th></tr></thead>
<tbody>
<tr class="pair stale" data-server="1" data-policy="nightly"><td><span class="badge">STALE</span></td><td><b>1</b> web-&lt;01&gt;</td><td>nightly</td><td>snapshot</td><td class="holds">0 / 0 / <span class="">0</span> <span class="muted">+1 others</span></td><td><span class="none">none</span></td><td>{SLOT+1d}</td><td>0</td><td class="notes"></td></tr>
<tr class="pair stale" data-server="2" data-policy="nightly"><td><span class="badge">STALE</span></td><td><b>2</b> </td><td>nightly</td><td>snapshot</td><td class="holds">0 / 0 / <span class="">0</span></td><td><span class="none">none</span></td><td>{SLOT+1d}</td><td>0</td><td class="notes"></td></tr>
</tbody>
</table>
</section>
<section>
<h2>Orphans</h2>
<p class="muted">1 item in our naming that no configured policy prunes; see <code>snapkeep prune-orphans</code>.</p>
<table class="orphans">
<thead><tr><th>server</th><th>kind</th><th>item</th><th>status</th><th>why</th></tr></thead>
<tbody>
<tr class="orphan" data-server="1"><td><b>1</b> web-&lt;01&gt;</td><td>snapshot</td><td>#1001 snapkeep-gone-20250101-030000</td><td>completed</td><td>no snapshot policy &quot;gone&quot; with prefix &quot;snapkeep&quot; is configured</td></tr>
</tbody>
</table>
</section>
</body>
</html>
"#;
const STATUS_LOG: &str = r#"INFO metrics at http://{METRICS}/metrics, health at /healthz and /readyz addr={METRICS}
INFO snapkeep daemon started config={DIR}/config.toml policies=1 servers=2
INFO catching up a missed slot (once) slot={SLOT}
INFO catching up a missed slot (once) slot={SLOT}
INFO ok      server 1 (web-<01>) policy nightly: nothing left unfinished for this slot (missed = "skip") [{T}]
INFO ok      server 2 policy nightly: nothing left unfinished for this slot (missed = "skip") [{T}]
INFO 2 job(s): 2 ok, 0 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
INFO SIGTERM: finishing in-flight work, starting nothing new
INFO snapkeep daemon stopped
"#;

/// The daemon's status page is built from the model `status --json` prints:
/// the same pairs and orphans (ages move on between the two: normalised),
/// served before any pass from the listing taken at start.
#[test]
fn the_daemon_serves_the_status_model_and_its_page() {
    let t = Test::new();
    let seed = Seed::empty()
        .server(1, "web-<01>")
        .snapshot(
            1,
            "snapkeep-gone-20250101-030000",
            t.daily.at(30),
            SimStatus::Completed,
        )
        .server(2, "web-02");
    let mut d = t
        .seed(seed)
        .policies(
            "[metrics]\nlisten = \"{metrics}\"\n\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"{daily}\"\nmissed = \"skip\"\nkeep_last = 2\n",
        )
        .normalize(|n| {
            n.json_field("newest_age_seconds", "{AGE}")
                .json_field("group_age_seconds", "{AGE}")
        })
        .start();
    let served = d.get("/status.json", 200);
    assert_text("/status.json", STATUS_MODEL, &pretty(&d.ran, &served));
    let printed = d.ran.setup().run(&["status", "--json"]).expect(0).stdout();
    assert_text("status --json", STATUS_MODEL, &pretty(&d.ran, &printed));
    let page = d.get("/", 200);
    let listed = page.find("listed ").expect("listed … ago");
    let ago = page[listed..].find(" ago").unwrap() + listed;
    let page = format!("{}listed {{AGE}}{}", &page[..listed], &page[ago..]);
    assert_text("/", STATUS_PAGE, &page);
    d.wait_for(
        "INFO 2 job(s): 2 ok, 0 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}",
    );
    d.stop("TERM", 0, STATUS_LOG);
}

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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
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
    let d = s.spawn_daemon(&[]);
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

//! The daemon loop in-process: a busy server queues its fires instead of
//! dropping them, and what it does drop is counted.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::api::{ApiToken, Client, ClientSettings};
use crate::clock::SystemClock;
use snapkeep_sim::{Faults, Seed, SimConfig, Simulator};

/// These tests never reload.
fn no_reload() -> StartError {
    StartError::Config(crate::config::ConfigError::Io {
        path: "no reload here".into(),
        source: std::io::Error::other("test"),
    })
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics listen");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    text
}

fn counter_sum(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_queues_its_fires_and_counts_what_it_drops() {
    // Two policies on one server, every 2 s and every 3 s; a create takes
    // 1.5 s, so fires keep coming while the server's jobs run.
    let sim = Simulator::start(
        "127.0.0.1:0".parse().expect("loopback"),
        SimConfig {
            complete_after: Duration::from_millis(1500),
            seed: Seed::empty().server(1, "busy"),
            faults: Faults::none(),
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let text = format!(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\npoll_interval = \"100ms\"\nwait_timeout = \"10s\"\nmissed = \"skip\"\n\n[[policy]]\nname = \"a\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"*/2 * * * * *\"\nkeep_last = 2\n\n[[policy]]\nname = \"b\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"*/3 * * * * *\"\nkeep_last = 2\n"
    );
    let config = crate::config::parse_str(&text, "busy.toml").expect("config");
    let mut settings = ClientSettings::new(sim.base_url(), ApiToken::new(sim.token()));
    settings.requests_per_second = 0.0;
    let client = Client::with_stats(settings, Arc::default()).expect("client");
    let (tx, rx) = mpsc::channel(1);
    let started = chrono::Utc::now();
    let daemon = tokio::spawn(run_loop(
        config.clone(),
        Clients::from(client),
        Arc::new(SystemClock),
        Arc::new(crate::metrics::Metrics::new()),
        rx,
        |_| Err(no_reload()),
    ));
    tokio::time::sleep(Duration::from_millis(8200)).await;
    let stopped = chrono::Utc::now();
    tx.send(Control::Shutdown).await.expect("send");
    assert_eq!(daemon.await.expect("joins").expect("exits cleanly"), ());
    // The metrics endpoint outlives the loop: what shutdown left queued is
    // counted by now.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let metrics = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .expect("scrape");

    // Every slot that came due was either attempted (a POST for its name:
    // in-flight passes finish on shutdown) or counted as skipped.
    for (policy, every) in [("a", 2), ("b", 3)] {
        let p = config
            .policies
            .iter()
            .find(|p| p.name == policy)
            .expect("policy");
        let due_by = |t: chrono::DateTime<chrono::Utc>| {
            p.schedule
                .upcoming(started, 100)
                .into_iter()
                .filter(|s| *s <= t)
                .count() as f64
        };
        let (due, at_most) = (
            due_by(stopped - chrono::TimeDelta::milliseconds(300)),
            due_by(stopped + chrono::TimeDelta::milliseconds(300)),
        );
        let attempted = sim
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .filter(|r| {
                r.body
                    .as_ref()
                    .and_then(|b| b["name"].as_str())
                    .is_some_and(|n| n.starts_with(&format!("snapkeep-{policy}-")))
            })
            .count() as f64;
        let skipped = counter_sum(
            &metrics,
            "snapkeep_skipped_fires_total",
            &format!("policy=\"{policy}\""),
        );
        assert!(
            (due..=at_most).contains(&(attempted + skipped)),
            "policy {policy} (every {every}s): {due} due, {attempted} attempted, {skipped} counted as skipped\n{metrics}"
        );
        assert!(attempted >= 2.0, "policy {policy}: {attempted} attempted");
    }
    assert_eq!(
        counter_sum(&metrics, "snapkeep_job_failures_total", ""),
        0.0,
        "{metrics}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_with_missed_skip_finishes_what_a_stopped_pass_left() {
    // A pass was stopped while its item was in progress; the older item it
    // would have pruned is still there. missed = "skip" creates nothing for
    // the missed slot, but the start still waits and prunes.
    let slot = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    let slot = slot - chrono::TimeDelta::seconds(i64::from(chrono::Timelike::second(&slot)));
    let sim = Simulator::start(
        "127.0.0.1:0".parse().expect("loopback"),
        SimConfig {
            complete_after: Duration::from_millis(300),
            seed: Seed::empty().server(1, "web").snapshot(
                1,
                crate::naming::label_for(
                    crate::provider::Kind::Snapshot,
                    "snapkeep",
                    "minutely",
                    slot - chrono::TimeDelta::minutes(1),
                    None,
                ),
                slot - chrono::TimeDelta::minutes(1),
                snapkeep_sim::SimStatus::Completed,
            ),
            faults: Faults::none(),
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let left = crate::naming::label_for(
        crate::provider::Kind::Snapshot,
        "snapkeep",
        "minutely",
        slot,
        None,
    );
    sim.create_snapshot_as_other(1, left.clone(), snapkeep_sim::SimStatus::InProgress)
        .expect("created");
    let text = "[defaults]\npoll_interval = \"50ms\"\nwait_timeout = \"10s\"\nmissed = \"skip\"\n\n[[policy]]\nname = \"minutely\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"* * * * *\"\nkeep_last = 1\n";
    let config = crate::config::parse_str(text, "skip.toml").expect("config");
    let mut settings = ClientSettings::new(sim.base_url(), ApiToken::new(sim.token()));
    settings.requests_per_second = 0.0;
    let client = Client::with_stats(settings, Arc::default()).expect("client");
    let (tx, rx) = mpsc::channel(1);
    let daemon = tokio::spawn(run_loop(
        config,
        Clients::from(client),
        Arc::new(SystemClock),
        Arc::new(crate::metrics::Metrics::new()),
        rx,
        |_| Err(no_reload()),
    ));
    let mut names = Vec::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        names = sim
            .snapshots(Some(1))
            .into_iter()
            .map(|s| (s.name, s.status.to_string()))
            .collect::<Vec<_>>();
        if names.len() == 1 {
            break;
        }
    }
    tx.send(Control::Shutdown).await.expect("send");
    daemon.await.expect("joins").expect("exits");
    // The slot the stopped pass left, completed; its predecessor pruned;
    // nothing created for the missed slot (one item, the one we seeded).
    assert_eq!(names, [(left, "completed".to_owned())]);
    assert!(
        sim.requests().iter().all(|r| r.method != "POST"),
        "{:?}",
        sim.requests()
    );
    sim.shutdown().await;
}

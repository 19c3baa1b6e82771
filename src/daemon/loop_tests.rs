//! The daemon loop on tokio's paused clock: catch-up, firing on time, a
//! busy server, reload and shutdown, over hours and days of virtual time in
//! milliseconds. Passes are a stand-in ([`Recorder`]) that records what
//! was started when and stays busy for a set time: the loop decides what
//! fires when; the pass itself is tested in `pass::rule_tests`, and
//! `busy_tests` runs this loop against the simulator in real time.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::*;
use crate::clock::TokioClock;

/// One job a pass was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Started {
    at: DateTime<Utc>,
    server: u64,
    policy: String,
    slot: DateTime<Utc>,
    resume_only: bool,
}

/// Passes that record their jobs and keep their servers busy for `busy_for`.
#[derive(Clone)]
struct Recorder {
    stats: Arc<CallStats>,
    busy_for: Duration,
    started: Arc<Mutex<Vec<Started>>>,
    finished: Arc<Mutex<usize>>,
    /// Regular jobs started before this time fail (an API outage).
    fail_until: Option<DateTime<Utc>>,
    /// Report every job (as a success unless `fail_until` says otherwise);
    /// without this or `fail_until` the report is empty.
    succeed: bool,
}

impl Recorder {
    fn new(busy_for: Duration) -> Recorder {
        Recorder {
            stats: Arc::default(),
            busy_for,
            started: Arc::default(),
            finished: Arc::default(),
            fail_until: None,
            succeed: false,
        }
    }

    /// A recorder whose jobs fail when started before `until`.
    fn failing_until(busy_for: Duration, until: DateTime<Utc>) -> Recorder {
        Recorder {
            fail_until: Some(until),
            ..Recorder::new(busy_for)
        }
    }

    /// Regular (not resume-only) starts, as (server, policy, slot, at).
    fn fired(&self) -> Vec<(u64, String, DateTime<Utc>, DateTime<Utc>)> {
        let started = self.started.lock().expect("lock");
        started
            .iter()
            .filter(|s| !s.resume_only)
            .map(|s| (s.server, s.policy.clone(), s.slot, s.at))
            .collect()
    }
}

impl Passes for Recorder {
    fn stats(&self) -> &Arc<CallStats> {
        &self.stats
    }

    fn run(
        &self,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        jobs: Vec<JobSpec>,
        options: PassOptions,
    ) -> impl Future<Output = PassReport> + Send {
        let me = self.clone();
        async move {
            let mut servers = Vec::new();
            let fails = me.fail_until.is_some_and(|until| clock.now() < until);
            for j in &jobs {
                me.started.lock().expect("lock").push(Started {
                    at: clock.now(),
                    server: j.server_id,
                    policy: config.policies[j.policy].name.clone(),
                    slot: j.slot,
                    resume_only: j.resume_only,
                });
                let server = (config.policies[j.policy].account.clone(), j.server_id);
                if !servers.contains(&server) {
                    servers.push(server);
                }
            }
            tokio::time::sleep(me.busy_for).await;
            if let Some(done) = &options.server_done {
                for (account, server) in servers {
                    (done.0)(&account, server);
                }
            }
            *me.finished.lock().expect("lock") += 1;
            let outcomes = jobs
                .iter()
                .filter(|_| me.succeed || me.fail_until.is_some())
                .map(|j| pass::JobOutcome {
                    spec: j.clone(),
                    server_name: String::new(),
                    policy_name: config.policies[j.policy].name.clone(),
                    report: crate::job::JobReport::default(),
                    // (A start's resume-only look at the previous slot finds nothing to do.)
                    error: (fails && !j.resume_only).then_some(crate::job::JobError::Contention {
                        server_id: j.server_id,
                        rounds: 4,
                    }),
                    duration: Duration::ZERO,
                })
                .collect();
            PassReport {
                outcomes,
                ..PassReport::default()
            }
        }
    }

    async fn count_orphans(
        &self,
        _config: Arc<Config>,
        _metrics: Arc<Metrics>,
        _board: Arc<crate::status::Board>,
        _now: chrono::DateTime<chrono::Utc>,
    ) {
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn config(text: &str) -> Config {
    crate::config::parse_str(text, "loop.toml").expect("config")
}

/// A running loop: its control channel, metrics, clock and task.
struct Running {
    controls: mpsc::Sender<Control>,
    metrics: Arc<Metrics>,
    clock: TokioClock,
    task: tokio::task::JoinHandle<Result<(), DaemonError>>,
}

fn start(
    config: Config,
    passes: Recorder,
    now: DateTime<Utc>,
    reload: impl Fn(Arc<CallStats>) -> Result<(Config, Recorder), StartError> + Send + 'static,
) -> Running {
    let (controls, rx) = mpsc::channel(4);
    let metrics = Arc::new(Metrics::new());
    let clock = TokioClock::starting_at(now);
    let task = tokio::spawn(run_loop(
        config,
        passes,
        Arc::new(clock),
        Arc::clone(&metrics),
        rx,
        reload,
    ));
    Running {
        controls,
        metrics,
        clock,
        task,
    }
}

impl Running {
    /// Lets virtual time run until the wall clock reads `t`.
    async fn until(&self, t: DateTime<Utc>) {
        let left = (t - self.clock.now()).to_std().unwrap_or_default();
        tokio::time::sleep(left).await;
    }

    /// Sends SIGHUP's message.
    async fn reload(&self) {
        self.controls
            .send(Control::Reload)
            .await
            .expect("loop alive");
    }

    /// Shuts the loop down; how long (virtual) it took to exit.
    async fn shutdown(self) -> (Duration, Arc<Metrics>) {
        let asked = tokio::time::Instant::now();
        self.controls
            .send(Control::Shutdown)
            .await
            .expect("loop alive");
        self.task.await.expect("joins").expect("exits cleanly");
        (asked.elapsed(), self.metrics)
    }
}

fn skipped(metrics: &Metrics, reason: &str) -> f64 {
    metrics
        .render(&CallStats::default())
        .lines()
        .filter(|l| l.starts_with("snapkeep_skipped_fires_total{") && l.contains(reason))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A reload that reads `text` and keeps `passes`' recorder (with the
/// carried-over counters).
fn reloading_to(
    passes: &Recorder,
    text: String,
) -> impl Fn(Arc<CallStats>) -> Result<(Config, Recorder), StartError> + Send + 'static {
    let reloaded = passes.clone();
    move |stats| {
        Ok((
            config(&text),
            Recorder {
                stats,
                ..reloaded.clone()
            },
        ))
    }
}

fn no_reload() -> StartError {
    StartError::Config(crate::config::ConfigError::Io {
        path: "no reload in this test".into(),
        source: std::io::Error::other("test"),
    })
}

const NIGHTLY: &str = "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n";

#[tokio::test(start_paused = true)]
async fn a_start_catches_up_once_then_fires_each_slot_on_time() {
    let passes = Recorder::new(Duration::from_secs(600));
    let daemon = start(
        config(NIGHTLY),
        passes.clone(),
        at("2025-01-10T12:00:00Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-12T12:00:00Z")).await;
    let (_, metrics) = daemon.shutdown().await;
    let mut fired = passes.fired();
    fired.sort();
    let want = |server: u64, slot: &str, started: &str| {
        (server, "nightly".to_owned(), at(slot), at(started))
    };
    assert_eq!(
        fired,
        [
            // The missed 10th, once per server, at start.
            want(1, "2025-01-10T03:00:00Z", "2025-01-10T12:00:00Z"),
            want(1, "2025-01-11T03:00:00Z", "2025-01-11T03:00:00Z"),
            want(1, "2025-01-12T03:00:00Z", "2025-01-12T03:00:00Z"),
            want(2, "2025-01-10T03:00:00Z", "2025-01-10T12:00:00Z"),
            want(2, "2025-01-11T03:00:00Z", "2025-01-11T03:00:00Z"),
            want(2, "2025-01-12T03:00:00Z", "2025-01-12T03:00:00Z"),
        ]
    );
    assert_eq!(skipped(&metrics, ""), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_busy_server_runs_or_counts_every_slot_and_shutdown_stops_on_time() {
    // Hourly, but a pass keeps the server busy for 100 minutes.
    let text = "[daemon]\nshutdown_timeout = \"30s\"\n\n[[policy]]\nname = \"hourly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 * * * *\"\nkeep_last = 3\n";
    let passes = Recorder::new(Duration::from_secs(100 * 60));
    let daemon = start(
        config(text),
        passes.clone(),
        at("2025-01-10T00:30:00Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-10T06:20:00Z")).await;
    let (took, metrics) = daemon.shutdown().await;
    let fired: Vec<(String, String)> = passes
        .fired()
        .into_iter()
        .map(|(_, _, slot, started)| {
            (
                slot.format("%H:%M").to_string(),
                started.format("%H:%M").to_string(),
            )
        })
        .collect();
    // 00:00 caught up at 00:30 (busy until 02:10); 01:00 waits and is
    // overtaken by 02:00, which starts at 02:10 (busy until 03:50); 03:00
    // waits and starts at 03:50 (until 05:30); 05:00 overtakes 04:00 and
    // starts at 05:30; 06:00 waits and the shutdown at 06:20 drops it.
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        fired,
        pairs(&[
            ("00:00", "00:30"),
            ("02:00", "02:10"),
            ("03:00", "03:50"),
            ("05:00", "05:30")
        ])
    );
    assert_eq!(skipped(&metrics, "overtaken"), 2.0);
    assert_eq!(skipped(&metrics, "shutdown"), 1.0);
    // Every hourly slot from 00:00 to 06:00 ran or was counted, once.
    assert_eq!(fired.len() as f64 + skipped(&metrics, ""), 7.0);
    // The 05:00 pass (busy until 07:10) is stopped after shutdown_timeout.
    assert_eq!(took, Duration::from_secs(30));
    assert_eq!(*passes.finished.lock().expect("lock"), 3);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_pass_that_finishes_within_the_timeout() {
    let passes = Recorder::new(Duration::from_secs(10));
    let daemon = start(
        config(NIGHTLY),
        passes.clone(),
        at("2025-01-10T02:59:40Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-10T03:00:02Z")).await;
    let (took, metrics) = daemon.shutdown().await;
    // missed = run-once caught up the 9th at start (done at 02:59:50); the
    // 10th fired at 03:00:00 and had 8 s to go at the shutdown.
    assert_eq!(passes.fired().len(), 4);
    assert_eq!(took, Duration::from_secs(8));
    assert_eq!(*passes.finished.lock().expect("lock"), 2);
    assert_eq!(skipped(&metrics, ""), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_reload_moves_the_schedule_and_keeps_the_call_counters() {
    let passes = Recorder::new(Duration::from_secs(60));
    let reloaded = passes.clone();
    let carried = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&carried);
    let daemon = start(
        config(&NIGHTLY.replace("servers = [1, 2]", "servers = [1]")),
        passes.clone(),
        at("2025-01-10T12:00:00Z"),
        move |stats: Arc<CallStats>| {
            *seen.lock().expect("lock") = Some(Arc::clone(&stats));
            let text = NIGHTLY
                .replace("servers = [1, 2]", "servers = [1]")
                .replace("0 3 * * *", "0 5 * * *");
            Ok((
                config(&text),
                Recorder {
                    stats,
                    ..reloaded.clone()
                },
            ))
        },
    );
    daemon.until(at("2025-01-10T13:00:00Z")).await;
    daemon.reload().await;
    daemon.until(at("2025-01-11T06:00:00Z")).await;
    let stats = Arc::clone(&passes.stats);
    let (_, _) = daemon.shutdown().await;
    let fired: Vec<(DateTime<Utc>, DateTime<Utc>)> = passes
        .fired()
        .into_iter()
        .map(|(_, _, slot, started)| (slot, started))
        .collect();
    assert_eq!(
        fired,
        [
            (at("2025-01-10T03:00:00Z"), at("2025-01-10T12:00:00Z")),
            // Not 03:00 any more: the reloaded schedule's 05:00.
            (at("2025-01-11T05:00:00Z"), at("2025-01-11T05:00:00Z")),
        ]
    );
    let carried = carried.lock().expect("lock").clone().expect("reloaded");
    assert!(Arc::ptr_eq(&carried, &stats), "the counters carry over");
}

/// The series of `family` that `metrics` exports, sorted; a last-success
/// series without its value (a time: only which series exist matters).
fn series(metrics: &Metrics, family: &str) -> Vec<String> {
    let mut v: Vec<String> = metrics
        .render(&CallStats::default())
        .lines()
        .filter(|l| l.starts_with(family))
        .map(|l| match family {
            "snapkeep_last_success_timestamp_seconds{" => {
                l.split(' ').next().unwrap_or(l).to_owned()
            }
            _ => l.to_owned(),
        })
        .collect();
    v.sort();
    v
}

/// Metrics follow the config: a reload takes every series of a (server,
/// policy) it removed away, exports paused pairs as paused, and counts a
/// due fire it paused or removed under its own reason (which no alert
/// pages on) instead of running it.
#[tokio::test(start_paused = true)]
async fn a_reload_drops_removed_pairs_series_marks_paused_ones_and_counts_their_fires() {
    let policy = |name: &str, servers: &str, schedule: &str, extra: &str| {
        format!(
            "[[policy]]\nname = \"{name}\"\nkind = \"snapshot\"\nservers = [{servers}]\nschedule = \"{schedule}\"\nkeep_last = 2\n{extra}\n"
        )
    };
    let hourly = "jitter = \"50m\"";
    let before = [
        policy("a", "1, 2", "0 3 * * *", ""),
        policy("b", "3", "0 3 * * *", ""),
        policy("c", "4", "0 * * * *", hourly),
        policy("d", "5", "0 * * * *", hourly),
    ]
    .concat();
    // Server 2 leaves a, b and c are paused, d is gone.
    let after = [
        policy("a", "1", "0 3 * * *", ""),
        policy("b", "3", "0 3 * * *", "enabled = false"),
        policy("c", "4", "0 * * * *", &format!("{hourly}\nenabled = false")),
    ]
    .concat();
    let passes = Recorder {
        succeed: true,
        ..Recorder::new(Duration::from_secs(10))
    };
    let daemon = start(
        config(&before),
        passes.clone(),
        at("2025-01-10T12:00:00Z"),
        reloading_to(&passes, after.to_string()),
    );
    // Every pair caught up (and succeeded) at the start.
    daemon.until(at("2025-01-10T13:00:01Z")).await;
    assert_eq!(
        series(&daemon.metrics, "snapkeep_items{").len(),
        5 * 5,
        "five pairs, five states"
    );
    assert_eq!(
        series(&daemon.metrics, "snapkeep_policy_paused{"),
        [
            "snapkeep_policy_paused{account=\"default\",server=\"1\",policy=\"a\"} 0",
            "snapkeep_policy_paused{account=\"default\",server=\"2\",policy=\"a\"} 0",
            "snapkeep_policy_paused{account=\"default\",server=\"3\",policy=\"b\"} 0",
            "snapkeep_policy_paused{account=\"default\",server=\"4\",policy=\"c\"} 0",
            "snapkeep_policy_paused{account=\"default\",server=\"5\",policy=\"d\"} 0",
        ]
    );
    // c and d's 13:00 fires wait out their jitter when the reload comes.
    daemon.reload().await;
    daemon.until(at("2025-01-10T15:00:00Z")).await;
    let (_, metrics) = daemon.shutdown().await;
    assert_eq!(
        series(&metrics, "snapkeep_last_success_timestamp_seconds{"),
        [
            "snapkeep_last_success_timestamp_seconds{account=\"default\",server=\"1\",policy=\"a\"}",
            "snapkeep_last_success_timestamp_seconds{account=\"default\",server=\"3\",policy=\"b\"}",
            "snapkeep_last_success_timestamp_seconds{account=\"default\",server=\"4\",policy=\"c\"}",
        ]
    );
    let items = series(&metrics, "snapkeep_items{");
    assert_eq!(items.len(), 3 * 5, "{items:#?}");
    assert!(
        items
            .iter()
            .all(|l| !l.contains("server=\"2\"") && !l.contains("policy=\"d\"")),
        "{items:#?}"
    );
    assert_eq!(
        series(&metrics, "snapkeep_policy_paused{"),
        [
            "snapkeep_policy_paused{account=\"default\",server=\"1\",policy=\"a\"} 0",
            "snapkeep_policy_paused{account=\"default\",server=\"3\",policy=\"b\"} 1",
            "snapkeep_policy_paused{account=\"default\",server=\"4\",policy=\"c\"} 1",
        ]
    );
    assert_eq!(
        series(&metrics, "snapkeep_skipped_fires_total{"),
        [
            "snapkeep_skipped_fires_total{account=\"default\",server=\"4\",policy=\"c\",reason=\"paused_by_reload\"} 1",
            "snapkeep_skipped_fires_total{account=\"default\",server=\"5\",policy=\"d\",reason=\"removed_by_reload\"} 1",
        ]
    );
    // Nothing of c or d ran after the reload.
    let late: Vec<(u64, String)> = passes
        .fired()
        .into_iter()
        .filter(|(_, _, _, started)| *started > at("2025-01-10T13:00:01Z"))
        .map(|(server, policy, _, _)| (server, policy))
        .collect();
    assert_eq!(late, []);
}

/// A fire queued behind a busy server whose policy a reload pauses is
/// dropped and counted as `paused_by_reload`, never started.
#[tokio::test(start_paused = true)]
async fn a_queued_fire_of_a_policy_paused_by_a_reload_is_dropped_and_counted() {
    let text = "[[policy]]\nname = \"hourly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 * * * *\"\nkeep_last = 3\n";
    let passes = Recorder::new(Duration::from_secs(90 * 60));
    let daemon = start(
        config(text),
        passes.clone(),
        at("2025-01-10T00:30:00Z"),
        reloading_to(&passes, format!("{text}enabled = false\n")),
    );
    // 00:00 caught up at 00:30 (busy until 02:00); 01:00 waits for it.
    daemon.until(at("2025-01-10T01:10:00Z")).await;
    daemon.reload().await;
    daemon.until(at("2025-01-10T04:00:00Z")).await;
    let (_, metrics) = daemon.shutdown().await;
    let slots: Vec<String> = passes
        .fired()
        .iter()
        .map(|(_, _, slot, _)| slot.format("%H:%M").to_string())
        .collect();
    assert_eq!(slots, ["00:00"]);
    assert_eq!(skipped(&metrics, "reason=\"paused_by_reload\""), 1.0);
    assert_eq!(skipped(&metrics, ""), 1.0, "and nothing else");
}

/// The value of the metric line that starts with `prefix` (0 when absent).
fn metric(metrics: &Metrics, prefix: &str) -> f64 {
    metrics
        .render(&CallStats::default())
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// When each try of server 1's `slot` started, as "HH:MM:SS".
fn tries_of(passes: &Recorder, slot: &str) -> Vec<String> {
    passes
        .fired()
        .into_iter()
        .filter(|(server, _, s, _)| *server == 1 && *s == at(slot))
        .map(|(_, _, _, started)| started.format("%H:%M:%S").to_string())
        .collect()
}

const ONE_SERVER: &str = "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\nmissed = \"skip\"\n";

#[tokio::test(start_paused = true)]
async fn a_failing_slot_is_retried_at_1_2_4_8_15_minutes_until_its_window_closes() {
    // The API is down all morning; each try takes 30 s. Retries come 1, 2,
    // 4, 8, then every 15 minutes after the try before, and stop at the
    // 2 h window: the slot is given up once (counted, notified once).
    let passes = Recorder::failing_until(Duration::from_secs(30), at("2025-01-10T12:00:00Z"));
    let daemon = start(
        config(ONE_SERVER),
        passes.clone(),
        at("2025-01-10T02:50:00Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-10T05:30:00Z")).await;
    assert_eq!(
        daemon.metrics.retries(),
        [],
        "nothing pending after the window"
    );
    let (_, metrics) = daemon.shutdown().await;
    assert_eq!(
        tries_of(&passes, "2025-01-10T03:00:00Z"),
        [
            "03:00:00", "03:01:30", "03:04:00", "03:08:30", "03:17:00", "03:32:30", "03:48:00",
            "04:03:30", "04:19:00", "04:34:30", "04:50:00"
        ]
    );
    assert_eq!(metric(&metrics, "snapkeep_job_retries_total{"), 10.0);
    assert_eq!(
        metric(
            &metrics,
            "snapkeep_slots_failed_total{account=\"default\",server=\"1\""
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "snapkeep_job_failing{account=\"default\",server=\"1\""
        ),
        1.0
    );
    assert_eq!(skipped(&metrics, ""), 0.0);
}

#[tokio::test(start_paused = true)]
async fn retries_never_run_into_the_next_fire() {
    // Hourly with a 2 h window: the 03:00 slot's retries stop before 04:00,
    // whose own fire then runs on time (and is retried in its own right).
    let text = ONE_SERVER.replace("0 3 * * *", "0 * * * *");
    let passes = Recorder::failing_until(Duration::from_secs(30), at("2025-01-10T04:00:00Z"));
    let daemon = start(
        config(&text),
        passes.clone(),
        at("2025-01-10T02:59:00Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-10T04:10:00Z")).await;
    let (_, metrics) = daemon.shutdown().await;
    assert_eq!(
        tries_of(&passes, "2025-01-10T03:00:00Z"),
        [
            "03:00:00", "03:01:30", "03:04:00", "03:08:30", "03:17:00", "03:32:30", "03:48:00"
        ]
    );
    assert_eq!(tries_of(&passes, "2025-01-10T04:00:00Z"), ["04:00:00"]);
    assert_eq!(
        metric(
            &metrics,
            "snapkeep_slots_failed_total{account=\"default\",server=\"1\""
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "snapkeep_job_failing{account=\"default\",server=\"1\""
        ),
        0.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_ten_minute_outage_at_three_costs_a_nightly_slot_seventeen_minutes() {
    // The API is down 03:00-03:10. The tries at 03:00, 03:01:30, 03:04 and
    // 03:08:30 fail; the one at 03:17 makes the restore point. Its failure
    // is cleared, nothing is counted as a lost slot, nothing is pending.
    let passes = Recorder::failing_until(Duration::from_secs(30), at("2025-01-10T03:10:00Z"));
    let daemon = start(
        config(ONE_SERVER),
        passes.clone(),
        at("2025-01-10T02:50:00Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-10T06:00:00Z")).await;
    assert_eq!(daemon.metrics.retries(), []);
    let (_, metrics) = daemon.shutdown().await;
    assert_eq!(
        tries_of(&passes, "2025-01-10T03:00:00Z"),
        ["03:00:00", "03:01:30", "03:04:00", "03:08:30", "03:17:00"]
    );
    assert_eq!(metric(&metrics, "snapkeep_job_retries_total{"), 4.0);
    assert_eq!(metric(&metrics, "snapkeep_slots_failed_total{"), 0.0);
    assert_eq!(
        metric(
            &metrics,
            "snapkeep_job_failing{account=\"default\",server=\"1\""
        ),
        0.0
    );
    assert!(metric(&metrics, "snapkeep_last_success_timestamp_seconds{") > 0.0);
}

#[tokio::test(start_paused = true)]
async fn retry_window_zero_turns_retries_off_and_a_reload_that_pauses_drops_them() {
    let off = ONE_SERVER.replace(
        "missed = \"skip\"\n",
        "missed = \"skip\"\nretry_window = \"0s\"\n",
    );
    let passes = Recorder::failing_until(Duration::from_secs(30), at("2025-01-10T12:00:00Z"));
    let daemon = start(
        config(&off),
        passes.clone(),
        at("2025-01-10T02:59:00Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-10T04:00:00Z")).await;
    let (_, metrics) = daemon.shutdown().await;
    assert_eq!(tries_of(&passes, "2025-01-10T03:00:00Z"), ["03:00:00"]);
    assert_eq!(metric(&metrics, "snapkeep_slots_failed_total{"), 1.0);

    // A retry pending when a reload pauses the policy does not run.
    let passes = Recorder::failing_until(Duration::from_secs(30), at("2025-01-10T12:00:00Z"));
    let paused = ONE_SERVER.replace(
        "missed = \"skip\"\n",
        "missed = \"skip\"\nenabled = false\n",
    );
    let daemon = start(
        config(ONE_SERVER),
        passes.clone(),
        at("2025-01-10T02:59:00Z"),
        reloading_to(&passes, paused),
    );
    daemon.until(at("2025-01-10T03:01:00Z")).await;
    assert_eq!(daemon.metrics.retries().len(), 1, "03:01:30 pending");
    daemon.reload().await;
    daemon.until(at("2025-01-10T04:00:00Z")).await;
    assert_eq!(daemon.metrics.retries(), []);
    let (_, metrics) = daemon.shutdown().await;
    assert_eq!(tries_of(&passes, "2025-01-10T03:00:00Z"), ["03:00:00"]);
    assert_eq!(skipped(&metrics, "paused_by_reload"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn the_same_server_id_in_two_accounts_is_two_servers_never_busy_for_each_other() {
    // Server 1 in accounts a and b. A pass keeps its server busy for 30
    // minutes. The start's resume-only look at the previous slots holds
    // both until 00:35 (so the 00:10 fires start then, and a's 01:00 fire
    // at 01:05). At 01:10 (a, 1) is busy until 01:35: a's fire waits for
    // it, b's starts on time (were servers keyed by id alone, it would wait
    // too).
    let policy = |name: &str, account: &str, schedule: &str| {
        format!(
            "[[policy]]\nname = \"{name}\"\naccount = \"{account}\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"{schedule}\"\nkeep_last = 2\nmissed = \"skip\"\n"
        )
    };
    let text = format!(
        "[[account]]\nname = \"a\"\ntoken_env = \"A_TOKEN\"\n\n[[account]]\nname = \"b\"\ntoken_env = \"B_TOKEN\"\n\n{}{}{}",
        policy("hourly-a", "a", "0 * * * *"),
        policy("later-a", "a", "10 * * * *"),
        policy("hourly-b", "b", "10 * * * *"),
    );
    let passes = Recorder::new(Duration::from_secs(30 * 60));
    let daemon = start(
        config(&text),
        passes.clone(),
        at("2025-01-10T00:05:00Z"),
        |_| Err(no_reload()),
    );
    daemon.until(at("2025-01-10T01:50:00Z")).await;
    let (_, metrics) = daemon.shutdown().await;
    let mut fired: Vec<(String, String, String)> = passes
        .fired()
        .into_iter()
        .map(|(_, policy, slot, started)| {
            (
                policy,
                slot.format("%H:%M").to_string(),
                started.format("%H:%M").to_string(),
            )
        })
        .collect();
    fired.sort();
    let want =
        |p: &str, slot: &str, started: &str| (p.to_owned(), slot.to_owned(), started.to_owned());
    assert_eq!(
        fired,
        [
            want("hourly-a", "01:00", "01:05"),
            want("hourly-b", "00:10", "00:35"),
            want("hourly-b", "01:10", "01:10"),
            want("later-a", "00:10", "00:35"),
            want("later-a", "01:10", "01:35"),
        ]
    );
    assert_eq!(skipped(&metrics, ""), 0.0);
}

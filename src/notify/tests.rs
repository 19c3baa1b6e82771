use std::sync::{Arc, Mutex};

use super::*;
use crate::job::{JobError, JobReport};
use crate::pass::{JobOutcome, JobSpec};

/// What a receiver got: path, the headers asked for, body.
type Seen = Arc<Mutex<Vec<(String, Vec<String>, String)>>>;

/// A receiver on loopback that records each request and answers with
/// the next of `statuses` (then 200).
async fn receiver(statuses: Vec<u16>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let statuses = Arc::new(Mutex::new(statuses.into_iter()));
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
            let log = Arc::clone(&log);
            let statuses = Arc::clone(&statuses);
            async move {
                let wanted = ["title", "priority", "tags"]
                    .iter()
                    .filter_map(|h| Some(format!("{h}: {}", headers.get(*h)?.to_str().ok()?)))
                    .collect();
                log.lock()
                    .expect("lock")
                    .push((uri.path().to_owned(), wanted, body));
                let status = statuses.lock().expect("lock").next().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).expect("status")
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn paths(seen: &Seen) -> Vec<String> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|(p, _, _)| p.clone())
        .collect()
}

fn config() -> Config {
    crate::config::parse_str(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n",
        "t",
    )
    .expect("valid")
}

fn failed_pass() -> PassReport {
    let slot = "2025-02-01T03:00:00Z".parse().expect("time");
    PassReport {
        outcomes: vec![JobOutcome {
            spec: JobSpec::new(1, 0, slot),
            server_name: "web-01".into(),
            policy_name: "nightly".into(),
            report: JobReport::default(),
            error: Some(JobError::Contention {
                server_id: 1,
                rounds: 4,
            }),
            duration: Duration::ZERO,
        }],
        ..PassReport::default()
    }
}

fn now() -> DateTime<Utc> {
    "2025-02-01T05:00:00Z".parse().expect("time")
}

fn notify(extra: &str) -> NotifyConfig {
    let mut c = crate::config::parse_str(
        &format!(
            "{extra}\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n"
        ),
        "t",
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .notify;
    c.timeout = Duration::from_secs(5);
    c
}

fn quick(mut n: Notifier) -> Notifier {
    n.waits = [Duration::from_millis(10), Duration::from_millis(20)];
    n
}

#[tokio::test]
async fn a_failure_that_is_retried_is_not_told_and_a_final_one_is_told_once() {
    let (base, seen) = receiver(vec![]).await;
    let notifier = Notifier::new(&notify(&format!(
        "[notify]\nwebhook_url = \"{base}/hook\"\non_success = true\nping_url = \"{base}/ping\"\n"
    )))
    .expect("configured");
    let report = failed_pass();
    notifier
        .pass_finished(&report, &HashSet::from([(1, 0)]), &config(), now())
        .await;
    assert_eq!(paths(&seen), Vec::<String>::new());
    notifier
        .pass_finished(&report, &HashSet::new(), &config(), now())
        .await;
    let mut got = paths(&seen);
    got.sort();
    assert_eq!(got, ["/hook", "/ping/fail"]);
}

/// A receiver that fails twice gets the message on the third try; one
/// that keeps failing is counted once per message, and a 4xx is not
/// tried again.
#[tokio::test]
async fn a_failing_target_is_retried_then_counted_and_a_4xx_is_not_retried() {
    let metrics = Arc::new(Metrics::new());
    let (flaky, flaky_seen) = receiver(vec![503, 502]).await;
    let (down, down_seen) = receiver(vec![500, 500, 500]).await;
    let (gone, gone_seen) = receiver(vec![404]).await;
    let config = notify(&format!(
        "[[notify.target]]\nname = \"flaky\"\ntype = \"slack\"\nurl = \"{flaky}/f\"\n\
         [[notify.target]]\nname = \"down\"\ntype = \"slack\"\nurl = \"{down}/d\"\n\
         [[notify.target]]\nname = \"gone\"\ntype = \"ntfy\"\nurl = \"{gone}/g\"\n"
    ));
    let notifier = quick(Notifier::for_daemon(&config, &metrics, None).expect("configured"));
    notifier
        .pass_finished(
            &failed_pass(),
            &HashSet::new(),
            &crate::notify::tests::config(),
            now(),
        )
        .await;
    assert_eq!(paths(&flaky_seen).len(), 3, "two failures, then delivered");
    assert_eq!(paths(&down_seen).len(), 3, "three tries");
    assert_eq!(paths(&gone_seen).len(), 1, "a 404 is not tried again");
    let text = metrics.render(&crate::api::CallStats::default());
    let count = |t: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("snapkeep_notify_failures_total{{target=\"{t}\"}}")))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
    };
    assert_eq!(
        (count("flaky"), count("down"), count("gone")),
        (None, Some("1".into()), Some("1".into())),
        "{text}"
    );
}

/// Each target gets the events it asked for, in its own shape: Slack's
/// text, ntfy's headers and body, a webhook's legacy body.
#[tokio::test]
async fn each_target_gets_its_events_in_its_shape() {
    let (base, seen) = receiver(vec![]).await;
    let config = notify(&format!(
        "[[notify.target]]\ntype = \"slack\"\nurl = \"{base}/slack\"\nevents = [\"failed\"]\n\
         [[notify.target]]\ntype = \"ntfy\"\nurl = \"{base}/ntfy\"\nevents = [\"succeeded\"]\n"
    ));
    let notifier = Notifier::new(&config).expect("configured");
    notifier
        .pass_finished(
            &failed_pass(),
            &HashSet::new(),
            &crate::notify::tests::config(),
            now(),
        )
        .await;
    let got = seen.lock().expect("lock").clone();
    assert_eq!(
        got,
        [(
            "/slack".to_owned(),
            vec![],
            "{\"text\":\"snapkeep: nightly on web-01 (server 1) failed: the slot 2025-02-01 03:00 UTC ended without its snapshot after 1 try: server 1: its items changed under this job 4 times in a row (another writer at work?); pruned nothing, the next pass tries again\"}".to_owned()
        )],
        "ntfy asked only for succeeded"
    );
}

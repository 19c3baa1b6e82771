//! Two accounts in one pass, in-process: the real pass, job and clients
//! against one simulator serving two accounts (one world each) on loopback,
//! with server 7 in both. Each account's jobs run on its own client; what
//! one account deletes is its own, and one account's 401 fails only its
//! jobs.

use std::sync::Arc;

use super::testkit::*;
use crate::clock::{Clock, FixedClock};
use crate::config::Clients;
use crate::pass::{self, PassOptions, PassReport};
use snapkeep_sim::{SimAccount, SimConfig, SimStatus, Simulator};

/// Server 7 in accounts `a` and `b`; each rotates its own policy, keeping 2.
const TWO_ACCOUNTS: &str = "[[account]]\nname = \"a\"\ntoken_env = \"SNAPKEEP_TEST_A\"\n\n[[account]]\nname = \"b\"\ntoken_env = \"SNAPKEEP_TEST_B\"\n\n[[policy]]\nname = \"nightly-a\"\naccount = \"a\"\nkind = \"snapshot\"\nservers = [7]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n\n[[policy]]\nname = \"nightly-b\"\naccount = \"b\"\nkind = \"snapshot\"\nservers = [7]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n";

const EARLIER: [&str; 2] = ["2025-01-30T03:00:00Z", "2025-01-31T03:00:00Z"];

/// Account `a` (the simulator's primary) and `b`, each with server 7 and
/// its policy's two earlier snapshots, plus one of the *other* account's
/// policy name (that policy is not this account's: never deleted here).
async fn two_worlds() -> (Simulator, Simulator) {
    let world = |own: &str, other: &str| {
        EARLIER
            .iter()
            .fold(
                snapkeep_sim::Seed::empty().server(7, "web"),
                |seed, slot| seed.ours(7, own, slot, SimStatus::Completed),
            )
            .ours(7, other, "2025-01-29T03:00:00Z", SimStatus::Completed)
    };
    let config = SimConfig {
        complete_after: COMPLETE_AFTER,
        seed: world("nightly-a", "nightly-b"),
        ..SimConfig::default()
    };
    let b = SimAccount {
        name: "b".into(),
        token: "token-b".into(),
        seed: world("nightly-b", "nightly-a"),
    };
    let sim =
        Simulator::start_with_accounts("127.0.0.1:0".parse().expect("loopback"), config, vec![b])
            .await
            .expect("simulator starts");
    let b = sim.account("b").expect("account b");
    (sim, b)
}

/// One pass at [`NOW`] with `clients`.
async fn pass_with(config: &Arc<crate::config::Config>, clients: Clients) -> PassReport {
    let now = at(NOW);
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(now));
    pass::run_pass(
        Arc::clone(config),
        clients,
        clock,
        jobs(config, now),
        PassOptions::default(),
    )
    .await
}

#[tokio::test]
async fn a_pass_rotates_server_7_in_both_accounts_each_on_its_own() {
    let (a, b) = two_worlds().await;
    let config = config(TWO_ACCOUNTS);
    let clients = Clients::new(vec![("a".into(), client(&a)), ("b".into(), client(&b))]);
    let report = pass_with(&config, clients).await;

    assert_eq!(report.failed(), 0, "{report:#?}");
    let rows: Vec<(String, u64, String)> = report
        .outcomes
        .iter()
        .map(|o| {
            let policy = &config.policies[o.spec.policy];
            (
                policy.account.clone(),
                o.spec.server_id,
                policy.name.clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a".to_owned(), 7, "nightly-a".to_owned()),
            ("b".to_owned(), 7, "nightly-b".to_owned()),
        ]
    );
    // Each world: its policy's newest two, and the other account's
    // policy's item untouched (not this account's policy).
    let want = |own: &str, other: &str| {
        let mut v = vec![
            snap(other, "2025-01-29T03:00:00Z"),
            snap(own, EARLIER[1]),
            snap(own, "2025-02-01T03:00:00Z"),
        ];
        v.sort();
        v
    };
    assert_eq!(names(&a, 7), want("nightly-a", "nightly-b"));
    assert_eq!(names(&b, 7), want("nightly-b", "nightly-a"));
    // Every request went to its own account: a's creates and deletes
    // through a's token, b's through b's.
    for r in a.requests() {
        let by = r.account.as_deref();
        match (r.method.as_str(), &r.body) {
            ("POST", Some(body)) => {
                let name = body["name"].as_str().unwrap_or_default();
                let own = if by == Some("b") {
                    "nightly-b"
                } else {
                    "nightly-a"
                };
                assert!(name.contains(own), "{by:?} created {name}");
            }
            _ => assert!(matches!(by, Some("default" | "b")), "{r:?}"),
        }
    }
    let deletes = |account: &str| {
        a.requests()
            .into_iter()
            .filter(|r| r.method == "DELETE" && r.account.as_deref() == Some(account))
            .count()
    };
    assert_eq!((deletes("default"), deletes("b")), (1, 1));
}

#[tokio::test]
async fn a_401_in_one_account_fails_only_its_jobs() {
    let (a, b) = two_worlds().await;
    let config = config(TWO_ACCOUNTS);
    let wrong = client_with(&b, |s| s.token = crate::api::ApiToken::new("revoked-token"));
    let clients = Clients::new(vec![("a".into(), client(&a)), ("b".into(), wrong)]);
    let report = pass_with(&config, clients).await;

    let failed: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .map(|o| o.policy_name.as_str())
        .collect();
    assert_eq!(failed, ["nightly-b"], "{report:#?}");
    let error = report.outcomes[1].error.as_ref().unwrap().to_string();
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains("revoked-token"), "{error}");
    assert_eq!(crate::commands::run_now::exit_code(&report), 1);
    // a rotated; b is as it was.
    assert!(names(&a, 7).contains(&snap("nightly-a", "2025-02-01T03:00:00Z")));
    assert_eq!(b.snapshots(Some(7)).len(), 3);
    assert!(
        a.requests()
            .iter()
            .all(|r| r.method == "GET" || r.account.as_deref() == Some("default")),
        "b sent nothing but its (refused) listing"
    );
}

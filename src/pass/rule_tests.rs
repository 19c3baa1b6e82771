//! Each rotation rule, in-process: the real `Job` inside a real pass,
//! against the simulator on loopback, with a fixed clock. Every test checks
//! the simulator's request log and final state, not only the report.

use std::time::Duration;

use super::testkit::*;
use snapkeep_sim::{Endpoint, FaultSpec, Faults, Seed, SimStatus, junk};

const SERVER: u64 = 1;

fn deletes(sim: &snapkeep_sim::Simulator) -> Vec<String> {
    calls(sim)
        .into_iter()
        .filter(|(m, _)| m == "DELETE")
        .map(|(_, p)| p)
        .collect()
}

fn posts(sim: &snapkeep_sim::Simulator) -> usize {
    calls(sim).iter().filter(|(m, _)| m == "POST").count()
}

fn id_of(sim: &snapkeep_sim::Simulator, name: &str) -> u64 {
    sim.snapshots(None)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no snapshot {name}"))
        .id
}

#[tokio::test]
async fn making_room_never_takes_the_newest_restore_point() {
    // Hourly, keep_daily = 5, at the cap: four earlier days plus the
    // previous hour. Every create fails. Making room must take the oldest
    // day, never the previous hour's item — after the failed create it is
    // the newest restore point there is.
    let days = [
        "2025-01-01T10:00:00Z",
        "2025-01-02T10:00:00Z",
        "2025-01-03T10:00:00Z",
        "2025-01-04T10:00:00Z",
        "2025-01-05T10:00:00Z",
    ];
    let mut seed = Seed::empty().server(SERVER, "web-01");
    for d in days {
        seed = seed.snapshot(SERVER, snap("hourly", d), at(d), SimStatus::Completed);
    }
    let sim = simulator(seed, Faults::none().with_fail_creates(), 1).await;
    let oldest = id_of(&sim, &snap("hourly", days[0]));
    let config = config(
        "[[policy]]\nname = \"hourly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 * * * *\"\nkeep_daily = 5\n",
    );
    let now = at("2025-01-05T11:00:30Z");
    let report = pass(&config, &client(&sim), now, jobs(&config, now)).await;

    let o = &report.outcomes[0];
    assert_eq!(o.error.as_ref().map(|e| e.kind()), Some("item_failed"));
    // The failed job's report keeps the deletion it made.
    assert_eq!(o.report.deleted.len(), 1);
    assert_eq!(o.report.deleted[0].id, oldest);
    assert_eq!(deletes(&sim), [format!("/api/v1/snapshots/{oldest}/")]);
    let left = names(&sim, SERVER);
    assert!(left.contains(&snap("hourly", days[4])), "{left:?}");
    assert!(!left.contains(&snap("hourly", days[0])), "{left:?}");
    assert!(sim.max_snapshots_seen(SERVER) <= 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_and_adopted_never_sent_twice() {
    // The provider acts, the answer is lost (a reset, or a 502 from a
    // proxy after the backend acted), and lists lag behind the create.
    for spec in [
        FaultSpec::none().with_lost_responses(1.0),
        FaultSpec::none().with_applied_errors(1.0, 502),
    ] {
        let sim = simulator(
            Seed::empty().server(SERVER, "web-01"),
            Faults::none()
                .with_endpoint(Endpoint::SnapshotsCreate, spec)
                .with_list_lag(Duration::from_millis(120)),
            2,
        )
        .await;
        let config = config(NIGHTLY);
        let report = pass_now(&config, &client(&sim)).await;
        let o = &report.outcomes[0];
        assert!(o.error.is_none(), "{:?}", o.error);
        let adopted = o.report.adopted.as_ref().expect("adopted");
        assert_eq!(adopted.label, snap("nightly", "2025-02-01T03:00:00Z"));
        assert_eq!(posts(&sim), 1, "{:?}", calls(&sim));
        assert_eq!(
            names(&sim, SERVER),
            [snap("nightly", "2025-02-01T03:00:00Z")]
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_create_that_never_landed_fails_as_outcome_unknown_then_converges() {
    // A 503 before the backend acted looks the same as one after: the job
    // looks for the item for list_lag, sends it again, up to max_retries
    // times (6 in tests), then says it does not know.
    let sim = web01_with_create_faults(FaultSpec::none().with_errors(1.0, 503), 3).await;
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\nwait_timeout = \"1s\"\n",
    );
    let now = at("2025-02-01T03:00:10Z");
    let client = client(&sim);
    let report = pass(&config, &client, now, jobs(&config, now)).await;
    let err = report.outcomes[0].error.as_ref().expect("fails");
    assert_eq!(err.kind(), "outcome_unknown");
    assert!(err.to_string().contains("may or may not"), "{err}");
    assert_eq!(posts(&sim), 7);
    assert!(names(&sim, SERVER).is_empty());

    sim.set_faults(Faults::none());
    let report = pass(&config, &client, now, jobs(&config, now)).await;
    assert!(report.outcomes[0].error.is_none());
    assert_eq!(
        names(&sim, SERVER),
        [snap("nightly", "2025-02-01T03:00:00Z")]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn undecodable_foreign_items_are_skipped_never_fatal() {
    let sim = simulator(
        Seed::empty()
            .server(SERVER, "web-01")
            .server(2, "db-01")
            .snapshot(
                2,
                "manual",
                at("2025-01-01T00:00:00Z"),
                SimStatus::Completed,
            ),
        Faults::none().with_junk_items([
            junk::deleted_server_snapshot(9_000_001),
            junk::missing_fields(9_000_002),
        ]),
        4,
    )
    .await;
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n",
    );
    let now = at("2025-02-01T03:00:10Z");
    let client = client(&sim);
    let report = pass(&config, &client, now, jobs(&config, now)).await;
    assert_eq!(
        report.failed(),
        0,
        "{}",
        crate::pass::summary(&report, false)
    );
    assert!(client.stats().undecodable() >= 2);
    assert!(deletes(&sim).is_empty());
    assert_eq!(names(&sim, 2).len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_status_is_waited_for_and_nothing_is_pruned_around_it() {
    let slot = "2025-02-01T03:00:00Z";
    let mut seed = Seed::empty().server(SERVER, "web-01").snapshot(
        SERVER,
        snap("nightly", slot),
        at(slot),
        SimStatus::from("pending"),
    );
    for d in ["2025-01-29T03:00:00Z", "2025-01-30T03:00:00Z"] {
        seed = seed.ours(SERVER, "nightly", d, SimStatus::Completed);
    }
    // An older item of ours in a status the docs do not name: not failed.
    seed = seed.snapshot(
        SERVER,
        snap("nightly", "2025-01-28T03:00:00Z"),
        at("2025-01-28T03:00:00Z"),
        SimStatus::from("error"),
    );
    let sim = simulator(seed, Faults::none(), 5).await;
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 1\nwait_timeout = \"150ms\"\n",
    );
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert_eq!(o.error.as_ref().map(|e| e.kind()), Some("wait_timeout"));
    assert!(o.report.slot_taken);
    assert!(deletes(&sim).is_empty(), "{:?}", calls(&sim));
    assert_eq!(posts(&sim), 0);
    assert_eq!(names(&sim, SERVER).len(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn duplicates_for_a_slot_converge_to_the_lowest_id() {
    let slot = "2025-02-01T03:00:00Z";
    let seed = Seed::empty()
        .server(SERVER, "web-01")
        .ours(SERVER, "nightly", slot, SimStatus::Completed)
        .ours(SERVER, "nightly", slot, SimStatus::Completed)
        .ours(SERVER, "nightly", slot, SimStatus::InProgress);
    let sim = simulator(seed, Faults::none(), 6).await;
    let mut ids: Vec<u64> = sim.snapshots(None).into_iter().map(|s| s.id).collect();
    ids.sort();
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    assert!(report.outcomes[0].error.is_none());
    let mut gone = deletes(&sim);
    gone.sort();
    assert_eq!(
        gone,
        [
            format!("/api/v1/snapshots/{}/", ids[1]),
            format!("/api/v1/snapshots/{}/", ids[2])
        ]
    );
    assert_eq!(posts(&sim), 0);
    let left = sim.snapshots(None);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, ids[0]);
    sim.shutdown().await;
}

#[tokio::test]
async fn two_instances_at_the_cap_converge_and_both_succeed() {
    // Twelve servers, each at the cap: two manual snapshots and three of
    // ours. Two passes with their own clients at the same moment, as two
    // hosts would run them.
    let mut seed = Seed::empty();
    for server in 1..=12 {
        seed = seed
            .server(server, format!("srv-{server}"))
            .snapshot(
                server,
                "manual-a",
                at("2024-01-01T00:00:00Z"),
                SimStatus::Completed,
            )
            .snapshot(
                server,
                "manual-b",
                at("2024-01-02T00:00:00Z"),
                SimStatus::Completed,
            );
        for d in [
            "2025-01-29T03:00:00Z",
            "2025-01-30T03:00:00Z",
            "2025-01-31T03:00:00Z",
        ] {
            seed = seed.snapshot(server, snap("nightly", d), at(d), SimStatus::Completed);
        }
    }
    let sim = simulator(seed, Faults::none(), 7).await;
    let config = config(
        // wait_timeout well above the 30 ms a create takes: on a loaded
        // machine two passes of twelve servers each can be slow to poll.
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1,2,3,4,5,6,7,8,9,10,11,12]\nschedule = \"0 3 * * *\"\nkeep_last = 3\nwait_timeout = \"5s\"\n",
    );
    let now = at("2025-02-01T03:00:10Z");
    let (a, b) = (client(&sim), client(&sim));
    let (ra, rb) = tokio::join!(
        pass(&config, &a, now, jobs(&config, now)),
        pass(&config, &b, now, jobs(&config, now))
    );
    for r in [&ra, &rb] {
        assert_eq!(r.failed(), 0, "{}", crate::pass::summary(r, false));
    }
    for server in 1..=12 {
        let left = names(&sim, server);
        let slot_items = left
            .iter()
            .filter(|n| **n == snap("nightly", "2025-02-01T03:00:00Z"))
            .count();
        assert_eq!(slot_items, 1, "server {server}: {left:?}");
        assert!(left.contains(&"manual-a".to_owned()));
        assert!(sim.max_snapshots_seen(server) <= 5);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_absurd_retry_after_fails_the_job_clearly_without_a_panic() {
    let sim = simulator(
        Seed::empty().server(SERVER, "web-01"),
        Faults::none().with_endpoint(
            Endpoint::SnapshotsList,
            FaultSpec::none()
                .with_rate_limit(1.0, 0)
                .with_retry_after_raw("10000000000000000000"),
        ),
        8,
    )
    .await;
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    let err = report.outcomes[0].error.as_ref().expect("fails");
    assert_eq!(err.kind(), "rate_limited");
    assert!(err.to_string().contains("retry_deadline"), "{err}");
    // Given up at once: one request, no waiting for 317 billion years.
    assert_eq!(calls(&sim).len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_panicking_server_task_is_reported_as_failed() {
    let sim = simulator(
        Seed::empty().server(4242, "boom").server(2, "fine"),
        Faults::none(),
        9,
    )
    .await;
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [4242, 2]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n",
    );
    let report = pass_now(&config, &client(&sim)).await;
    assert_eq!(report.outcomes.len(), 2);
    let boom = report
        .outcomes
        .iter()
        .find(|o| o.spec.server_id == 4242)
        .expect("reported");
    assert_eq!(boom.error.as_ref().map(|e| e.kind()), Some("panic"));
    assert_eq!(report.failed(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn shifting_pages_and_a_lying_count_list_each_item_once() {
    let mut seed = Seed::empty();
    for server in 1..=6 {
        seed = seed.server(server, format!("srv-{server}"));
        for d in ["2025-01-30T03:00:00Z", "2025-01-31T03:00:00Z"] {
            seed = seed.snapshot(server, snap("nightly", d), at(d), SimStatus::Completed);
        }
    }
    let sim = simulator(
        seed,
        Faults::none()
            .with_page_size(2)
            .with_count_inflation(5_000_000),
        10,
    )
    .await;
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1,2,3,4,5,6]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n",
    );
    let report = pass_now(&config, &client(&sim)).await;
    assert_eq!(
        report.failed(),
        0,
        "{}",
        crate::pass::summary(&report, false)
    );
    // A count of millions cost one window of empty pages, not millions.
    let lists = calls(&sim).iter().filter(|(m, _)| m == "GET").count();
    assert!(lists < 40, "{lists} list requests");
    for server in 1..=6 {
        assert_eq!(names(&sim, server).len(), 2, "server {server}");
    }
    sim.shutdown().await;
}

fn cfg(text: &str) -> std::sync::Arc<crate::config::Config> {
    config(text)
}

fn hook_log() -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let log = dir.path().join("hooks.log").display().to_string();
    (dir, log)
}

/// A tiny temporary directory (no crate for one test helper).
mod tempdir {
    pub(super) struct Dir(std::path::PathBuf);

    impl Dir {
        pub(super) fn new() -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "snapkeep-hooks-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }

        pub(super) fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn hooked_policy(log: &str, pre: &str, extra: &str) -> String {
    format!(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n\
         pre_hook = [\"sh\", \"-c\", \"{pre}; echo pre $SNAPKEEP_PHASE $SNAPKEEP_SLOT token=${{VPS_API_TOKEN:-none}} >> {log}\"]\n\
         post_hook = [\"sh\", \"-c\", \"echo post $SNAPKEEP_RESULT ${{SNAPKEEP_ITEM_ID:-noid}} >> {log}\"]\n{extra}"
    )
}

#[tokio::test]
async fn hooks_bracket_the_create_and_the_thaw_always_runs() {
    // Accepted: pre, create, post (accepted, with the id), then the wait.
    let (_dir, log) = hook_log();
    let sim = simulator(Seed::empty().server(SERVER, "web-01"), Faults::none(), 11).await;
    let config = cfg(&hooked_policy(&log, "true", ""));
    let report = pass_now(&config, &client(&sim)).await;
    assert!(
        report.outcomes[0].error.is_none(),
        "{:?}",
        report.outcomes[0].error
    );
    let id = id_of(&sim, &snap("nightly", "2025-02-01T03:00:00Z"));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("pre pre 2025-02-01T03:00:00Z token=none\npost accepted {id}\n")
    );
    sim.shutdown().await;

    // A refused create: the post hook still runs, with "failed".
    let (_dir, log) = hook_log();
    let sim = web01_with_create_faults(FaultSpec::none().with_errors(1.0, 400), 12).await;
    let config = cfg(&hooked_policy(&log, "true", ""));
    let report = pass_now(&config, &client(&sim)).await;
    assert!(report.outcomes[0].error.is_some());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "pre pre 2025-02-01T03:00:00Z token=none\npost failed noid\n"
    );
    sim.shutdown().await;

    // A failed pre hook aborts: no create, the job fails with reason hook,
    // and the post hook runs with "aborted".
    let (_dir, log) = hook_log();
    let sim = simulator(Seed::empty().server(SERVER, "web-01"), Faults::none(), 13).await;
    let config = cfg(&hooked_policy(&log, "echo frozen-not >&2; exit 3", ""));
    let report = pass_now(&config, &client(&sim)).await;
    let err = report.outcomes[0].error.as_ref().expect("fails");
    assert_eq!(err.kind(), "hook");
    assert_eq!(posts(&sim), 0);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "post aborted noid\n"
    );
    // With "continue" and post after completion: created anyway, reported.
    let config = cfg(&hooked_policy(
        &log,
        "exit 3",
        "on_hook_failure = \"continue\"\npost_hook_after = \"completed\"\n",
    ));
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(o.report.crash_consistent().is_some());
    let id = id_of(&sim, &snap("nightly", "2025-02-01T03:00:00Z"));
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .ends_with(&format!("post completed {id}\n"))
    );
    // The slot exists now: no hooks at all on the next pass.
    let before = std::fs::read_to_string(&log).unwrap();
    pass_now(&config, &client(&sim)).await;
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before);
    sim.shutdown().await;
}

#[tokio::test]
async fn protected_items_are_never_deleted_and_count_toward_the_cap() {
    let days = [
        "2025-01-27T03:00:00Z",
        "2025-01-28T03:00:00Z",
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let seed = web01_with_nightly(&days);
    let sim = simulator(seed, Faults::none(), 14).await;
    let oldest = id_of(&sim, &snap("nightly", days[0]));
    let second = id_of(&sim, &snap("nightly", days[1]));
    let config = cfg(&format!(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\nprotect = [{oldest}]\n"
    ));
    let report = pass_now(&config, &client(&sim)).await;
    assert!(
        report.outcomes[0].error.is_none(),
        "{:?}",
        report.outcomes[0].error
    );
    let left = names(&sim, SERVER);
    // The protected one stays; making room and pruning took the others.
    assert!(left.contains(&snap("nightly", days[0])), "{left:?}");
    assert!(!deletes(&sim).contains(&format!("/api/v1/snapshots/{oldest}/")));
    assert!(deletes(&sim).contains(&format!("/api/v1/snapshots/{second}/")));
    // keep_last = 3 counts only unprotected items: 3 of them + the protected.
    assert_eq!(left.len(), 4, "{left:?}");
    sim.shutdown().await;
}

/// `protect` is global: an item of policy `nightly` that only policy
/// `other` (paused, even) lists is kept by `nightly`'s own pass (making
/// room at the cap, then retention).
#[tokio::test]
async fn an_item_protected_by_another_policy_is_never_deleted() {
    let days = [
        "2025-01-27T03:00:00Z",
        "2025-01-28T03:00:00Z",
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let sim = simulator(web01_with_nightly(&days), Faults::none(), 15).await;
    let oldest = id_of(&sim, &snap("nightly", days[0]));
    let config = cfg(&format!(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n\n[[policy]]\nname = \"other\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 4 * * *\"\nkeep_last = 2\nenabled = false\nprotect = [{oldest}]\n"
    ));
    let report = pass_now(&config, &client(&sim)).await;
    assert!(
        report.outcomes.iter().all(|o| o.error.is_none()),
        "{:?}",
        report.outcomes
    );
    let left = names(&sim, SERVER);
    assert!(left.contains(&snap("nightly", days[0])), "{left:?}");
    assert!(!deletes(&sim).contains(&format!("/api/v1/snapshots/{oldest}/")));
    // keep_last = 2 of the unprotected ones, plus the protected one.
    assert_eq!(left.len(), 3, "{left:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_paused_policy_runs_only_when_named() {
    let config = config(
        "[[policy]]\nname = \"on\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n\n[[policy]]\nname = \"off\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\nenabled = false\n",
    );
    let now = at("2025-02-01T03:00:10Z");
    let all = jobs(&config, now);
    assert_eq!(all.len(), 1);
    assert_eq!(config.policies[all[0].policy].name, "on");
    let named =
        crate::pass::select_jobs(&config, &["off".to_owned()], &[], false, now).expect("jobs");
    assert_eq!(named.len(), 1);
    assert_eq!(config.policies[named[0].policy].name, "off");
    // The daemon never fires it.
    let (_, fires) = crate::daemon::Timetable::start(&config, now);
    assert!(fires.iter().all(|f| config.policies[f.policy].name == "on"));
}

/// A fleet pass holds one job future per server for the whole pass, mostly
/// waiting: its size is memory per server (BENCHMARKS.md). The rare, big
/// paths (hooks, the create, a lost answer's search) are boxed; this keeps
/// them so.
#[tokio::test]
async fn a_waiting_job_stays_small() {
    let sim = simulator(Seed::empty().server(SERVER, "web-01"), Faults::none(), 99).await;
    let config = config(NIGHTLY);
    let client = client(&sim);
    let poller = crate::inventory::Poller::start(
        client.clone(),
        crate::provider::Kind::Snapshot,
        Duration::from_millis(10),
        Duration::from_millis(10),
    );
    let clock = crate::clock::FixedClock(at("2025-02-01T03:00:10Z"));
    let job = crate::job::Job {
        client: &client,
        poller: poller.poller(),
        policy: &config.policies[0],
        all_policies: &config.policies,
        server_id: 1,
        slot: at("2025-02-01T03:00:00Z"),
        clock: &clock,
        dry_run: false,
        resume_only: false,
    };
    let mut items = Vec::new();
    let mut report = crate::job::JobReport::default();
    let run = job.run(&mut items, &mut report);
    let size = std::mem::size_of_val(&run);
    drop(run);
    println!("Job::run future: {size} bytes");
    assert!(
        size <= 1152,
        "Job::run future is {size} bytes; box the new big path (see job::out_of_line)"
    );
    // What a fleet pass spawns per server: the task around its jobs.
    let task = crate::pass::ServerTask {
        config: std::sync::Arc::clone(&config),
        client: client.clone(),
        clock: std::sync::Arc::new(clock),
        pollers: std::sync::Arc::default(),
        specs: std::sync::Arc::from(Vec::new()),
        items: Vec::new(),
        dry_run: false,
        control: std::sync::Arc::new(crate::pass::PassControl {
            stop: None,
            ended: std::sync::Mutex::default(),
        }),
    };
    let run = task.run();
    let task_size = std::mem::size_of_val(&run);
    drop(run);
    println!(
        "server task: {task_size} bytes (ServerTask {}, Client {}, JobReport {}, JobOutcome {}, Item {})",
        std::mem::size_of::<crate::pass::ServerTask>(),
        std::mem::size_of::<crate::api::Client>(),
        std::mem::size_of::<crate::job::JobReport>(),
        std::mem::size_of::<crate::pass::JobOutcome>(),
        std::mem::size_of::<crate::inventory::Item>()
    );
    // tokio's task cells come in 128-byte steps (heaptrack: a 1944-byte
    // task took 2048, 1800 bytes take 1920): a few bytes more can cost
    // every server of a fleet 128.
    assert!(
        task_size <= 1800,
        "a server task is {task_size} bytes; what did it start keeping across a wait?"
    );
    sim.shutdown().await;
}

/// The jobs of `config` on [`SERVER`] only (other policies serve other servers).
fn jobs_on_server(
    config: &crate::config::Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<crate::pass::JobSpec> {
    jobs(config, now)
        .into_iter()
        .filter(|j| j.server_id == SERVER)
        .collect()
}

#[tokio::test]
async fn a_plain_create_is_ours_and_the_holdings_count_every_status() {
    // Ours: a failed item kept by `protect`, an older slot still in progress
    // and one in a status nobody documented; and a manual snapshot.
    let seed = Seed::empty()
        .server(SERVER, "web-01")
        .snapshot(
            SERVER,
            "manual",
            at("2024-06-01T00:00:00Z"),
            SimStatus::Completed,
        )
        .ours(SERVER, "nightly", "2025-01-29T03:00:00Z", SimStatus::Failed)
        .ours(
            SERVER,
            "nightly",
            "2025-01-30T03:00:00Z",
            SimStatus::InProgress,
        )
        .snapshot(
            SERVER,
            snap("nightly", "2025-01-31T03:00:00Z"),
            at("2025-01-31T03:00:00Z"),
            SimStatus::from("error"),
        );
    let sim = simulator(seed, Faults::none(), 20).await;
    let failed = id_of(&sim, &snap("nightly", "2025-01-29T03:00:00Z"));
    let config = config(&format!(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\nprotect = [{failed}]\n"
    ));
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(o.report.created.is_some());
    assert!(!o.report.slot_taken, "our own create is not a taken slot");
    // The one completed item of ours is the new one: its size is stored.
    let created_mb = sim
        .snapshots(Some(SERVER))
        .into_iter()
        .find(|s| s.name == snap("nightly", "2025-02-01T03:00:00Z"))
        .and_then(|s| s.size_mb)
        .expect("the new snapshot completed with a size");
    assert_eq!(
        o.report.holdings,
        crate::job::Holdings {
            completed: 1,
            in_progress: 1,
            failed: 1,
            unknown: 1,
            not_ours: 1,
            protected: 1,
            can_hold: 3,
            shortfall: 0,
            stored_bytes: created_mb * 1_048_576,
            without_size: 0,
            newest_completed: Some(at("2025-02-01T03:00:00Z")),
        }
    );
    assert!(deletes(&sim).is_empty(), "{:?}", calls(&sim));
    assert_eq!(posts(&sim), 1);
    assert_eq!(names(&sim, SERVER).len(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_create_fails_with_the_providers_reason() {
    // A 400 that is not "limit reached" proves nothing was made: no
    // re-list, no search for the item, no second create.
    let sim = web01_with_create_faults(FaultSpec::none().with_errors(1.0, 400), 21).await;
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    let err = report.outcomes[0].error.as_ref().expect("fails");
    assert_eq!(err.kind(), "rejected", "{err}");
    assert!(err.to_string().starts_with("create failed"), "{err}");
    assert_eq!(
        calls(&sim)
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>(),
        ["GET", "POST"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_is_adopted_beside_other_items() {
    let sim = simulator(
        Seed::empty().server(SERVER, "web-01").snapshot(
            SERVER,
            "manual",
            at("2024-06-01T00:00:00Z"),
            SimStatus::Completed,
        ),
        Faults::none()
            .with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_lost_responses(1.0),
            )
            .with_list_lag(Duration::from_millis(120)),
        22,
    )
    .await;
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    let adopted = o.report.adopted.as_ref().expect("adopted");
    assert_eq!(adopted.label, snap("nightly", "2025-02-01T03:00:00Z"));
    assert!(!o.report.slot_taken, "an adopted create is ours");
    assert_eq!(posts(&sim), 1, "{:?}", calls(&sim));
    assert_eq!(
        names(&sim, SERVER),
        ["manual".to_owned(), snap("nightly", "2025-02-01T03:00:00Z")]
    );
    assert_eq!(o.report.holdings.completed, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn duplicates_converge_to_the_lowest_id_of_the_slot_not_of_the_server() {
    // Older items have lower ids than the slot's duplicates; the keeper is
    // the lowest id *for the slot*.
    let slot = "2025-02-01T03:00:00Z";
    let seed = Seed::empty()
        .server(SERVER, "web-01")
        .snapshot(
            SERVER,
            "manual",
            at("2024-06-01T00:00:00Z"),
            SimStatus::Completed,
        )
        .ours(
            SERVER,
            "nightly",
            "2025-01-31T03:00:00Z",
            SimStatus::Completed,
        )
        .ours(SERVER, "nightly", slot, SimStatus::Completed)
        .ours(SERVER, "nightly", slot, SimStatus::Completed);
    let sim = simulator(seed, Faults::none(), 23).await;
    let mut ids: Vec<u64> = sim.snapshots(None).into_iter().map(|s| s.id).collect();
    ids.sort();
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    assert!(report.outcomes[0].error.is_none());
    assert_eq!(deletes(&sim), [format!("/api/v1/snapshots/{}/", ids[3])]);
    assert_eq!(posts(&sim), 0);
    let mut left: Vec<u64> = sim.snapshots(None).into_iter().map(|s| s.id).collect();
    left.sort();
    assert_eq!(left, ids[..3]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refusal_counts_foreign_items_and_other_policies_apart() {
    // At the cap with only our newest item deletable-in-principle: refuse,
    // and say who holds the slots. A snapshot named like a backup policy's
    // description is not that policy's (kinds differ): it is foreign.
    let seed = Seed::empty()
        .server(SERVER, "web-01")
        .server(2, "db-01")
        .snapshot(
            SERVER,
            "manual",
            at("2024-06-01T00:00:00Z"),
            SimStatus::Completed,
        )
        .snapshot(
            SERVER,
            "snapkeep:weekly:2025-01-01T00:00:00Z",
            at("2025-01-01T00:00:00Z"),
            SimStatus::Completed,
        )
        .snapshot(
            SERVER,
            "snapkeep:weekly:2025-01-08T00:00:00Z",
            at("2025-01-08T00:00:00Z"),
            SimStatus::Completed,
        )
        .snapshot(
            SERVER,
            snap("other", "2025-01-31T03:00:00Z"),
            at("2025-01-31T03:00:00Z"),
            SimStatus::Completed,
        )
        .ours(
            SERVER,
            "nightly",
            "2025-01-31T03:00:00Z",
            SimStatus::Completed,
        );
    let sim = simulator(seed, Faults::none(), 24).await;
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n\n\
         [[policy]]\nname = \"other\"\nkind = \"snapshot\"\nservers = [2]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n\n\
         [[policy]]\nname = \"weekly\"\nkind = \"backup\"\nservers = [2]\nschedule = \"0 3 * * 0\"\nkeep_last = 2\n",
    );
    let now = at("2025-02-01T03:00:10Z");
    let report = pass(&config, &client(&sim), now, jobs_on_server(&config, now)).await;
    assert_eq!(report.outcomes.len(), 1);
    let err = report.outcomes[0].error.as_ref().expect("refused");
    assert_eq!(err.kind(), "refused");
    assert_eq!(
        err.to_string(),
        "server 1 (web-01) is at the VPS.org cap of 5 snapshots: 1 of this policy's (its newest completed item, kept until a successor has completed), 0 protected, 3 not created by snapkeep and 1 by other snapkeep policies (never deleted here). Delete some by hand, or lower keep_* on the other policies"
    );
    assert!(deletes(&sim).is_empty());
    assert_eq!(posts(&sim), 0);
    assert_eq!(names(&sim, SERVER).len(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn victims_gone_under_the_job_every_round_end_in_contention() {
    // Every delete answers 404 (another writer got there first), so every
    // make-room round re-lists and picks the next victim; after MAX_ROUNDS
    // re-lists the job gives up without creating anything.
    let mut seed = Seed::empty().server(SERVER, "web-01");
    let days: Vec<String> = (23..=31)
        .map(|d| format!("2025-01-{d}T03:00:00Z"))
        .collect();
    for d in &days {
        seed = seed.ours(SERVER, "nightly", d, SimStatus::Completed);
    }
    let sim = simulator(
        seed,
        Faults::none().with_endpoint(
            Endpoint::SnapshotsDelete,
            FaultSpec::none().with_errors(1.0, 404),
        ),
        25,
    )
    .await;
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    let err = report.outcomes[0].error.as_ref().expect("gives up");
    assert_eq!(err.kind(), "contention", "{err}");
    assert!(err.to_string().contains("4 times in a row"), "{err}");
    let oldest_four: Vec<String> = days[..4]
        .iter()
        .map(|d| format!("/api/v1/snapshots/{}/", id_of(&sim, &snap("nightly", d))))
        .collect();
    assert_eq!(deletes(&sim), oldest_four);
    assert_eq!(posts(&sim), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_full_provider_behind_a_stale_list_fails_after_one_create() {
    // Another writer's snapshot does not show in the lagging lists: the job
    // counts room, the provider says "limit reached". The job re-lists,
    // looks for the slot's item, then gives up; it never creates twice.
    let seed = web01_with_nightly(&[
        "2025-01-28T03:00:00Z",
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ]);
    let sim = simulator(
        seed,
        Faults::none().with_list_lag(Duration::from_secs(30)),
        26,
    )
    .await;
    let client = client(&sim);
    client
        .create_snapshot(SERVER, "someone-elses", None)
        .await
        .expect("the other writer's create");
    sim.clear_requests();
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\nwait_timeout = \"150ms\"\n",
    );
    let report = pass_now(&config, &client).await;
    let err = report.outcomes[0].error.as_ref().expect("fails");
    assert_eq!(err.kind(), "provider_full", "{err}");
    assert!(err.to_string().contains("re-listed 0 time(s)"), "{err}");
    let log = calls(&sim);
    assert_eq!(posts(&sim), 1, "{log:?}");
    let post = log.iter().position(|(m, _)| m == "POST").expect("a create");
    assert!(
        log[post + 1..].iter().any(|(m, _)| m == "GET"),
        "re-listed after the refusal: {log:?}"
    );
    assert!(deletes(&sim).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn limit_reached_relists_and_makes_room_beside_the_other_writers_item() {
    // The other writer's snapshot is hidden from the first list but shows
    // by the time the provider has refused our create (it is slow): the
    // job re-lists, finds the server at the cap, makes room and creates.
    let days = [
        "2025-01-28T03:00:00Z",
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let seed = web01_with_nightly(&days);
    let sim = simulator(
        seed,
        Faults::none()
            .with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_latency(Duration::from_millis(700)),
            )
            .with_list_lag(Duration::from_millis(300)),
        27,
    )
    .await;
    let client = client(&sim);
    let oldest = id_of(&sim, &snap("nightly", days[0]));
    let second = id_of(&sim, &snap("nightly", days[1]));
    // Created directly (no latency on our side of the race: the fault is
    // per endpoint, so this create is slow too; it lands before the pass).
    client
        .create_snapshot(SERVER, "someone-elses", None)
        .await
        .expect("the other writer's create");
    sim.clear_requests();
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\nwait_timeout = \"3s\"\n",
    );
    let report = pass_now(&config, &client).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}\n{:?}", o.error, calls(&sim));
    assert_eq!(posts(&sim), 2, "{:?}", calls(&sim));
    assert_eq!(
        deletes(&sim),
        [
            format!("/api/v1/snapshots/{oldest}/"),
            format!("/api/v1/snapshots/{second}/")
        ]
    );
    let left = names(&sim, SERVER);
    assert!(left.contains(&"someone-elses".to_owned()), "{left:?}");
    assert!(
        left.contains(&snap("nightly", "2025-02-01T03:00:00Z")),
        "{left:?}"
    );
    assert_eq!(left.len(), 4, "{left:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn resume_only_finishes_the_newest_unfinished_slot_and_creates_nothing() {
    // An interrupted pass left 31 Jan's item in progress; this slot (1 Feb)
    // has nothing. A resume-only job waits for 31 Jan's, then prunes.
    let sim = snapkeep_sim::Simulator::start(
        "127.0.0.1:0".parse().expect("loopback"),
        snapkeep_sim::SimConfig {
            complete_after: Duration::from_millis(400),
            seed: Seed::empty()
                .server(SERVER, "web-01")
                .ours(
                    SERVER,
                    "nightly",
                    "2025-01-29T03:00:00Z",
                    SimStatus::Completed,
                )
                .ours(
                    SERVER,
                    "nightly",
                    "2025-01-30T03:00:00Z",
                    SimStatus::Completed,
                ),
            faults: Faults::none(),
            rng_seed: 28,
            ..snapkeep_sim::SimConfig::default()
        },
    )
    .await
    .expect("simulator starts");
    let client = client(&sim);
    let unfinished = snap("nightly", "2025-01-31T03:00:00Z");
    client
        .create_snapshot(SERVER, &unfinished, None)
        .await
        .expect("the interrupted pass's create");
    sim.clear_requests();
    let (d29, d30) = (
        id_of(&sim, &snap("nightly", "2025-01-29T03:00:00Z")),
        id_of(&sim, &snap("nightly", "2025-01-30T03:00:00Z")),
    );
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 1\nwait_timeout = \"5s\"\n",
    );
    let now = at("2025-02-01T03:00:10Z");
    let resume = |slot: &str| crate::pass::JobSpec {
        resume_only: true,
        ..crate::pass::JobSpec::new(SERVER, 0, at(slot))
    };
    let report = pass(&config, &client, now, vec![resume("2025-02-01T03:00:00Z")]).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(!o.report.nothing_to_resume);
    assert!(o.report.created.is_none());
    assert_eq!(posts(&sim), 0);
    assert_eq!(
        deletes(&sim),
        [
            format!("/api/v1/snapshots/{d29}/"),
            format!("/api/v1/snapshots/{d30}/")
        ]
    );
    assert_eq!(names(&sim, SERVER), std::slice::from_ref(&unfinished));
    assert_eq!(o.report.holdings.completed, 1);
    assert_eq!(o.report.holdings.in_progress, 0);

    // Nothing under way any more: nothing to finish, nothing touched.
    sim.clear_requests();
    let report = pass(&config, &client, now, vec![resume("2025-02-01T03:00:00Z")]).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(o.report.nothing_to_resume);
    assert_eq!(posts(&sim), 0);
    assert!(deletes(&sim).is_empty());
    assert_eq!(names(&sim, SERVER), [unfinished]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dry_run_reports_what_it_would_do_and_changes_nothing() {
    let days = [
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let seed = web01_with_nightly(&days);
    let sim = simulator(seed, Faults::none(), 29).await;
    let config = config(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n",
    );
    let now = at("2025-02-01T03:00:10Z");
    let clock: std::sync::Arc<dyn crate::clock::Clock> =
        std::sync::Arc::new(crate::clock::FixedClock(now));
    let report = crate::pass::run_pass(
        std::sync::Arc::clone(&config),
        client(&sim).into(),
        clock,
        jobs(&config, now),
        crate::pass::PassOptions {
            dry_run: true,
            ..crate::pass::PassOptions::default()
        },
    )
    .await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(
        o.report.would_create(),
        Some(snap("nightly", "2025-02-01T03:00:00Z").as_str())
    );
    let would: Vec<(String, &str)> = o
        .report
        .would_delete()
        .iter()
        .map(|(item, why)| (item.label.clone(), why.as_str()))
        .collect();
    // The planned item takes the newest of keep_last = 2.
    assert_eq!(
        would,
        [
            (snap("nightly", days[0]), "retention: no-rule"),
            (snap("nightly", days[1]), "retention: no-rule"),
        ]
    );
    assert!(o.report.deleted.is_empty());
    // What would be left, without the planned item.
    assert_eq!(o.report.holdings.completed, 1);
    assert_eq!(
        o.report.holdings.newest_completed,
        Some(at("2025-01-31T03:00:00Z"))
    );
    assert!(
        calls(&sim).iter().all(|(m, _)| m == "GET"),
        "{:?}",
        calls(&sim)
    );
    assert_eq!(names(&sim, SERVER).len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_job_run_on_its_own_names_the_server_from_its_items() {
    let slot = "2025-02-01T03:00:00Z";
    let sim = simulator(
        Seed::empty()
            .server(SERVER, "web-01")
            .ours(SERVER, "nightly", slot, SimStatus::Completed),
        Faults::none(),
        30,
    )
    .await;
    let config = config(NIGHTLY);
    let client = client(&sim);
    let poller = crate::inventory::Poller::start(
        client.clone(),
        crate::provider::Kind::Snapshot,
        Duration::from_millis(10),
        Duration::from_millis(10),
    );
    let clock = crate::clock::FixedClock(at("2025-02-01T03:00:10Z"));
    let job = crate::job::Job {
        client: &client,
        poller: poller.poller(),
        policy: &config.policies[0],
        all_policies: &config.policies,
        server_id: SERVER,
        slot: at(slot),
        clock: &clock,
        dry_run: false,
        resume_only: false,
    };
    let mut items = crate::inventory::fetch(&client, crate::provider::Kind::Snapshot, &[SERVER])
        .await
        .expect("lists");
    let mut report = crate::job::JobReport::default();
    job.run(&mut items, &mut report).await.expect("runs");
    assert_eq!(report.server_name, "web-01");
    assert!(report.slot_taken);
    assert_eq!(posts(&sim), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_action_leaves_an_audit_event() {
    // The current-thread runtime runs the pass's tasks on this thread, so a
    // thread-local subscriber sees every audit event.
    let logs = crate::telemetry::capture::CapturedLogs::on_this_thread(tracing::Level::INFO);

    let days = [
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let seed = web01_with_nightly(&days);
    // Slow deletes, so their duration shows in the event.
    let sim = simulator(
        seed,
        Faults::none().with_endpoint(
            Endpoint::SnapshotsDelete,
            FaultSpec::none().with_latency(Duration::from_millis(150)),
        ),
        31,
    )
    .await;
    let oldest = id_of(&sim, &snap("nightly", days[0]));
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    assert!(report.outcomes[0].error.is_none());
    let created = snap("nightly", "2025-02-01T03:00:00Z");
    let id = id_of(&sim, &created);
    let text = logs.text();
    let audit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("snapkeep::audit"))
        .collect();
    let has = |needle: &str| audit.iter().any(|l| l.contains(needle));
    let subject = "server 1 (web-01) policy nightly";
    assert!(
        has(&format!("create {subject} #{id} {created}: scheduled slot")),
        "{text}"
    );
    assert!(
        has(&format!("wait {subject} #{id} {created}: until completed")),
        "{text}"
    );
    assert!(
        has(&format!("completed {subject} #{id} {created}")),
        "{text}"
    );
    let deleted = format!(
        "delete {subject} #{oldest} {}: retention: no-rule (0.",
        snap("nightly", days[0])
    );
    let line = audit
        .iter()
        .find(|l| l.contains(&deleted))
        .unwrap_or_else(|| panic!("no {deleted:?} in\n{text}"));
    assert!(line.contains("action=\"delete\""), "{line}");
    assert_eq!(deletes(&sim), [format!("/api/v1/snapshots/{oldest}/")]);
    sim.shutdown().await;
}

/// Every POST's time, oldest first.
fn post_times(sim: &snapkeep_sim::Simulator) -> Vec<chrono::DateTime<chrono::Utc>> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.at)
        .collect()
}

#[tokio::test]
async fn a_create_answered_500_and_not_applied_is_sent_again_after_list_lag() {
    // One 500 that the provider did not apply: the job looks for the item
    // for list_lag, does not find it, and sends the create again (same
    // name). One item, two POSTs, the second no sooner than list_lag.
    let sim = web01_with_create_faults(
        FaultSpec::none().with_errors(1.0, 500).with_max_faults(1),
        31,
    )
    .await;
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(o.report.adopted.is_none());
    assert_eq!(
        o.report.created.as_ref().map(|c| c.label.clone()),
        Some(snap("nightly", "2025-02-01T03:00:00Z"))
    );
    let times = post_times(&sim);
    assert_eq!(times.len(), 2, "{:?}", calls(&sim));
    let gap = (times[1] - times[0]).to_std().expect("in order");
    assert!(gap >= LIST_LAG, "sent again after {gap:?}, before list_lag");
    assert_eq!(
        names(&sim, SERVER),
        [snap("nightly", "2025-02-01T03:00:00Z")]
    );
    assert!(deletes(&sim).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_whose_outcome_stays_unknown_is_sent_at_most_max_retries_more_times() {
    // Every create answered 503 (never applied): the first send and
    // max_retries resends, each after list_lag, then outcome_unknown.
    let sim = web01_with_create_faults(FaultSpec::none().with_errors(1.0, 503), 32).await;
    let config = config(NIGHTLY);
    let client = client_with(&sim, |s| s.max_retries = 2);
    let report = pass_now(&config, &client).await;
    let err = report.outcomes[0].error.as_ref().expect("fails");
    assert_eq!(err.kind(), "outcome_unknown");
    assert_eq!(
        err.to_string(),
        format!(
            "server 1: creating {} may or may not have happened (snapshots.create (server 1): VPS.org server error (503: <html>\r\n<head><title>503 Service Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>)); it was sent 3 time(s) and did not show in the provider's lists within 300ms (api.list_lag) of any of them, and api.max_retries / api.retry_deadline allow no more; pruned nothing. A retry of the slot or the next pass finds it or creates it",
            snap("nightly", "2025-02-01T03:00:00Z")
        )
    );
    assert_eq!(posts(&sim), 3);
    assert!(names(&sim, SERVER).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_that_shows_only_after_list_lag_makes_a_duplicate_that_converges() {
    // The provider acts but the answer is lost, and its lists lag longer
    // than list_lag: the job sends the create again and a second item is
    // made. By the time that one has completed the first shows too: the job
    // re-lists once after a resend, keeps the lowest id and deletes the
    // other, in the same pass; nothing older is deleted for them.
    let older = ["2025-01-30T03:00:00Z", "2025-01-31T03:00:00Z"];
    let sim = simulator(
        web01_with_nightly(&older),
        Faults::none()
            .with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none()
                    .with_lost_responses(1.0)
                    .with_max_faults(1),
            )
            .with_list_lag(Duration::from_millis(700)),
        33,
    )
    .await;
    // The new item is hidden from lists for 700 ms too: wait long enough.
    let config = config(&format!("{NIGHTLY}wait_timeout = \"5s\"\n"));
    let client = client(&sim);
    let report = pass_now(&config, &client).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    let second = o.report.created.as_ref().expect("sent again").id;
    assert_eq!(posts(&sim), 2);
    assert_eq!(deletes(&sim), [format!("/api/v1/snapshots/{second}/")]);
    let slot = snap("nightly", "2025-02-01T03:00:00Z");
    let mut expected: Vec<String> = older.iter().map(|d| snap("nightly", d)).collect();
    expected.push(slot.clone());
    assert_eq!(names(&sim, SERVER), expected);
    let kept = id_of(&sim, &slot);
    assert!(kept < second, "the lowest id is the slot's item");

    // The next pass, once lists have caught up, has nothing to do.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let report = pass_now(&config, &client).await;
    assert!(report.outcomes[0].error.is_none());
    assert_eq!((posts(&sim), deletes(&sim).len()), (2, 1));
    assert_eq!(names(&sim, SERVER), expected);
    sim.shutdown().await;
}

/// Server 1 ("web-01") holding `manual` plus completed nightly snapshots
/// for `slots`.
fn web01_with_manual_and(slots: &[&str]) -> Seed {
    web01_with_nightly(slots).snapshot(
        SERVER,
        "before-upgrade",
        at("2025-01-15T12:00:00Z"),
        SimStatus::Completed,
    )
}

const KEEP_FIVE: &str = "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 5\n";

#[tokio::test]
async fn a_manual_snapshot_at_the_cap_costs_keep_last_5_one_item_not_its_rotation() {
    // keep_last = 5 on the 5-snapshot cap, and one manual snapshot: the
    // policy can hold 4 there. Its oldest goes, the new one is made, and
    // the job says why (summary and holdings).
    let days = [
        "2025-01-28T03:00:00Z",
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let sim = simulator(web01_with_manual_and(&days), Faults::none(), 34).await;
    let oldest = id_of(&sim, &snap("nightly", days[0]));
    let config = config(KEEP_FIVE);
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(deletes(&sim), [format!("/api/v1/snapshots/{oldest}/")]);
    assert_eq!(posts(&sim), 1);
    let h = o.report.holdings;
    assert_eq!(
        (h.completed, h.not_ours, h.can_hold, h.shortfall),
        (4, 1, 4, 1)
    );
    assert_eq!(
        crate::job::shortfall_note(&config.policies[0], &h, "web-01").as_deref(),
        Some("nightly (5 last) holds 4 on web-01: 1 snapshot there is not this policy's")
    );
    let summary = crate::pass::summary(&report, false);
    assert!(
        summary.contains("holds at most 4 here, 1 fewer than its keep rules ask: 1 item(s) on the server are not this policy's to delete"),
        "{summary}"
    );
    let mut left = names(&sim, SERVER);
    left.retain(|n| n != "before-upgrade");
    assert_eq!(
        left,
        [days[1], days[2], days[3], "2025-02-01T03:00:00Z"].map(|d| snap("nightly", d))
    );
    assert_eq!(sim.max_snapshots_seen(SERVER), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_protected_item_at_the_cap_is_passed_over_and_the_next_oldest_goes() {
    let days = [
        "2025-01-27T03:00:00Z",
        "2025-01-28T03:00:00Z",
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let sim = simulator(web01_with_nightly(&days), Faults::none(), 35).await;
    let protected = id_of(&sim, &snap("nightly", days[0]));
    let next = id_of(&sim, &snap("nightly", days[1]));
    let config = config(&format!("{KEEP_FIVE}protect = [{protected}]\n"));
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(deletes(&sim), [format!("/api/v1/snapshots/{next}/")]);
    let h = o.report.holdings;
    assert_eq!((h.protected, h.can_hold, h.shortfall), (1, 4, 1));
    assert_eq!(
        names(&sim, SERVER),
        [days[0], days[2], days[3], days[4], "2025-02-01T03:00:00Z"].map(|d| snap("nightly", d))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn two_policies_and_a_manual_item_share_one_server_and_both_rotate() {
    // a keeps 2 and b keeps 3 on one server (5, the cap), and a manual
    // snapshot takes one more: 1 + 2 + 2 is the cap. a's own rules drop its
    // oldest; b's keep all three, but b can hold only two here, so its
    // oldest goes too. Neither is refused.
    let seed = Seed::empty()
        .server(SERVER, "web-01")
        .snapshot(
            SERVER,
            "manual",
            at("2025-01-15T12:00:00Z"),
            SimStatus::Completed,
        )
        .ours(SERVER, "a", "2025-01-30T03:00:00Z", SimStatus::Completed)
        .ours(SERVER, "a", "2025-01-31T03:00:00Z", SimStatus::Completed)
        .ours(SERVER, "b", "2025-01-30T03:00:00Z", SimStatus::Completed)
        .ours(SERVER, "b", "2025-01-31T03:00:00Z", SimStatus::Completed);
    let sim = simulator(seed, Faults::none(), 36).await;
    let a_old = id_of(&sim, &snap("a", "2025-01-30T03:00:00Z"));
    let b_old = id_of(&sim, &snap("b", "2025-01-30T03:00:00Z"));
    let config = config(
        "[[policy]]\nname = \"a\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n\n\
         [[policy]]\nname = \"b\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n",
    );
    let report = pass_now(&config, &client(&sim)).await;
    for o in &report.outcomes {
        assert!(o.error.is_none(), "{}: {:?}", o.policy_name, o.error);
        assert!(o.report.created.is_some(), "{}", o.policy_name);
    }
    assert_eq!(
        deletes(&sim),
        [
            format!("/api/v1/snapshots/{a_old}/"),
            format!("/api/v1/snapshots/{b_old}/")
        ]
    );
    assert_eq!(
        names(&sim, SERVER),
        [
            "manual".to_owned(),
            snap("a", "2025-01-31T03:00:00Z"),
            snap("a", "2025-02-01T03:00:00Z"),
            snap("b", "2025-01-31T03:00:00Z"),
            snap("b", "2025-02-01T03:00:00Z"),
        ]
    );
    assert_eq!(sim.max_snapshots_seen(SERVER), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_late_duplicate_of_an_earlier_slot_goes_first_and_costs_nothing_older() {
    // Yesterday's slot has two completed items (a resend whose first
    // attempt showed up late). Today's job deletes the higher id as a
    // duplicate before anything else; keep_last = 3 then counts yesterday
    // once, so no older restore point goes for it.
    let days = ["2025-01-30T03:00:00Z", "2025-01-31T03:00:00Z"];
    let sim = simulator(
        web01_with_nightly(&days).ours(
            SERVER,
            "nightly",
            "2025-01-31T03:00:00Z",
            SimStatus::Completed,
        ),
        Faults::none(),
        37,
    )
    .await;
    let dup = sim
        .snapshots(Some(SERVER))
        .into_iter()
        .filter(|s| s.name == snap("nightly", days[1]))
        .map(|s| s.id)
        .max()
        .expect("two");
    let config = config(NIGHTLY);
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(deletes(&sim), [format!("/api/v1/snapshots/{dup}/")]);
    assert_eq!(
        names(&sim, SERVER),
        [days[0], days[1], "2025-02-01T03:00:00Z"].map(|d| snap("nightly", d))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_retry_of_the_slot_lists_afresh_and_adopts_what_another_writer_made() {
    // The slot's job failed (every create 503, no resends left). Meanwhile
    // another writer made the slot's item. The daemon's retry is the same
    // slot one attempt later: it lists, finds the item and makes no other.
    let sim = web01_with_create_faults(FaultSpec::none().with_errors(1.0, 503), 38).await;
    let config = config(NIGHTLY);
    let client = client_with(&sim, |s| s.max_retries = 0);
    let now = at(NOW);
    let report = pass(&config, &client, now, jobs(&config, now)).await;
    let failed = &report.outcomes[0];
    assert_eq!(
        failed.error.as_ref().map(|e| e.kind()),
        Some("outcome_unknown")
    );
    assert_eq!(posts(&sim), 1);

    let slot = snap("nightly", "2025-02-01T03:00:00Z");
    sim.create_snapshot_as_other(SERVER, slot.clone(), SimStatus::Completed)
        .expect("the other writer");
    sim.set_faults(Faults::none());
    let retry = crate::pass::JobSpec {
        attempt: 1,
        ..failed.spec.clone()
    };
    let report = pass(&config, &client, now, vec![retry]).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(o.report.slot_taken && o.report.created.is_none());
    assert_eq!(posts(&sim), 1, "no second create");
    assert_eq!(names(&sim, SERVER), [slot]);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_item_of_ours_with_odd_fields_it_does_not_need_is_seen_not_created_again() {
    // The slot's backup exists, but the provider writes its size as a string
    // with a fraction and its expiry as "". Those fields decide nothing: the
    // item is read, the slot is taken, and no second create is sent.
    let slot = "2025-02-01T03:00:00Z";
    let ours = serde_json::json!({
        "id": 9_000_001,
        "server": {"id": SERVER, "name": "web-01"},
        "backup_type": "manual",
        "status": "completed",
        "size_mb": "5120.5",
        "created_at": "2025-02-01T03:00:05Z",
        "expires_at": "",
        "description": crate::naming::label_for(
            crate::provider::Kind::Backup, "snapkeep", "weekly", at(slot), None,
        ),
    });
    let sim = simulator(
        Seed::empty().server(SERVER, "web-01"),
        Faults::none().with_junk_items([ours]),
        26,
    )
    .await;
    let config = config(
        "[[policy]]\nname = \"weekly\"\nkind = \"backup\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n",
    );
    let client = client(&sim);
    let report = pass_now(&config, &client).await;
    let summary = crate::pass::summary(&report, false);
    assert_eq!(report.failed(), 0, "{summary}");
    assert!(report.outcomes[0].report.slot_taken, "{summary}");
    assert_eq!(posts(&sim), 0, "{summary}");
    assert_eq!(client.stats().undecodable(), 0);
    sim.shutdown().await;
}

/// One pass of every job of `config` at [`NOW`] that `stop` may stop.
async fn stoppable_pass(
    config: &std::sync::Arc<crate::config::Config>,
    client: &crate::api::Client,
    stop: crate::pass::Stop,
) -> crate::pass::PassReport {
    let now = at(NOW);
    crate::pass::run_pass(
        std::sync::Arc::clone(config),
        client.clone().into(),
        std::sync::Arc::new(crate::clock::FixedClock(now)),
        jobs(config, now),
        crate::pass::PassOptions {
            stop: Some(stop),
            ..crate::pass::PassOptions::default()
        },
    )
    .await
}

/// `(policy, error kind, started)` of each outcome, in report order.
fn stopped(report: &crate::pass::PassReport) -> Vec<(String, Option<&'static str>, bool)> {
    report
        .outcomes
        .iter()
        .map(|o| {
            (
                o.policy_name.clone(),
                o.error.as_ref().map(|e| e.kind()),
                matches!(
                    o.error,
                    Some(crate::job::JobError::Interrupted { started: true })
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_pass_told_to_finish_before_a_job_starts_runs_none_and_reports_each() {
    let sim = simulator(Seed::empty().server(SERVER, "web-01"), Faults::none(), 27).await;
    let config = config(&format!(
        "{NIGHTLY}\n[[policy]]\nname = \"weekly\"\nkind = \"backup\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 1\n"
    ));
    let (stopper, stop) = crate::pass::stop_channel();
    stopper.finish();
    let report = stoppable_pass(&config, &client(&sim), stop).await;
    assert_eq!(
        stopped(&report),
        [
            ("nightly".to_owned(), Some("interrupted"), false),
            ("weekly".to_owned(), Some("interrupted"), false),
        ]
    );
    assert_eq!((report.failed(), report.interrupted()), (2, 2));
    assert_eq!(posts(&sim), 0);
    assert!(deletes(&sim).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_pass_cut_off_mid_hook_thaws_and_keeps_the_outcomes_of_jobs_that_ended() {
    // Server 1 runs `first` (no hooks: it ends) and then `nightly`, whose
    // pre hook hangs. Cut off then: `first` keeps its ok, `nightly` is
    // reported as cut off, its post hook ran with "aborted", and the pass
    // returns only after that thaw.
    let (dir, log) = hook_log();
    let started = dir.path().join("pre.started");
    let sim = simulator(Seed::empty().server(SERVER, "web-01"), Faults::none(), 28).await;
    let config = cfg(&format!(
        "[[policy]]\nname = \"first\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 1\n\n{}",
        hooked_policy(&log, &format!("touch {}; sleep 30", started.display()), "")
            .replace("keep_last = 3", "keep_last = 2")
    ));
    let (stopper, stop) = crate::pass::stop_channel();
    let pass = tokio::spawn({
        let (config, client) = (std::sync::Arc::clone(&config), client(&sim));
        async move { stoppable_pass(&config, &client, stop).await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the pre hook never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stopper.abort();
    let report = tokio::time::timeout(Duration::from_secs(10), pass)
        .await
        .expect("a cut-off pass ends")
        .expect("the pass task");
    assert_eq!(
        stopped(&report),
        [
            ("first".to_owned(), None, false),
            ("nightly".to_owned(), Some("interrupted"), true),
        ]
    );
    assert!(report.outcomes[0].report.created.is_some());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "post aborted noid\n"
    );
    assert_eq!(posts(&sim), 1, "only `first` created");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_pass_cut_off_while_listing_runs_no_job() {
    let sim = simulator(
        Seed::empty().server(SERVER, "web-01"),
        Faults::none().with_endpoint(
            Endpoint::SnapshotsList,
            FaultSpec::none().with_latency(Duration::from_secs(30)),
        ),
        29,
    )
    .await;
    let config = config(NIGHTLY);
    let (stopper, stop) = crate::pass::stop_channel();
    let pass = tokio::spawn({
        let (config, client) = (std::sync::Arc::clone(&config), client(&sim));
        async move { stoppable_pass(&config, &client, stop).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stopper.abort();
    let report = tokio::time::timeout(Duration::from_secs(5), pass)
        .await
        .expect("the listing is not waited out")
        .expect("the pass task");
    assert_eq!(
        stopped(&report),
        [("nightly".to_owned(), Some("interrupted"), false)]
    );
    assert_eq!(posts(&sim), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_job_refused_for_room_tries_again_after_the_servers_other_policies_pruned() {
    // hourly comes first on server 1 and finds it full: two manual
    // snapshots and three of daily's, which keeps only one. Nothing of
    // hourly's can go, so it is refused — then daily's job prunes its own
    // down to one, and hourly's second try in the same pass has room.
    let days = [
        "2025-01-29T03:00:00Z",
        "2025-01-30T03:00:00Z",
        "2025-01-31T03:00:00Z",
    ];
    let mut seed = Seed::empty()
        .server(SERVER, "web-01")
        .snapshot(
            SERVER,
            "manual-1",
            at("2025-01-10T12:00:00Z"),
            SimStatus::Completed,
        )
        .snapshot(
            SERVER,
            "manual-2",
            at("2025-01-11T12:00:00Z"),
            SimStatus::Completed,
        );
    for d in days {
        seed = seed.ours(SERVER, "daily", d, SimStatus::Completed);
    }
    let sim = simulator(seed, Faults::none(), 39).await;
    let config = config(
        "[[policy]]\nname = \"hourly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 * * * *\"\nkeep_last = 2\n\n\
         [[policy]]\nname = \"daily\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 1\n",
    );
    let report = pass_now(&config, &client(&sim)).await;
    for o in &report.outcomes {
        assert!(o.error.is_none(), "{}: {:?}", o.policy_name, o.error);
        assert!(o.report.created.is_some(), "{}", o.policy_name);
    }
    assert_eq!(posts(&sim), 2);
    assert_eq!(
        names(&sim, SERVER),
        [
            "manual-1".to_owned(),
            "manual-2".to_owned(),
            snap("daily", "2025-02-01T03:00:00Z"),
            snap("hourly", "2025-02-01T03:00:00Z"),
        ]
    );
    assert!(sim.max_snapshots_seen(SERVER) <= 5);
    sim.shutdown().await;
}

/// Nanoseconds since the epoch, as `date +%s%N` writes them.
fn epoch_nanos(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_nanos_opt().expect("in range")
}

#[tokio::test]
async fn a_freeze_ends_at_max_freeze_and_nothing_is_sent_after_the_thaw() {
    // Every create is answered 429 (Retry-After 1 s): VPS.org never
    // accepts it. With max_freeze = 300ms the post hook thaws 300 ms after
    // the pre hook, the job fails (hook), and no POST goes out after it.
    let (_dir, log) = hook_log();
    let sim = web01_with_create_faults(FaultSpec::none().with_rate_limit(1.0, 1), 40).await;
    let policy = format!(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n\
         pre_hook = [\"sh\", \"-c\", \"echo pre >> {log}\"]\n\
         post_hook = [\"sh\", \"-c\", \"echo post $SNAPKEEP_RESULT $(date +%s%N) >> {log}\"]\n\
         max_freeze = \"300ms\"\n"
    );
    let report = pass_now(&cfg(&policy), &client(&sim)).await;
    let err = report.outcomes[0].error.as_ref().expect("fails");
    assert_eq!(err.kind(), "hook");
    assert_eq!(
        err.to_string(),
        "VPS.org did not accept the create within max_freeze (300ms) after the pre hook; the post hook thawed (SNAPKEEP_RESULT=failed) and nothing was sent after it"
    );
    let text = std::fs::read_to_string(&log).expect("hook log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], "pre");
    let thawed: i64 = lines[1]
        .strip_prefix("post failed ")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    let sent = post_times(&sim);
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|t| epoch_nanos(*t) < thawed),
        "a create was sent after the thaw: {sent:?} vs {thawed}"
    );
    assert!(names(&sim, SERVER).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_answered_after_the_thaw_is_adopted_as_crash_consistent() {
    // The create is sent at once but answered only after 800 ms; the
    // freeze ends at 200 ms: the post hook thaws (failed), the answer then
    // comes and the item is kept — one POST, only crash-consistent.
    let (_dir, log) = hook_log();
    let sim = web01_with_create_faults(
        FaultSpec::none().with_latency(Duration::from_millis(800)),
        41,
    )
    .await;
    let config = cfg(&hooked_policy(&log, "true", "max_freeze = \"200ms\"\n"));
    let report = pass_now(&config, &client(&sim)).await;
    let o = &report.outcomes[0];
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(o.report.created.is_some());
    assert_eq!(
        o.report.crash_consistent(),
        Some(
            "VPS.org accepted the create only after max_freeze (200ms); the post hook had thawed first"
        )
    );
    let text = std::fs::read_to_string(&log).expect("hook log");
    assert_eq!(
        text.lines().skip(1).collect::<Vec<_>>(),
        ["post failed noid"],
        "{text}"
    );
    assert_eq!(posts(&sim), 1);
    assert_eq!(
        names(&sim, SERVER),
        [snap("nightly", "2025-02-01T03:00:00Z")]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lookup_ends_on_a_listing_that_started_list_lag_later_not_on_the_clock() {
    // The slot's item exists and lists show it at once, but every poll is
    // deferred 400 ms behind queued creates and deletes (the client's
    // admission queue is held full). A lookup with a 100 ms lag must not
    // conclude "absent" at 100 ms with no listing seen: it waits for a
    // listing that started after the lag, which shows the item.
    let label = snap("nightly", "2025-02-01T03:00:00Z");
    let sim = simulator(
        Seed::empty().server(SERVER, "web-01").ours(
            SERVER,
            "nightly",
            "2025-02-01T03:00:00Z",
            SimStatus::Completed,
        ),
        Faults::none(),
        42,
    )
    .await;
    let client = client(&sim);
    let poller = crate::inventory::Poller::start(
        client.clone(),
        crate::provider::Kind::Snapshot,
        Duration::from_millis(10),
        Duration::from_secs(5),
    );
    // Hold every admission permit and queue one more: the API is "busy".
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(client.admit().await);
    }
    let queued = {
        let client = client.clone();
        tokio::spawn(async move { drop(client.admit().await) })
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(held);
    };
    let started = std::time::Instant::now();
    let (found, ()) = tokio::join!(
        poller.poller().find(
            SERVER,
            &label,
            Duration::from_millis(100),
            Duration::from_secs(5)
        ),
        release
    );
    assert_eq!(found.map(|i| i.label), Some(label));
    assert!(started.elapsed() >= Duration::from_millis(400));
    queued.await.expect("admitted in the end");
    sim.shutdown().await;
}

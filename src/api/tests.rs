//! Acceptance tests of the VPS.org client against the embedded simulator:
//! the real `Client` talks HTTP to a `Simulator` on `127.0.0.1:0`, and every
//! test checks both what the client returned and what the simulator saw
//! (its request log and its state), so "it worked" also means "it did not
//! do more than it should have".

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{ApiError, ApiToken, BackupType, Client, ClientSettings, Status};
use snapkeep_sim::{
    BackupType as SimBackupType, Endpoint, FaultSpec, Faults, InjectedFault, RecordedRequest, Seed,
    SeedBackup, SeedSnapshot, SimConfig, SimStatus, Simulator,
};

/// How long simulated creates stay `in_progress` (and restores `restoring`).
const COMPLETE_AFTER: Duration = Duration::from_millis(60);

/// A fixed RNG seed for tests whose faults are drawn at a rate below 1.
/// With only one fault rate in `(0, 1)` on one endpoint, the simulator draws
/// one number per request; at 0.5 this seed hits, hits, misses, misses, hits…
const RNG_SEED: u64 = 26;

fn sim_config(seed: Seed, faults: Faults) -> SimConfig {
    SimConfig {
        complete_after: COMPLETE_AFTER,
        seed,
        faults,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("simulator starts")
}

async fn start_docs(faults: Faults) -> Simulator {
    start(sim_config(Seed::docs_example(), faults)).await
}

/// Production settings with the waits shrunk so retries take milliseconds.
fn fast_settings(base_url: String, token: &str) -> ClientSettings {
    let mut s = ClientSettings::new(base_url, ApiToken::new(token));
    s.timeout = Duration::from_secs(5);
    s.connect_timeout = Duration::from_secs(2);
    s.min_backoff = Duration::from_millis(2);
    s.max_backoff = Duration::from_millis(10);
    s.requests_per_second = 0.0;
    s.retry_deadline = Duration::from_secs(5);
    s
}

fn client(sim: &Simulator) -> Client {
    Client::new(fast_settings(sim.base_url(), sim.token())).expect("client builds")
}

/// A client whose first backoff is long enough for `set_faults_when` to
/// change the faults before the retry arrives.
fn patient_client(sim: &Simulator) -> Client {
    let mut s = fast_settings(sim.base_url(), sim.token());
    s.min_backoff = Duration::from_millis(50);
    s.max_backoff = Duration::from_millis(100);
    Client::new(s).expect("client builds")
}

fn requests_to(sim: &Simulator, endpoint: Endpoint) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.endpoint == Some(endpoint))
        .collect()
}

fn statuses(requests: &[RecordedRequest]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

fn faults_of(requests: &[RecordedRequest]) -> Vec<Option<InjectedFault>> {
    requests.iter().map(|r| r.fault).collect()
}

/// Installs `faults` as soon as the request log satisfies `when` (checked
/// every millisecond), so a fault can hit exactly the first request(s).
fn set_faults_when(
    sim: &Simulator,
    when: impl Fn(&[RecordedRequest]) -> bool + Send + 'static,
    faults: Faults,
) -> JoinHandle<()> {
    let sim = sim.clone();
    tokio::spawn(async move {
        for _ in 0..10_000 {
            if when(&sim.requests()) {
                sim.set_faults(faults);
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the awaited request never came");
    })
}

/// True once `n` requests carried an injected fault.
fn after_faults(n: usize) -> impl Fn(&[RecordedRequest]) -> bool + Send + 'static {
    move |log: &[RecordedRequest]| log.iter().filter(|r| r.fault.is_some()).count() >= n
}

fn only(endpoint: Endpoint, spec: FaultSpec) -> Faults {
    Faults::none().with_endpoint(endpoint, spec)
}

// ---------------------------------------------------------------------------
// Every endpoint round-trips
// ---------------------------------------------------------------------------

#[tokio::test]
async fn snapshots_round_trip_with_typed_models() {
    let sim = start_docs(Faults::none()).await;
    let api = client(&sim);

    // List, unfiltered: the docs' two snapshots, typed.
    let all = api.list_snapshots(None).await.unwrap();
    let ids: BTreeSet<u64> = all.iter().map(|s| s.id).collect();
    assert_eq!(ids, BTreeSet::from([798, 801]));
    let s801 = all.iter().find(|s| s.id == 801).unwrap();
    assert_eq!(s801.server.id, 12345);
    assert_eq!(s801.server.name, "web-server-01");
    assert_eq!(s801.name, "pre-migration-snapshot");
    assert_eq!(s801.status, Status::Completed);
    assert_eq!(s801.size_mb, Some(5120.0));
    assert_eq!(s801.created_at.to_rfc3339(), "2025-01-15T18:30:00+00:00");
    assert_eq!(s801.description.as_deref(), Some("Before major migration"));

    // Filtered by server.
    assert_eq!(api.list_snapshots(Some(12345)).await.unwrap().len(), 2);
    assert!(api.list_snapshots(Some(12346)).await.unwrap().is_empty());

    // Create: in_progress, no size yet, on the right server.
    let before = Utc::now() - chrono::TimeDelta::seconds(2);
    let created = api
        .create_snapshot(12346, "nightly-001", Some("before update"))
        .await
        .unwrap();
    assert_eq!(created.server.id, 12346);
    assert_eq!(created.server.name, "web-server-02");
    assert_eq!(created.name, "nightly-001");
    assert_eq!(created.status, Status::InProgress);
    assert_eq!(created.size_mb, None);
    assert_eq!(created.description.as_deref(), Some("before update"));
    assert!(created.created_at >= before && created.created_at <= Utc::now());

    let listed = api.list_snapshots(Some(12346)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].status, Status::InProgress);
    assert_eq!(listed[0].size_mb, None);

    // After complete_after: completed, with a size.
    tokio::time::sleep(COMPLETE_AFTER * 2).await;
    let done = api.list_snapshots(Some(12346)).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, Status::Completed);
    assert!(done[0].size_mb.is_some_and(|mb| mb > 0.0));
    assert_eq!(done[0].created_at, created.created_at);

    // Restore.
    let restored = api.restore_snapshot(created.id).await.unwrap();
    assert_eq!(restored.status.as_deref(), Some("success"));
    assert!(
        restored
            .message
            .as_deref()
            .is_some_and(|m| m.contains("restored")),
        "{restored:?}"
    );
    let server = sim.servers().into_iter().find(|s| s.id == 12346).unwrap();
    assert_eq!(server.status, "restoring");

    // Delete.
    api.delete_snapshot(created.id).await.unwrap();
    assert!(sim.snapshots(Some(12346)).is_empty());
    assert_eq!(sim.snapshots(None).len(), 2);

    // What went over the wire, call by call.
    let log = sim.requests();
    let wire: Vec<(&str, &str, &str, u16)> = log
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                r.query.as_str(),
                r.status,
            )
        })
        .collect();
    let del = format!("/api/v1/snapshots/{}/", created.id);
    let restore = format!("/api/v1/snapshots/{}/restore/", created.id);
    assert_eq!(
        wire,
        [
            ("GET", "/api/v1/snapshots/", "", 200),
            ("GET", "/api/v1/snapshots/", "server_id=12345", 200),
            ("GET", "/api/v1/snapshots/", "server_id=12346", 200),
            ("POST", "/api/v1/snapshots/", "", 201),
            ("GET", "/api/v1/snapshots/", "server_id=12346", 200),
            ("GET", "/api/v1/snapshots/", "server_id=12346", 200),
            ("POST", restore.as_str(), "", 200),
            ("DELETE", del.as_str(), "", 204),
        ]
    );
    assert_eq!(
        log[3].body,
        Some(serde_json::json!({
            "server_id": 12346, "name": "nightly-001", "description": "before update"
        }))
    );
    assert!(log.iter().all(|r| r.fault.is_none()));
    sim.shutdown().await;
}

#[tokio::test]
async fn backups_round_trip_with_typed_models_and_restore_from_backup() {
    let sim = start_docs(Faults::none()).await;
    let api = client(&sim);

    list_the_docs_backups(&api).await;

    // Create: a manual, in_progress backup that never expires.
    let created = api
        .create_backup(12346, "snapkeep: weekly 1")
        .await
        .unwrap();
    assert_eq!(created.server.id, 12346);
    assert_eq!(created.server.name, "web-server-02");
    assert_eq!(created.backup_type, BackupType::Manual);
    assert_eq!(created.status, Status::InProgress);
    assert_eq!(created.size_mb, None);
    assert_eq!(created.expires_at, None);
    assert_eq!(created.description.as_deref(), Some("snapkeep: weekly 1"));

    tokio::time::sleep(COMPLETE_AFTER * 2).await;
    let done = api
        .list_backups(Some(12346), Some(BackupType::Manual))
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].id, created.id);
    assert_eq!(done[0].status, Status::Completed);
    assert!(done[0].size_mb.is_some_and(|mb| mb > 0.0));
    assert_eq!(done[0].expires_at, None);

    // Restore the server from it (servers API).
    let restored = api.restore_backup(12346, created.id).await.unwrap();
    assert_eq!(restored.status.as_deref(), Some("success"));
    assert!(restored.message.is_some());
    let server = sim.servers().into_iter().find(|s| s.id == 12346).unwrap();
    assert_eq!(server.status, "restoring");

    // Delete it.
    api.delete_backup(created.id).await.unwrap();
    assert!(sim.backups(Some(12346)).is_empty());
    assert_eq!(sim.backups(None).len(), 3);

    assert_backup_requests(&sim, created.id);
    sim.shutdown().await;
}

/// Step of [`backups_round_trip_with_typed_models_and_restore_from_backup`]:
/// the docs' backups listed, typed, unfiltered and by server and type.
async fn list_the_docs_backups(api: &Client) {
    // Unfiltered: all three of the docs' backups.
    let all = api.list_backups(None, None).await.unwrap();
    let ids: BTreeSet<u64> = all.iter().map(|b| b.id).collect();
    assert_eq!(ids, BTreeSet::from([495, 499, 501]));
    let b501 = all.iter().find(|b| b.id == 501).unwrap();
    assert_eq!(b501.server.id, 12345);
    assert_eq!(b501.server.name, "web-server-01");
    assert_eq!(b501.backup_type, BackupType::Automatic);
    assert_eq!(b501.status, Status::Completed);
    assert_eq!(b501.size_mb, Some(4523.0));
    assert_eq!(
        b501.expires_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2025-02-16T03:00:00+00:00")
    );
    assert_eq!(b501.description.as_deref(), Some("Automatic daily backup"));

    // Filters: server_id and backup_type.
    let automatic = api
        .list_backups(Some(12345), Some(BackupType::Automatic))
        .await
        .unwrap();
    let ids: BTreeSet<u64> = automatic.iter().map(|b| b.id).collect();
    assert_eq!(ids, BTreeSet::from([495, 501]));
    assert!(automatic.iter().all(|b| b.expires_at.is_some()));
    let manual = api
        .list_backups(Some(12345), Some(BackupType::Manual))
        .await
        .unwrap();
    assert_eq!(manual.len(), 1);
    assert_eq!(manual[0].id, 499);
    assert_eq!(manual[0].expires_at, None);
    assert!(
        api.list_backups(Some(12346), None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Step of [`backups_round_trip_with_typed_models_and_restore_from_backup`]:
/// the requests it sent (listing queries, the create, restore and delete
/// bodies and paths) of backup `created`.
fn assert_backup_requests(sim: &Simulator, created: u64) {
    let log = sim.requests();
    let queries: Vec<&str> = log
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::BackupsList))
        .map(|r| r.query.as_str())
        .collect();
    assert_eq!(
        queries,
        [
            "",
            "server_id=12345&backup_type=automatic",
            "server_id=12345&backup_type=manual",
            "server_id=12346",
            "server_id=12346&backup_type=manual",
        ]
    );
    let create = &requests_to(sim, Endpoint::BackupsCreate)[0];
    assert_eq!(
        create.body,
        Some(serde_json::json!({"server_id": 12346, "description": "snapkeep: weekly 1"}))
    );
    let restore = &requests_to(sim, Endpoint::ServersRestore)[0];
    assert_eq!(
        (
            restore.method.as_str(),
            restore.path.as_str(),
            restore.status
        ),
        ("POST", "/api/v1/servers/12346/restore/", 200)
    );
    assert_eq!(
        restore.body,
        Some(serde_json::json!({"backup_id": created}))
    );
    let delete = &requests_to(sim, Endpoint::BackupsDelete)[0];
    assert_eq!(
        (delete.path.as_str(), delete.status),
        (format!("/api/v1/backups/{}/", created).as_str(), 204)
    );
}

/// Restores are not idempotent: refused, missing and lost ones are not
/// repeated; only a 429 (known not applied) is, and only within the budget.
#[tokio::test]
async fn restores_are_repeated_only_after_a_429() {
    let sim = start_docs(Faults::none()).await;
    let api = client(&sim);

    // 400 while the item is still in progress: typed, one request.
    let fresh = api.create_backup(12346, "not ready").await.unwrap();
    let err = api.restore_backup(12346, fresh.id).await.unwrap_err();
    assert!(matches!(err, ApiError::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains("not ready"), "{err}");
    assert_eq!(requests_to(&sim, Endpoint::ServersRestore).len(), 1);

    // 404 for a snapshot that does not exist.
    let err = api.restore_snapshot(424_242).await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert_eq!(requests_to(&sim, Endpoint::SnapshotsRestore).len(), 1);

    // A lost answer is not repeated: the restore may have started.
    sim.clear_requests();
    sim.set_faults(only(
        Endpoint::SnapshotsRestore,
        FaultSpec::none().with_lost_responses(1.0),
    ));
    let err = api.restore_snapshot(801).await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert_eq!(
        faults_of(&requests_to(&sim, Endpoint::SnapshotsRestore)),
        [Some(InjectedFault::LostResponse)]
    );

    // 429 without Retry-After: retried with backoff, bounded by max_retries.
    sim.clear_requests();
    sim.set_faults(only(
        Endpoint::ServersRestore,
        FaultSpec::none().with_rate_limit(1.0, 0),
    ));
    let mut settings = fast_settings(sim.base_url(), sim.token());
    settings.max_retries = 2;
    let bounded = Client::new(settings).unwrap();
    let err = bounded.restore_backup(12345, 499).await.unwrap_err();
    assert!(matches!(err, ApiError::RateLimited { .. }), "{err:?}");
    assert_eq!(
        statuses(&requests_to(&sim, Endpoint::ServersRestore)),
        [429, 429, 429]
    );

    // ...and a 429 followed by success succeeds (12345 may still be
    // restoring after the lost restore above, so use the fresh backup).
    tokio::time::sleep(COMPLETE_AFTER * 2).await;
    sim.clear_requests();
    let _flip = set_faults_when(&sim, after_faults(1), Faults::none());
    let restored = patient_client(&sim)
        .restore_backup(12346, fresh.id)
        .await
        .unwrap();
    assert_eq!(restored.status.as_deref(), Some("success"));
    assert_eq!(
        statuses(&requests_to(&sim, Endpoint::ServersRestore)),
        [429, 200]
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------

#[tokio::test]
async fn pagination_returns_every_item_once_with_one_get_per_page() {
    // 7 snapshots over two servers (cap 5 each); server 1 has 5 manual and 2
    // automatic backups, server 2 has 3 manual ones.
    let mut seed = Seed::fleet(2);
    let age = |h: u64| Duration::from_secs(h * 3600);
    for i in 0..7u64 {
        seed = seed.add_snapshot(SeedSnapshot::new(
            1 + i % 2,
            format!("snap-{i}"),
            age(i + 1),
            SimStatus::Completed,
        ));
    }
    for i in 0..5u64 {
        seed = seed.add_backup(SeedBackup::new(
            1,
            SimBackupType::Manual,
            format!("manual-{i}"),
            age(i + 1),
            SimStatus::Completed,
        ));
    }
    for i in 0..2u64 {
        seed = seed.add_backup(SeedBackup::new(
            1,
            SimBackupType::Automatic,
            format!("auto-{i}"),
            age(i + 1),
            SimStatus::Completed,
        ));
    }
    for i in 0..3u64 {
        seed = seed.add_backup(SeedBackup::new(
            2,
            SimBackupType::Manual,
            format!("other-{i}"),
            age(i + 1),
            SimStatus::Completed,
        ));
    }
    let sim = start(sim_config(seed, Faults::none().with_page_size(2))).await;
    let api = client(&sim);

    // Snapshots: 7 items, pages of 2 -> 4 pages, 4 GETs.
    let got = api.list_snapshots(None).await.unwrap();
    let mut ids: Vec<u64> = got.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    let want: Vec<u64> = sim.snapshots(None).iter().map(|s| s.id).collect();
    assert_eq!(want.len(), 7);
    assert_eq!(ids, want, "every item exactly once");
    let gets = requests_to(&sim, Endpoint::SnapshotsList);
    assert_eq!(gets.len(), 4, "one GET per page: {gets:#?}");
    let queries: Vec<&str> = gets.iter().map(|r| r.query.as_str()).collect();
    assert_eq!(queries, ["", "page=2", "page=3", "page=4"]);

    // Backups with both filters: 5 items -> 3 pages, filters kept on every page.
    sim.clear_requests();
    let got = api
        .list_backups(Some(1), Some(BackupType::Manual))
        .await
        .unwrap();
    let mut ids: Vec<u64> = got.iter().map(|b| b.id).collect();
    ids.sort_unstable();
    let want: Vec<u64> = sim
        .backups(Some(1))
        .iter()
        .filter(|b| b.backup_type == SimBackupType::Manual)
        .map(|b| b.id)
        .collect();
    assert_eq!(want.len(), 5);
    assert_eq!(ids, want, "every item exactly once");
    assert!(
        got.iter()
            .all(|b| b.server.id == 1 && b.backup_type == BackupType::Manual)
    );
    let gets = requests_to(&sim, Endpoint::BackupsList);
    let queries: Vec<&str> = gets.iter().map(|r| r.query.as_str()).collect();
    assert_eq!(
        queries,
        [
            "server_id=1&backup_type=manual",
            "server_id=1&backup_type=manual&page=2",
            "server_id=1&backup_type=manual&page=3",
        ]
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------
// Failure classes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unauthorized_fails_at_once_without_retry_or_token() {
    let sim = start_docs(Faults::none()).await;
    let wrong = "wrong-token-Zq8vK2";
    let api = Client::new(fast_settings(sim.base_url(), wrong)).unwrap();

    let err = api.list_snapshots(None).await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_temporary());
    let text = err.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(!format!("{err:?}").contains(wrong));
    assert_eq!(statuses(&sim.requests()), [401], "exactly one request");

    // The same for a create and a delete: one request each, nothing changed.
    let err = api.create_snapshot(12346, "x", None).await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    let err = api.delete_snapshot(801).await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains(wrong));
    assert_eq!(statuses(&sim.requests()), [401, 401, 401]);
    assert_eq!(sim.snapshots(None).len(), 2);
    assert_eq!(api.stats().retries(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_then_succeeds() {
    let sim = start_docs(only(
        Endpoint::SnapshotsList,
        FaultSpec::none().with_rate_limit(1.0, 1),
    ))
    .await;
    let flip = set_faults_when(&sim, after_faults(1), Faults::none());
    let api = client(&sim);

    let got = api.list_snapshots(Some(12345)).await.unwrap();
    assert_eq!(got.len(), 2);
    flip.await.unwrap();

    let log = requests_to(&sim, Endpoint::SnapshotsList);
    assert_eq!(statuses(&log), [429, 200]);
    assert_eq!(log[0].fault, Some(InjectedFault::RateLimit));
    let waited = (log[1].at - log[0].at).to_std().unwrap();
    // Retry-After: 1 s; the backoff here is milliseconds, so the header is
    // what made it wait (a little slack for clock granularity).
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(api.stats().retries(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let spec = FaultSpec::none().with_errors(0.5, 503);
    let sim = start(SimConfig {
        rng_seed: RNG_SEED,
        ..sim_config(
            Seed::docs_example(),
            only(Endpoint::SnapshotsList, spec.clone()),
        )
    })
    .await;
    let api = client(&sim);

    let got = api.list_snapshots(None).await.unwrap();
    assert_eq!(got.len(), 2);
    let log = requests_to(&sim, Endpoint::SnapshotsList);
    let codes = statuses(&log);
    assert!(codes.len() >= 2 && codes[0] == 503, "{codes:?}");
    assert_eq!(codes.last(), Some(&200), "{codes:?}");
    assert!(codes[..codes.len() - 1].iter().all(|&c| c == 503));
    sim.shutdown().await;

    // A create answered 503 may have been applied by the backend behind a
    // proxy: it is not sent again blind; the caller is told it may exist.
    let sim = start(SimConfig {
        rng_seed: RNG_SEED,
        ..sim_config(
            Seed::docs_example(),
            only(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_errors(1.0, 503),
            ),
        )
    })
    .await;
    let api = client(&sim);
    let err = api
        .create_snapshot(12346, "after-503", None)
        .await
        .unwrap_err();
    assert!(err.may_have_applied(), "{err:?}");
    assert_eq!(
        statuses(&requests_to(&sim, Endpoint::SnapshotsCreate)),
        [503]
    );
    assert!(requests_to(&sim, Endpoint::SnapshotsList).is_empty());
    sim.shutdown().await;

    // A 429 proves nothing was done: that create is sent again.
    let sim = start(SimConfig {
        rng_seed: RNG_SEED,
        ..sim_config(
            Seed::docs_example(),
            only(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_rate_limit(0.5, 0),
            ),
        )
    })
    .await;
    let api = client(&sim);
    let created = api.create_snapshot(12346, "after-429", None).await.unwrap();
    let posts = statuses(&requests_to(&sim, Endpoint::SnapshotsCreate));
    assert!(posts.len() >= 2 && posts[0] == 429, "{posts:?}");
    assert_eq!(posts.last(), Some(&201), "{posts:?}");
    let held = sim.snapshots(Some(12346));
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].id, created.id);
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_give_up_after_max_retries() {
    let sim = start_docs(only(
        Endpoint::BackupsList,
        FaultSpec::none().with_errors(1.0, 502),
    ))
    .await;
    let mut settings = fast_settings(sim.base_url(), sim.token());
    settings.max_retries = 3;
    let api = Client::new(settings).unwrap();
    let err = api.list_backups(None, None).await.unwrap_err();
    match &err {
        ApiError::Server { status, detail, .. } => {
            assert_eq!(*status, 502);
            assert!(detail.contains("502 Bad Gateway"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        statuses(&requests_to(&sim, Endpoint::BackupsList)),
        [502; 4],
        "first attempt + 3 retries"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_that_may_have_landed_is_never_sent_again() {
    // Every answer of the create endpoint is lost: the work is done, but the
    // client never hears. It must not POST again (the rotation job looks for
    // the item in its lists instead); one POST, one snapshot.
    let sim = start_docs(only(
        Endpoint::SnapshotsCreate,
        FaultSpec::none().with_lost_responses(1.0),
    ))
    .await;
    let api = client(&sim);
    let err = api
        .create_snapshot(12346, "lost-answer", Some("d"))
        .await
        .unwrap_err();
    assert!(err.may_have_applied(), "{err:?}");
    let named: Vec<_> = sim
        .snapshots(None)
        .into_iter()
        .filter(|s| s.name == "lost-answer")
        .collect();
    assert_eq!(named.len(), 1, "exactly one snapshot with that name");
    let posts = requests_to(&sim, Endpoint::SnapshotsCreate);
    assert_eq!(faults_of(&posts), [Some(InjectedFault::LostResponse)]);

    // The same for a backup.
    sim.clear_requests();
    sim.set_faults(only(
        Endpoint::BackupsCreate,
        FaultSpec::none().with_lost_responses(1.0),
    ));
    let err = api
        .create_backup(12346, "snapkeep: lost answer")
        .await
        .unwrap_err();
    assert!(err.may_have_applied(), "{err:?}");
    let posts = requests_to(&sim, Endpoint::BackupsCreate);
    assert_eq!(faults_of(&posts), [Some(InjectedFault::LostResponse)]);
    assert_eq!(
        sim.backups(None)
            .into_iter()
            .filter(|b| b.description == "snapkeep: lost answer")
            .count(),
        1
    );

    // A garbled 201 (work done, body cut in half) is no different.
    sim.clear_requests();
    sim.set_faults(only(
        Endpoint::SnapshotsCreate,
        FaultSpec::none().with_malformed(1.0),
    ));
    let err = api
        .create_snapshot(12347, "garbled", None)
        .await
        .unwrap_err();
    assert!(err.may_have_applied(), "{err:?}");
    assert_eq!(sim.snapshots(Some(12347)).len(), 1);
    let posts = requests_to(&sim, Endpoint::SnapshotsCreate);
    assert_eq!(faults_of(&posts), [Some(InjectedFault::Malformed)]);

    // A connection that was never made carried nothing: that is retried.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut settings = fast_settings(format!("http://{addr}/api/v1"), sim.token());
    settings.max_retries = 1;
    let err = Client::new(settings)
        .unwrap()
        .create_snapshot(1, "nowhere", None)
        .await
        .unwrap_err();
    assert!(!err.may_have_applied(), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn retried_delete_after_a_lost_response_reports_success() {
    let sim = start_docs(only(
        Endpoint::SnapshotsDelete,
        FaultSpec::none().with_lost_responses(1.0),
    ))
    .await;
    let _flip = set_faults_when(&sim, after_faults(1), Faults::none());
    let api = patient_client(&sim);
    api.delete_snapshot(801).await.unwrap();
    assert!(sim.snapshots(None).iter().all(|s| s.id != 801));
    let deletes = requests_to(&sim, Endpoint::SnapshotsDelete);
    assert_eq!(statuses(&deletes), [204, 404]);
    assert_eq!(
        faults_of(&deletes),
        [Some(InjectedFault::LostResponse), None]
    );
    assert!(deletes.iter().all(|r| r.path == "/api/v1/snapshots/801/"));

    // The same for a backup.
    sim.clear_requests();
    sim.set_faults(only(
        Endpoint::BackupsDelete,
        FaultSpec::none().with_lost_responses(1.0),
    ));
    let _flip = set_faults_when(&sim, after_faults(1), Faults::none());
    api.delete_backup(499).await.unwrap();
    assert!(sim.backups(None).iter().all(|b| b.id != 499));
    let deletes = requests_to(&sim, Endpoint::BackupsDelete);
    assert_eq!(statuses(&deletes), [204, 404]);
    assert_eq!(
        faults_of(&deletes),
        [Some(InjectedFault::LostResponse), None]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn delete_of_an_unknown_id_is_not_found_at_once() {
    let sim = start_docs(Faults::none()).await;
    let api = client(&sim);
    let err = api.delete_snapshot(424_242).await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("404"), "{err}");
    let err = api.delete_backup(424_242).await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert_eq!(statuses(&sim.requests()), [404, 404]);
    assert_eq!(api.stats().retries(), 0);
    assert_eq!(sim.snapshots(None).len(), 2);
    assert_eq!(sim.backups(None).len(), 3);

    // A 429 is known not to have been applied, so a 404 after it still
    // means "never existed", not "an earlier attempt landed".
    sim.clear_requests();
    sim.set_faults(only(
        Endpoint::SnapshotsDelete,
        FaultSpec::none().with_rate_limit(1.0, 0),
    ));
    let _flip = set_faults_when(&sim, after_faults(1), Faults::none());
    let err = patient_client(&sim)
        .delete_snapshot(424_242)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert_eq!(statuses(&sim.requests()), [429, 404]);
    sim.shutdown().await;
}

#[tokio::test]
async fn limit_reached_is_a_typed_rejection_and_not_retried() {
    let sim = start(sim_config(Seed::fleet(1), Faults::none())).await;
    let api = client(&sim);

    for i in 0..5 {
        api.create_snapshot(1, &format!("s-{i}"), None)
            .await
            .unwrap();
    }
    let err = api.create_snapshot(1, "s-5", None).await.unwrap_err();
    assert!(matches!(err, ApiError::Rejected { .. }), "{err:?}");
    assert!(err.is_limit_reached(), "{err}");
    assert!(!err.is_temporary());
    let text = err.to_string();
    assert!(text.contains("400"), "{text}");
    assert!(
        text.contains("Snapshot limit reached (5 per server)"),
        "{text}"
    );
    assert_eq!(
        statuses(&requests_to(&sim, Endpoint::SnapshotsCreate)),
        [201, 201, 201, 201, 201, 400],
        "one POST for the refused create"
    );
    assert!(requests_to(&sim, Endpoint::SnapshotsList).is_empty());
    assert_eq!(sim.snapshots(Some(1)).len(), 5);

    for i in 0..10 {
        api.create_backup(1, &format!("b-{i}")).await.unwrap();
    }
    let err = api.create_backup(1, "b-10").await.unwrap_err();
    assert!(err.is_limit_reached(), "{err:?}");
    assert!(
        err.to_string().contains("Manual backup limit reached"),
        "{err}"
    );
    assert_eq!(requests_to(&sim, Endpoint::BackupsCreate).len(), 11);
    assert_eq!(sim.backups(Some(1)).len(), 10);

    // Other 400s are rejections too, but not "limit reached".
    let err = api.create_snapshot(1, "bad name!", None).await.unwrap_err();
    assert!(matches!(err, ApiError::Rejected { .. }), "{err:?}");
    assert!(!err.is_limit_reached(), "{err}");
    assert_eq!(api.stats().retries(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_list_body_is_retried_then_succeeds() {
    let sim = start_docs(only(
        Endpoint::BackupsList,
        FaultSpec::none().with_malformed(1.0),
    ))
    .await;
    let _flip = set_faults_when(&sim, after_faults(1), Faults::none());
    let api = patient_client(&sim);
    let got = api.list_backups(Some(12345), None).await.unwrap();
    assert_eq!(got.len(), 3);
    let log = requests_to(&sim, Endpoint::BackupsList);
    assert_eq!(statuses(&log), [200, 200]);
    assert_eq!(faults_of(&log), [Some(InjectedFault::Malformed), None]);

    // Same with a rate below 1 and a fixed seed, on a paged list.
    let sim = start(SimConfig {
        rng_seed: RNG_SEED,
        ..sim_config(
            Seed::docs_example(),
            only(Endpoint::BackupsList, FaultSpec::none().with_malformed(0.5)).with_page_size(1),
        )
    })
    .await;
    let api = client(&sim);
    let got = api.list_backups(None, None).await.unwrap();
    let ids: BTreeSet<u64> = got.iter().map(|b| b.id).collect();
    assert_eq!(ids, BTreeSet::from([495, 499, 501]));
    assert_eq!(got.len(), 3);
    let log = requests_to(&sim, Endpoint::BackupsList);
    let garbled = log
        .iter()
        .filter(|r| r.fault == Some(InjectedFault::Malformed))
        .count();
    assert!(garbled >= 1, "{log:#?}");
    assert_eq!(log.len(), 3 + garbled, "each garbled page fetched again");
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------
// Pagination links to another origin
// ---------------------------------------------------------------------------

/// A one-route API on 127.0.0.1 whose first snapshots page links `next` to
/// a chosen URL; `page=2` is a last page. Records each request's URI and
/// whether it carried a bearer token.
struct LinkServer {
    addr: SocketAddr,
    next: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl LinkServer {
    async fn start() -> LinkServer {
        use axum::response::IntoResponse;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let next = Arc::new(Mutex::new(String::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (next2, seen2) = (Arc::clone(&next), Arc::clone(&seen));
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (next, seen) = (Arc::clone(&next2), Arc::clone(&seen2));
            async move {
                let uri = req.uri().to_string();
                let authed = req
                    .headers()
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
                seen.lock().unwrap().push(format!("{uri} authed={authed}"));
                let item = |id: u64| {
                    serde_json::json!({
                        "id": id, "server": {"id": 1, "name": "a"}, "name": format!("s{id}"),
                        "status": "completed", "size_mb": 1,
                        "created_at": "2025-01-15T18:30:00Z", "description": ""
                    })
                };
                let body = if uri.contains("page=2") {
                    serde_json::json!({"count": 2, "next": null, "results": [item(2)]})
                } else {
                    let next = next.lock().unwrap().clone();
                    serde_json::json!({"count": 2, "next": next, "results": [item(1)]})
                };
                axum::Json(body).into_response()
            }
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        LinkServer { addr, next, seen }
    }

    fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    fn link_next_to(&self, next: &str) {
        *self.next.lock().unwrap() = next.to_owned();
        self.seen.lock().unwrap().clear();
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A listener that only counts connections: where a token must never go.
async fn trap(ip: &str) -> (SocketAddr, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            *counter.lock().unwrap() += 1;
            drop(conn);
        }
    });
    (addr, hits)
}

#[tokio::test]
async fn next_link_to_another_origin_is_refused() {
    let server = LinkServer::start().await;
    let (other_ip, other_ip_hits) = trap("127.0.0.2").await;
    let (other_port, other_port_hits) = trap("127.0.0.1").await;
    let api = Client::new(fast_settings(server.base_url(), "link-token")).unwrap();
    let here = server.addr;

    // Same origin (relative or absolute): followed, with the token.
    for next in [
        "/api/v1/snapshots/?page=2".to_owned(),
        format!("http://{here}/api/v1/snapshots/?page=2"),
    ] {
        server.link_next_to(&next);
        let got = api.list_snapshots(None).await.unwrap();
        let ids: Vec<u64> = got.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 2], "{next}");
        assert_eq!(
            server.seen(),
            [
                "/api/v1/snapshots/ authed=true",
                "/api/v1/snapshots/?page=2 authed=true"
            ]
        );
    }

    // Another host, another port, another scheme, sneaky spellings.
    let foreign = [
        format!("http://{other_ip}/api/v1/snapshots/?page=2"),
        format!("http://127.0.0.2:{}/api/v1/snapshots/?page=2", here.port()),
        format!("http://{other_port}/api/v1/snapshots/?page=2"),
        format!("https://{here}/api/v1/snapshots/?page=2"),
        format!("//{other_ip}/api/v1/snapshots/?page=2"),
        format!("http://{here}@{other_ip}/api/v1/snapshots/?page=2"),
        format!("http://localhost:{}/api/v1/snapshots/?page=2", here.port()),
    ];
    for next in &foreign {
        server.link_next_to(next);
        let err = api.list_snapshots(None).await.unwrap_err();
        assert!(
            matches!(err, ApiError::ForeignLink { .. }),
            "{next}: {err:?}"
        );
        assert!(!err.is_temporary());
        assert!(err.to_string().contains("another origin"), "{err}");
        assert_eq!(
            server.seen(),
            ["/api/v1/snapshots/ authed=true"],
            "{next}: first page only, no retry"
        );
    }
    assert_eq!(*other_ip_hits.lock().unwrap(), 0, "never connected");
    assert_eq!(*other_port_hits.lock().unwrap(), 0, "never connected");

    // A link back to a page already fetched ends the list instead of looping.
    server.link_next_to(&format!("http://{here}/api/v1/snapshots/"));
    let err = api.list_snapshots(None).await.unwrap_err();
    assert!(err.to_string().contains("loops back"), "{err}");
    assert_eq!(server.seen().len(), 1);
}

// ---------------------------------------------------------------------------
// The token never leaks
// ---------------------------------------------------------------------------

/// Drives the client through success and every failure class with canary
/// tokens and a TRACE subscriber on this thread (the current-thread runtime
/// runs the simulator's tasks here too), then looks for the canaries in
/// the logs, every error's Display and Debug, and the client's Debug.
#[tokio::test]
async fn canary_token_never_leaks() {
    const CANARY: &str = "CANARY-tok-93f1c0de55aa";
    const WRONG_CANARY: &str = "CANARY-wrong-77be01d3";
    let logs = crate::telemetry::capture::CapturedLogs::on_this_thread(tracing::Level::TRACE);

    let sim = start(SimConfig {
        token: CANARY.to_owned(),
        ..sim_config(Seed::docs_example(), Faults::none())
    })
    .await;
    let mut settings = fast_settings(sim.base_url(), CANARY);
    settings.max_retries = 2;
    let api = Client::new(settings.clone()).unwrap();
    let mut errors: Vec<ApiError> = Vec::new();

    succeed_on_every_endpoint(&api).await;

    // 401 with a wrong (canary) token.
    let wrong = Client::new(fast_settings(sim.base_url(), WRONG_CANARY)).unwrap();
    errors.push(wrong.list_snapshots(None).await.unwrap_err());
    errors.push(wrong.create_backup(12345, "x").await.unwrap_err());
    // 404 and 400.
    errors.push(api.delete_snapshot(424_242).await.unwrap_err());
    errors.push(
        api.create_snapshot(12346, "bad name!", None)
            .await
            .unwrap_err(),
    );

    errors.extend(fail_by_injected_faults(&sim, &api).await);
    errors.push(lose_deletes(&sim, &settings, &api).await);
    // Nobody listening.
    let nowhere = Client::new(fast_settings("http://127.0.0.1:1/api/v1".into(), CANARY)).unwrap();
    errors.push(nowhere.list_backups(None, None).await.unwrap_err());

    let kinds: BTreeSet<&str> = errors.iter().map(ApiError::kind).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "unauthorized",
            "not_found",
            "rejected",
            "rate_limited",
            "server_error",
            "transport",
            "decode",
        ])
    );
    for err in &errors {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(CANARY), "{text}");
            assert!(!text.contains(WRONG_CANARY), "{text}");
            assert!(!text.contains("CANARY"), "{text}");
        }
    }
    for text in [
        format!("{api:?}"),
        format!("{wrong:?}"),
        format!("{settings:?}"),
        format!("{:?}", api.stats()),
    ] {
        assert!(!text.contains("CANARY"), "{text}");
    }

    let captured = logs.text();
    // The subscriber really saw the client's events, at every level used.
    assert!(captured.contains("API call"), "{captured}");
    assert!(captured.contains("retrying"), "{captured}");
    assert!(captured.contains("already gone"), "{captured}");
    assert!(!captured.contains(CANARY), "canary token in the logs");
    assert!(!captured.contains(WRONG_CANARY), "wrong canary in the logs");
    assert!(!captured.contains("CANARY"), "canary in the logs");
    sim.shutdown().await;
}

/// Step of [`canary_token_never_leaks`]: every endpoint once, succeeding.
async fn succeed_on_every_endpoint(api: &Client) {
    api.list_snapshots(None).await.unwrap();
    let snap = api.create_snapshot(12346, "canary", None).await.unwrap();
    api.list_backups(Some(12345), Some(BackupType::Manual))
        .await
        .unwrap();
    let backup = api.create_backup(12347, "canary backup").await.unwrap();
    tokio::time::sleep(COMPLETE_AFTER * 2).await;
    api.restore_snapshot(801).await.unwrap();
    api.restore_backup(12347, backup.id).await.unwrap();
    api.delete_snapshot(snap.id).await.unwrap();
}

/// Step of [`canary_token_never_leaks`]: the errors of injected faults,
/// each until the retries run out, and of creates whose answers are lost.
async fn fail_by_injected_faults(sim: &Simulator, api: &Client) -> Vec<ApiError> {
    let mut errors = Vec::new();
    // Injected faults, each until the retries run out.
    let cases = [
        (
            Endpoint::SnapshotsList,
            FaultSpec::none().with_rate_limit(1.0, 0),
        ),
        (
            Endpoint::BackupsList,
            FaultSpec::none().with_errors(1.0, 503),
        ),
        (
            Endpoint::BackupsList,
            FaultSpec::none().with_errors(1.0, 500),
        ),
        (
            Endpoint::SnapshotsList,
            FaultSpec::none().with_lost_responses(1.0),
        ),
        (
            Endpoint::SnapshotsList,
            FaultSpec::none().with_malformed(1.0),
        ),
    ];
    for (endpoint, spec) in cases {
        sim.set_faults(only(endpoint, spec));
        let err = match endpoint {
            Endpoint::SnapshotsList => api.list_snapshots(Some(12346)).await.unwrap_err(),
            _ => api.list_backups(None, None).await.unwrap_err(),
        };
        errors.push(err);
    }
    // Lost answers: the creates come back as "may have landed" errors.
    sim.set_faults(
        Faults::none()
            .with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_lost_responses(1.0),
            )
            .with_endpoint(
                Endpoint::BackupsCreate,
                FaultSpec::none().with_malformed(1.0),
            ),
    );
    errors.push(
        api.create_snapshot(12348, "canary-lost", None)
            .await
            .unwrap_err(),
    );
    errors.push(
        api.create_backup(12348, "canary garbled")
            .await
            .unwrap_err(),
    );
    errors
}

/// Step of [`canary_token_never_leaks`]: a lost DELETE whose retry finds
/// the item gone (no error), then the error of one whose answers are all
/// lost.
async fn lose_deletes(sim: &Simulator, settings: &ClientSettings, api: &Client) -> ApiError {
    sim.clear_requests();
    sim.set_faults(only(
        Endpoint::SnapshotsDelete,
        FaultSpec::none().with_lost_responses(1.0),
    ));
    let _flip = set_faults_when(sim, after_faults(1), Faults::none());
    let mut patient = settings.clone();
    patient.min_backoff = Duration::from_millis(50);
    patient.max_backoff = Duration::from_millis(100);
    Client::new(patient)
        .unwrap()
        .delete_snapshot(798)
        .await
        .unwrap();
    // And one whose answers are all lost.
    sim.set_faults(only(
        Endpoint::BackupsDelete,
        FaultSpec::none().with_lost_responses(1.0),
    ));
    api.delete_backup(495).await.unwrap_err()
}

/// Listing every page (pages after the first fetched concurrently) and filtering page by page.
mod paging {
    // The client against the embedded simulator: listing every page (pages
    // after the first fetched concurrently), filtering page by page.

    use std::sync::Arc;
    use std::time::Duration;

    use crate::api::*;
    use snapkeep_sim::{FaultSpec, Faults, Seed, SimConfig, SimStatus, Simulator};

    /// Long enough that pages fetched one after another could not overlap.
    const LATENCY: Duration = Duration::from_millis(200);

    async fn sim_with(snapshots: u64, page_size: usize) -> Simulator {
        let seed = (0..snapshots).fold(Seed::fleet(4), |seed, i| {
            seed.snapshot(
                i % 4 + 1,
                format!("s{i}"),
                Duration::from_secs(60 * (i + 1)),
                SimStatus::Completed,
            )
        });
        Simulator::start(
            "127.0.0.1:0".parse().unwrap(),
            SimConfig {
                seed,
                faults: Faults::none()
                    .with_page_size(page_size)
                    .with_global(FaultSpec::none().with_latency(LATENCY)),
                ..SimConfig::default()
            },
        )
        .await
        .unwrap()
    }

    fn client(sim: &Simulator, max_concurrency: usize) -> Client {
        let mut settings = ClientSettings::new(sim.base_url(), ApiToken::new(sim.token()));
        settings.requests_per_second = 0.0;
        settings.max_concurrency = max_concurrency;
        Client::new(settings).unwrap()
    }

    #[tokio::test]
    async fn lists_every_page_once_fetching_the_rest_concurrently() {
        let sim = sim_with(23, 3).await;
        let mut ids: Vec<u64> = client(&sim, 8)
            .list_snapshots(None)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        let want: Vec<u64> = sim.snapshots(None).iter().map(|s| s.id).collect();
        assert_eq!(ids, want);
        let requests = sim.requests();
        let pages: Vec<String> = requests.iter().map(|r| r.query.clone()).collect();
        assert_eq!(pages.len(), 8, "{pages:?}");
        assert_eq!(pages.iter().filter(|q| q.is_empty()).count(), 1);
        for n in 2..=8 {
            assert!(pages.contains(&format!("page={n}")), "{pages:?}");
        }
        // Pages 2..8 all arrived while the first of them was still being
        // answered; one after another they would be LATENCY apart.
        let arrivals: Vec<_> = requests
            .iter()
            .filter(|r| !r.query.is_empty())
            .map(|r| r.at)
            .collect();
        let spread = *arrivals.iter().max().unwrap() - *arrivals.iter().min().unwrap();
        assert!(spread.to_std().unwrap() < LATENCY, "{spread:?}");
    }

    #[tokio::test]
    async fn a_filter_keeps_what_it_accepts_from_every_page() {
        let sim = sim_with(20, 3).await;
        let keep: Keep<Snapshot> = Some(Arc::new(|s: &Snapshot| s.server.id == 2));
        let got = client(&sim, 4)
            .list_snapshots_where(None, keep)
            .await
            .unwrap();
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|s| s.server.id == 2));
    }

    #[tokio::test]
    async fn one_page_and_filtered_lists_stay_single_requests() {
        let sim = sim_with(6, 50).await;
        let c = client(&sim, 4);
        assert_eq!(c.list_snapshots(None).await.unwrap().len(), 6);
        assert_eq!(c.list_snapshots(Some(3)).await.unwrap().len(), 1);
        let queries: Vec<String> = sim.requests().iter().map(|r| r.query.clone()).collect();
        assert_eq!(queries, ["", "server_id=3"]);
    }
}

#[test]
fn a_token_that_cannot_be_a_header_is_a_setup_error_that_does_not_echo_it() {
    let settings = fast_settings("http://127.0.0.1:9/api/v1".into(), "tok\nen-SECRET");
    let err = Client::with_stats(settings, Arc::default()).unwrap_err();
    assert!(matches!(err, super::SetupError::TokenNotAHeader), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not allowed in an HTTP header"), "{text}");
    assert!(!text.contains("SECRET") && !format!("{err:?}").contains("SECRET"));
}

//! HTTP tests of the simulator through a raw reqwest client: the docs'
//! examples, the caps, lifecycles, pagination, every fault, seeds and the
//! request log, each against its own simulator on `127.0.0.1:0`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::*;

/// Short enough for fast tests, long enough that "still in progress right
/// after the create" holds on a loaded CI machine.
const FAST: Duration = Duration::from_millis(150);

fn fast_config() -> SimConfig {
    SimConfig {
        complete_after: FAST,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("simulator starts")
}

async fn settle() {
    tokio::time::sleep(FAST * 2).await;
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Api {
    fn new(sim: &Simulator) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: sim.base_url(),
            token: sim.token().to_owned(),
        }
    }

    async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    async fn get(&self, path: &str) -> Reply {
        self.try_send(Method::GET, path, None).await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.try_send(Method::POST, path, Some(body)).await.unwrap()
    }

    async fn delete(&self, path: &str) -> Reply {
        self.try_send(Method::DELETE, path, None).await.unwrap()
    }

    async fn create_snapshot(&self, server_id: u64, name: &str) -> Reply {
        self.post(
            "/snapshots/",
            json!({"server_id": server_id, "name": name, "description": "test"}),
        )
        .await
    }

    async fn create_backup(&self, server_id: u64) -> Reply {
        self.post(
            "/backups/",
            json!({"server_id": server_id, "description": "test"}),
        )
        .await
    }

    /// Every result of a list, following `next`.
    async fn list_all(&self, path: &str) -> (Vec<Value>, usize) {
        let mut results = Vec::new();
        let mut pages = 0;
        let mut url = path.to_owned();
        loop {
            let reply = self.get(&url).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            let page = reply.json();
            pages += 1;
            results.extend(page["results"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => url = next.to_owned(),
                None => return (results, pages),
            }
        }
    }
}

fn ids(results: &[Value]) -> Vec<u64> {
    results.iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn lists_the_docs_examples_in_the_docs_shape() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);

    let reply = api.get("/snapshots/?server_id=12345").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body = reply.json();
    assert_eq!(keys(&body), ["count", "next", "previous", "results"].into());
    assert_eq!(body["count"], 2);
    assert_eq!(body["next"], Value::Null);
    assert_eq!(body["previous"], Value::Null);
    let results = body["results"].as_array().unwrap();
    let mut got = ids(results);
    got.sort();
    assert_eq!(got, [798, 801]);
    let s801 = results.iter().find(|r| r["id"] == 801).unwrap();
    assert_eq!(
        *s801,
        json!({
            "id": 801,
            "server": {"id": 12345, "name": "web-server-01"},
            "name": "pre-migration-snapshot",
            "status": "completed",
            "size_mb": 5120,
            "created_at": "2025-01-15T18:30:00Z",
            "description": "Before major migration"
        })
    );

    let body = api.get("/backups/").await.json();
    assert_eq!(body["count"], 3);
    let results = body["results"].as_array().unwrap();
    let b501 = results.iter().find(|r| r["id"] == 501).unwrap();
    assert_eq!(
        *b501,
        json!({
            "id": 501,
            "server": {"id": 12345, "name": "web-server-01"},
            "backup_type": "automatic",
            "status": "completed",
            "size_mb": 4523,
            "created_at": "2025-01-16T03:00:00Z",
            "expires_at": "2025-02-16T03:00:00Z",
            "description": "Automatic daily backup"
        })
    );
    let b499 = results.iter().find(|r| r["id"] == 499).unwrap();
    assert_eq!(b499["expires_at"], Value::Null);
    assert_eq!(b499["backup_type"], "manual");

    let manual = api.get("/backups/?backup_type=manual").await.json();
    assert_eq!(ids(manual["results"].as_array().unwrap()), [499]);
    let auto = api
        .get("/backups/?server_id=12345&backup_type=automatic")
        .await
        .json();
    assert_eq!(auto["count"], 2);
    let empty = api.get("/snapshots/?server_id=12346").await.json();
    assert_eq!(
        (empty["count"].clone(), empty["results"].clone()),
        (json!(0), json!([]))
    );
    assert_eq!(
        api.get("/snapshots/?server_id=99999").await.json()["count"],
        0
    );

    let bad = api.get("/snapshots/?server_id=abc").await;
    assert_eq!(bad.status, 400);
    assert!(bad.detail().contains("server_id"), "{bad:?}");
    assert_eq!(api.get("/backups/?backup_type=weekly").await.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn results_come_in_a_stable_order_that_is_not_sorted() {
    let seed = (0..12).fold(Seed::fleet(3), |seed, i| {
        seed.snapshot(
            i % 3 + 1,
            format!("s{i}"),
            Duration::from_secs(3600 * i),
            SimStatus::Completed,
        )
    });
    let sim = start(SimConfig {
        seed,
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let first = ids(api.get("/snapshots/").await.json()["results"]
        .as_array()
        .unwrap());
    let again = ids(api.get("/snapshots/").await.json()["results"]
        .as_array()
        .unwrap());
    assert_eq!(first, again);
    assert!(first.windows(2).any(|w| w[0] > w[1]), "{first:?}");
    assert!(first.windows(2).any(|w| w[0] < w[1]), "{first:?}");
}

#[tokio::test]
async fn creates_answer_201_in_progress_then_complete() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    let before = Utc::now() - chrono::TimeDelta::seconds(1);

    let reply = api
        .post(
            "/snapshots/",
            json!({"server_id": 12345, "name": "before-update-snapshot",
                   "description": "Snapshot before system update"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let s = reply.json();
    assert_eq!(
        keys(&s),
        [
            "id",
            "server",
            "name",
            "status",
            "size_mb",
            "created_at",
            "description",
            "message"
        ]
        .into()
    );
    assert_eq!(s["id"], 802);
    assert_eq!(s["server"], json!({"id": 12345, "name": "web-server-01"}));
    assert_eq!(s["status"], "in_progress");
    assert_eq!(s["size_mb"], Value::Null);
    assert_eq!(
        s["message"],
        "Snapshot is being created. This may take 3-10 minutes depending on server size."
    );
    let created: DateTime<Utc> = s["created_at"].as_str().unwrap().parse().unwrap();
    assert!(created >= before && created <= Utc::now());
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'));

    let reply = api
        .post(
            "/backups/",
            json!({"server_id": 12345, "description": "Pre-deployment backup"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let b = reply.json();
    assert_eq!(b["id"], 502);
    assert_eq!(b["backup_type"], "manual");
    assert_eq!(b["status"], "in_progress");
    assert_eq!(b["size_mb"], Value::Null);
    assert_eq!(b["expires_at"], Value::Null);
    assert_eq!(b["description"], "Pre-deployment backup");
    assert_eq!(
        b["message"],
        "Backup is being created. This may take several minutes depending on server size."
    );
    assert!(b.get("name").is_none());

    // Still in progress right away, completed (with a size) after complete_after.
    let listed = api.get("/snapshots/?server_id=12345").await.json();
    let mine = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 802)
        .unwrap()
        .clone();
    assert_eq!(mine["status"], "in_progress");
    assert!(mine.get("message").is_none());
    settle().await;
    let listed = api.get("/snapshots/?server_id=12345").await.json();
    let mine = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 802)
        .unwrap()
        .clone();
    assert_eq!(mine["status"], "completed");
    assert!(mine["size_mb"].as_u64().unwrap() > 0);
    let backup = sim
        .backups(Some(12345))
        .into_iter()
        .find(|b| b.id == 502)
        .unwrap();
    assert_eq!(backup.status, SimStatus::Completed);
    assert!(backup.size_mb.is_some());
}

#[tokio::test]
async fn the_sixth_snapshot_is_refused() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    for i in 0..3 {
        assert_eq!(
            api.create_snapshot(12345, &format!("s{i}")).await.status,
            201
        );
    }
    let reply = api.create_snapshot(12345, "s6").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.detail(),
        "Snapshot limit reached (5 per server). Delete an existing snapshot first."
    );
    // In-progress snapshots count; deleting one makes room.
    assert_eq!(api.delete("/snapshots/801/").await.status, 204);
    assert_eq!(api.create_snapshot(12345, "again").await.status, 201);
    assert_eq!(sim.snapshots(Some(12345)).len(), 5);
    assert_eq!(sim.max_snapshots_seen(12345), 5);
}

#[tokio::test]
async fn the_eleventh_manual_backup_is_refused_automatic_ones_do_not_count() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    // 12345 starts with 1 manual and 2 automatic backups.
    for _ in 0..9 {
        assert_eq!(api.create_backup(12345).await.status, 201);
    }
    let reply = api.create_backup(12345).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.detail(),
        "Manual backup limit reached (10 per server). Delete an existing manual backup first."
    );
    assert_eq!(sim.backups(Some(12345)).len(), 12);
    assert_eq!(sim.max_manual_backups_seen(12345), 10);
    assert_eq!(api.create_backup(12346).await.status, 201);
}

#[tokio::test]
async fn creates_validate_like_the_docs_say() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    let cases = [
        (json!({"name": "ok"}), 400, "server_id is required."),
        (
            json!({"server_id": "12345", "name": "ok"}),
            400,
            "server_id must be an integer.",
        ),
        (
            json!({"server_id": 12345.5, "name": "ok"}),
            400,
            "server_id must be an integer.",
        ),
        (json!({"server_id": 12345}), 400, "name is required."),
        (
            json!({"server_id": 12345, "name": "has space"}),
            400,
            "name may contain only letters, digits, hyphens and underscores.",
        ),
        (
            json!({"server_id": 12345, "name": "dots.not.ok"}),
            400,
            "name may contain only letters, digits, hyphens and underscores.",
        ),
        (
            json!({"server_id": 12345, "name": ""}),
            400,
            "name may not be blank.",
        ),
        (
            json!({"server_id": 12345, "name": "ok", "description": 5}),
            400,
            "description must be a string.",
        ),
        (
            json!({"server_id": 1, "name": "ok"}),
            404,
            "Server not found.",
        ),
        (
            json!([1, 2]),
            400,
            "Invalid data. Expected a dictionary, but got list.",
        ),
    ];
    for (body, status, detail) in cases {
        let reply = api.post("/snapshots/", body.clone()).await;
        assert_eq!(
            (reply.status, reply.detail()),
            (status, detail.to_owned()),
            "{body}"
        );
    }
    let reply = api.post("/backups/", json!({"server_id": 777})).await;
    assert_eq!(
        (reply.status, reply.detail()),
        (404, "Server not found.".into())
    );
    assert_eq!(api.post("/backups/", json!({})).await.status, 400);

    // Not JSON at all.
    let raw = api
        .http
        .post(format!("{}/snapshots/", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let raw = api
        .http
        .post(format!("{}/snapshots/", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "text/plain")
        .body("server_id=12345")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 415);
    // Nothing was created by any of that.
    assert_eq!(sim.snapshots(None).len(), 2);
    assert_eq!(sim.backups(None).len(), 3);
}

#[tokio::test]
async fn deletes_answer_204_or_404() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    let reply = api.delete("/snapshots/798/").await;
    assert_eq!((reply.status, reply.text.as_str()), (204, ""));
    assert!(reply.headers.get("content-type").is_none());
    let reply = api.delete("/snapshots/798/").await;
    assert_eq!(
        (reply.status, reply.detail()),
        (404, "Not found.".to_owned())
    );
    assert_eq!(api.delete("/snapshots/abc/").await.status, 404);
    assert_eq!(api.delete("/backups/499/").await.status, 204);
    assert_eq!(api.delete("/backups/12345/").await.status, 404);
    let left: Vec<u64> = sim.snapshots(None).iter().map(|s| s.id).collect();
    assert_eq!(left, [801]);
    assert!(sim.backups(None).iter().all(|b| b.id != 499));
}

#[tokio::test]
async fn snapshot_restore_follows_the_docs() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    let reply = api.post("/snapshots/801/restore/", json!(null)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({
            "status": "success",
            "message": "Server is being restored from snapshot. This may take 5-15 minutes.",
            "snapshot": {"id": 801, "name": "pre-migration-snapshot",
                         "created_at": "2025-01-15T18:30:00Z"},
            "server": {"id": 12345, "name": "web-server-01", "status": "restoring"}
        })
    );
    assert_eq!(sim.servers()[0].status, "restoring");
    // A restoring server cannot be restored again...
    let reply = api.post("/snapshots/798/restore/", json!(null)).await;
    assert_eq!(
        (reply.status, reply.detail()),
        (
            400,
            "Server is not in a valid state for restoration.".into()
        )
    );
    // ...until it is running again.
    settle().await;
    assert_eq!(sim.servers()[0].status, "running");
    assert_eq!(
        api.post("/snapshots/798/restore/", json!(null))
            .await
            .status,
        200
    );

    // An in-progress snapshot cannot be restored; an unknown one is 404.
    let id = api.create_snapshot(12346, "fresh").await.json()["id"]
        .as_u64()
        .unwrap();
    let reply = api
        .post(&format!("/snapshots/{id}/restore/"), json!(null))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.detail().contains("in_progress"), "{reply:?}");
    assert_eq!(
        api.post("/snapshots/4242/restore/", json!(null))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn backup_restore_goes_through_the_servers_api() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    let reply = api
        .post("/servers/12345/restore/", json!({"backup_id": 501}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["status"], "success");
    assert_eq!(body["backup"]["id"], 501);
    assert_eq!(body["server"]["status"], "restoring");

    settle().await;
    let cases = [
        ("/servers/12346/restore/", json!({"backup_id": 501}), 404),
        ("/servers/1/restore/", json!({"backup_id": 501}), 404),
        ("/servers/12345/restore/", json!({}), 400),
        ("/servers/12345/restore/", json!({"backup_id": 9999}), 404),
    ];
    for (path, body, status) in cases {
        assert_eq!(
            api.post(path, body.clone()).await.status,
            status,
            "{path} {body}"
        );
    }
    let id = api.create_backup(12346).await.json()["id"]
        .as_u64()
        .unwrap();
    let reply = api
        .post("/servers/12346/restore/", json!({"backup_id": id}))
        .await;
    assert_eq!(reply.status, 400);
    settle().await;
    let reply = api
        .post("/servers/12346/restore/", json!({"backup_id": id}))
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn requests_without_the_right_token_get_401() {
    let sim = start(fast_config()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/snapshots/", sim.base_url());

    let reply = http.get(&url).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers()["www-authenticate"], "Bearer realm=\"api\"");
    let body: Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Authentication credentials were not provided."})
    );

    let reply = http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(reply.status(), 401);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Invalid token."}));

    let reply = http
        .post(&url)
        .header("authorization", "Token sim-token")
        .json(&json!({"server_id": 12345, "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(sim.snapshots(None).len(), 2);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_like_drf() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    // Every path ends with a slash; without it there is no such resource.
    assert_eq!(api.get("/snapshots").await.status, 404);
    assert_eq!(api.get("/snapshot/").await.status, 404);
    let reply = api
        .try_send(Method::PUT, "/snapshots/", None)
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.detail()),
        (405, "Method \"PUT\" not allowed.".into())
    );
    let recorded = sim.requests();
    assert_eq!(recorded.len(), 3);
    assert!(recorded.iter().all(|r| r.endpoint.is_none()));
}

#[tokio::test]
async fn pagination_follows_next_over_several_pages() {
    let seed = (0..14).fold(Seed::fleet(3), |seed, i| {
        seed.snapshot(
            i % 3 + 1,
            format!("s{i}"),
            Duration::from_secs(60 * i),
            SimStatus::Completed,
        )
    });
    let seed = (0..10).fold(seed, |seed, i| {
        seed.backup(
            1,
            BackupType::Manual,
            format!("b{i}"),
            Duration::from_secs(60 * i),
            SimStatus::Completed,
        )
    });
    let seed = seed.backup(
        1,
        BackupType::Automatic,
        "auto",
        Duration::from_secs(5),
        SimStatus::Completed,
    );
    let sim = start(SimConfig {
        seed,
        faults: Faults::none().with_page_size(4),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);

    let (all, pages) = api.list_all("/snapshots/").await;
    assert_eq!(pages, 4);
    let mut got = ids(&all);
    got.sort();
    let want: Vec<u64> = sim.snapshots(None).iter().map(|s| s.id).collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 14);

    let page2 = api.get("/snapshots/?page=2").await.json();
    assert_eq!(page2["count"], 14);
    let host = sim.addr().to_string();
    assert_eq!(
        page2["next"],
        format!("http://{host}/api/v1/snapshots/?page=3")
    );
    assert_eq!(
        page2["previous"],
        format!("http://{host}/api/v1/snapshots/")
    );
    let last = api.get("/snapshots/?page=4").await.json();
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["results"].as_array().unwrap().len(), 2);
    let reply = api.get("/snapshots/?page=5").await;
    assert_eq!(
        (reply.status, reply.detail()),
        (404, "Invalid page.".into())
    );

    // Filters survive in the links.
    let first = api
        .get("/backups/?server_id=1&backup_type=manual")
        .await
        .json();
    assert_eq!(first["count"], 10);
    assert_eq!(
        first["next"],
        format!("http://{host}/api/v1/backups/?server_id=1&backup_type=manual&page=2")
    );
    let (manual, pages) = api
        .list_all("/backups/?server_id=1&backup_type=manual")
        .await;
    assert_eq!((manual.len(), pages), (10, 3));
    assert!(manual.iter().all(|b| b["backup_type"] == "manual"));

    // Page size 0: one page.
    sim.set_faults(Faults::none().with_page_size(0));
    let (all, pages) = api.list_all("/snapshots/").await;
    assert_eq!((all.len(), pages), (14, 1));
}

#[tokio::test]
async fn error_faults_answer_with_the_status_and_change_nothing() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    sim.set_faults(Faults::none().with_global(FaultSpec::none().with_errors(1.0, 503)));
    let reply = api.create_snapshot(12345, "x").await;
    assert_eq!(reply.status, 503);
    assert!(reply.text.contains("503 Service Unavailable"), "{reply:?}");
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(api.delete("/snapshots/801/").await.status, 503);
    assert_eq!(sim.snapshots(None).len(), 2);

    sim.set_faults(Faults::none().with_global(FaultSpec::none().with_errors(1.0, 500)));
    let reply = api.get("/backups/").await;
    assert_eq!(reply.status, 500);
    assert!(reply.text.contains("Server Error (500)"));
    sim.set_faults(Faults::none().with_global(FaultSpec::none().with_errors(1.0, 418)));
    assert_eq!(api.get("/backups/").await.detail(), "I'm a teapot");

    let faults: Vec<Option<InjectedFault>> = sim.requests().iter().map(|r| r.fault).collect();
    assert!(faults.iter().all(|f| *f == Some(InjectedFault::Error)));

    // Auth is checked before faults.
    let reply = reqwest::get(format!("{}/backups/", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
}

#[tokio::test]
async fn rate_limit_faults_answer_429_with_retry_after() {
    let sim = start(SimConfig {
        faults: Faults::none().with_endpoint(
            Endpoint::SnapshotsCreate,
            FaultSpec::none().with_rate_limit(1.0, 7),
        ),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let reply = api.create_snapshot(12345, "x").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.headers["retry-after"], "7");
    assert_eq!(
        reply.detail(),
        "Request was throttled. Expected available in 7 seconds."
    );
    assert_eq!(sim.snapshots(None).len(), 2);
    // Other endpoints are untouched.
    assert_eq!(api.get("/snapshots/").await.status, 200);

    sim.set_faults(Faults::none().with_global(FaultSpec::none().with_rate_limit(1.0, 0)));
    let reply = api.get("/snapshots/").await;
    assert_eq!(reply.status, 429);
    assert!(reply.headers.get("retry-after").is_none());
}

#[tokio::test]
async fn latency_faults_delay_only_their_endpoint() {
    let sim = start(SimConfig {
        faults: Faults::none().with_endpoint(
            Endpoint::SnapshotsList,
            FaultSpec::none().with_latency(Duration::from_millis(150)),
        ),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    api.get("/backups/").await; // warm the connection
    let t = Instant::now();
    assert_eq!(api.get("/snapshots/").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(api.get("/backups/").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn a_lost_response_does_the_work_but_the_client_sees_a_transport_error() {
    let sim = start(SimConfig {
        faults: Faults::none().with_endpoint(
            Endpoint::SnapshotsCreate,
            FaultSpec::none().with_lost_responses(1.0),
        ),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    api.get("/snapshots/").await; // a pooled keep-alive connection exists

    let err = api
        .try_send(
            Method::POST,
            "/snapshots/",
            Some(json!({"server_id": 12345, "name": "lost-one"})),
        )
        .await
        .expect_err("the response must be lost");
    // hyper's IncompleteMessage: the connection closed before any response.
    assert!(err.is_request() && err.status().is_none(), "{err:?}");

    // The snapshot exists anyway, and the log knows what really happened.
    let lost: Vec<SimSnapshot> = sim
        .snapshots(Some(12345))
        .into_iter()
        .filter(|s| s.name == "lost-one")
        .collect();
    assert_eq!(lost.len(), 1);
    let last = sim.requests().pop().unwrap();
    assert_eq!(last.status, 201);
    assert_eq!(last.fault, Some(InjectedFault::LostResponse));
    assert_eq!(last.server_id, Some(12345));

    // The same client carries on over a fresh connection.
    let listed = api.get("/snapshots/?server_id=12345").await.json();
    assert_eq!(listed["count"], 3);

    // Lost deletes delete.
    sim.set_faults(Faults::none().with_global(FaultSpec::none().with_lost_responses(1.0)));
    assert!(
        api.try_send(Method::DELETE, "/snapshots/798/", None)
            .await
            .is_err()
    );
    sim.set_faults(Faults::none());
    assert_eq!(api.delete("/snapshots/798/").await.status, 404);
}

#[tokio::test]
async fn malformed_faults_cut_the_json_but_keep_the_effect() {
    let sim = start(SimConfig {
        faults: Faults::none().with_global(FaultSpec::none().with_malformed(1.0)),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let reply = api.get("/snapshots/").await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_str::<Value>(&reply.text).is_err());
    assert!(reply.text.starts_with("{\"count\""), "{reply:?}");

    let reply = api.create_snapshot(12345, "half").await;
    assert_eq!(reply.status, 201);
    assert!(serde_json::from_str::<Value>(&reply.text).is_err());
    assert_eq!(sim.snapshots(Some(12345)).len(), 3);
    // Errors and empty 204s are left alone.
    assert_eq!(
        api.create_snapshot(1, "x").await.detail(),
        "Server not found."
    );
    assert_eq!(api.delete("/snapshots/801/").await.status, 204);
    let faults: Vec<Option<InjectedFault>> = sim.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some(InjectedFault::Malformed),
            Some(InjectedFault::Malformed),
            None,
            None
        ]
    );
}

#[tokio::test]
async fn stuck_and_failing_creates_on_chosen_servers() {
    let sim = start(SimConfig {
        faults: Faults::none()
            .with_fail_creates()
            .with_only_servers([12346]),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let failing = api.create_snapshot(12346, "doomed").await.json()["id"].clone();
    let fine = api.create_snapshot(12347, "fine").await.json()["id"].clone();
    let failing_backup = api.create_backup(12346).await.json()["id"].clone();
    sim.set_faults(Faults::none().with_stuck_in_progress());
    let stuck = api.create_snapshot(12347, "stuck").await.json()["id"].clone();
    // Faults decided at create time stay with the item.
    sim.set_faults(Faults::none());
    settle().await;

    let (all, _) = api.list_all("/snapshots/").await;
    let status = |id: &Value| {
        all.iter().find(|s| s["id"] == *id).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status(&failing), "failed");
    assert_eq!(status(&fine), "completed");
    assert_eq!(status(&stuck), "in_progress");
    let failed = all.iter().find(|s| s["id"] == failing).unwrap();
    assert_eq!(failed["size_mb"], Value::Null);
    let backups = api.get("/backups/?server_id=12346").await.json();
    assert_eq!(backups["results"][0]["id"], failing_backup);
    assert_eq!(backups["results"][0]["status"], "failed");

    // A failed snapshot still takes a slot and cannot be restored.
    let reply = api
        .post(&format!("/snapshots/{failing}/restore/"), json!(null))
        .await;
    assert_eq!(reply.status, 400);

    // Tests can force any status, including ones the docs never mention.
    assert!(sim.set_snapshot_status(
        stuck.as_u64().unwrap(),
        SimStatus::Other("pending_deletion".into())
    ));
    let (all, _) = api.list_all("/snapshots/?server_id=12347").await;
    assert!(all.iter().any(|s| s["status"] == "pending_deletion"));
    assert!(!sim.set_backup_status(1, SimStatus::Failed));
}

#[tokio::test]
async fn fault_draws_are_reproducible_from_the_rng_seed() {
    async fn statuses(rng_seed: u64) -> Vec<u16> {
        let sim = start(SimConfig {
            rng_seed,
            faults: Faults::none().with_global(FaultSpec::none().with_errors(0.5, 502)),
            ..fast_config()
        })
        .await;
        let api = Api::new(&sim);
        let mut out = Vec::new();
        for _ in 0..24 {
            out.push(api.get("/snapshots/").await.status);
        }
        sim.shutdown().await;
        out
    }
    let a = statuses(7).await;
    assert_eq!(a, statuses(7).await);
    assert!(a.contains(&200) && a.contains(&502), "{a:?}");
    assert_ne!(a, statuses(8).await);
}

/// Two servers, nothing on them: room for every scripted create.
fn two_empty_servers() -> SimConfig {
    SimConfig {
        seed: Seed::empty().server(1, "web-01").server(2, "db-01"),
        ..fast_config()
    }
}

#[tokio::test]
async fn scripted_faults_answer_each_servers_requests_in_order_then_the_spec_draws() {
    let sim = start(two_empty_servers()).await;
    let api = Api::new(&sim);
    sim.set_faults(
        Faults::none()
            .with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_errors(1.0, 418),
            )
            .with_script(
                Endpoint::SnapshotsCreate,
                1,
                [
                    Scripted::Error(502),
                    Scripted::RateLimit {
                        retry_after_secs: 7,
                    },
                    Scripted::LostResponse,
                    Scripted::AppliedError(504),
                    Scripted::Malformed,
                    Scripted::Ok,
                ],
            )
            .with_script(
                Endpoint::SnapshotsCreate,
                2,
                [Scripted::Ok, Scripted::Error(500)],
            ),
    );
    let create = |server: u64, n: u32| {
        api.try_send(
            Method::POST,
            "/snapshots/",
            Some(json!({"server_id": server, "name": format!("s{server}-{n}")})),
        )
    };
    // Server 1's steps, with server 2's in between: each has its own count.
    let reply = create(1, 1).await.unwrap();
    assert_eq!(reply.status, 502);
    assert!(reply.text.contains("502 Bad Gateway"), "{reply:?}");
    assert_eq!(create(2, 1).await.unwrap().status, 201);
    let reply = create(1, 2).await.unwrap();
    assert_eq!(
        (reply.status, &reply.headers["retry-after"]),
        (429, &"7".parse().unwrap())
    );
    assert!(create(1, 3).await.is_err(), "the answer is lost");
    assert_eq!(create(2, 2).await.unwrap().status, 500);
    assert_eq!(create(1, 4).await.unwrap().status, 504);
    let reply = create(1, 5).await.unwrap();
    assert_eq!(reply.status, 201);
    assert!(
        serde_json::from_str::<Value>(&reply.text).is_err(),
        "{reply:?}"
    );
    assert_eq!(create(1, 6).await.unwrap().json()["name"], "s1-6");
    // Both scripts used up: the endpoint's spec answers.
    assert_eq!(create(1, 7).await.unwrap().status, 418);
    assert_eq!(create(2, 3).await.unwrap().status, 418);

    let log = sim.requests();
    let seen: Vec<(Option<u64>, u16, Option<InjectedFault>)> = log
        .iter()
        .map(|r| (r.server_id, r.status, r.fault))
        .collect();
    use InjectedFault::*;
    assert_eq!(
        seen,
        [
            (Some(1), 502, Some(Error)),
            (Some(2), 201, None),
            (Some(1), 429, Some(RateLimit)),
            (Some(1), 201, Some(LostResponse)),
            (Some(2), 500, Some(Error)),
            (Some(1), 201, Some(AppliedError)),
            (Some(1), 201, Some(Malformed)),
            (Some(1), 201, None),
            (Some(1), 418, Some(Error)),
            (Some(2), 418, Some(Error)),
        ]
    );
    // Work done exactly where a step says it is done.
    let names = |server| {
        let mut v: Vec<String> = sim
            .snapshots(Some(server))
            .into_iter()
            .map(|s| s.name)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(1), ["s1-3", "s1-4", "s1-5", "s1-6"]);
    assert_eq!(names(2), ["s2-1"]);
}

#[tokio::test]
async fn an_endpoint_script_counts_every_request_and_starts_over_when_faults_are_put() {
    let sim = start(two_empty_servers()).await;
    let api = Api::new(&sim);
    let faults = r#"{"scripts": [
        {"endpoint": "snapshots.list", "steps": [{"error": 503}, "ok", {"rate_limit": {"retry_after_secs": 0}}]},
        {"endpoint": "snapshots.list", "server_id": 1, "steps": [{"error": 502}]}
    ]}"#;
    let http = reqwest::Client::new();
    let put = || {
        http.put(format!("http://{}/_sim/faults", sim.addr()))
            .body(faults)
            .send()
    };
    assert_eq!(put().await.unwrap().status(), 200);
    // A request refused at authentication uses no step.
    let anonymous = reqwest::get(format!("{}/snapshots/", sim.base_url())).await;
    assert_eq!(anonymous.unwrap().status(), 401);
    assert_eq!(api.get("/snapshots/").await.status, 503);
    // Server 1's own step decides; the endpoint's count moves on too.
    assert_eq!(api.get("/snapshots/?server_id=1").await.status, 502);
    let reply = api.get("/snapshots/?server_id=2").await;
    assert_eq!(reply.status, 429);
    assert!(reply.headers.get("retry-after").is_none());
    assert_eq!(api.get("/snapshots/").await.status, 200);
    // Putting the faults again plays the script from its first step.
    assert_eq!(put().await.unwrap().status(), 200);
    assert_eq!(api.get("/snapshots/").await.status, 503);
    assert_eq!(sim.faults().scripts.len(), 2);
}

#[tokio::test]
async fn scripted_requests_draw_nothing_so_the_spec_draws_carry_on_unchanged() {
    async fn statuses(faults: Faults) -> Vec<u16> {
        let sim = start(SimConfig {
            rng_seed: 7,
            faults,
            ..fast_config()
        })
        .await;
        let api = Api::new(&sim);
        let mut out = Vec::new();
        for _ in 0..20 {
            out.push(api.get("/snapshots/").await.status);
        }
        sim.shutdown().await;
        out
    }
    let spec = Faults::none().with_global(FaultSpec::none().with_errors(0.5, 502));
    let drawn = statuses(spec.clone()).await;
    let scripted = statuses(spec.with_endpoint_script(
        Endpoint::SnapshotsList,
        [Scripted::Ok, Scripted::Error(500), Scripted::Ok],
    ))
    .await;
    assert_eq!(scripted[..3], [200, 500, 200]);
    assert_eq!(scripted[3..], drawn[..17]);
}

#[tokio::test]
async fn every_request_is_recorded_with_its_server() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    let before = Utc::now();
    api.get("/snapshots/?server_id=12345").await;
    api.create_snapshot(12346, "rec").await;
    api.delete("/backups/499/").await;
    api.post("/servers/12345/restore/", json!({"backup_id": 495}))
        .await;
    api.post("/snapshots/801/restore/", json!(null)).await;
    // Control routes are not recorded.
    reqwest::get(format!("http://{}/_sim/state", sim.addr()))
        .await
        .unwrap();

    let log = sim.requests();
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        u16,
        Option<u64>,
        Option<Endpoint>,
    );
    let summary: Vec<Row<'_>> = log
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                r.query.as_str(),
                r.status,
                r.server_id,
                r.endpoint,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "GET",
                "/api/v1/snapshots/",
                "server_id=12345",
                200,
                Some(12345),
                Some(Endpoint::SnapshotsList)
            ),
            (
                "POST",
                "/api/v1/snapshots/",
                "",
                201,
                Some(12346),
                Some(Endpoint::SnapshotsCreate)
            ),
            (
                "DELETE",
                "/api/v1/backups/499/",
                "",
                204,
                Some(12345),
                Some(Endpoint::BackupsDelete)
            ),
            (
                "POST",
                "/api/v1/servers/12345/restore/",
                "",
                200,
                Some(12345),
                Some(Endpoint::ServersRestore)
            ),
            (
                "POST",
                "/api/v1/snapshots/801/restore/",
                "",
                400,
                Some(12345),
                Some(Endpoint::SnapshotsRestore)
            ),
        ]
    );
    assert_eq!(
        log[1].body,
        Some(json!({"server_id": 12346, "name": "rec", "description": "test"}))
    );
    assert_eq!(log[0].body, None);
    assert!(
        log.iter()
            .all(|r| r.at >= before - chrono::TimeDelta::seconds(1))
    );
    sim.clear_requests();
    assert!(sim.requests().is_empty());

    sim.set_record_limit(2);
    for _ in 0..3 {
        api.get("/backups/").await;
    }
    assert_eq!(sim.requests().len(), 2);
    assert_eq!(sim.requests_dropped(), 1);
}

#[tokio::test]
async fn high_water_marks_remember_the_peak() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    assert_eq!(sim.max_snapshots_seen(12345), 2);
    assert_eq!(sim.max_manual_backups_seen(12345), 1);
    assert_eq!(sim.max_snapshots_seen(12348), 0);
    for i in 0..3 {
        api.create_snapshot(12345, &format!("hw{i}")).await;
    }
    for id in [801, 798] {
        api.delete(&format!("/snapshots/{id}/")).await;
    }
    api.create_snapshot(12345, "after").await;
    assert_eq!(sim.snapshots(Some(12345)).len(), 4);
    assert_eq!(sim.max_snapshots_seen(12345), 5);
    api.create_backup(12345).await;
    api.delete("/backups/499/").await;
    assert_eq!(sim.max_manual_backups_seen(12345), 2);
}

#[tokio::test]
async fn seeds_with_ages_and_files_drive_the_api() {
    let seed = Seed::parse_str(
        r#"
[[servers]]
id = 1
name = "edge"

[[snapshots]]
server_id = 1
name = "snapkeep-daily-20250101-000000"
age = "2d"

[[backups]]
server_id = 1
backup_type = "automatic"
age = "1d"
description = "Automatic daily backup"
"#,
        SeedFormat::Toml,
    )
    .unwrap();
    let sim = start(SimConfig {
        seed,
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let snaps = api.get("/snapshots/").await.json();
    let s = &snaps["results"][0];
    assert_eq!(s["id"], 1001);
    assert_eq!(s["status"], "completed");
    assert!(s["size_mb"].as_u64().is_some());
    let created: DateTime<Utc> = s["created_at"].as_str().unwrap().parse().unwrap();
    let age = Utc::now() - created;
    assert!(
        (age - chrono::TimeDelta::days(2)).num_seconds().abs() <= 2,
        "{age}"
    );
    let b = &api.get("/backups/").await.json()["results"][0];
    assert_eq!(b["backup_type"], "automatic");
    let created: DateTime<Utc> = b["created_at"].as_str().unwrap().parse().unwrap();
    let expires: DateTime<Utc> = b["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - created, chrono::TimeDelta::days(31));
    assert_eq!(api.create_backup(1).await.json()["id"], 5002);
}

#[tokio::test]
async fn an_inconsistent_seed_fails_start() {
    let seed = Seed::empty().snapshot(9, "x", Duration::ZERO, SimStatus::Completed);
    let err = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            seed,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("server_id 9"), "{err}");
}

#[tokio::test]
async fn a_fleet_seed_serves_thousands_of_servers() {
    let sim = start(SimConfig {
        seed: Seed::fleet(2000),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    assert_eq!(api.create_snapshot(2000, "last").await.status, 201);
    assert_eq!(api.create_snapshot(2001, "none").await.status, 404);
    assert_eq!(sim.servers().len(), 2000);
}

#[tokio::test]
async fn the_control_api_shows_state_and_swaps_faults() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    let http = reqwest::Client::new();
    let ctl = format!("http://{}/_sim", sim.addr());
    api.create_snapshot(12345, "c").await;

    let state: Value = http
        .get(format!("{ctl}/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["servers"].as_array().unwrap().len(), 4);
    assert_eq!(state["snapshots"].as_array().unwrap().len(), 3);
    assert_eq!(state["high_water"]["12345"]["snapshots"], 3);
    let log: Value = http
        .get(format!("{ctl}/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["endpoint"], "snapshots.create");

    let reply = http
        .put(format!("{ctl}/faults"))
        .body(r#"{"per_endpoint": {"backups.list": {"error_rate": 1, "error_status": 502}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(api.get("/backups/").await.status, 502);
    assert_eq!(api.get("/snapshots/").await.status, 200);
    assert_eq!(
        sim.faults().spec_for(Endpoint::BackupsList).error_status,
        502
    );

    let reply = http
        .put(format!("{ctl}/faults"))
        .body(r#"{"per_endpoint": {"backup.list": {}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let reply = http.delete(format!("{ctl}/requests")).send().await.unwrap();
    assert_eq!(reply.status(), 204);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    assert_eq!(api.get("/snapshots/").await.status, 200);
    let url = format!("{}/snapshots/", sim.base_url());
    let clone = sim.clone();
    sim.shutdown().await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
    // Clones still answer questions about the final state.
    assert_eq!(clone.snapshots(None).len(), 2);
}

/// Sorted ids of one list answer's results.
fn sorted_ids(page: &Value) -> Vec<u64> {
    let mut got = ids(page["results"].as_array().unwrap());
    got.sort();
    got
}

#[tokio::test]
async fn list_lag_hides_new_items_and_keeps_deleted_ones_then_converges() {
    let lag = Duration::from_secs(1);
    let sim = start(SimConfig {
        faults: Faults::none().with_list_lag(lag),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let t0 = Instant::now();

    // Seeded items show at once.
    assert_eq!(
        sorted_ids(&api.get("/snapshots/?server_id=12345").await.json()),
        [798, 801]
    );
    let fresh = api.create_snapshot(12345, "fresh").await.json()["id"]
        .as_u64()
        .unwrap();
    let theirs = sim
        .create_snapshot_as_other(12345, "theirs", SimStatus::Completed)
        .unwrap();
    assert_eq!(api.delete("/snapshots/801/").await.status, 204);
    let page = api.get("/snapshots/?server_id=12345").await.json();
    // New ones hidden, the deleted one lingers with its last status.
    assert_eq!(sorted_ids(&page), [798, 801]);
    assert_eq!(page["count"], 2);
    let ghost = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == 801)
        .unwrap();
    assert_eq!(ghost["status"], "completed");
    assert_eq!(ghost["size_mb"], 5120);
    // The real state decides everything but lists.
    assert_eq!(api.delete("/snapshots/801/").await.status, 404);
    assert_eq!(
        api.post("/snapshots/801/restore/", json!(null))
            .await
            .status,
        404
    );
    let real: Vec<u64> = sim.snapshots(Some(12345)).iter().map(|s| s.id).collect();
    assert_eq!(real, [798, fresh, theirs]);
    for i in 0..2 {
        assert_eq!(
            api.create_snapshot(12345, &format!("more{i}")).await.status,
            201
        );
    }
    assert_eq!(
        api.get("/snapshots/?server_id=12345").await.json()["count"],
        2
    );
    let refused = api.create_snapshot(12345, "over").await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(sim.max_snapshots_seen(12345), 5);

    // Backups lag the same way, filters included.
    let backup = api.create_backup(12345).await.json()["id"]
        .as_u64()
        .unwrap();
    assert_eq!(api.delete("/backups/499/").await.status, 204);
    assert_eq!(
        sorted_ids(
            &api.get("/backups/?server_id=12345&backup_type=manual")
                .await
                .json()
        ),
        [499]
    );
    assert_eq!(
        sorted_ids(&api.get("/backups/?backup_type=automatic").await.json()),
        [495, 501]
    );
    assert!(
        t0.elapsed() < lag,
        "the machine is too slow for this test's timing"
    );

    // Once the lag has passed, lists show the real state.
    tokio::time::sleep(lag).await;
    let page = api.get("/snapshots/?server_id=12345").await.json();
    let real: Vec<u64> = sim.snapshots(Some(12345)).iter().map(|s| s.id).collect();
    assert_eq!(sorted_ids(&page), real);
    assert_eq!(page["count"], 5);
    assert!(!real.contains(&801));
    assert_eq!(
        sorted_ids(
            &api.get("/backups/?server_id=12345&backup_type=manual")
                .await
                .json()
        ),
        [backup]
    );
}

#[tokio::test]
async fn applied_errors_do_the_work_then_answer_the_error() {
    let sim = start(SimConfig {
        faults: Faults::none().with_endpoint(
            Endpoint::SnapshotsCreate,
            FaultSpec::none().with_applied_errors(1.0, 502),
        ),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let reply = api.create_snapshot(12345, "applied").await;
    assert_eq!(reply.status, 502);
    assert!(reply.text.contains("502 Bad Gateway"), "{reply:?}");
    let made: Vec<SimSnapshot> = sim
        .snapshots(Some(12345))
        .into_iter()
        .filter(|s| s.name == "applied")
        .collect();
    assert_eq!(made.len(), 1);
    let last = sim.requests().pop().unwrap();
    // The log keeps what the backend did; the fault says what the client got.
    assert_eq!(
        (last.status, last.fault),
        (201, Some(InjectedFault::AppliedError))
    );
    // Refusals are not dressed up as applied work.
    let reply = api.create_snapshot(1, "nowhere").await;
    assert_eq!(reply.status, 404);
    assert_eq!(sim.requests().pop().unwrap().fault, None);

    sim.set_faults(Faults::none().with_global(FaultSpec::none().with_applied_errors(1.0, 504)));
    assert_eq!(api.delete("/backups/499/").await.status, 504);
    assert!(sim.backups(Some(12345)).iter().all(|b| b.id != 499));
    assert_eq!(api.delete("/backups/499/").await.status, 404);
    let faults: Vec<Option<InjectedFault>> = sim.requests().iter().map(|r| r.fault).collect();
    assert_eq!(faults[2..], [Some(InjectedFault::AppliedError), None]);
}

/// A seed with 12 completed snapshots on three servers.
fn twelve_snapshots() -> Seed {
    (0..12).fold(Seed::fleet(3), |seed, i| {
        seed.snapshot(
            i % 3 + 1,
            format!("s{i}"),
            Duration::from_secs(60 * i),
            SimStatus::Completed,
        )
    })
}

#[tokio::test]
async fn page_shift_repeats_or_skips_with_a_seeded_rng() {
    async fn walk_pages(rng_seed: u64) -> (Vec<Vec<u64>>, Vec<u64>, Vec<Option<InjectedFault>>) {
        let sim = start(SimConfig {
            seed: twelve_snapshots(),
            rng_seed,
            ..fast_config()
        })
        .await;
        let api = Api::new(&sim);
        let order = ids(api.get("/snapshots/").await.json()["results"]
            .as_array()
            .unwrap());
        sim.set_faults(Faults::none().with_page_size(4).with_page_shift(1.0));
        sim.clear_requests();
        let mut pages = Vec::new();
        for _ in 0..8 {
            for n in 1..=3 {
                let page = api.get(&format!("/snapshots/?page={n}")).await.json();
                assert_eq!(page["count"], 12);
                pages.push(ids(page["results"].as_array().unwrap()));
            }
        }
        let faults = sim.requests().iter().map(|r| r.fault).collect();
        sim.shutdown().await;
        (pages, order, faults)
    }

    let (pages, order, faults) = walk_pages(3).await;
    let (mut back, mut forward) = (0, 0);
    for (i, page) in pages.iter().enumerate() {
        let n = i % 3 + 1;
        let start = (n - 1) * 4;
        if n == 1 {
            assert_eq!(page[..], order[..4]);
            assert_eq!(faults[i], None);
            continue;
        }
        assert_eq!(faults[i], Some(InjectedFault::PageShift));
        if page[..] == order[start - 1..start + 3] {
            back += 1;
        } else if page[..] == order[start + 1..(start + 5).min(12)] {
            forward += 1;
        } else {
            panic!("page {n} is not shifted by one: {page:?} of {order:?}");
        }
    }
    assert!(back > 0 && forward > 0, "{back} back, {forward} forward");
    // Same seed, same shifts; rate 0 never shifts.
    assert_eq!(walk_pages(3).await.0, pages);

    let sim = start(SimConfig {
        seed: twelve_snapshots(),
        faults: Faults::none().with_page_size(4).with_page_shift(0.0),
        ..fast_config()
    })
    .await;
    let (all, pages) = Api::new(&sim).list_all("/snapshots/").await;
    assert_eq!((all.len(), pages), (12, 3));
    assert_eq!(sorted_ids(&json!({ "results": all })).len(), 12);
    assert!(sim.requests().iter().all(|r| r.fault.is_none()));
}

#[tokio::test]
async fn count_inflation_lies_about_count_but_links_follow_the_real_list() {
    let sim = start(SimConfig {
        faults: Faults::none()
            .with_page_size(2)
            .with_count_inflation(5_000_000),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let first = api.get("/backups/").await.json();
    assert_eq!(first["count"], 5_000_000);
    assert!(first["next"].as_str().unwrap().ends_with("?page=2"));
    let second = api.get(first["next"].as_str().unwrap()).await.json();
    assert_eq!(second["count"], 5_000_000);
    assert_eq!(second["next"], Value::Null);
    let (all, pages) = api.list_all("/backups/").await;
    assert_eq!((all.len(), pages), (3, 2));
    let empty = api.get("/snapshots/?server_id=12346").await.json();
    assert_eq!(
        (empty["count"].clone(), empty["results"].clone()),
        (json!(5_000_000), json!([]))
    );
}

#[tokio::test]
async fn junk_items_appear_raw_in_every_list() {
    let orphan = junk::deleted_server_snapshot(9_000_001);
    let bare = junk::missing_fields(9_000_002);
    let sim = start(SimConfig {
        faults: Faults::none().with_junk_items([orphan.clone(), bare.clone()]),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    // Filters do not remove them; they count.
    let page = api.get("/snapshots/?server_id=12346").await.json();
    assert_eq!(page["count"], 2);
    assert_eq!(page["results"], json!([orphan, bare]));
    let page = api.get("/backups/?backup_type=manual").await.json();
    assert_eq!(page["count"], 3);
    let results = page["results"].as_array().unwrap();
    assert_eq!(results[0]["id"], 499);
    assert_eq!(results[1..], [orphan.clone(), bare.clone()]);
    // They come after the real items, so paging puts them last.
    sim.set_faults(
        Faults::none()
            .with_page_size(3)
            .with_junk_items([junk::deleted_server_backup(9_000_003)]),
    );
    let (all, pages) = api.list_all("/snapshots/").await;
    assert_eq!((all.len(), pages), (3, 1));
    assert_eq!(all[2], junk::deleted_server_backup(9_000_003));
    let (all, pages) = api.list_all("/backups/").await;
    assert_eq!((all.len(), pages), (4, 2));
    assert_eq!(all[3]["server"], Value::Null);
    // They are not in the state.
    assert_eq!(api.delete("/backups/9000003/").await.status, 404);

    // The control API takes them as raw JSON too.
    let reply = reqwest::Client::new()
        .put(format!("http://{}/_sim/faults", sim.addr()))
        .body(r#"{"junk_items": [{"id": 7, "created_at": "yesterday"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let page = api.get("/snapshots/?server_id=12346").await.json();
    assert_eq!(
        page["results"],
        json!([{"id": 7, "created_at": "yesterday"}])
    );
}

#[tokio::test]
async fn raw_retry_after_is_sent_verbatim() {
    let sim = start(fast_config()).await;
    let api = Api::new(&sim);
    for raw in [
        "10000000000000000000",
        "-5",
        "soon",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "0",
    ] {
        sim.set_faults(
            Faults::none().with_global(
                FaultSpec::none()
                    .with_rate_limit(1.0, 7)
                    .with_retry_after_raw(raw),
            ),
        );
        let reply = api.get("/snapshots/").await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.headers["retry-after"].as_bytes(), raw.as_bytes());
        assert_eq!(reply.headers.get_all("retry-after").iter().count(), 1);
        assert_eq!(reply.detail(), "Request was throttled.");
    }
    let reply = reqwest::Client::new()
        .put(format!("http://{}/_sim/faults", sim.addr()))
        .body(r#"{"global": {"rate_limit_rate": 1, "retry_after_raw": "-1"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(api.get("/backups/").await.headers["retry-after"], "-1");
}

#[tokio::test]
async fn seeded_unknown_statuses_persist() {
    let seed = ["pending", "error", "deleting", "in_progress"]
        .into_iter()
        .enumerate()
        .fold(Seed::fleet(1), |seed, (i, status)| {
            seed.snapshot(
                1,
                format!("odd{i}"),
                Duration::from_secs(60),
                SimStatus::from(status),
            )
            .backup(
                1,
                BackupType::Manual,
                format!("odd{i}"),
                Duration::from_secs(60),
                SimStatus::from(status),
            )
        });
    let sim = start(SimConfig {
        seed,
        complete_after: Duration::from_millis(10),
        ..SimConfig::default()
    })
    .await;
    let api = Api::new(&sim);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut want = ["deleting", "error", "in_progress", "pending"];
    want.sort();
    for path in ["/snapshots/", "/backups/"] {
        let (all, _) = api.list_all(path).await;
        let mut got: Vec<&str> = all.iter().map(|i| i["status"].as_str().unwrap()).collect();
        got.sort();
        assert_eq!(got, want, "{path}");
        assert!(all.iter().all(|i| i["size_mb"].is_null()), "{path}");
    }
    assert!(
        sim.snapshots(None)
            .iter()
            .all(|s| s.status != SimStatus::Completed)
    );
    assert!(
        sim.snapshots(None)
            .iter()
            .any(|s| s.status == SimStatus::Other("deleting".into()))
    );
    // They take slots and cannot be restored.
    let odd = sim.snapshots(None)[0].id;
    assert_eq!(
        api.post(&format!("/snapshots/{odd}/restore/"), json!(null))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn other_writers_act_on_the_state_without_faults_or_log() {
    let sim = start(SimConfig {
        faults: Faults::none()
            .with_global(FaultSpec::none().with_errors(1.0, 503))
            .with_stuck_in_progress(),
        ..fast_config()
    })
    .await;
    let api = Api::new(&sim);
    let busy = sim
        .create_snapshot_as_other(12345, "theirs-busy", SimStatus::InProgress)
        .unwrap();
    let done = sim
        .create_snapshot_as_other(12345, "theirs-done", SimStatus::Completed)
        .unwrap();
    let odd = sim
        .create_snapshot_as_other(12345, "theirs-odd", "pending".into())
        .unwrap();
    assert_eq!((busy, done, odd), (802, 803, 804));
    let status = |id: u64| {
        sim.snapshots(None)
            .into_iter()
            .find(|s| s.id == id)
            .unwrap()
            .status
    };
    assert_eq!(status(busy), SimStatus::InProgress);
    assert_eq!(status(done), SimStatus::Completed);
    // The cap and unknown servers refuse as the API would.
    let err = sim
        .create_snapshot_as_other(12345, "sixth", SimStatus::Completed)
        .unwrap_err();
    assert_eq!(err.status, 400);
    assert!(err.detail.contains("Snapshot limit reached"), "{err}");
    assert_eq!(
        sim.create_backup_as_other(1, "nowhere", SimStatus::Completed)
            .unwrap_err()
            .status,
        404
    );
    // Their in-progress items complete like any other (no stuck fault).
    settle().await;
    assert_eq!(status(busy), SimStatus::Completed);
    assert_eq!(status(odd), SimStatus::Other("pending".into()));

    let backup = sim
        .create_backup_as_other(12345, "their backup", SimStatus::Failed)
        .unwrap();
    assert_eq!(
        sim.backups(Some(12345))
            .iter()
            .find(|b| b.id == backup)
            .map(|b| (b.backup_type, b.status.clone(), b.description.clone())),
        Some((BackupType::Manual, SimStatus::Failed, "their backup".into()))
    );
    assert!(sim.delete_snapshot_directly(done));
    assert!(!sim.delete_snapshot_directly(done));
    assert!(sim.delete_backup_directly(backup));
    assert!(sim.delete_backup_directly(501));
    assert!(!sim.delete_backup_directly(backup));
    assert_eq!(sim.snapshots(Some(12345)).len(), 4);
    assert_eq!(sim.backups(Some(12345)).len(), 2);
    // None of it went through the faults or into the log.
    assert!(sim.requests().is_empty());
    assert_eq!(api.get("/snapshots/").await.status, 503);
}

#[tokio::test]
async fn each_token_reaches_its_own_account_and_the_log_says_which() {
    let config = SimConfig {
        seed: Seed::empty().server(7, "web-a"),
        ..fast_config()
    };
    let other = SimAccount {
        name: "b".into(),
        token: "token-b".into(),
        seed: Seed::empty().server(7, "web-b").server(8, "db-b"),
    };
    let sim = Simulator::start_with_accounts("127.0.0.1:0".parse().unwrap(), config, vec![other])
        .await
        .expect("simulator starts");
    assert_eq!(sim.account_names(), [PRIMARY_ACCOUNT, "b"]);
    let b = sim.account("b").expect("account b");
    assert_eq!((b.token(), b.account_name()), ("token-b", "b"));
    assert!(sim.account("c").is_none());

    // Server 7 in each: a create through one token lands in its world only.
    let (api_a, api_b) = (Api::new(&sim), Api::new(&b));
    assert_eq!(api_a.create_snapshot(7, "a-one").await.status, 201);
    assert_eq!(api_b.create_snapshot(7, "b-one").await.status, 201);
    assert_eq!(api_b.create_snapshot(8, "b-two").await.status, 201);
    assert_eq!(
        api_a.create_snapshot(8, "a-two").await.status,
        404,
        "no server 8 in a"
    );
    let names =
        |s: &Simulator| -> Vec<String> { s.snapshots(None).into_iter().map(|x| x.name).collect() };
    assert_eq!(names(&sim), ["a-one"]);
    assert_eq!(names(&b), ["b-one", "b-two"]);
    let (listed, _) = api_b.list_all("/snapshots/?server_id=7").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "b-one");
    // Ids are per world: a delete through a's token never reaches b's item.
    let b_id = b.snapshots(Some(7))[0].id;
    let a_id = sim.snapshots(Some(7))[0].id;
    if a_id != b_id {
        assert_eq!(
            api_a.delete(&format!("/snapshots/{b_id}/")).await.status,
            404
        );
    }
    assert_eq!(names(&b), ["b-one", "b-two"]);

    let accounts: Vec<Option<String>> = sim.requests().into_iter().map(|r| r.account).collect();
    assert_eq!(
        accounts[..4],
        [
            Some("default".to_owned()),
            Some("b".to_owned()),
            Some("b".to_owned()),
            Some("default".to_owned()),
        ]
    );
    let wrong = reqwest::Client::new()
        .get(format!("{}/snapshots/", sim.base_url()))
        .bearer_auth("token-c")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(sim.requests().last().unwrap().account, None);

    let twice = Simulator::start_with_accounts(
        "127.0.0.1:0".parse().unwrap(),
        fast_config(),
        vec![SimAccount {
            name: "x".into(),
            token: "sim-token".into(),
            seed: Seed::empty(),
        }],
    )
    .await;
    assert_eq!(twice.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

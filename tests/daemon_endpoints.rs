//! The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, and the
//! status model (`/status.json`, the same as `status --json`) with its page
//! (`/`), each body compared whole.

use snapkeep_sim::{Seed, SimStatus};

use crate::support::{Normalize, Ran, Test, assert_text};

/// `/metrics` after one pass: the last success is now, the pass's polls
/// and duration are timing (`{V}`); one pass, one create, one item not ours.
const METRICS: &str = r#"# HELP snapkeep_last_success_timestamp_seconds Unix time of the last successful job per server and policy.
# TYPE snapkeep_last_success_timestamp_seconds gauge
snapkeep_last_success_timestamp_seconds{account="default",server="1",policy="fast"} {NOW}
# HELP snapkeep_items Items on a server by state, from a policy's point of view (completed, in_progress, failed, unknown: ours; not_ours: everyone else's).
# TYPE snapkeep_items gauge
snapkeep_items{account="default",server="1",policy="fast",state="completed"} 1
snapkeep_items{account="default",server="1",policy="fast",state="failed"} 0
snapkeep_items{account="default",server="1",policy="fast",state="in_progress"} 0
snapkeep_items{account="default",server="1",policy="fast",state="not_ours"} 1
snapkeep_items{account="default",server="1",policy="fast",state="unknown"} 0
# HELP snapkeep_stored_bytes Bytes a policy's completed items hold on a server, from VPS.org's size_mb (items without a size left out), as the policy's latest job saw them.
# TYPE snapkeep_stored_bytes gauge
snapkeep_stored_bytes{account="default",server="1",policy="fast",kind="snapshot"} 4560257024
# HELP snapkeep_keep_shortfall How many fewer completed items a policy can hold on a server than its keep rules ask, because the cap is shared with items it may not delete (manual, other tools', protected, other policies').
# TYPE snapkeep_keep_shortfall gauge
snapkeep_keep_shortfall{account="default",server="1",policy="fast"} 0
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
snapkeep_job_failing{account="default",server="1",policy="fast"} 0
# HELP snapkeep_api_undecodable_items List items the provider sent that could not be read (skipped, never deleted).
# TYPE snapkeep_api_undecodable_items counter
snapkeep_api_undecodable_items_total 0
# HELP snapkeep_orphans Items in snapkeep's naming format that no configured policy prunes (policy removed, or server no longer in its servers), by kind.
# TYPE snapkeep_orphans gauge
snapkeep_orphans{kind="snapshot"} 0
# HELP snapkeep_policy_paused 1 when the (server, policy) is paused (enabled = false: not fired, nothing pruned, not stale), 0 when it runs; one series per configured pair.
# TYPE snapkeep_policy_paused gauge
snapkeep_policy_paused{account="default",server="1",policy="fast"} 0
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
      "account": "default",
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
      "account": "default",
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
      "account": "default",
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
.account { color: var(--muted); white-space: nowrap; }
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

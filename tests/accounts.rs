//! Several accounts in one config, through the real binary: `check` lists
//! each account's servers, `--run-now` rotates server 7 in two accounts of
//! one simulator (one world each), `status` shows both (text and JSON),
//! `restore --account` goes through the named account only.
//! Whole outputs compared (see `support::Test`).

use snapkeep_sim::{Seed, SimStatus, Simulator};

use serde_json::json;

use crate::support::{Daily, Ran, Test, assert_text};

/// Server 7 in `prod` (the simulator's primary account) and in `staging`.
const TWO: &str = r#"
[[account]]
name = "prod"
token_env = "SNAPKEEP_IT_TOKEN_MAIN"

[[account]]
name = "staging"
token_env = "SNAPKEEP_IT_TOKEN_STAGING"

[[policy]]
name = "nightly"
account = "prod"
kind = "snapshot"
servers = [7]
schedule = "{daily}"
keep_last = 2

[[policy]]
name = "staging-nightly"
account = "staging"
kind = "snapshot"
servers = [7]
schedule = "{daily}"
keep_last = 2
"#;

/// prod's server 7 with nightly's two earlier days; staging's server 7 with
/// one of its own and an old one named as prod's policy names them (not
/// staging's policy: an orphan there, never rotated by prod's policy).
fn worlds(d: &Daily) -> (Seed, Seed) {
    let prod = Seed::empty()
        .server(7, "web-prod")
        .snapshot(7, d.snapshot("nightly", 2), d.at(2), SimStatus::Completed)
        .snapshot(7, d.snapshot("nightly", 1), d.at(1), SimStatus::Completed);
    let staging = Seed::empty()
        .server(7, "web-staging")
        .snapshot(7, d.snapshot("nightly", 8), d.at(8), SimStatus::Completed)
        .snapshot(
            7,
            d.snapshot("staging-nightly", 1),
            d.at(1),
            SimStatus::Completed,
        );
    (prod, staging)
}

#[test]
fn check_lists_each_accounts_servers() {
    let t = Test::new();
    let (prod, staging) = worlds(&t.daily);
    t.seed(prod)
        .account("staging", staging)
        .policies(&TWO.replace("{daily}", "0 3 * * *"))
        .args(&["check"])
        .stdout(
            "{DIR}/config.toml: valid — 2 policies, 2 servers
Accounts:
  prod — {SIM} (token from token_env $SNAPKEEP_IT_TOKEN_MAIN)
      servers: 7
  staging — {SIM} (token from token_env $SNAPKEEP_IT_TOKEN_STAGING)
      servers: 7

Policies:
  nightly (account prod) — snapshot at 03:00 every day (UTC)
      schedule \"0 3 * * *\" in UTC; next: {NEXT}
      keeps: 2 last (at most 2 per server; the newest completed is always kept)
      servers: 7
      alerts (status --check): warning after 1d 12h, critical after 2d without a new completed item
  staging-nightly (account staging) — snapshot at 03:00 every day (UTC)
      schedule \"0 3 * * *\" in UTC; next: {NEXT}
      keeps: 2 last (at most 2 per server; the newest completed is always kept)
      servers: 7
      alerts (status --check): warning after 1d 12h, critical after 2d without a new completed item

At most, per server (VPS.org caps: 5 snapshots, 10 manual backups):
  prod server 7: 2/5 snapshots (nightly 2)
  staging server 7: 2/5 snapshots (staging-nightly 2)
",
        )
        .run();
}

#[test]
fn check_says_which_account_has_no_token() {
    let t = Test::new();
    let (prod, staging) = worlds(&t.daily);
    t.seed(prod)
        .account("staging", staging)
        .policies(&TWO.replace("SNAPKEEP_IT_TOKEN_STAGING", "SNAPKEEP_IT_TOKEN_NONE"))
        .args(&["check"])
        .status(2)
        .stdout("")
        .stderr(
            "error: account staging: the environment variable SNAPKEEP_IT_TOKEN_NONE (token_env) is not set or empty\n",
        )
        .run();
}

#[test]
fn run_now_rotates_server_7_in_both_accounts_then_status_shows_both() {
    let t = Test::new();
    let (prod, staging) = worlds(&t.daily);
    let ran = t
        .seed(prod)
        .account("staging", staging)
        .policies(TWO)
        .args(&["--run-now"])
        .normalize(|n| n.jobs_concurrently())
        .stderr(RUN_NOW_LOG)
        .stdout(
            "ok      server 7 (web-prod) of account prod policy nightly: created #1003 snapkeep-nightly-{SLOT}; deleted #1001 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 7 (web-staging) of account staging policy staging-nightly: created #1003 snapkeep-staging-nightly-{SLOT} [{T}]
2 job(s): 2 ok, 0 failed; created 2, deleted 1; {N} API call(s), 0 retried, in {T}
",
        )
        .run();
    // Each world: its policy rotated, the other account's policy's item
    // (same server id, same name format) untouched.
    let staging = ran.sim().sim.account("staging").unwrap();
    let mut names: Vec<String> = staging
        .snapshots(Some(7))
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    let d = &ran.daily;
    assert_eq!(
        names,
        [
            d.snapshot("nightly", 8),
            d.snapshot("staging-nightly", 1),
            d.snapshot("staging-nightly", 0),
        ]
    );
    assert_eq!(
        ran.sim().snapshot_names(7),
        [d.snapshot("nightly", 1), d.snapshot("nightly", 0)]
    );
    let status = ran.setup().run(&["status"]).expect(0);
    assert_text("status", STATUS, &ran.normalize.apply(&status.stdout()));

    status_json_names_each_account(&ran);
    status_check_judges_both_accounts(&ran);
    prune_orphans_deletes_through_stagings_token_only(&ran, &staging);
    every_audit_event_says_its_account(&ran);
}

/// `status --json`: each pair, orphan and stored row names its account.
fn status_json_names_each_account(ran: &Ran) {
    let d = &ran.daily;
    let json = ran.setup().run(&["status", "--json"]).expect(0);
    let report: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    let field = |list: &str, key: &str| -> Vec<serde_json::Value> {
        report[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[key].clone())
            .collect()
    };
    assert_eq!(field("pairs", "account"), [json!("prod"), json!("staging")]);
    assert_eq!(field("pairs", "server_id"), [json!(7), json!(7)]);
    assert_eq!(
        field("pairs", "policy"),
        [json!("nightly"), json!("staging-nightly")]
    );
    assert_eq!(
        field("pairs", "server_name"),
        [json!("web-prod"), json!("web-staging")]
    );
    assert_eq!(field("orphans", "account"), [json!("staging")]);
    assert_eq!(field("orphans", "name"), [json!(d.snapshot("nightly", 8))]);
    assert_eq!(
        field("stored", "account"),
        [json!("prod"), json!("staging")]
    );
}

fn status_check_judges_both_accounts(ran: &Ran) {
    // status --check judges both accounts' pairs, each by its own policy.
    let check = ran.setup().run(&["status", "--check"]).expect(0);
    let out = check.stdout();
    assert!(
        out.starts_with(
            "SNAPKEEP OK - 2 of 2 (server, policy) pairs have a recent completed item | 'nightly@7'="
        ),
        "{out}"
    );
    assert!(
        out.contains("orphans=1;;;0;\n0 critical, 0 warning, 2 ok, 0 paused; 1 orphan\n"),
        "{out}"
    );
}

fn prune_orphans_deletes_through_stagings_token_only(ran: &Ran, staging: &Simulator) {
    let d = &ran.daily;
    // prune-orphans: staging's "nightly" item is an orphan there (prod's
    // policy is not staging's); deleting it goes through staging's token and
    // leaves prod's nightly items, same server id, same names' format, alone.
    let pruned = ran
        .setup()
        .run(&["prune-orphans", "--yes", "--all"])
        .expect(0);
    assert!(
        pruned.stdout().contains("server 7 (web-staging):"),
        "{}",
        pruned.stdout()
    );
    let mut names: Vec<String> = staging
        .snapshots(Some(7))
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            d.snapshot("staging-nightly", 1),
            d.snapshot("staging-nightly", 0)
        ]
    );
    assert_eq!(
        ran.sim().snapshot_names(7),
        [d.snapshot("nightly", 1), d.snapshot("nightly", 0)]
    );
    let deletes: Vec<Option<String>> = ran
        .sim()
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.account)
        .collect();
    assert_eq!(
        deletes,
        [Some("default".to_owned()), Some("staging".to_owned())]
    );
}

fn every_audit_event_says_its_account(ran: &Ran) {
    // Every audit event says its account, and each policy's is its own.
    let json = ran
        .setup()
        .run(&["--run-now", "--force", "--dry-run", "--log-format", "json"])
        .expect(0);
    let mut seen = std::collections::BTreeSet::new();
    for line in json.stderr().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["action"].is_string() {
            seen.insert((
                v["account"].as_str().unwrap().to_owned(),
                v["policy"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let want = [("prod", "nightly"), ("staging", "staging-nightly")]
        .map(|(a, p)| (a.to_owned(), p.to_owned()));
    assert_eq!(seen, want.into_iter().collect());
}

/// The pass's log (the two accounts' jobs run at once: each run of job
/// lines sorted).
const RUN_NOW_LOG: &str = "INFO create server 7 (web-prod) of account prod policy nightly #1003 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 7 (web-prod) of account prod policy nightly #1003 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 7 (web-prod) of account prod policy nightly #1003 snapkeep-nightly-{SLOT} ({T})
INFO delete server 7 (web-prod) of account prod policy nightly #1001 snapkeep-nightly-{SLOT-2d}: retention: no-rule
INFO create server 7 (web-staging) of account staging policy staging-nightly #1003 snapkeep-staging-nightly-{SLOT}: scheduled slot
INFO wait server 7 (web-staging) of account staging policy staging-nightly #1003 snapkeep-staging-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 7 (web-staging) of account staging policy staging-nightly #1003 snapkeep-staging-nightly-{SLOT} ({T})
";

/// `status` after the pass: one block per account.
const STATUS: &str = "account prod ({SIM})

SERVER             POLICY         KIND OURS RUN FAIL NOT NEWEST  NEXT             PRUNE  STATE
7 web-prod         nightly        snap    2   0    0   0    12h  {SLOT+1d}      0  ok

stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  7 web-prod         nightly        snap     2      8.7 GiB
  7 web-prod         server total            2      8.7 GiB
  account prod       total                   2      8.7 GiB

account staging ({SIM})

SERVER             POLICY         KIND OURS RUN FAIL NOT NEWEST  NEXT             PRUNE  STATE
7 web-staging      staging-night… snap    2   0    0   1    12h  {SLOT+1d}      0  ok

stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  7 web-staging      staging-night… snap     2      8.7 GiB
  7 web-staging      server total            2      8.7 GiB
  account staging    total                   2      8.7 GiB

1 orphan (our naming, but no configured policy prunes it; see snapkeep prune-orphans):
  server 7 (web-staging):
    snapshot #1001 snapkeep-nightly-{SLOT-8d} (completed)
      no snapshot policy \"nightly\" with prefix \"snapkeep\" is configured
";

/// `restore` with two accounts: ids are per account, so without
/// `--account` it is a usage error that names both and sends nothing; an
/// unknown name likewise; `--account staging` restores through staging's
/// token, in staging's world only (server 7 is in both).
#[test]
fn restore_needs_the_account_and_goes_through_its_token_only() {
    let t = Test::new();
    let (prod, staging) = worlds(&t.daily);
    let ran = t
        .seed(prod)
        .account("staging", staging)
        .policies(TWO)
        .args(&["restore", "--snapshot", "1002", "--yes"])
        .status(2)
        .stdout("")
        .stderr(
            "error: restore: which account is the item in? add --account NAME: {DIR}/config.toml has 2 (prod, staging)\n",
        )
        .run();
    let unknown = ran
        .setup()
        .run(&[
            "restore",
            "--account",
            "stage",
            "--snapshot",
            "1002",
            "--yes",
        ])
        .expect(2);
    assert_text(
        "stderr",
        "error: --account \"stage\": no such account; {DIR}/config.toml has 2 (prod, staging)\n",
        &ran.normalize.apply(&unknown.stderr()),
    );
    assert!(ran.sim().sim.requests().is_empty(), "nothing sent");
    let restored = ran
        .setup()
        .run(&[
            "restore",
            "--account",
            "staging",
            "--snapshot",
            "1002",
            "--yes",
        ])
        .expect(0);
    assert_text(
        "stdout",
        "restore of snapshot #1002: success — Server is being restored from snapshot. This may take 5-15 minutes.\n",
        &ran.normalize.apply(&restored.stdout()),
    );
    let restores: Vec<(Option<String>, String)> = ran
        .sim()
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| (r.account, r.path))
        .collect();
    assert_eq!(
        restores,
        [(
            Some("staging".to_owned()),
            "/api/v1/snapshots/1002/restore/".to_owned()
        )]
    );
    // A token the provider refuses: the error says which account's source
    // to check, never the token.
    let refused = ran
        .setup()
        .cmd()
        .env("SNAPKEEP_IT_TOKEN_STAGING", "revoked-token-1234")
        .args([
            "restore",
            "--account",
            "staging",
            "--snapshot",
            "1002",
            "--yes",
        ])
        .output()
        .unwrap();
    let refused = crate::support::Run(refused).expect(1);
    assert_text(
        "stderr",
        "error: restore of snapshot #1002 failed: snapshots.restore (id 1002): VPS.org refused the API token (401: Invalid token.); check token_env SNAPKEEP_IT_TOKEN_STAGING of account staging\n",
        &ran.normalize.apply(&refused.stderr()),
    );
}

//! `snapkeep simulate`: whole outputs through the real binary, no token,
//! no network.

use crate::support::{BIN, Run, temp_dir};

const GFS: &str = r#"
[[policy]]
name = "gfs"
kind = "snapshot"
servers = [12345, 12346]
schedule = "0 * * * *"
keep_last = 2
keep_daily = 2
keep_weekly = 1
"#;

fn simulate(config: &str, args: &[&str]) -> Run {
    let dir = temp_dir();
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    Run(std::process::Command::new(BIN)
        .arg("simulate")
        .arg("--config")
        .arg(&path)
        .args(args)
        .env_remove("VPS_API_TOKEN")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("SNAPKEEP_CONFIG")
        .output()
        .unwrap())
}

#[test]
fn gfs_hourly_day_by_day() {
    let run = simulate(
        GFS,
        &[
            "--policy",
            "gfs",
            "--days",
            "3",
            "--from",
            "2025-01-06T00:00:00Z",
        ],
    )
    .expect(0);
    assert_eq!(
        run.stdout(),
        r#"policy gfs: snapshot every hour (UTC) ("0 * * * *"), keeps 2 last + 2 daily + 1 weekly
simulated on server 12345 alone (items are per server; each of its 2 servers holds the same)
every create succeeding, nothing else on the server: 3 days from 2025-01-06T00:00:00Z
to 2025-01-09T00:00:00Z; times in UTC.

2025-01-06 Mon: 24 created, 21 deleted, holding 3
  deleted 21 made this day (no-rule)
  kept    2025-01-06 23:00 (last, daily, weekly), 2025-01-06 22:00 (last), 2025-01-06 00:00 (daily)

2025-01-07 Tue: 24 created, 24 deleted, holding 3
  deleted 2025-01-06 00:00 (no-rule), 2025-01-06 22:00 (no-rule), 22 made this day (no-rule)
  kept    2025-01-07 23:00 (last, daily, weekly), 2025-01-07 22:00 (last), 2025-01-06 23:00 (daily)

2025-01-08 Wed: 24 created, 24 deleted, holding 3
  deleted 2025-01-06 23:00 (no-rule), 2025-01-07 22:00 (no-rule), 22 made this day (no-rule)
  kept    2025-01-08 23:00 (last, daily, weekly), 2025-01-08 22:00 (last), 2025-01-07 23:00 (daily)

72 slots: 72 created, 69 deleted.
held at most 4 snapshots at once; VPS.org's cap is 5 per server (1 to spare).
at the end, 3 snapshots kept:
  oldest 2025-01-07 23:00, 1d 1h old
  newest 2025-01-08 23:00, 1h old
"#
    );
}

#[test]
fn gfs_json_is_the_same_simulation() {
    let run = simulate(
        GFS,
        &[
            "--policy",
            "gfs",
            "--days",
            "3",
            "--from",
            "2025-01-06T00:00:00Z",
            "--json",
        ],
    )
    .expect(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v["policy"], "gfs");
    assert_eq!(v["keeps"], "2 last + 2 daily + 1 weekly");
    assert_eq!(
        (&v["slots"], &v["created"], &v["deleted"], &v["refused"]),
        (&72.into(), &72.into(), &69.into(), &0.into())
    );
    assert_eq!((&v["max_held"], &v["cap"]), (&4.into(), &5.into()));
    let days = v["timeline"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(days[1]["date"], "2025-01-07");
    assert_eq!(days[1]["created"].as_array().unwrap().len(), 24);
    // In the order a pass deletes them: oldest first.
    assert_eq!(
        days[1]["deleted"][0],
        serde_json::json!({"slot": "2025-01-06T00:00:00Z", "rules": ["no-rule"]})
    );
    assert_eq!(
        days[2]["kept"][0],
        serde_json::json!({"slot": "2025-01-08T23:00:00Z", "rules": ["last", "daily", "weekly"]})
    );
    assert_eq!(
        v["oldest"],
        serde_json::json!({"slot": "2025-01-07T23:00:00Z", "age_seconds": 90000})
    );
    assert_eq!(
        v["newest"],
        serde_json::json!({"slot": "2025-01-08T23:00:00Z", "age_seconds": 3600})
    );
}

#[test]
fn a_policy_at_the_cap_says_so_and_the_default_is_90_days() {
    let config = r#"
[[policy]]
name = "weekly"
kind = "backup"
servers = [7]
schedule = "0 4 * * 0"
timezone = "Europe/Berlin"
keep_last = 10
"#;
    let out = simulate(
        config,
        &["--policy", "weekly", "--from", "2025-01-01T00:00:00Z"],
    )
    .expect(0)
    .stdout();
    assert!(
        out.contains("every create succeeding, nothing else on the server: 90 days from 2025-01-01T00:00:00Z\nto 2025-04-01T00:00:00Z; times in Europe/Berlin.\n"),
        "{out}"
    );
    assert!(
        out.contains("\n13 slots: 13 created, 3 deleted.\nheld at most 10 manual backups at once: VPS.org's cap, so 3 creates first made room.\n"),
        "{out}"
    );
    assert!(out.contains("\n2025-03-16 Sun: 1 created, 1 deleted, holding 10\n  deleted 2025-01-05 04:00 (room)\n"), "{out}");
    assert!(
        out.ends_with("at the end, 10 manual backups kept:\n  oldest 2025-01-26 04:00, 64d 21h old\n  newest 2025-03-30 04:00, 1d 22h old\n"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
}

#[test]
fn an_unknown_policy_is_a_usage_error() {
    let run = simulate(GFS, &["--policy", "nightly"]).expect(2);
    assert!(
        run.stderr().contains("--policy nightly: no such policy")
            && run.stderr().contains("policies: gfs"),
        "{}",
        run.stderr()
    );
    let run = simulate(GFS, &["--policy", "gfs", "--from", "yesterday"]).expect(2);
    assert!(run.stderr().contains("is not RFC 3339"), "{}", run.stderr());
}

/// `--size-mb` adds the storage estimate and changes nothing else: the
/// most held at once (4) and what is kept at the end (3), per server and
/// on both servers.
#[test]
fn size_mb_estimates_peak_and_steady_storage() {
    let args = [
        "--policy",
        "gfs",
        "--days",
        "3",
        "--from",
        "2025-01-06T00:00:00Z",
    ];
    let plain = simulate(GFS, &args).expect(0).stdout();
    let sized = simulate(GFS, &[&args[..], &["--size-mb", "5120"]].concat())
        .expect(0)
        .stdout();
    assert_eq!(
        sized,
        format!(
            "{plain}storage at 5120 MB a snapshot: peak 20.0 GiB (4 held at once), steady 15.0 GiB (3 kept at the end) per server
  on its 2 servers: peak 40.0 GiB, steady 30.0 GiB
"
        )
    );
    let json: serde_json::Value = serde_json::from_str(
        &simulate(GFS, &[&args[..], &["--size-mb", "5120", "--json"]].concat())
            .expect(0)
            .stdout(),
    )
    .unwrap();
    assert_eq!(
        json["storage"],
        serde_json::json!({
            "size_mb": 5120.0,
            "peak_items": 4,
            "peak_bytes": 21_474_836_480u64,
            "steady_items": 3,
            "steady_bytes": 16_106_127_360u64,
            "servers": 2,
            "all_servers_peak_bytes": 42_949_672_960u64,
            "all_servers_steady_bytes": 32_212_254_720u64,
        })
    );
    let bad = simulate(GFS, &[&args[..], &["--size-mb", "0"]].concat()).expect(2);
    assert!(
        bad.stderr()
            .contains("\"0\" is not a size in MB: use a positive number, e.g. 5120"),
        "{}",
        bad.stderr()
    );
}

#[test]
fn html_writes_one_page_with_a_calendar_per_policy() {
    let two = format!(
        "{GFS}{}",
        GFS.replace("\"gfs\"", "\"other\"")
            .replace("snapshot", "backup")
    );
    let dir = temp_dir();
    let file = dir.join("calendar.html");
    let args = |policies: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = policies
            .iter()
            .flat_map(|p| ["--policy".to_owned(), (*p).to_owned()])
            .collect();
        v.extend(["--days", "7", "--from", "2025-01-06T00:00:00Z"].map(String::from));
        v
    };
    let mut html = args(&["gfs", "other"]);
    html.extend(["--html".to_owned(), file.display().to_string()]);
    let html: Vec<&str> = html.iter().map(String::as_str).collect();
    let run = simulate(&two, &html).expect(0);
    let page = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        run.stdout(),
        format!(
            "wrote {}: 7 days of gfs and other ({} KB)\n",
            file.display(),
            page.len().div_ceil(1024)
        )
    );
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert_eq!(page.matches("<svg class=\"calendar\"").count(), 2);
    assert_eq!(page.matches("data-days=\"7\"").count(), 2);
    // Self-contained: no script, nothing fetched.
    for outside in ["<script", "://", " src=", " href=", "@import", "url("] {
        assert!(!page.contains(outside), "{outside} in {page}");
    }

    // Several policies are for the picture; the text shows one.
    let text = args(&["gfs", "other"]);
    let text: Vec<&str> = text.iter().map(String::as_str).collect();
    let run = simulate(&two, &text).expect(2);
    assert!(
        run.stderr().contains("--policy given 2 times"),
        "{}",
        run.stderr()
    );
    let mut json = html.clone();
    json.push("--json");
    let run = simulate(&two, &json).expect(2);
    assert!(
        run.stderr().contains("cannot be used with"),
        "{}",
        run.stderr()
    );
}

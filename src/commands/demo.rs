//! `snapkeep demo`: watch a rotation happen, with no setup and no token.
//!
//! Starts the embedded simulator on a free loopback port with a small fleet
//! (an empty server, one already at the snapshot cap with a mix of manual
//! and snapkeep snapshots, one full of manual snapshots, automatic backups
//! beside a backup policy), then plays consecutive daily slots through the
//! real rotation code. A clock that jumps a day between passes makes a week
//! of rotation take seconds; items complete in about a second.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::api::ApiToken;
use crate::cli::DemoArgs;
use crate::clock::{Clock, ShiftedClock};
use crate::config::{self, Clients, Config, DEFAULT_ACCOUNT};
use crate::error::AppError;
use crate::naming;
use crate::pass::{self, select_jobs};
use snapkeep_sim::{BackupType, Seed, SimConfig, SimStatus, Simulator};

/// The demo's policies fire daily at 03:00 UTC.
const SCHEDULE: &str = "0 3 * * *";

pub(crate) async fn run(args: &DemoArgs) -> Result<u8, AppError> {
    let clock = Arc::new(ShiftedClock::default());
    let first_slot = latest_daily_slot(clock.now());
    let sim = Simulator::start(
        "127.0.0.1:0".parse().expect("literal address"),
        SimConfig {
            token: "demo-token".into(),
            complete_after: Duration::from_secs(1),
            seed: demo_seed(first_slot),
            ..SimConfig::default()
        },
    )
    .await
    .map_err(|e| AppError::io("cannot start the simulator", e))?;

    let config = Arc::new(demo_config(&sim.base_url())?);
    let client = config.client_with_token(ApiToken::new(sim.token()), Arc::default())?;
    let clients = Clients::single(DEFAULT_ACCOUNT, client);
    println!(
        "snapkeep demo — a simulated VPS.org API is listening at {}",
        sim.base_url()
    );
    println!("Config used (policies in TOML, as you would write them):\n");
    println!("{}", indent(DEMO_POLICIES));
    println!(
        "Fleet: server 101 web-01 (empty, with automatic backups and a manual backup of its owner),"
    );
    println!("       server 102 db-01 (at the 5-snapshot cap: 2 manual + 3 from snapkeep),");
    println!(
        "       server 103 legacy-01 (5 manual snapshots: snapkeep must refuse, not delete them).\n"
    );

    for pass in 1..=args.slots.max(1) {
        if pass > 1 {
            clock.advance(TimeDelta::days(1));
        }
        let now = clock.now();
        println!(
            "── pass {pass}: slot {} ─────────────────────────────────────────",
            latest_daily_slot(now).format("%Y-%m-%d %H:%M UTC")
        );
        let jobs = select_jobs(&config, &[], &[], false, now)?;
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let report = pass::run_pass(
            Arc::clone(&config),
            clients.clone(),
            dyn_clock,
            jobs,
            pass::PassOptions::default(),
        )
        .await;
        print!("{}", pass::summary(&report, false));
        println!();
    }

    println!("What each server holds now:");
    for (id, name) in [(101, "web-01"), (102, "db-01"), (103, "legacy-01")] {
        let mut snaps: Vec<String> = sim
            .snapshots(Some(id))
            .into_iter()
            .map(|s| s.name)
            .collect();
        snaps.sort();
        println!(
            "  {id} {name}: {} snapshot(s): {}",
            snaps.len(),
            snaps.join(", ")
        );
        let mut backups: Vec<String> = sim
            .backups(Some(id))
            .into_iter()
            .map(|b| format!("[{}] {}", b.backup_type.as_str(), b.description))
            .collect();
        backups.sort();
        if !backups.is_empty() {
            println!("      {} backup(s): {}", backups.len(), backups.join(", "));
        }
    }
    println!(
        "\nThe refusal on server 103 is the point: its 5 snapshots are not snapkeep's, so it will not touch them.\nNext: write your own config (config.example.toml), check it with `snapkeep check`, try it with `snapkeep sim`."
    );
    sim.shutdown().await;
    Ok(0)
}

const DEMO_POLICIES: &str = r#"[[policy]]
name = "daily"
kind = "snapshot"
servers = [101, 102, 103]
schedule = "0 3 * * *"
keep_last = 3

[[policy]]
name = "nightly-backup"
kind = "backup"
servers = [101]
schedule = "0 3 * * *"
keep_last = 2
description = "demo rotation"
"#;

fn demo_config(base_url: &str) -> Result<Config, AppError> {
    let text = format!(
        "[api]\nbase_url = \"{base_url}\"\nrequests_per_second = 0\nmax_concurrency = 4\n\n[defaults]\npoll_interval = \"250ms\"\nwait_timeout = \"30s\"\n\n{DEMO_POLICIES}"
    );
    Ok(config::parse_str(&text, "demo config")?)
}

fn latest_daily_slot(now: DateTime<Utc>) -> DateTime<Utc> {
    crate::latest_slot(SCHEDULE, "UTC", now).expect("a valid literal schedule fires every day")
}

fn demo_seed(slot: DateTime<Utc>) -> Seed {
    let ours = |days: i64| naming::snapshot_name("snapkeep", "daily", slot - TimeDelta::days(days));
    let at = |days: i64| slot - TimeDelta::days(days) + TimeDelta::minutes(2);
    Seed::empty()
        .server(101, "web-01")
        .server(102, "db-01")
        .server(103, "legacy-01")
        .snapshot(102, "before-kernel-upgrade", at(30), SimStatus::Completed)
        .snapshot(102, "debug-copy", at(12), SimStatus::Completed)
        .snapshot(102, ours(3), at(3), SimStatus::Completed)
        .snapshot(102, ours(2), at(2), SimStatus::Completed)
        .snapshot(102, ours(1), at(1), SimStatus::Completed)
        .snapshot(103, "golden-image", at(90), SimStatus::Completed)
        .snapshot(103, "pre-migration", at(60), SimStatus::Completed)
        .snapshot(103, "customer-handover", at(40), SimStatus::Completed)
        .snapshot(103, "before-php8", at(20), SimStatus::Completed)
        .snapshot(103, "keep-forever", at(10), SimStatus::Completed)
        .backup(
            101,
            BackupType::Automatic,
            "Automatic daily backup",
            at(2),
            SimStatus::Completed,
        )
        .backup(
            101,
            BackupType::Automatic,
            "Automatic daily backup",
            at(1),
            SimStatus::Completed,
        )
        .backup(
            101,
            BackupType::Manual,
            "Owner's backup before the redesign",
            at(5),
            SimStatus::Completed,
        )
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

use super::*;
use chrono::TimeZone;

pub(super) fn config(policy: &str) -> Config {
    config::parse_str(policy, "t").unwrap()
}

pub(super) fn from() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0).unwrap() // a Monday
}

pub(super) const GFS: &str = r#"
[[policy]]
name = "gfs"
kind = "snapshot"
servers = [12345, 12346]
schedule = "0 * * * *"
keep_last = 2
keep_daily = 2
keep_weekly = 1
"#;

#[test]
fn gfs_hourly_holds_few_and_keeps_a_day_back() {
    let sim = simulate(&config(GFS), "gfs", from(), 14).unwrap();
    assert_eq!(sim.slots, 14 * 24);
    assert_eq!(sim.created, 14 * 24);
    assert_eq!(sim.refused, 0);
    assert!(sim.max_held <= sim.cap, "{}", sim.max_held);
    assert_eq!(sim.created - sim.deleted, sim.kept_at_end.len());
    let newest = sim.newest.as_ref().unwrap();
    assert_eq!(
        newest.slot,
        Utc.with_ymd_and_hms(2025, 1, 19, 23, 0, 0).unwrap()
    );
    assert_eq!(newest.age_seconds, 3600);
    assert!(render(&sim).lines().all(|l| l.chars().count() <= 100));
}

#[test]
fn at_the_cap_every_create_first_makes_room() {
    let c = config(
        r#"
[[policy]]
name = "five"
kind = "snapshot"
servers = [1]
schedule = "0 3 * * *"
keep_last = 5
"#,
    );
    let sim = simulate(&c, "five", from(), 10).unwrap();
    assert_eq!((sim.created, sim.max_held, sim.cap), (10, 5, 5));
    assert_eq!(sim.room_deletes, 5, "days 6..=10 each delete one first");
    assert_eq!(sim.kept_at_end.len(), 5);
    let text = render(&sim);
    assert!(
        text.contains(
            "held at most 5 snapshots at once: VPS.org's cap, so 5 creates first made room."
        ),
        "{text}"
    );
    assert!(
        text.contains("  deleted 2025-01-06 03:00 (room)\n"),
        "{text}"
    );
}

#[test]
fn unknown_policy_and_bad_days_are_usage_errors() {
    let c = config(GFS);
    let err = simulate(&c, "nope", from(), 1).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("policies: gfs"), "{err}");
    assert_eq!(simulate(&c, "gfs", from(), 0).unwrap_err().exit_code(), 2);
    let every_second = config(
        "[[policy]]\nname = \"s\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"* * * * * *\"\nkeep_last = 1\n",
    );
    let err = simulate(&every_second, "s", from(), 90).unwrap_err();
    assert!(err.to_string().contains("fewer --days"), "{err}");
    let end = DateTime::<Utc>::MAX_UTC - TimeDelta::days(1);
    let err = simulate(&c, "gfs", end, 90).unwrap_err();
    assert!(err.to_string().contains("past the end of time"), "{err}");
    let far = simulate(
        &c,
        "gfs",
        Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0).unwrap(),
        30,
    )
    .unwrap();
    assert_eq!(far.created, far.slots);
}

#[test]
fn other_policies_on_the_server_are_named() {
    let c = config(&format!(
        "{}[[policy]]\nname = \"other\"\nkind = \"snapshot\"\nservers = [12345]\nschedule = \"@weekly\"\nkeep_last = 1\nenabled = false\n",
        // 1 + 1 + 1 = 3 here, so `other`, which keeps one, has a free slot.
        GFS.replace("keep_last = 2", "keep_last = 1")
            .replace("keep_daily = 2", "keep_daily = 1")
    ));
    let sim = simulate(&c, "gfs", from(), 1).unwrap();
    assert_eq!(
        sim.sharing_server,
        vec![Sharing {
            policy: "other".into(),
            max_kept: 1
        }]
    );
    assert!(render(&sim).contains(
        "not simulated: other snapshots policies on server 12345 share that cap: other (up to 1)."
    ));
    let paused = simulate(&c, "other", from(), 14).unwrap();
    assert!(paused.paused);
    assert_eq!(paused.timeline.len(), 2, "one day per weekly slot");
}

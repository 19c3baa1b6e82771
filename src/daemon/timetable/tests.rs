use super::*;
use chrono::TimeZone;

fn config(schedule: &str, missed: &str, jitter: &str) -> Config {
    let text = format!(
        "[[policy]]\nname = \"p\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"{schedule}\"\ntimezone = \"Europe/Berlin\"\nmissed = \"{missed}\"\njitter = \"{jitter}\"\nkeep_last = 3\n"
    );
    crate::config::parse_str(&text, "t").unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

#[test]
fn start_catches_up_once_per_server_and_policy_for_the_latest_slot() {
    let c = config("0 3 * * *", "run-once", "0s");
    // Down for three days: one catch-up per (server, policy), for the latest slot only.
    let now = utc(2025, 1, 10, 12, 0, 0);
    let (table, fires) = Timetable::start(&c, now);
    assert_eq!(fires.len(), 2);
    for f in &fires {
        assert!(f.catch_up);
        assert_eq!(f.slot, utc(2025, 1, 10, 2, 0, 0)); // 03:00 Berlin
    }
    assert_eq!(table.next_due(), Some(utc(2025, 1, 11, 2, 0, 0)));
}

#[test]
fn skip_means_no_catch_up() {
    let c = config("0 3 * * *", "skip", "0s");
    let (mut table, fires) = Timetable::start(&c, utc(2025, 1, 10, 12, 0, 0));
    // Only "finish what a stopped pass left" jobs: they never create.
    assert_eq!(fires.len(), 2);
    assert!(fires.iter().all(|f| f.resume_only));
    // Asleep across the next slot and woken hours later: still nothing.
    assert!(table.take_due(&c, utc(2025, 1, 11, 9, 0, 0)).is_empty());
    assert_eq!(table.next_due(), Some(utc(2025, 1, 12, 2, 0, 0)));
}

#[test]
fn fires_on_time_then_moves_on() {
    let c = config("*/2 * * * * *", "run-once", "0s");
    let (mut table, _) = Timetable::start(&c, utc(2025, 1, 10, 12, 0, 1));
    assert!(table.take_due(&c, utc(2025, 1, 10, 12, 0, 1)).is_empty());
    let fires = table.take_due(&c, utc(2025, 1, 10, 12, 0, 2));
    assert_eq!(fires.len(), 2);
    assert!(
        fires
            .iter()
            .all(|f| !f.catch_up && f.slot == utc(2025, 1, 10, 12, 0, 2))
    );
    assert!(table.take_due(&c, utc(2025, 1, 10, 12, 0, 3)).is_empty());
    assert_eq!(table.next_due(), Some(utc(2025, 1, 10, 12, 0, 4)));
}

#[test]
fn clock_jump_runs_once_for_the_latest_slot() {
    let c = config("0 * * * *", "run-once", "0s");
    let (mut table, _) = Timetable::start(&c, utc(2025, 1, 10, 12, 30, 0));
    // Suspended for five hours: one run per (server, policy), for the latest slot (17:00 UTC).
    let fires = table.take_due(&c, utc(2025, 1, 10, 17, 20, 0));
    assert_eq!(fires.len(), 2);
    assert!(
        fires
            .iter()
            .all(|f| f.catch_up && f.slot == utc(2025, 1, 10, 17, 0, 0))
    );
    assert!(table.take_due(&c, utc(2025, 1, 10, 17, 21, 0)).is_empty());
}

#[test]
fn dst_spring_gap_fires_once_after_the_gap() {
    // 02:30 Berlin does not exist on 2025-03-30: fire once at 03:00 CEST (01:00 UTC).
    let c = config("30 2 * * *", "run-once", "0s");
    let (mut table, _) = Timetable::start(&c, utc(2025, 3, 29, 12, 0, 0));
    assert_eq!(table.next_due(), Some(utc(2025, 3, 30, 1, 0, 0)));
    assert_eq!(table.take_due(&c, utc(2025, 3, 30, 1, 0, 0)).len(), 2);
    assert_eq!(table.next_due(), Some(utc(2025, 3, 31, 0, 30, 0)));
}

#[test]
fn dst_fall_overlap_fires_once() {
    // 02:30 Berlin happens twice on 2025-10-26 (00:30 and 01:30 UTC): fire once.
    let c = config("30 2 * * *", "run-once", "0s");
    let (mut table, _) = Timetable::start(&c, utc(2025, 10, 25, 12, 0, 0));
    let first = table.next_due().unwrap();
    assert_eq!(table.take_due(&c, first).len(), 2);
    assert!(
        table.next_due().unwrap() > utc(2025, 10, 26, 12, 0, 0),
        "{:?}",
        table.next_due()
    );
}

#[test]
fn jitter_is_fixed_per_server_and_within_bounds() {
    let c = config("0 3 * * *", "run-once", "10m");
    let (table, _) = Timetable::start(&c, utc(2025, 1, 10, 12, 0, 0));
    let slot = utc(2025, 1, 11, 2, 0, 0);
    for e in &table.entries {
        let j = e.due_at.unwrap() - slot;
        assert!(j >= chrono::TimeDelta::zero() && j < chrono::TimeDelta::minutes(10));
    }
    let (again, _) = Timetable::start(&c, utc(2025, 1, 10, 12, 0, 0));
    let a: Vec<_> = table.entries.iter().map(|e| e.due_at).collect();
    let b: Vec<_> = again.entries.iter().map(|e| e.due_at).collect();
    assert_eq!(a, b);
}

#[test]
fn a_reload_keeps_fires_waiting_out_their_jitter() {
    let c = config("0 * * * *", "run-once", "10m");
    let (mut table, _) = Timetable::start(&c, utc(2025, 1, 10, 11, 59, 0));
    let slot = utc(2025, 1, 10, 12, 0, 0);
    let mut fired = table.take_due(&c, slot);
    let pending = table.next_due().expect("due");
    assert!(pending > slot && pending < slot + chrono::TimeDelta::minutes(10));
    // SIGHUP between the slot and its jittered fire, with the same policy.
    let (reloaded, dropped) = table.reload(&c, &c, slot + chrono::TimeDelta::seconds(1));
    assert_eq!(reloaded.next_due(), Some(pending));
    assert_eq!(dropped, []);
    let mut reloaded = reloaded;
    fired.extend(reloaded.take_due(&c, slot + chrono::TimeDelta::minutes(10)));
    // Both servers fire once for the 12:00 slot, reload or not.
    let mut servers: Vec<u64> = fired
        .iter()
        .filter(|f| f.slot == slot)
        .map(|f| f.server_id)
        .collect();
    servers.sort();
    assert_eq!(servers, [1, 2]);
    // Without the carry-over the fresh table would wait for 13:00.
    let fresh = Timetable::start(&c, slot + chrono::TimeDelta::seconds(1)).0;
    assert!(fresh.next_due().unwrap() > utc(2025, 1, 10, 13, 0, 0) - chrono::TimeDelta::seconds(1));
}

#[test]
fn a_reload_that_pauses_or_removes_a_policy_drops_its_pending_fires_and_says_why() {
    let c = config("0 * * * *", "run-once", "10m");
    let (mut table, _) = Timetable::start(&c, utc(2025, 1, 10, 11, 59, 0));
    let slot = utc(2025, 1, 10, 12, 0, 0);
    table.take_due(&c, slot);
    assert!(
        table.next_due().expect("pending") > slot,
        "waiting out jitter"
    );
    // Server 1 paused (the policy moved to a paused copy), server 2 removed.
    let text = format!(
        "{}\n[[policy]]\nname = \"p\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 * * * *\"\nkeep_last = 1\nenabled = false\n",
        "[defaults]\njitter = \"10m\""
    );
    let new = crate::config::parse_str(&text, "t").unwrap();
    let (reloaded, dropped) = table.reload(&c, &new, slot + chrono::TimeDelta::seconds(1));
    assert_eq!(reloaded.next_due(), None, "nothing left to fire");
    let got: Vec<(u64, &str, DateTime<Utc>, &str)> = dropped
        .iter()
        .map(|d| (d.server_id, d.policy.as_str(), d.slot, d.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "p", slot, "paused_by_reload"),
            (2, "p", slot, "removed_by_reload"),
        ]
    );
    // A fire not yet due is not dropped: it never was owed.
    let (early, _) = Timetable::start(&c, utc(2025, 1, 10, 11, 0, 1));
    let (_, dropped) = early.reload(&c, &new, utc(2025, 1, 10, 11, 30, 0));
    assert_eq!(dropped, []);
}

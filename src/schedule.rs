//! Cron schedules: parsing a policy's `schedule`, and the fire times it
//! produces in the policy's own time zone.
//!
//! A slot is a fire time, and slots name snapshots, so every question the
//! daemon asks ("when next?", "which slot is now?", "how often?") must get
//! answers that agree with each other, also across daylight-saving changes.
//! The rules are those of Cronos (HangfireIO), checked against its own cases
//! in `tests/conformance/cron/`:
//!
//! - a wall-clock time skipped by a spring-forward change fires once, at the
//!   first instant after the gap;
//! - a fixed time repeated by a fall-back change fires once, in the first pass;
//! - wildcards, ranges and steps in the second, minute or hour field fire in
//!   both passes of the repeated hour.
//!
//! Why croner 4 matches but does not walk the time zone: its zoned search
//! (4.0.3) calls any time field with more than one value an interval job, so
//! `0,30 2 * * *` fires four times in Berlin's repeated hour instead of twice,
//! and it drops interval matches that fall into a gap instead of firing them
//! at the gap's end: `15 * * * *` skips 03:00 on the spring-forward day, and
//! `0,30 2 * * *` does not fire that day at all. So croner searches only the
//! wall clock (`NaiveDateTime`, which has no gaps or repeats), and this module
//! maps wall-clock matches to instants itself. Croner also does not accept several Cronos/Quartz
//! spellings (`0/10`, `?` outside the day fields, wrapping ranges like
//! `22-3` or `SAT-TUE`), so fields are validated and expanded here, which
//! also lets errors name the field that is wrong.
//!
//! Day-of-month with day-of-week follows crontab(5): when both are restricted
//! (neither starts with `*`), a day matches if either does. Cronos ANDs them;
//! that is the one deliberate difference.
//!
//! Nothing here reads the clock: every function takes the time it reasons
//! about, so DST and catch-up can be tested without waiting.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::zone::Zone;

/// What a schedule may look like, repeated in the errors that reject one.
const EXPECTED_SHAPE: &str = "expected 5 fields (minute hour day-of-month month day-of-week), \
     6 with seconds first, or @hourly/@daily/@weekly/@monthly/@yearly";

/// Why an expression is not a schedule. Each message names what is wrong
/// and what would be accepted, so `snapkeep check` can print it as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ScheduleError {
    #[error("empty schedule: {EXPECTED_SHAPE}")]
    Empty,
    #[error("{EXPECTED_SHAPE}; got {got}")]
    FieldCount { got: usize },
    #[error(
        "unknown shortcut \"{alias}\": use @hourly, @daily (or @midnight), @weekly, \
         @monthly or @yearly (or @annually)"
    )]
    UnknownAlias { alias: String },
    /// `position` counts the fields as written, from 1.
    #[error("field {position} ({field}) \"{text}\": {reason}")]
    Field {
        position: usize,
        field: &'static str,
        text: String,
        reason: String,
    },
    /// Croner refused what our own checks let through; should not happen,
    /// but a message beats a panic.
    #[error("schedule \"{expression}\" was rejected by the cron parser: {reason}")]
    Rejected { expression: String, reason: String },
}

/// A parsed schedule bound to the time zone its wall-clock times are in.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    expression: String,
    tz: Zone,
    /// The normalized six-field expression croner matches, and whether it
    /// ANDs the day fields. Only croner's wall-clock (naive) search is used;
    /// see the module doc. The matcher itself is built per search, not
    /// kept: croner 4 gives every `Cron` a 5001-byte bit field for years,
    /// so keeping one per policy cost 5 KB per policy (5 MB for a daemon
    /// with 1000 policies), while parsing takes a few microseconds. The
    /// parsed fields are not kept either (`Schedule::fields`).
    cron_text: String,
    dom_and_dow: bool,
    /// Cronos's "interval" flag: a `*`, `?`, range or step in the second,
    /// minute or hour field. Such a schedule fires in both passes of a
    /// repeated hour; any other fires only in the first.
    fires_in_both_passes: bool,
}

impl Schedule {
    /// 5 fields; 6 with seconds first; @hourly @daily @midnight @weekly
    /// @monthly @yearly @annually (and Cronos's @every_minute and
    /// @every_second). Day-of-month with day-of-week: crontab(5) OR
    /// semantics when both are restricted.
    ///
    /// Also accepted, as Cronos and Quartz write them: names (`MON`, `jan`),
    /// `?` for `*`, `7` for Sunday, single-value steps (`0/15`), wrapping
    /// ranges (`22-3`, `FRI-MON`), `L`, `LW` and `15W` in day-of-month, and
    /// `5L` and `1#2` in day-of-week.
    pub(crate) fn parse(expr: &str, tz: Zone) -> Result<Schedule, ScheduleError> {
        let expression = expr.trim();
        let fields = parse_fields(expression)?;
        let both_days_restricted = fields[3].restricted && fields[5].restricted;
        let normalized = fields
            .iter()
            .map(FieldSpec::croner_text)
            .collect::<Vec<_>>()
            .join(" ");
        // Croner ORs the day fields unless told otherwise, and treats only a
        // bare `*` as unrestricted. crontab(5) treats any field starting with
        // `*` as unrestricted and then ANDs, so say which one applies.
        let dom_and_dow = !both_days_restricted;
        build_cron(&normalized, dom_and_dow).map_err(|e| ScheduleError::Rejected {
            expression: expression.to_string(),
            reason: e.to_string(),
        })?;
        let fires_in_both_passes = fields[..3].iter().any(|f| f.interval);
        Ok(Schedule {
            expression: expression.to_string(),
            tz,
            cron_text: normalized,
            dom_and_dow,
            fires_in_both_passes,
        })
    }

    /// The fields again, for the descriptions: not kept in every policy
    /// (288 bytes each; BENCHMARKS.md, "Memory: time zones as bytes"), but
    /// parsed from the expression `parse` accepted, which cannot fail.
    fn fields(&self) -> Option<[FieldSpec; 6]> {
        parse_fields(&self.expression).ok()
    }

    /// Croner's matcher; `parse` has checked that it builds.
    fn cron(&self) -> Cron {
        build_cron(&self.cron_text, self.dom_and_dow)
            .expect("the expression was accepted by croner when parsed")
    }

    /// The expression as written (trimmed).
    pub(crate) fn expression(&self) -> &str {
        &self.expression
    }

    pub(crate) fn timezone(&self) -> Zone {
        self.tz
    }

    /// First fire time at/after `t` (inclusive=true) or strictly after
    /// (false). None if there is none before croner's horizon (year 5000),
    /// e.g. for `0 0 30 2 *`.
    pub(crate) fn next_from(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        if !in_search_range(t) {
            return None;
        }
        // Fire times are whole seconds; a fraction pushes the search to the
        // next whole second, which then counts (as Cronos does).
        let (from, inclusive) = if t.nanosecond() == 0 {
            (t, inclusive)
        } else {
            (
                t.with_nanosecond(0)?
                    .checked_add_signed(TimeDelta::seconds(1))?,
                true,
            )
        };
        let local = from.with_timezone(&self.tz).naive_local();

        // Wall-clock matches inside a gap fire at the gap's end. Searching
        // the wall clock from that end would miss them, so look back. Cronos
        // does miss them here; we do not, so that a slot is its own
        // `next_from(slot, true)` (see the conformance test).
        if inclusive && self.gap_with_match_ends_at(local) {
            return Some(from);
        }

        let mut start = local;
        let mut inclusive = inclusive;
        if let LocalResult::Ambiguous(earlier, _) = self.tz.from_local_datetime(&local) {
            // `from` is inside a repeated range [fold_start, fold_end) of wall
            // time: finish the pass it is in, then (for interval schedules)
            // the second pass, then carry on after the range.
            let (fold_start, fold_end) = self.fold_bounds(local);
            let in_first_pass = from == earlier.with_timezone(&Utc);
            let first_pass_match = in_first_pass
                .then(|| self.naive_next(local, inclusive))
                .flatten()
                .filter(|m| *m < fold_end);
            if let Some(m) = first_pass_match {
                return self.tz.from_local_datetime(&m).earliest().map(to_utc);
            }
            if self.fires_in_both_passes {
                let second_pass_from = if in_first_pass { fold_start } else { local };
                let second_inclusive = in_first_pass || inclusive;
                if let Some(m) = self
                    .naive_next(second_pass_from, second_inclusive)
                    .filter(|m| *m < fold_end)
                {
                    return self.tz.from_local_datetime(&m).latest().map(to_utc);
                }
            }
            start = fold_end;
            inclusive = true;
        }
        let m = self.naive_next(start, inclusive)?;
        self.first_instant(m)
    }

    /// First fire time strictly after `t`.
    pub(crate) fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_from(t, false)
    }

    /// The next `n` fire times strictly after `from`, in the policy's zone.
    pub(crate) fn upcoming(&self, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Zone>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = from;
        while out.len() < n {
            match self.next_after(cursor) {
                Some(next) => {
                    out.push(next.with_timezone(&self.tz));
                    cursor = next;
                }
                None => break,
            }
        }
        out
    }

    /// The slot: the most recent fire time at or before `t` (None if there
    /// is none within croner's search horizon, years 1 to 5000).
    ///
    /// Agrees with [`Schedule::next_from`]: for the result `s`,
    /// `next_from(s, true) == Some(s)` and nothing fires in `(s, t]`.
    pub(crate) fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !in_search_range(t) {
            return None;
        }
        let t = t.with_nanosecond(0)?;
        let local = t.with_timezone(&self.tz).naive_local();
        let mut best: Option<DateTime<Utc>> = None;
        let mut consider = |m: NaiveDateTime| {
            for instant in self.instants(m).into_iter().flatten() {
                if instant <= t && best.is_none_or(|b| instant > b) {
                    best = Some(instant);
                }
            }
        };
        // Wall time is monotonic outside repeated ranges, so the last
        // wall-clock match at or before `local` gives the answer...
        if let Some(m) = self.naive_prev(local, true) {
            consider(m);
        }
        // ...except in the second pass of a repeated range, where every
        // first-pass instant of the range is already in the past, including
        // those whose wall time lies after `local`.
        let in_second_pass = matches!(
            self.tz.from_local_datetime(&local),
            LocalResult::Ambiguous(_, later) if later.with_timezone(&Utc) == t
        );
        if in_second_pass {
            let (_, fold_end) = self.fold_bounds(local);
            let last_in_fold = self
                .naive_prev(fold_end - TimeDelta::seconds(1), true)
                .filter(|m| *m > local);
            if let Some(m) = last_in_fold {
                consider(m);
            }
        }
        best
    }

    /// The gap between the two fire times around `t`: the latest at or
    /// before it and the next after it (or, before the first fire time, the
    /// first two). Used to flag a policy as stale when its newest item is
    /// older than twice this.
    pub(crate) fn interval_at(&self, t: DateTime<Utc>) -> Option<chrono::Duration> {
        let next = self.next_after(t);
        match (self.latest_at_or_before(t), next) {
            (Some(prev), Some(next)) => Some(next - prev),
            (None, Some(next)) => self.next_after(next).map(|after| after - next),
            (Some(prev), None) => self
                .latest_at_or_before(prev - TimeDelta::seconds(1))
                .map(|before| prev - before),
            (None, None) => None,
        }
    }

    /// Plain-English description for `snapkeep check`, e.g. "at 03:00 every
    /// day (Europe/Berlin)", "every 2 seconds", "at 04:30 on Sunday (UTC)".
    /// Exotic schedules fall back to the expression itself.
    pub(crate) fn describe(&self) -> String {
        let zone = self.tz.name();
        let Some(fields) = self.fields() else {
            return format!("cron \"{}\" ({zone})", self.expression);
        };
        if let Some(every) = Self::describe_sub_hourly(&fields) {
            return every;
        }
        match (Self::describe_time(&fields), Self::describe_days(&fields)) {
            // "every hour every day" says "every day" once too often.
            (Some(time), Some(days)) if time.starts_with("every") && days == "every day" => {
                format!("{time} ({zone})")
            }
            (Some(time), Some(days)) => format!("{time} {days} ({zone})"),
            _ => format!("cron \"{}\" ({zone})", self.expression),
        }
    }

    // ----- wall clock to instants -------------------------------------

    /// Croner's search over the wall clock, which has no gaps or repeats.
    fn naive_next(&self, from: NaiveDateTime, inclusive: bool) -> Option<NaiveDateTime> {
        self.cron().find_next_occurrence(&from, inclusive).ok()
    }

    fn naive_prev(&self, from: NaiveDateTime, inclusive: bool) -> Option<NaiveDateTime> {
        self.cron().find_previous_occurrence(&from, inclusive).ok()
    }

    /// Where a wall-clock match fires first: itself, the first pass of a
    /// repeated time, or the end of the gap it fell into.
    fn first_instant(&self, m: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.instants(m)[0]
    }

    /// Every instant a wall-clock match fires at: the first as in
    /// [`Self::first_instant`], and the second pass for interval schedules.
    fn instants(&self, m: NaiveDateTime) -> [Option<DateTime<Utc>>; 2] {
        match self.tz.from_local_datetime(&m) {
            LocalResult::Single(d) => [Some(d.with_timezone(&Utc)), None],
            LocalResult::Ambiguous(earlier, later) => [
                Some(earlier.with_timezone(&Utc)),
                self.fires_in_both_passes.then(|| later.with_timezone(&Utc)),
            ],
            LocalResult::None => {
                let gap_end = self.run_end(m, |n| self.is_gap(n));
                [
                    self.tz
                        .from_local_datetime(&gap_end)
                        .earliest()
                        .map(|d| d.with_timezone(&Utc)),
                    None,
                ]
            }
        }
    }

    /// Whether `local` is the first wall time after a gap in which the
    /// schedule has a match, i.e. something fires exactly at `local`.
    fn gap_with_match_ends_at(&self, local: NaiveDateTime) -> bool {
        let before = local - TimeDelta::seconds(1);
        if !self.is_gap(before) {
            return false;
        }
        let gap_start = self.run_start(before, |n| self.is_gap(n));
        self.naive_next(gap_start, true).is_some_and(|m| m < local)
    }

    fn is_gap(&self, n: NaiveDateTime) -> bool {
        matches!(self.tz.from_local_datetime(&n), LocalResult::None)
    }

    fn is_fold(&self, n: NaiveDateTime) -> bool {
        matches!(self.tz.from_local_datetime(&n), LocalResult::Ambiguous(..))
    }

    /// The repeated wall-time range `[start, end)` around `n`.
    fn fold_bounds(&self, n: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
        let inside = |x: NaiveDateTime| self.is_fold(x);
        (self.run_start(n, inside), self.run_end(n, inside))
    }

    /// The first wall time after `n` where `inside` stops holding, given that
    /// it holds at `n`. Gaps and repeats last hours (a day at most, Samoa
    /// 2011), so hourly probes then bisection to the second find the edge
    /// without knowing the zone's transition table.
    fn run_end(&self, n: NaiveDateTime, inside: impl Fn(NaiveDateTime) -> bool) -> NaiveDateTime {
        let mut last_inside = n;
        let mut first_outside = n + RUN_PROBE;
        for _ in 0..RUN_PROBES {
            if !inside(first_outside) {
                break;
            }
            last_inside = first_outside;
            first_outside += RUN_PROBE;
        }
        while (first_outside - last_inside).num_seconds() > 1 {
            let mid =
                last_inside + TimeDelta::seconds((first_outside - last_inside).num_seconds() / 2);
            if inside(mid) {
                last_inside = mid;
            } else {
                first_outside = mid;
            }
        }
        first_outside
    }

    /// The first wall time of the run of `inside` times that contains `n`.
    fn run_start(&self, n: NaiveDateTime, inside: impl Fn(NaiveDateTime) -> bool) -> NaiveDateTime {
        let mut first_inside = n;
        let mut last_outside = n - RUN_PROBE;
        for _ in 0..RUN_PROBES {
            if !inside(last_outside) {
                break;
            }
            first_inside = last_outside;
            last_outside -= RUN_PROBE;
        }
        while (first_inside - last_outside).num_seconds() > 1 {
            let mid =
                last_outside + TimeDelta::seconds((first_inside - last_outside).num_seconds() / 2);
            if inside(mid) {
                first_inside = mid;
            } else {
                last_outside = mid;
            }
        }
        first_inside
    }

    // ----- descriptions ------------------------------------------------

    /// "every second", "every 5 minutes": schedules that repeat within the
    /// hour on every day. The zone is left out: it does not change them.
    fn describe_sub_hourly(fields: &[FieldSpec; 6]) -> Option<String> {
        let [sec, min, hour, dom, mon, dow] = fields;
        if !(hour.every == Some(1) && dom.any && mon.any && dow.any) {
            return None;
        }
        match (sec.every, min.every, sec.single()) {
            (Some(1), Some(1), _) => Some("every second".to_string()),
            (Some(n), Some(1), _) if 60 % n == 0 => Some(format!("every {n} seconds")),
            (None, Some(1), Some(0)) => Some("every minute".to_string()),
            (None, Some(n), Some(0)) if 60 % n == 0 => Some(format!("every {n} minutes")),
            _ => None,
        }
    }

    /// "at 03:00", "at 00:00 and 12:00", "every hour", "every 6 hours at
    /// minute 15".
    fn describe_time(fields: &[FieldSpec; 6]) -> Option<String> {
        let [sec, min, hour, ..] = fields;
        let second = sec.single()?;
        let minute = min.single()?;
        if let Some(n) = hour.every {
            if second != 0 || 24 % n != 0 {
                return None;
            }
            let every = if n == 1 {
                "every hour".to_string()
            } else {
                format!("every {n} hours")
            };
            return Some(if minute == 0 {
                every
            } else {
                format!("{every} at minute {minute}")
            });
        }
        if !hour.specials.is_empty() || hour.values.is_empty() || hour.values.len() > 6 {
            return None;
        }
        let times: Vec<String> = hour
            .values
            .iter()
            .map(|h| {
                if second == 0 {
                    format!("{h:02}:{minute:02}")
                } else {
                    format!("{h:02}:{minute:02}:{second:02}")
                }
            })
            .collect();
        Some(format!("at {}", join_english(&times)))
    }

    /// "every day", "on Sunday", "on day 1 of every month", "on 1 January".
    fn describe_days(fields: &[FieldSpec; 6]) -> Option<String> {
        let [_, _, _, dom, mon, dow] = fields;
        let months = if mon.any {
            None
        } else if mon.specials.is_empty() {
            Some(join_english(
                &mon.values
                    .iter()
                    .map(|m| MONTH_NAMES[m as usize - 1].to_string())
                    .collect::<Vec<_>>(),
            ))
        } else {
            return None;
        };
        let weekdays = describe_weekdays(dow);
        let days_of_month = describe_days_of_month(dom);
        let described = match (dom.any, dow.any) {
            (true, true) => match &months {
                None => "every day".to_string(),
                Some(m) => format!("every day in {m}"),
            },
            (true, false) => {
                let w = weekdays?;
                match &months {
                    None => format!("on {w}"),
                    Some(m) => format!("on {w} in {m}"),
                }
            }
            (false, true) => {
                let d = days_of_month?;
                match (&months, dom.single()) {
                    (Some(m), Some(day)) if mon.values.len() == 1 => format!("on {day} {m}"),
                    (Some(m), _) => format!("on {d} of {m}"),
                    (None, _) => format!("on {d} of every month"),
                }
            }
            // Both restricted: crontab(5) fires on either. A day field
            // like `*/2` beside a weekday ANDs instead; rare enough to show
            // as the expression.
            (false, false) if dom.restricted && dow.restricted => {
                let (d, w) = (days_of_month?, weekdays?);
                let month = months.unwrap_or_else(|| "every month".to_string());
                format!("on {d} of {month} and on every {w}")
            }
            (false, false) => return None,
        };
        Some(described)
    }
}

fn build_cron(normalized: &str, dom_and_dow: bool) -> Result<Cron, croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(dom_and_dow)
        .build()
        .parse(normalized)
}

/// Hourly probes when looking for the edge of a gap or a repeat.
const RUN_PROBE: TimeDelta = TimeDelta::hours(1);
/// 48 hours of probes: longer than any real gap or repeat.
const RUN_PROBES: usize = 48;

/// Years croner searches (`croner::YEAR_LOWER_LIMIT..=YEAR_UPPER_LIMIT`).
/// Times outside have no fire times here, and keeping to them keeps the
/// wall-clock arithmetic far from chrono's limits.
fn in_search_range(t: DateTime<Utc>) -> bool {
    (croner::YEAR_LOWER_LIMIT..=croner::YEAR_UPPER_LIMIT).contains(&t.year())
}

fn to_utc(t: DateTime<Zone>) -> DateTime<Utc> {
    t.with_timezone(&Utc)
}

/// Shortcuts, as Cronos spells them (it also has @every_minute and
/// @every_second).
fn expand_alias(alias: &str) -> Result<&'static str, ScheduleError> {
    Ok(match alias.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@every_minute" => "* * * * *",
        "@every_second" => "* * * * * *",
        _ => {
            return Err(ScheduleError::UnknownAlias {
                alias: alias.to_string(),
            });
        }
    })
}

// ----- fields ---------------------------------------------------------------

/// An expression's six fields (seconds, minutes, hours, day of month,
/// month, day of week), an alias expanded and a 5-field one given second 0.
fn parse_fields(expression: &str) -> Result<[FieldSpec; 6], ScheduleError> {
    if expression.is_empty() {
        return Err(ScheduleError::Empty);
    }
    let expanded = if expression.starts_with('@') {
        expand_alias(expression)?
    } else {
        expression
    };
    let texts: Vec<&str> = expanded.split_whitespace().collect();
    // Positions are reported as the user counts them, so a 5-field
    // expression's hour is field 2 and a 6-field one's is field 3.
    let (texts, first_position): ([&str; 6], usize) = match texts.as_slice() {
        [m, h, dom, mon, dow] => (["0", m, h, dom, mon, dow], 0),
        [s, m, h, dom, mon, dow] => ([s, m, h, dom, mon, dow], 1),
        other => return Err(ScheduleError::FieldCount { got: other.len() }),
    };
    let field = |i: usize| parse_field(FieldKind::ALL[i], i + first_position, texts[i]);
    Ok([
        field(0)?,
        field(1)?,
        field(2)?,
        field(3)?,
        field(4)?,
        field(5)?,
    ])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl FieldKind {
    const ALL: [FieldKind; 6] = [
        FieldKind::Second,
        FieldKind::Minute,
        FieldKind::Hour,
        FieldKind::DayOfMonth,
        FieldKind::Month,
        FieldKind::DayOfWeek,
    ];

    fn name(self) -> &'static str {
        match self {
            FieldKind::Second => "second",
            FieldKind::Minute => "minute",
            FieldKind::Hour => "hour",
            FieldKind::DayOfMonth => "day-of-month",
            FieldKind::Month => "month",
            FieldKind::DayOfWeek => "day-of-week",
        }
    }

    /// Smallest and largest value as written; day-of-week allows 7 for
    /// Sunday.
    fn bounds(self) -> (u32, u32) {
        match self {
            FieldKind::Second | FieldKind::Minute => (0, 59),
            FieldKind::Hour => (0, 23),
            FieldKind::DayOfMonth => (1, 31),
            FieldKind::Month => (1, 12),
            FieldKind::DayOfWeek => (0, 7),
        }
    }

    /// How many distinct values the field cycles through, for wrapping
    /// ranges: 7 for day-of-week, where 7 and 0 are both Sunday.
    fn cycle(self) -> u32 {
        match self {
            FieldKind::DayOfWeek => 7,
            other => {
                let (min, max) = other.bounds();
                max - min + 1
            }
        }
    }

    fn allowed(self) -> &'static str {
        match self {
            FieldKind::Second | FieldKind::Minute => "0-59",
            FieldKind::Hour => "0-23",
            FieldKind::DayOfMonth => "1-31",
            FieldKind::Month => "1-12 or JAN-DEC",
            FieldKind::DayOfWeek => "0-7 or SUN-SAT (0 and 7 are Sunday)",
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            FieldKind::Month => &[
                "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
            ],
            FieldKind::DayOfWeek => &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
            _ => &[],
        }
    }
}

/// A field's plain values as bits (every cron field's values are below
/// 64): a policy keeps its schedule for as long as the daemon runs, and a
/// set of six fields as B-trees cost ~600 bytes per policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Values(u64);

impl Values {
    fn insert(&mut self, v: u32) {
        debug_assert!(v < 64, "cron values are below 64");
        self.0 |= 1u64.checked_shl(v).unwrap_or(0);
    }

    fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The smallest value.
    fn first(self) -> Option<u32> {
        (!self.is_empty()).then(|| self.0.trailing_zeros())
    }

    /// In ascending order.
    fn iter(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |v| self.0 & (1 << v) != 0)
    }
}

/// One field, validated and expanded to explicit values.
#[derive(Debug, Clone)]
struct FieldSpec {
    /// `*` or `?` alone.
    any: bool,
    /// crontab(5): a day field is restricted unless it starts with `*`.
    restricted: bool,
    /// Has a `*`, `?`, range or step (Cronos's interval flag).
    interval: bool,
    /// Written as `*` (1) or `*/n` (n): "every n".
    every: Option<u32>,
    /// Plain values, day-of-week 7 folded to 0.
    values: Values,
    /// `L`, `LW`, `15W`, `5L`, `1#2`, passed to croner as written.
    specials: Vec<String>,
}

impl FieldSpec {
    fn single(&self) -> Option<u32> {
        match (self.values.len(), self.specials.is_empty(), self.interval) {
            (1, true, false) => self.values.first(),
            _ => None,
        }
    }

    /// The field as croner should read it: `*`, or an explicit list, which
    /// croner parses the same way whatever syntax the user wrote.
    fn croner_text(&self) -> String {
        if self.any {
            return "*".to_string();
        }
        self.values
            .iter()
            .map(|v| v.to_string())
            .chain(self.specials.iter().cloned())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn parse_field(kind: FieldKind, position: usize, text: &str) -> Result<FieldSpec, ScheduleError> {
    let fail = |item: &str, reason: String| ScheduleError::Field {
        position,
        field: kind.name(),
        text: item.to_string(),
        reason,
    };
    let (min, max) = kind.bounds();
    let upper = text.to_ascii_uppercase();
    let mut spec = FieldSpec {
        any: upper == "*" || upper == "?",
        restricted: !(upper.starts_with('*') || upper.starts_with('?')),
        interval: false,
        every: None,
        values: Values::default(),
        specials: Vec::new(),
    };
    let items: Vec<&str> = upper.split(',').collect();
    for (item, original) in items.iter().copied().zip(text.split(',')) {
        if item.is_empty() {
            return Err(fail(text, "empty item in a list".to_string()));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                let step = parse_number(step)
                    .filter(|s| (1..=kind.cycle()).contains(s))
                    .ok_or_else(|| {
                        fail(
                            original,
                            format!("step must be a number 1-{}", kind.cycle()),
                        )
                    })?;
                (base, Some(step))
            }
            None => (item, None),
        };
        if base == "*" || base == "?" {
            spec.interval = true;
            if items.len() == 1 {
                spec.every = Some(step.unwrap_or(1));
            }
            expand_range(kind, min, max, step.unwrap_or(1), &mut spec.values);
            continue;
        }
        if let Some(special) = parse_special(kind, base).map_err(|r| fail(original, r))? {
            if step.is_some() {
                return Err(fail(original, format!("{special} cannot take a step")));
            }
            spec.specials.push(special);
            continue;
        }
        let value = |s: &str| parse_value(kind, s).map_err(|r| fail(original, r));
        match (base.split_once('-'), step) {
            (Some((from, to)), step) => {
                spec.interval = true;
                expand_range(
                    kind,
                    value(from)?,
                    value(to)?,
                    step.unwrap_or(1),
                    &mut spec.values,
                );
            }
            (None, Some(step)) => {
                spec.interval = true;
                expand_range(kind, value(base)?, max, step, &mut spec.values);
            }
            (None, None) => {
                spec.values.insert(fold_sunday(kind, value(base)?));
            }
        }
    }
    Ok(spec)
}

/// Day-of-week 7 is Sunday, like 0.
fn fold_sunday(kind: FieldKind, v: u32) -> u32 {
    if kind == FieldKind::DayOfWeek {
        v % 7
    } else {
        v
    }
}

/// Values `from`, `from + step`, … up to `to`; a range whose end is below its
/// start wraps around (hours `22-3` is 22, 23, 0, 1, 2, 3), as in Cronos.
fn expand_range(kind: FieldKind, from: u32, to: u32, step: u32, values: &mut Values) {
    let (min, max) = kind.bounds();
    let cycle = kind.cycle();
    let span = if from <= to {
        to - from
    } else {
        to + cycle - from
    };
    let mut offset = 0;
    while offset <= span {
        let mut v = from + offset;
        if v > max {
            v = (v - min) % cycle + min;
        }
        values.insert(fold_sunday(kind, v));
        offset += step;
    }
}

fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A number or (month, day-of-week) a three-letter name, within bounds.
fn parse_value(kind: FieldKind, s: &str) -> Result<u32, String> {
    let (min, max) = kind.bounds();
    let offset = if kind == FieldKind::Month { 1 } else { 0 };
    let value = parse_number(s)
        .or_else(|| {
            kind.names()
                .iter()
                .position(|n| *n == s)
                .map(|i| i as u32 + offset)
        })
        .ok_or_else(|| format!("\"{s}\" is not a value; must be {}", kind.allowed()))?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be {}", kind.allowed()))
    }
}

/// `L`, `LW`, `nW` (day-of-month) and `nL`, `n#k` (day-of-week), normalized
/// for croner; `Ok(None)` when `base` is not one of them.
fn parse_special(kind: FieldKind, base: &str) -> Result<Option<String>, String> {
    match kind {
        FieldKind::DayOfMonth => {
            // `L-0` is Cronos's long way to write `L`.
            match base {
                "L" | "L-0" => return Ok(Some("L".to_string())),
                "LW" | "L-0W" => return Ok(Some("LW".to_string())),
                _ => {}
            }
            if base.starts_with("L-") {
                return Err(
                    "L-n (n days before the last day) is not supported; use L or LW".into(),
                );
            }
            if let Some(day) = base.strip_suffix('W') {
                let day = parse_value(kind, day)?;
                return Ok(Some(format!("{day}W")));
            }
            if base.contains('L') || base.contains('#') {
                return Err(format!(
                    "must be {}, L (last day), LW (last weekday) or nW (weekday nearest day n)",
                    kind.allowed()
                ));
            }
            Ok(None)
        }
        FieldKind::DayOfWeek => {
            if let Some((day, nth)) = base.split_once('#') {
                let day = parse_value(kind, day)? % 7;
                let nth = parse_number(nth)
                    .filter(|n| (1..=5).contains(n))
                    .ok_or("the n in day#n must be 1-5")?;
                return Ok(Some(format!("{day}#{nth}")));
            }
            if base == "L" {
                return Err("L needs a weekday before it, e.g. 5L for the last Friday".into());
            }
            if let Some(day) = base.strip_suffix('L') {
                let day = parse_value(kind, day)? % 7;
                return Ok(Some(format!("{day}L")));
            }
            if base.contains('W') {
                return Err(format!(
                    "must be {}; W belongs in day-of-month",
                    kind.allowed()
                ));
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

// ----- description helpers ---------------------------------------------------

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// "a", "a and b", "a, b and c".
fn join_english(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn describe_weekdays(dow: &FieldSpec) -> Option<String> {
    if !dow.specials.is_empty() {
        return None;
    }
    let days: Vec<u32> = dow.values.iter().collect();
    match days.as_slice() {
        [1, 2, 3, 4, 5] => Some("weekdays".to_string()),
        [0, 6] => Some("weekends".to_string()),
        _ => Some(join_english(
            &days
                .iter()
                .map(|d| WEEKDAY_NAMES[*d as usize].to_string())
                .collect::<Vec<_>>(),
        )),
    }
}

fn describe_days_of_month(dom: &FieldSpec) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if !dom.values.is_empty() {
        let days: Vec<String> = dom.values.iter().map(|d| d.to_string()).collect();
        let noun = if days.len() == 1 { "day" } else { "days" };
        parts.push(format!("{noun} {}", join_english(&days)));
    }
    for special in &dom.specials {
        parts.push(match special.as_str() {
            "L" => "the last day".to_string(),
            "LW" => "the last weekday".to_string(),
            other => format!("the weekday nearest day {}", other.strip_suffix('W')?),
        });
    }
    (!parts.is_empty()).then(|| join_english(&parts))
}

// ----- jitter ----------------------------------------------------------------

/// Deterministic jitter in [0, max) for a (server, policy) pair, so a fleet
/// does not hit the API in the same second yet each pair keeps its offset
/// across restarts and versions. FNV-1a (64-bit) over the server id's
/// little-endian bytes, a 0xff separator and the policy name's UTF-8 bytes;
/// spelled out here because std's hashers may change between releases.
/// Whole milliseconds when `max` is at least 1 ms, nanoseconds below that.
pub(crate) fn jitter_for(server_id: u64, policy: &str, max: StdDuration) -> StdDuration {
    let bytes: Vec<u8> = server_id
        .to_le_bytes()
        .into_iter()
        .chain([0xff])
        .chain(policy.bytes())
        .collect();
    let hash = u128::from(fnv1a_64(&bytes));
    let millis = max.as_millis();
    if millis > 0 {
        StdDuration::from_millis(u64::try_from(hash % millis).unwrap_or(u64::MAX))
    } else if max.is_zero() {
        StdDuration::ZERO
    } else {
        StdDuration::from_nanos(u64::try_from(hash % max.as_nanos()).unwrap_or(0))
    }
}

/// FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET_BASIS, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::{NaiveDate, Offset as _};

    use crate::zone::known;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
            .with_timezone(&Utc)
    }

    fn sched(expr: &str, tz: Zone) -> Schedule {
        Schedule::parse(expr, tz).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    /// Every fire time in `[from, to]`, by walking `next_from`.
    fn fires(s: &Schedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        let (from, to) = (utc(from), utc(to));
        let mut out = Vec::new();
        let mut next = s.next_from(from, true);
        while let Some(t) = next.filter(|t| *t <= to) {
            out.push(t);
            next = s.next_after(t);
        }
        out
    }

    fn rfc(ts: &[DateTime<Utc>]) -> Vec<String> {
        ts.iter()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .collect()
    }

    // ----- conformance: Cronos's next-occurrence cases ---------------------

    #[derive(serde::Deserialize)]
    struct CaseFile {
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        format: String,
        zone: String,
        inclusive: bool,
        from: String,
        from_is_local_wall_time: bool,
        expected: Option<String>,
        expression: String,
        uses_quartz_extensions: bool,
        dom_and_dow_both_restricted: Option<bool>,
    }

    const CRONOS_CASES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/cron/cronos_cases.json"
    ));

    /// An instant as Cronos's tests build it. A wall-clock time goes through
    /// .NET's `TimeZoneInfo.GetUtcOffset`, which reads an ambiguous or a
    /// skipped wall time as standard time; a string with an offset is that
    /// instant.
    fn cronos_instant(s: &str, wall_time: bool, tz: Zone) -> DateTime<Utc> {
        if !wall_time {
            for fmt in ["%Y-%m-%d %H:%M:%S%.f %:z", "%Y-%m-%d %H:%M %:z"] {
                if let Ok(t) = DateTime::parse_from_str(s, fmt) {
                    return t.with_timezone(&Utc);
                }
            }
            panic!("unreadable instant {s:?}");
        }
        let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
            .unwrap_or_else(|| panic!("unreadable wall time {s:?}"));
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, later) => {
                let standard = if !earlier.offset().is_dst() {
                    earlier
                } else {
                    later
                };
                standard.with_timezone(&Utc)
            }
            LocalResult::None => {
                // The day before a gap is standard time.
                let day_before = tz.offset_from_utc_datetime(&(naive - TimeDelta::days(1)));
                let standard = TimeDelta::seconds(i64::from(day_before.fix().local_minus_utc()));
                Utc.from_utc_datetime(&(naive - standard))
            }
        }
    }

    /// Whether both day fields are restricted in the crontab(5) sense (the
    /// rows of Cronos's "never fires" test carry `null` for this flag).
    fn both_days_restricted(case: &Case) -> bool {
        let mut fields: Vec<&str> = case.expression.split_whitespace().collect();
        if fields.len() == 5 {
            fields.insert(0, "0");
        }
        let restricted = |f: &str| !(f.starts_with('*') || f.starts_with('?'));
        fields.len() == 6 && restricted(fields[3]) && restricted(fields[5])
    }

    /// Whether croner's own parser, at its most permissive, also rejects the
    /// expression: then the row is outside what croner can express at all.
    fn croner_rejects(case: &Case) -> bool {
        let seconds = if case.format == "seconds" {
            Seconds::Required
        } else {
            Seconds::Disallowed
        };
        CronParser::builder()
            .seconds(seconds)
            .sloppy_ranges(true)
            .build()
            .parse(&case.expression)
            .is_err()
    }

    #[test]
    fn conformance_cronos_next_occurrence() {
        let file: CaseFile = serde_json::from_str(CRONOS_CASES).expect("cronos_cases.json");
        let total = file.cases.len();
        let (mut ran, mut passed) = (0usize, 0usize);
        let mut skipped: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut failures = Vec::new();
        for case in &file.cases {
            let both_restricted = case
                .dom_and_dow_both_restricted
                .unwrap_or_else(|| both_days_restricted(case));
            if both_restricted {
                // The one deliberate difference: Cronos ANDs day-of-month with
                // day-of-week when both are restricted; snapkeep follows
                // crontab(5) and ORs them.
                skipped
                    .entry("day-of-month and day-of-week both restricted (Cronos ANDs, snapkeep ORs as crontab(5))")
                    .or_default()
                    .push(case.expression.clone());
                continue;
            }
            let tz: Zone = case.zone.parse().expect("known zone");
            let schedule = match Schedule::parse(&case.expression, tz) {
                Ok(s) => s,
                Err(e) if case.uses_quartz_extensions && croner_rejects(case) => {
                    skipped
                        .entry("Quartz extension croner cannot parse (L-n)")
                        .or_default()
                        .push(format!("{:?}: {e}", case.expression));
                    continue;
                }
                Err(e) => {
                    ran += 1;
                    failures.push(format!("{:?}: does not parse: {e}", case.expression));
                    continue;
                }
            };
            let from = cronos_instant(&case.from, case.from_is_local_wall_time, tz);
            let from_local = from.with_timezone(&tz).naive_local();
            let cronos_expected = case
                .expected
                .as_deref()
                .map(|e| cronos_instant(e, case.from_is_local_wall_time, tz));
            if case.inclusive
                && from.nanosecond() == 0
                && cronos_expected != Some(from)
                && schedule.gap_with_match_ends_at(from_local)
            {
                // Deliberate: a time skipped by a spring-forward change fires
                // at the gap's end, and snapkeep's `next_from(G, true)` says
                // so too, which keeps `next_from(slot, true) == slot` for the
                // slot G. Cronos searches the wall clock from G and misses it.
                skipped
                    .entry("inclusive from exactly at the end of a DST gap with a skipped match (Cronos: not fired; snapkeep: fires, so a slot is its own next_from)")
                    .or_default()
                    .push(format!("{:?} in {} from {}", case.expression, case.zone, case.from));
                continue;
            }
            ran += 1;
            let fields = case.expression.split_whitespace().count();
            let want_fields = if case.format == "seconds" { 6 } else { 5 };
            if !case.expression.trim_start().starts_with('@') && fields != want_fields {
                failures.push(format!(
                    "{:?}: {fields} fields but format {}",
                    case.expression, case.format
                ));
                continue;
            }
            let expected = cronos_expected;
            let got = schedule.next_from(from, case.inclusive);
            if got == expected {
                passed += 1;
            } else {
                failures.push(format!(
                    "{:?} in {} from {} (inclusive: {}): expected {:?}, got {:?}",
                    case.expression,
                    case.zone,
                    case.from,
                    case.inclusive,
                    expected.map(|t| t.with_timezone(&tz).to_rfc3339()),
                    got.map(|t| t.with_timezone(&tz).to_rfc3339()),
                ));
            }
        }
        let skipped_count: usize = skipped.values().map(Vec::len).sum();
        println!(
            "Cronos conformance: {total} cases, ran {ran}, passed {passed}, skipped {skipped_count}"
        );
        for (reason, rows) in &skipped {
            println!("  skipped {} — {reason}", rows.len());
            let examples: BTreeSet<&String> = rows.iter().collect();
            for row in examples.iter().take(3) {
                println!("    e.g. {row}");
            }
        }
        for failure in &failures {
            println!("  FAILED {failure}");
        }
        assert_eq!(ran + skipped_count, total);
        assert!(
            failures.is_empty(),
            "{} of {ran} Cronos cases failed",
            failures.len()
        );
        // Guard against a change that quietly skips most of the file.
        assert!(ran >= 740, "only {ran} cases ran");
    }

    // ----- DST ---------------------------------------------------------------

    #[test]
    fn berlin_spring_gap_fixed_time_fires_once_after_the_gap() {
        let s = sched("30 2 * * *", known("Europe/Berlin"));
        // 2025-03-30: 02:00 CET jumps to 03:00 CEST; 02:30 never happens.
        assert_eq!(
            rfc(&fires(&s, "2025-03-29T12:00:00Z", "2025-03-31T12:00:00Z")),
            ["2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"],
        );
        let at = s.next_after(utc("2025-03-29T12:00:00Z")).unwrap();
        assert_eq!(
            at.with_timezone(&s.timezone()).to_rfc3339(),
            "2025-03-30T03:00:00+02:00"
        );
        // The slot at 03:10 local is the 03:00 firing, and it is its own next.
        let slot = s.latest_at_or_before(utc("2025-03-30T01:10:00Z")).unwrap();
        assert_eq!(slot, utc("2025-03-30T01:00:00Z"));
        assert_eq!(s.next_from(slot, true), Some(slot));
        assert_eq!(s.next_after(slot), Some(utc("2025-03-31T00:30:00Z")));
    }

    #[test]
    fn berlin_fall_overlap_fixed_time_fires_once() {
        let s = sched("30 2 * * *", known("Europe/Berlin"));
        // 2025-10-26: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        assert_eq!(
            rfc(&fires(&s, "2025-10-25T12:00:00Z", "2025-10-27T12:00:00Z")),
            ["2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"],
        );
        // In the second pass the slot is still the first-pass firing.
        assert_eq!(
            s.latest_at_or_before(utc("2025-10-26T01:45:00Z")),
            Some(utc("2025-10-26T00:30:00Z"))
        );
        // From inside the second pass, the next is tomorrow.
        assert_eq!(
            s.next_from(utc("2025-10-26T01:15:00Z"), true),
            Some(utc("2025-10-27T01:30:00Z"))
        );
    }

    #[test]
    fn berlin_stepped_minutes_fire_in_both_passes_and_once_after_gap() {
        let s = sched("*/30 * * * *", known("Europe/Berlin"));
        assert_eq!(
            rfc(&fires(&s, "2025-10-25T23:45:00Z", "2025-10-26T02:00:00Z")),
            [
                "2025-10-26T00:00:00Z", // 02:00 CEST
                "2025-10-26T00:30:00Z", // 02:30 CEST
                "2025-10-26T01:00:00Z", // 02:00 CET
                "2025-10-26T01:30:00Z", // 02:30 CET
                "2025-10-26T02:00:00Z", // 03:00 CET
            ],
        );
        // Spring: 02:00 and 02:30 do not exist; they fire once, at 03:00.
        assert_eq!(
            rfc(&fires(&s, "2025-03-30T00:15:00Z", "2025-03-30T01:45:00Z")),
            [
                "2025-03-30T00:30:00Z", // 01:30 CET
                "2025-03-30T01:00:00Z", // 03:00 CEST
                "2025-03-30T01:30:00Z", // 03:30 CEST
            ],
        );
    }

    #[test]
    fn berlin_list_of_minutes_is_a_fixed_time() {
        // `0,30` is not an interval for Cronos: once per repeated hour.
        let s = sched("0,30 2 * * *", known("Europe/Berlin"));
        assert_eq!(
            rfc(&fires(&s, "2025-10-25T23:45:00Z", "2025-10-26T03:00:00Z")),
            ["2025-10-26T00:00:00Z", "2025-10-26T00:30:00Z"],
        );
        // A range in the hour field is an interval: both passes.
        let s = sched("30 1-3 * * *", known("Europe/Berlin"));
        assert_eq!(
            rfc(&fires(&s, "2025-10-25T23:00:00Z", "2025-10-26T03:00:00Z")),
            [
                "2025-10-25T23:30:00Z",
                "2025-10-26T00:30:00Z",
                "2025-10-26T01:30:00Z",
                "2025-10-26T02:30:00Z",
            ],
        );
    }

    #[test]
    fn new_york_gap_and_overlap() {
        let ny = known("America/New_York");
        // 2025-03-09: 02:00 EST jumps to 03:00 EDT.
        let s = sched("30 2 * * *", ny);
        assert_eq!(
            rfc(&fires(&s, "2025-03-08T12:00:00Z", "2025-03-10T12:00:00Z")),
            ["2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"],
        );
        // 2025-11-02: 02:00 EDT falls back to 01:00 EST.
        let s = sched("30 1 * * *", ny);
        assert_eq!(
            rfc(&fires(&s, "2025-11-01T12:00:00Z", "2025-11-03T12:00:00Z")),
            ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"],
        );
        let s = sched("*/30 * * * *", ny);
        assert_eq!(
            rfc(&fires(&s, "2025-11-02T05:00:00Z", "2025-11-02T07:00:00Z")),
            [
                "2025-11-02T05:00:00Z",
                "2025-11-02T05:30:00Z",
                "2025-11-02T06:00:00Z",
                "2025-11-02T06:30:00Z",
                "2025-11-02T07:00:00Z",
            ],
        );
        assert_eq!(
            s.latest_at_or_before(utc("2025-11-02T06:10:00Z")),
            Some(utc("2025-11-02T06:00:00Z"))
        );
    }

    /// `latest_at_or_before` must agree with walking `next_from`, at every
    /// moment around the awkward days of several zones.
    #[test]
    fn latest_at_or_before_agrees_with_next_from_around_transitions() {
        let windows: [(Zone, &str, &str); 10] = [
            (
                known("Europe/Berlin"),
                "2025-03-29T20:00:00Z",
                "2025-03-30T06:00:00Z",
            ),
            (
                known("Europe/Berlin"),
                "2025-10-25T20:00:00Z",
                "2025-10-26T06:00:00Z",
            ),
            (
                known("America/New_York"),
                "2025-03-09T02:00:00Z",
                "2025-03-09T12:00:00Z",
            ),
            (
                known("America/New_York"),
                "2025-11-02T02:00:00Z",
                "2025-11-02T12:00:00Z",
            ),
            (
                known("Australia/Lord_Howe"),
                "2025-04-05T11:00:00Z",
                "2025-04-05T18:00:00Z",
            ),
            (
                known("Australia/Lord_Howe"),
                "2025-10-04T12:00:00Z",
                "2025-10-04T18:00:00Z",
            ),
            (
                known("America/Santiago"),
                "2025-04-05T22:00:00Z",
                "2025-04-06T08:00:00Z",
            ),
            (
                known("America/Santiago"),
                "2025-09-06T22:00:00Z",
                "2025-09-07T08:00:00Z",
            ),
            (
                known("Pacific/Apia"),
                "2011-12-29T00:00:00Z",
                "2011-12-31T12:00:00Z",
            ),
            (
                known("Europe/Berlin"),
                "2025-06-01T00:00:00Z",
                "2025-06-01T06:00:00Z",
            ),
        ];
        let expressions = [
            "30 2 * * *",
            "0 0 * * *",
            "30 23 * * *",
            "*/30 * * * *",
            "15 * * * *",
            "0,30 1,2 * * *",
            "30 1-2 * * *",
            "0 */2 * * *",
            "*/20 45 * * * *",
            "@hourly",
        ];
        for (tz, from, to) in windows {
            for expr in expressions {
                let s = sched(expr, tz);
                // One fire before the window gives every `t` in it a slot.
                let start = s.latest_at_or_before(utc(from)).expect("fired before");
                let all = fires(&s, &start.to_rfc3339(), to);
                assert!(
                    all.windows(2).all(|w| w[0] < w[1]),
                    "{expr} in {tz}: not increasing"
                );
                let mut probes: Vec<DateTime<Utc>> = Vec::new();
                let mut t = utc(from);
                while t <= utc(to) {
                    probes.push(t);
                    t += TimeDelta::seconds(7 * 60 + 13);
                }
                for f in &all {
                    probes.extend([*f - TimeDelta::seconds(1), *f, *f + TimeDelta::seconds(1)]);
                }
                for t in probes.into_iter().filter(|t| *t >= start && *t <= utc(to)) {
                    let want = all.iter().rev().find(|f| **f <= t).copied();
                    let got = s.latest_at_or_before(t);
                    assert_eq!(got, want, "{expr} in {tz}: latest at or before {t}");
                    let slot = got.expect("slot");
                    assert_eq!(s.next_from(slot, true), Some(slot), "{expr} in {tz} at {t}");
                    let next = all.iter().find(|f| **f >= t).copied();
                    if next.is_some() {
                        assert_eq!(s.next_from(t, true), next, "{expr} in {tz}: next from {t}");
                    }
                }
            }
        }
    }

    /// The promises the daemon relies on, at random moments of a decade in
    /// zones with odd transitions (fixed seed, so failures reproduce).
    #[test]
    fn slot_invariants_hold_at_random_times() {
        let zones = [
            known("Europe/Berlin"),
            known("America/New_York"),
            known("Australia/Lord_Howe"),
            known("America/Santiago"),
            known("Asia/Amman"),
        ];
        let expressions = [
            "30 2 * * *",
            "0 0 * * *",
            "*/30 * * * *",
            "15 */3 * * *",
            "0,30 0-2 * * *",
            "0 0 L * *",
            "0 4 * * SUN",
        ];
        let mut seed: u64 = 0x5eed_cafe_f00d_0001;
        let mut random = move || {
            // xorshift64
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (start, span) = (utc("2020-01-01T00:00:00Z"), 10 * 366 * 86_400);
        for _ in 0..1500 {
            let tz = zones[(random() % zones.len() as u64) as usize];
            let expr = expressions[(random() % expressions.len() as u64) as usize];
            let s = sched(expr, tz);
            let t = start + TimeDelta::seconds((random() % span) as i64);
            let slot = s.latest_at_or_before(t).expect("has fired before");
            let next = s.next_after(t).expect("fires again");
            assert!(slot <= t && t < next, "{expr} in {tz} at {t}");
            assert_eq!(s.next_from(slot, true), Some(slot), "{expr} in {tz} at {t}");
            assert_eq!(s.next_after(slot), Some(next), "{expr} in {tz} at {t}");
            assert_eq!(
                s.latest_at_or_before(next),
                Some(next),
                "{expr} in {tz} at {t}"
            );
            assert_eq!(
                s.latest_at_or_before(next - TimeDelta::seconds(1)),
                Some(slot),
                "{expr} in {tz} at {t}"
            );
        }
    }

    #[test]
    fn times_outside_the_search_range_have_no_fire_times() {
        let s = sched("* * * * * *", known("Pacific/Kiritimati"));
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            assert_eq!(s.next_from(t, true), None);
            assert_eq!(s.latest_at_or_before(t), None);
            assert_eq!(s.interval_at(t), None);
        }
    }

    #[test]
    fn samoa_skipped_day_fires_at_the_end_of_the_gap() {
        // Pacific/Apia skipped 2011-12-30 entirely.
        let s = sched("0 12 * * *", known("Pacific/Apia"));
        let local: Vec<String> = s
            .upcoming(utc("2011-12-28T00:00:00Z"), 3)
            .iter()
            .map(DateTime::to_rfc3339)
            .collect();
        assert_eq!(
            local,
            [
                "2011-12-28T12:00:00-10:00",
                "2011-12-29T12:00:00-10:00",
                // 30 Dec 12:00 never happened: fired once at the end of the
                // gap, midnight of the 31st.
                "2011-12-31T00:00:00+14:00",
            ]
        );
    }

    // ----- shapes ------------------------------------------------------------

    #[test]
    fn aliases() {
        let tz = Zone::UTC;
        let t = utc("2025-05-14T10:20:30Z"); // a Wednesday
        let cases = [
            ("@hourly", "2025-05-14T11:00:00Z"),
            ("@daily", "2025-05-15T00:00:00Z"),
            ("@midnight", "2025-05-15T00:00:00Z"),
            ("@DAILY", "2025-05-15T00:00:00Z"),
            ("@weekly", "2025-05-18T00:00:00Z"),
            ("@monthly", "2025-06-01T00:00:00Z"),
            ("@yearly", "2026-01-01T00:00:00Z"),
            ("@annually", "2026-01-01T00:00:00Z"),
        ];
        for (alias, want) in cases {
            assert_eq!(sched(alias, tz).next_after(t), Some(utc(want)), "{alias}");
        }
        assert_eq!(sched("@daily", tz).expression(), "@daily");
        let err = Schedule::parse("@fortnightly", tz).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown shortcut \"@fortnightly\": use @hourly, @daily (or @midnight), @weekly, \
             @monthly or @yearly (or @annually)"
        );
    }

    #[test]
    fn five_and_six_fields() {
        let tz = Zone::UTC;
        let t = utc("2025-05-14T10:20:30Z");
        assert_eq!(
            sched("0 3 * * *", tz).next_after(t),
            sched("0 0 3 * * *", tz).next_after(t)
        );
        assert_eq!(
            rfc(&fires(
                &sched("*/2 * * * * *", tz),
                "2025-05-14T10:20:29Z",
                "2025-05-14T10:20:35Z"
            )),
            [
                "2025-05-14T10:20:30Z",
                "2025-05-14T10:20:32Z",
                "2025-05-14T10:20:34Z"
            ],
        );
        assert_eq!(
            sched("15 10 * * * *", tz).next_after(t),
            Some(utc("2025-05-14T11:10:15Z"))
        );
        for (expr, got) in [("* * * *", 4), ("0 0 0 * * * 2025", 7), ("*", 1)] {
            assert_eq!(
                Schedule::parse(expr, tz).unwrap_err().to_string(),
                format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), 6 with \
                     seconds first, or @hourly/@daily/@weekly/@monthly/@yearly; got {got}"
                )
            );
        }
        assert_eq!(Schedule::parse("  ", tz).unwrap_err(), ScheduleError::Empty);
    }

    #[test]
    fn sub_second_from_rounds_up() {
        let s = sched("0 7 * * *", Zone::UTC);
        let t = utc("2025-05-14T07:00:00.000001Z");
        assert_eq!(s.next_from(t, true), Some(utc("2025-05-15T07:00:00Z")));
        assert_eq!(s.latest_at_or_before(t), Some(utc("2025-05-14T07:00:00Z")));
    }

    #[test]
    fn day_31_skips_short_months() {
        let s = sched("0 0 31 * *", Zone::UTC);
        assert_eq!(
            rfc(&fires(&s, "2025-01-01T00:00:00Z", "2025-08-31T00:00:00Z")),
            [
                "2025-01-31T00:00:00Z",
                "2025-03-31T00:00:00Z",
                "2025-05-31T00:00:00Z",
                "2025-07-31T00:00:00Z",
                "2025-08-31T00:00:00Z",
            ],
        );
        assert_eq!(
            s.latest_at_or_before(utc("2025-05-30T00:00:00Z")),
            Some(utc("2025-03-31T00:00:00Z"))
        );
        // `L` is the last day of whatever month it is.
        let s = sched("0 0 L * *", Zone::UTC);
        assert_eq!(
            rfc(&fires(&s, "2024-01-01T00:00:00Z", "2024-04-30T00:00:00Z")),
            [
                "2024-01-31T00:00:00Z",
                "2024-02-29T00:00:00Z",
                "2024-03-31T00:00:00Z",
                "2024-04-30T00:00:00Z",
            ],
        );
    }

    #[test]
    fn february_29_only_in_leap_years() {
        let s = sched("0 0 29 2 *", Zone::UTC);
        assert_eq!(
            s.next_from(utc("2025-01-01T00:00:00Z"), true),
            Some(utc("2028-02-29T00:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(utc("2027-06-01T00:00:00Z")),
            Some(utc("2024-02-29T00:00:00Z"))
        );
        assert_eq!(
            s.interval_at(utc("2027-06-01T00:00:00Z")),
            Some(TimeDelta::days(366 + 365 * 3))
        );
        // A date that never exists never fires, in either direction.
        let never = sched("0 0 30 2 *", Zone::UTC);
        assert_eq!(never.next_after(utc("2025-01-01T00:00:00Z")), None);
        assert_eq!(never.latest_at_or_before(utc("2025-01-01T00:00:00Z")), None);
        assert_eq!(never.interval_at(utc("2025-01-01T00:00:00Z")), None);
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // crontab(5): both restricted, so the 1st OR any Monday.
        let s = sched("0 0 1 * 1", Zone::UTC);
        assert_eq!(
            rfc(&fires(&s, "2025-09-29T12:00:00Z", "2025-10-20T00:00:00Z")),
            [
                "2025-10-01T00:00:00Z", // Wednesday the 1st
                "2025-10-06T00:00:00Z", // Mondays
                "2025-10-13T00:00:00Z",
                "2025-10-20T00:00:00Z",
            ],
        );
        assert_eq!(
            s.latest_at_or_before(utc("2025-10-05T12:00:00Z")),
            Some(utc("2025-10-01T00:00:00Z"))
        );
        // A day field starting with `*` is unrestricted in crontab(5)'s
        // sense, so the two AND: odd days that are Mondays.
        let s = sched("0 0 */2 * MON", Zone::UTC);
        assert_eq!(
            rfc(&fires(&s, "2025-10-01T00:00:00Z", "2025-10-31T00:00:00Z")),
            ["2025-10-13T00:00:00Z", "2025-10-27T00:00:00Z"],
        );
        // Sunday is 0 or 7.
        let t = utc("2025-10-01T00:00:00Z");
        assert_eq!(
            sched("0 0 * * 7", Zone::UTC).next_after(t),
            sched("0 0 * * SUN", Zone::UTC).next_after(t)
        );
    }

    #[test]
    fn cronos_spellings() {
        let tz = Zone::UTC;
        let t = utc("2025-10-01T00:00:00Z"); // a Wednesday
        // Wrapping hour range 22-2.
        assert_eq!(
            rfc(&fires(
                &sched("0 22-2 * * *", tz),
                "2025-10-01T12:00:00Z",
                "2025-10-02T12:00:00Z"
            )),
            [
                "2025-10-01T22:00:00Z",
                "2025-10-01T23:00:00Z",
                "2025-10-02T00:00:00Z",
                "2025-10-02T01:00:00Z",
                "2025-10-02T02:00:00Z",
            ],
        );
        // Single-value step, `?`, names in any case, nth and last weekday.
        assert_eq!(
            sched("0/20 * * * *", tz).next_after(t),
            Some(utc("2025-10-01T00:20:00Z"))
        );
        assert_eq!(
            sched("0 0 ? * fri", tz).next_after(t),
            Some(utc("2025-10-03T00:00:00Z"))
        );
        assert_eq!(
            sched("0 0 * * MON#2", tz).next_after(t),
            Some(utc("2025-10-13T00:00:00Z"))
        );
        assert_eq!(
            sched("0 0 * * 5L", tz).next_after(t),
            Some(utc("2025-10-31T00:00:00Z"))
        );
        assert_eq!(
            sched("0 0 LW * *", tz).next_after(t),
            Some(utc("2025-10-31T00:00:00Z"))
        );
        // 2025-11-15 is a Saturday: the nearest weekday is Friday the 14th.
        assert_eq!(
            sched("0 0 15W 11 *", tz).next_after(t),
            Some(utc("2025-11-14T00:00:00Z"))
        );
    }

    #[test]
    fn errors_name_the_field() {
        let tz = Zone::UTC;
        let err = |e: &str| Schedule::parse(e, tz).unwrap_err().to_string();
        assert_eq!(err("0 25 * * *"), "field 2 (hour) \"25\": must be 0-23");
        assert_eq!(err("0 0 25 * * *"), "field 3 (hour) \"25\": must be 0-23");
        assert_eq!(err("60 * * * *"), "field 1 (minute) \"60\": must be 0-59");
        assert_eq!(err("60 * * * * *"), "field 1 (second) \"60\": must be 0-59");
        assert_eq!(
            err("0 0 1,32 * *"),
            "field 3 (day-of-month) \"32\": must be 1-31"
        );
        assert_eq!(
            err("0 0 * 0 *"),
            "field 4 (month) \"0\": must be 1-12 or JAN-DEC"
        );
        assert_eq!(
            err("0 0 * * 8"),
            "field 5 (day-of-week) \"8\": must be 0-7 or SUN-SAT (0 and 7 are Sunday)"
        );
        assert_eq!(
            err("0 0 * * FUN"),
            "field 5 (day-of-week) \"FUN\": \"FUN\" is not a value; must be 0-7 or SUN-SAT \
             (0 and 7 are Sunday)"
        );
        assert_eq!(
            err("*/0 * * * *"),
            "field 1 (minute) \"*/0\": step must be a number 1-60"
        );
        assert_eq!(
            err("0 0 1-x * *"),
            "field 3 (day-of-month) \"1-x\": \"X\" is not a value; must be 1-31"
        );
        assert_eq!(
            err("0 0 1,,2 * *"),
            "field 3 (day-of-month) \"1,,2\": empty item in a list"
        );
        assert_eq!(
            err("0 0 L-3 * *"),
            "field 3 (day-of-month) \"L-3\": L-n (n days before the last day) is not supported; \
             use L or LW"
        );
        assert_eq!(
            err("0 0 * * 1#6"),
            "field 5 (day-of-week) \"1#6\": the n in day#n must be 1-5"
        );
        assert_eq!(
            err("0 0 L/2 * *"),
            "field 3 (day-of-month) \"L/2\": L cannot take a step"
        );
    }

    #[test]
    fn descriptions() {
        let d = |e: &str, tz: Zone| sched(e, tz).describe();
        assert_eq!(
            d("0 3 * * *", known("Europe/Berlin")),
            "at 03:00 every day (Europe/Berlin)"
        );
        assert_eq!(d("*/2 * * * * *", Zone::UTC), "every 2 seconds");
        assert_eq!(d("* * * * * *", Zone::UTC), "every second");
        assert_eq!(d("* * * * *", Zone::UTC), "every minute");
        assert_eq!(d("*/15 * * * *", Zone::UTC), "every 15 minutes");
        assert_eq!(d("30 4 * * 0", Zone::UTC), "at 04:30 on Sunday (UTC)");
        assert_eq!(d("30 4 * * sun", Zone::UTC), "at 04:30 on Sunday (UTC)");
        assert_eq!(d("0 3 * * 1-5", Zone::UTC), "at 03:00 on weekdays (UTC)");
        assert_eq!(
            d("0 3 * * 1,3,5", Zone::UTC),
            "at 03:00 on Monday, Wednesday and Friday (UTC)"
        );
        assert_eq!(
            d("0 0,12 * * *", Zone::UTC),
            "at 00:00 and 12:00 every day (UTC)"
        );
        assert_eq!(d("15 30 2 * * *", Zone::UTC), "at 02:30:15 every day (UTC)");
        assert_eq!(d("@hourly", Zone::UTC), "every hour (UTC)");
        assert_eq!(
            d("15 */6 * * *", Zone::UTC),
            "every 6 hours at minute 15 (UTC)"
        );
        assert_eq!(d("@daily", Zone::UTC), "at 00:00 every day (UTC)");
        assert_eq!(d("@weekly", Zone::UTC), "at 00:00 on Sunday (UTC)");
        assert_eq!(
            d("@monthly", Zone::UTC),
            "at 00:00 on day 1 of every month (UTC)"
        );
        assert_eq!(d("@yearly", Zone::UTC), "at 00:00 on 1 January (UTC)");
        assert_eq!(
            d("0 0 L * *", Zone::UTC),
            "at 00:00 on the last day of every month (UTC)"
        );
        assert_eq!(
            d("0 0 1,15 * *", Zone::UTC),
            "at 00:00 on days 1 and 15 of every month (UTC)"
        );
        assert_eq!(
            d("0 2 * 1,7 *", Zone::UTC),
            "at 02:00 every day in January and July (UTC)"
        );
        assert_eq!(
            d("0 0 1 * 1", Zone::UTC),
            "at 00:00 on day 1 of every month and on every Monday (UTC)"
        );
        // Exotic: the expression itself.
        assert_eq!(d("0 0 * * 5L", Zone::UTC), "cron \"0 0 * * 5L\" (UTC)");
        assert_eq!(d("*/7 * * * *", Zone::UTC), "cron \"*/7 * * * *\" (UTC)");
    }

    #[test]
    fn upcoming_is_in_the_policy_zone() {
        let s = sched("0 3 * * *", known("Europe/Berlin"));
        let next: Vec<String> = s
            .upcoming(utc("2025-03-28T12:00:00Z"), 3)
            .iter()
            .map(DateTime::to_rfc3339)
            .collect();
        assert_eq!(
            next,
            [
                "2025-03-29T03:00:00+01:00",
                "2025-03-30T03:00:00+02:00",
                "2025-03-31T03:00:00+02:00",
            ]
        );
        assert!(s.upcoming(utc("2025-03-28T12:00:00Z"), 0).is_empty());
    }

    #[test]
    fn interval_around_a_time() {
        let s = sched("0 3 * * *", known("Europe/Berlin"));
        assert_eq!(
            s.interval_at(utc("2025-06-01T12:00:00Z")),
            Some(TimeDelta::hours(24))
        );
        // Around the spring change the day is an hour short.
        assert_eq!(
            s.interval_at(utc("2025-03-29T12:00:00Z")),
            Some(TimeDelta::hours(23))
        );
        let s = sched("*/30 * * * *", Zone::UTC);
        assert_eq!(
            s.interval_at(utc("2025-06-01T12:10:00Z")),
            Some(TimeDelta::minutes(30))
        );
        assert_eq!(
            s.interval_at(utc("2025-06-01T12:30:00Z")),
            Some(TimeDelta::minutes(30))
        );
    }

    #[test]
    fn jitter_is_stable_and_in_range() {
        // FNV-1a 64 reference vectors: the hash must never change.
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
        let hour = StdDuration::from_secs(3600);
        // Pinned: a change here moves every server's fire time.
        assert_eq!(
            jitter_for(42, "nightly", hour),
            jitter_for(42, "nightly", hour)
        );
        assert_eq!(
            jitter_for(42, "nightly", hour),
            StdDuration::from_millis(PINNED_JITTER_MS)
        );
        assert_ne!(
            jitter_for(42, "nightly", hour),
            jitter_for(43, "nightly", hour)
        );
        assert_ne!(
            jitter_for(42, "nightly", hour),
            jitter_for(42, "weekly", hour)
        );
        for id in 0..500u64 {
            for max in [
                StdDuration::from_secs(1),
                StdDuration::from_millis(1500),
                StdDuration::from_nanos(999),
                hour,
            ] {
                assert!(jitter_for(id, "p", max) < max);
            }
        }
        assert_eq!(jitter_for(7, "p", StdDuration::ZERO), StdDuration::ZERO);
    }

    const PINNED_JITTER_MS: u64 = 2_879_093;
}

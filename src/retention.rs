//! Which snapshots or backups to keep, and why.
//!
//! Deleting a backup is the one thing snapkeep does that cannot be undone, so
//! the decision lives here, apart from everything that talks to the network:
//! a pure function of the items, the policy and an injected `now`, that tests
//! and property checks can drive through any calendar edge without waiting.
//!
//! The keep rules are restic's `forget` policy, so that operators can reuse
//! what they already know and so that restic's own fixtures
//! (`tests/conformance/restic/`) can hold us to it. [`restic_apply`] is that
//! algorithm alone; [`plan`] is built on it and adds what a provider account
//! needs on top: never touch what we did not create, never delete the newest
//! completed item, and never keep more than the slots the provider gives us.
//!
//! Buckets (hour, day, ISO week, month, year) are taken on each item's wall
//! clock in the policy's time zone, because "one backup per day" means the
//! operator's day, not UTC's.

use std::fmt;
use std::str::FromStr;

use crate::zone::Zone;
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};

/// A restic-style duration: `1y2m3d4h` (m = months).
///
/// Calendar units stay separate instead of being folded into hours because
/// "one month" back from 31 March is not a fixed number of hours; see
/// [`Span::threshold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) years: u32,
    pub(crate) months: u32,
    pub(crate) days: u32,
    pub(crate) hours: u32,
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {problem}; use numbers followed by y (years), m (months), d (days), h (hours), e.g. 1y6m or 14d"
)]
pub(crate) struct SpanError {
    input: String,
    problem: SpanProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum SpanProblem {
    #[error("it is empty")]
    Empty,
    #[error("durations cannot be negative")]
    Negative,
    #[error("expected a number before {0:?}")]
    MissingNumber(char),
    #[error("the number {0} has no unit")]
    MissingUnit(String),
    #[error("{0:?} is not a unit")]
    UnknownUnit(char),
    // restic silently lets the last one win; in a config file a repeated
    // unit is far more likely a typo than an intent.
    #[error("the unit {0:?} appears twice")]
    Repeated(char),
    #[error("the number {0} is too large")]
    TooLarge(String),
}

impl Span {
    /// A zero span keeps nothing, so restic treats it as "rule not set";
    /// so do we.
    pub(crate) fn is_zero(&self) -> bool {
        *self == Span::default()
    }

    /// The instant a snapshot must be strictly after to count as "within"
    /// this span of `latest`; `None` when that lies before any representable
    /// time (everything is within).
    ///
    /// Like restic (Go's `AddDate`): years, months and days go back in one
    /// calendar step on `latest`'s wall clock, month overflow normalised
    /// before days (31 Mar − 1m = "31 Feb" = 3 Mar, or 2 Mar in a leap
    /// year), and only then the hours as elapsed time.
    pub(crate) fn threshold(&self, latest: DateTime<Utc>, tz: Zone) -> Option<DateTime<Utc>> {
        let wall = latest.with_timezone(&tz).naive_local();
        let month_index = i64::from(wall.year()) * 12 + i64::from(wall.month0())
            - i64::from(self.years) * 12
            - i64::from(self.months);
        let year = i32::try_from(month_index.div_euclid(12)).ok()?;
        let month = u32::try_from(month_index.rem_euclid(12)).ok()? + 1;
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let day_offset = i64::from(wall.day()) - 1 - i64::from(self.days);
        let date = first.checked_add_signed(TimeDelta::try_days(day_offset)?)?;
        let instant = resolve_wall_clock(date.and_time(wall.time()), tz)?;
        instant.checked_sub_signed(TimeDelta::try_hours(i64::from(self.hours))?)
    }
}

/// The instant a wall-clock time in `tz` names. In a DST gap or overlap the
/// answer is the one Go's `time.Date` gives, so thresholds match restic's:
/// the offset in force at the naive reading, corrected once if that reading
/// falls on the other side of the transition (a skipped 02:30 becomes 03:30,
/// a repeated 02:30 is taken as the later one).
fn resolve_wall_clock(wall: NaiveDateTime, tz: Zone) -> Option<DateTime<Utc>> {
    let as_utc = wall.and_utc();
    let offset_at = |t: &NaiveDateTime| {
        TimeDelta::seconds(i64::from(
            tz.offset_from_utc_datetime(t).fix().local_minus_utc(),
        ))
    };
    let guess = as_utc.checked_sub_signed(offset_at(&wall))?;
    as_utc.checked_sub_signed(offset_at(&guess.naive_utc()))
}

impl FromStr for Span {
    type Err = SpanError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |problem| SpanError {
            input: input.to_owned(),
            problem,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(fail(SpanProblem::Empty));
        }
        let mut span = Span::default();
        let mut seen = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if rest.starts_with('-') {
                return Err(fail(SpanProblem::Negative));
            }
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (number, after) = rest.split_at(digits);
            let mut chars = after.chars();
            let Some(unit) = chars.next() else {
                return Err(fail(SpanProblem::MissingUnit(number.to_owned())));
            };
            if number.is_empty() {
                return Err(fail(SpanProblem::MissingNumber(unit)));
            }
            let value: u32 = number
                .parse()
                .map_err(|_| fail(SpanProblem::TooLarge(number.to_owned())))?;
            let field = match unit {
                'y' => &mut span.years,
                'm' => &mut span.months,
                'd' => &mut span.days,
                'h' => &mut span.hours,
                other => return Err(fail(SpanProblem::UnknownUnit(other))),
            };
            if seen.contains(unit) {
                return Err(fail(SpanProblem::Repeated(unit)));
            }
            seen.push(unit);
            *field = value;
            rest = chars.as_str();
        }
        Ok(span)
    }
}

impl fmt::Display for Span {
    /// restic's canonical form (`1y1m1d` however it was written), because
    /// reasons quote it and must read like restic's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            // restic prints nothing here; "0h" still parses back.
            return f.write_str("0h");
        }
        for (value, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if value != 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Keep rules, restic semantics. Counts: `None` = not set, `Some(-1)` =
/// unlimited, `Some(n > 0)` = the newest n buckets. Like restic, any other
/// count (0, < -1) and a zero span mean "not set"; config validation is
/// where such values get refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeepRules {
    pub(crate) last: Option<i32>,
    pub(crate) hourly: Option<i32>,
    pub(crate) daily: Option<i32>,
    pub(crate) weekly: Option<i32>,
    pub(crate) monthly: Option<i32>,
    pub(crate) yearly: Option<i32>,
    pub(crate) within: Option<Span>,
    pub(crate) within_hourly: Option<Span>,
    pub(crate) within_daily: Option<Span>,
    pub(crate) within_weekly: Option<Span>,
    pub(crate) within_monthly: Option<Span>,
    pub(crate) within_yearly: Option<Span>,
}

/// The budget restic starts a count rule with: 0 (inactive), -1 or n > 0.
fn budget(count: Option<i32>) -> i32 {
    match count {
        Some(n) if n > 0 || n == -1 => n,
        _ => 0,
    }
}

fn active_span(span: Option<Span>) -> Option<Span> {
    span.filter(|s| !s.is_zero())
}

impl KeepRules {
    fn counts(&self) -> [i32; 6] {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
        .map(budget)
    }

    fn within_spans(&self) -> [Option<Span>; 5] {
        [
            self.within_hourly,
            self.within_daily,
            self.within_weekly,
            self.within_monthly,
            self.within_yearly,
        ]
        .map(active_span)
    }

    /// No rule that keeps anything: restic would then keep nothing at all.
    /// The rules in words, one part each ("2 last", "every daily",
    /// "weekly within 1m"), for `check` and `simulate`.
    pub(crate) fn parts(&self) -> Vec<String> {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.last, "last"),
            (self.hourly, "hourly"),
            (self.daily, "daily"),
            (self.weekly, "weekly"),
            (self.monthly, "monthly"),
            (self.yearly, "yearly"),
        ] {
            match n {
                Some(n) if n < 0 => parts.push(format!("every {what}")),
                Some(n) => parts.push(format!("{n} {what}")),
                None => {}
            }
        }
        for (span, what) in [
            (self.within, "all within"),
            (self.within_hourly, "hourly within"),
            (self.within_daily, "daily within"),
            (self.within_weekly, "weekly within"),
            (self.within_monthly, "monthly within"),
            (self.within_yearly, "yearly within"),
        ] {
            if let Some(s) = span {
                parts.push(format!("{what} {s}"));
            }
        }
        parts
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.counts().iter().all(|&c| c == 0)
            && active_span(self.within).is_none()
            && self.within_spans().iter().all(Option::is_none)
    }

    /// Upper bound of completed items these rules can keep: the sum of the
    /// positive counts, `None` when unbounded (any -1 or any within rule).
    /// Lets config validation warn when rules ask for more than the cap.
    pub(crate) fn max_kept(&self) -> Option<u32> {
        let counts = self.counts();
        if counts.contains(&-1)
            || active_span(self.within).is_some()
            || self.within_spans().iter().any(Option::is_some)
        {
            return None;
        }
        Some(
            counts
                .iter()
                .filter_map(|&c| u32::try_from(c).ok())
                .fold(0u32, u32::saturating_add),
        )
    }
}

/// The provider's status of an item, reduced to what retention cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Completed,
    InProgress,
    Failed,
    Unknown,
}

/// One snapshot or backup as retention sees it: a restore point (the
/// provider's view of an item is `inventory::Item`; `job::retention_view`
/// makes the points).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Point {
    pub(crate) id: u64,
    pub(crate) time: DateTime<Utc>,
    pub(crate) state: State,
    pub(crate) ours: bool,
}

/// What one policy asks of retention (built from a `config::Policy` by
/// `job::retention_policy`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retention {
    pub(crate) rules: KeepRules,
    /// The zone whose wall clock defines hours, days, weeks, months, years.
    pub(crate) tz: Zone,
    /// Most completed items of ours to keep; below 1 it acts as 1, since the
    /// newest completed item is never deleted.
    pub(crate) cap: usize,
}

/// Why an item is kept or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Rule {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    Within,
    WithinHourly,
    WithinDaily,
    WithinWeekly,
    WithinMonthly,
    WithinYearly,
    /// Kept: the newest completed item is never deleted (our safety rule on
    /// top of restic), so a policy can never prune itself to nothing.
    Newest,
    /// Kept: never delete what we did not create.
    NotOurs,
    /// Kept: neither kept by a rule nor deleted while the provider works on it.
    InProgress,
    /// Kept: a status we do not understand is neither usable nor deletable.
    UnknownState,
    /// Delete: our own failed items take slots and restore nothing.
    Failed,
    /// Delete: no rule keeps it.
    Unmatched,
    /// Delete: rules kept more than the cap; the oldest kept beyond it go.
    OverCap,
}

impl Rule {
    /// Short stable names for logs and metrics labels.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Rule::Last => "last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
            Rule::Within => "within",
            Rule::WithinHourly => "within_hourly",
            Rule::WithinDaily => "within_daily",
            Rule::WithinWeekly => "within_weekly",
            Rule::WithinMonthly => "within_monthly",
            Rule::WithinYearly => "within_yearly",
            Rule::Newest => "newest",
            Rule::NotOurs => "not-ours",
            Rule::InProgress => "in-progress",
            Rule::UnknownState => "unknown-status",
            Rule::Failed => "failed",
            Rule::Unmatched => "no-rule",
            Rule::OverCap => "over-cap",
        }
    }

    /// The word restic uses for a bucket rule ("daily snapshot",
    /// "daily within 7d").
    fn restic_word(&self) -> &'static str {
        match self {
            Rule::Last => "last",
            Rule::Hourly | Rule::WithinHourly => "hourly",
            Rule::Daily | Rule::WithinDaily => "daily",
            Rule::Weekly | Rule::WithinWeekly => "weekly",
            Rule::Monthly | Rule::WithinMonthly => "monthly",
            Rule::Yearly | Rule::WithinYearly => "yearly",
            _ => self.as_str(),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keep-or-delete verdict on one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) id: u64,
    pub(crate) time: DateTime<Utc>,
    pub(crate) keep: bool,
    pub(crate) reasons: Vec<Rule>,
}

/// One rule that kept a snapshot in [`restic_apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) rule: Rule,
    /// Kept only because it is the oldest snapshot and the rule had budget
    /// left: restic keeps it to stretch the history as far back as it can.
    pub(crate) oldest: bool,
    /// The span of a within rule, quoted in the text.
    pub(crate) span: Option<Span>,
}

impl fmt::Display for Match {
    /// Exactly restic's wording ("oldest daily snapshot", "within 2d",
    /// "daily within 1y2m3d3h"), so conformance compares text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.oldest {
            f.write_str("oldest ")?;
        }
        let word = self.rule.restic_word();
        match self.span {
            Some(span) if self.rule == Rule::Within => write!(f, "within {span}"),
            Some(span) => write!(f, "{word} within {span}"),
            None => write!(f, "{word} snapshot"),
        }
    }
}

/// The budgets left after a kept snapshot, as restic reports them: -1 means
/// unlimited, 0 spent or not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) last: i32,
    pub(crate) hourly: i32,
    pub(crate) daily: i32,
    pub(crate) weekly: i32,
    pub(crate) monthly: i32,
    pub(crate) yearly: i32,
}

impl Counters {
    fn from_budgets(b: [i32; 6]) -> Self {
        Counters {
            last: b[0],
            hourly: b[1],
            daily: b[2],
            weekly: b[3],
            monthly: b[4],
            yearly: b[5],
        }
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, left) in [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ] {
            if left == 0 {
                continue;
            }
            f.write_str(if first { "" } else { ", " })?;
            first = false;
            if left == -1 {
                write!(f, "{name} all")?;
            } else {
                write!(f, "{name} {left}")?;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// A snapshot restic's algorithm keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    /// Position in the `times` given to [`restic_apply`].
    pub(crate) index: usize,
    /// In restic's order: within, last … yearly, hourly within … yearly within.
    pub(crate) matches: Vec<Match>,
    /// Budgets left after this snapshot.
    pub(crate) counters: Counters,
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.matches.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { ", " })?;
            write!(f, "{m}")?;
        }
        write!(f, " (left: {})", self.counters)
    }
}

/// How coarse a rule's buckets are.
#[derive(Debug, Clone, Copy)]
enum Grain {
    /// Every snapshot is its own bucket ("last").
    Each,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Grain {
    /// A number equal for two snapshots exactly when they share a bucket.
    /// `position` only serves "last", where no two snapshots may share one.
    fn bucket(self, wall: &DateTime<Zone>, position: usize) -> i64 {
        let day =
            i64::from(wall.year()) * 10_000 + i64::from(wall.month()) * 100 + i64::from(wall.day());
        match self {
            Grain::Each => i64::try_from(position).unwrap_or(i64::MAX),
            Grain::Hour => day * 100 + i64::from(wall.hour()),
            Grain::Day => day,
            // The ISO week-year, not the calendar year: 2024-12-30 is in
            // week 1 of 2025, and must share that week's bucket.
            Grain::Week => {
                let week = wall.iso_week();
                i64::from(week.year()) * 100 + i64::from(week.week())
            }
            Grain::Month => i64::from(wall.year()) * 100 + i64::from(wall.month()),
            Grain::Year => i64::from(wall.year()),
        }
    }
}

const COUNT_RULES: [(Rule, Grain); 6] = [
    (Rule::Last, Grain::Each),
    (Rule::Hourly, Grain::Hour),
    (Rule::Daily, Grain::Day),
    (Rule::Weekly, Grain::Week),
    (Rule::Monthly, Grain::Month),
    (Rule::Yearly, Grain::Year),
];

const WITHIN_RULES: [(Rule, Grain); 5] = [
    (Rule::WithinHourly, Grain::Hour),
    (Rule::WithinDaily, Grain::Day),
    (Rule::WithinWeekly, Grain::Week),
    (Rule::WithinMonthly, Grain::Month),
    (Rule::WithinYearly, Grain::Year),
];

/// Indexes of `times`, newest first; equal instants keep input order, which
/// is restic's tie-break and makes the result independent of sort details.
fn newest_first(times: &[DateTime<Utc>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[b].cmp(&times[a]));
    order
}

/// Strictly after, with `None` standing for "before all time".
fn is_after(time: DateTime<Utc>, threshold: Option<DateTime<Utc>>) -> bool {
    threshold.is_none_or(|t| time > t)
}

/// restic's `forget` policy over bare snapshot times: which ones are kept,
/// newest first, with restic's reasons and counters.
///
/// Durations count back from the newest time at or before `now`, so a
/// clock-skewed snapshot from the future cannot shrink every window. When
/// every time is in the future, every snapshot is within every duration, as
/// in restic: counting back from a future snapshot instead would let a later
/// pass, after deletions, see narrower windows than this one and delete what
/// this one kept.
pub(crate) fn restic_apply(
    times: &[DateTime<Utc>],
    rules: &KeepRules,
    tz: Zone,
    now: DateTime<Utc>,
) -> Vec<Kept> {
    let order = newest_first(times);
    if order.is_empty() {
        return Vec::new();
    }
    let latest = times.iter().copied().filter(|&t| t <= now).max();
    let threshold = |s: Span| latest.and_then(|l| s.threshold(l, tz));
    let within = active_span(rules.within).map(|s| (s, threshold(s)));
    let within_buckets = rules
        .within_spans()
        .map(|span| span.map(|s| (s, threshold(s))));

    let mut budgets = rules.counts();
    let mut last_count_bucket: [Option<i64>; 6] = [None; 6];
    let mut last_within_bucket: [Option<i64>; 5] = [None; 5];
    let oldest_position = order.len() - 1;
    let mut kept = Vec::new();

    for (position, &index) in order.iter().enumerate() {
        let time = times[index];
        let wall = time.with_timezone(&tz);
        let is_oldest = position == oldest_position;
        let mut matches = Vec::new();

        if let Some((span, _)) = within.filter(|&(_, threshold)| is_after(time, threshold)) {
            matches.push(Match {
                rule: Rule::Within,
                oldest: false,
                span: Some(span),
            });
        }

        for (i, &(rule, grain)) in COUNT_RULES.iter().enumerate() {
            if budgets[i] == 0 {
                continue;
            }
            let bucket = grain.bucket(&wall, position);
            let same = last_count_bucket[i] == Some(bucket);
            if !same || is_oldest {
                matches.push(Match {
                    rule,
                    oldest: same,
                    span: None,
                });
                last_count_bucket[i] = Some(bucket);
                if budgets[i] > 0 {
                    budgets[i] -= 1;
                }
            }
        }

        for (i, &(rule, grain)) in WITHIN_RULES.iter().enumerate() {
            let Some((span, threshold)) = within_buckets[i] else {
                continue;
            };
            if !is_after(time, threshold) {
                continue;
            }
            let bucket = grain.bucket(&wall, position);
            let same = last_within_bucket[i] == Some(bucket);
            if !same || is_oldest {
                matches.push(Match {
                    rule,
                    oldest: same,
                    span: Some(span),
                });
                last_within_bucket[i] = Some(bucket);
            }
        }

        if !matches.is_empty() {
            kept.push(Kept {
                index,
                matches,
                counters: Counters::from_budgets(budgets),
            });
        }
    }
    kept
}

fn is_ours_completed(item: &Point) -> bool {
    item.ours && item.state == State::Completed
}

/// The verdict on every item, newest first, as (index into `items`, keep,
/// reasons). Shared by [`plan`] and [`next_to_drop`] so both decide alike.
fn decide(
    items: &[Point],
    policy: &Retention,
    now: DateTime<Utc>,
) -> Vec<(usize, bool, Vec<Rule>)> {
    let mut verdicts: Vec<(bool, Vec<Rule>)> = items
        .iter()
        .map(|item| match (item.ours, item.state) {
            (false, _) => (true, vec![Rule::NotOurs]),
            (true, State::InProgress) => (true, vec![Rule::InProgress]),
            (true, State::Unknown) => (true, vec![Rule::UnknownState]),
            (true, State::Failed) => (false, vec![Rule::Failed]),
            (true, State::Completed) => (false, vec![Rule::Unmatched]),
        })
        .collect();

    // Only our completed items enter restic's walk: anything else would let
    // an item we may not delete, or one that restores nothing, take a bucket.
    let candidates: Vec<usize> = (0..items.len())
        .filter(|&i| is_ours_completed(&items[i]))
        .collect();
    let times: Vec<DateTime<Utc>> = candidates.iter().map(|&i| items[i].time).collect();
    for kept in restic_apply(&times, &policy.rules, policy.tz, now) {
        verdicts[candidates[kept.index]] = (true, kept.matches.iter().map(|m| m.rule).collect());
    }

    let times: Vec<DateTime<Utc>> = items.iter().map(|item| item.time).collect();
    let order = newest_first(&times);
    let mut kept_newest_first = order
        .iter()
        .copied()
        .filter(|&i| is_ours_completed(&items[i]))
        .peekable();
    let unkept_newest = kept_newest_first
        .peek()
        .copied()
        .filter(|&i| !verdicts[i].0);
    if let Some(newest) = unkept_newest {
        verdicts[newest] = (true, vec![Rule::Newest]);
    }
    // The newest leads this list, so trimming from the old end can never
    // reach it, even with a cap of 0.
    let over_cap: Vec<usize> = kept_newest_first
        .filter(|&i| verdicts[i].0)
        .skip(policy.cap.max(1))
        .collect();
    for i in over_cap {
        verdicts[i] = (false, vec![Rule::OverCap]);
    }

    order
        .into_iter()
        .map(|i| {
            let (keep, reasons) = std::mem::take(&mut verdicts[i]);
            (i, keep, reasons)
        })
        .collect()
}

/// Keep or delete each item, with the rules that decided. Pure: one
/// decision per input item, newest first (ties: input order); `now` is
/// injected, never read.
pub(crate) fn plan(items: &[Point], policy: &Retention, now: DateTime<Utc>) -> Vec<Decision> {
    decide(items, policy, now)
        .into_iter()
        .map(|(i, keep, reasons)| Decision {
            id: items[i].id,
            time: items[i].time,
            keep,
            reasons,
        })
        .collect()
}

/// What rotation deletes to make room, and why that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoomVictim {
    pub(crate) id: u64,
    /// True when the rules would have dropped only our newest completed
    /// item (the restore point the incoming item has yet to replace), so
    /// the oldest completed item of ours goes instead.
    pub(crate) instead_of_newest: bool,
}

/// The item rotation deletes to make room before creating a new item at
/// `incoming`: the oldest of our completed items that a plan including the
/// incoming item would delete anyway, so making room never costs an item
/// the rules would still keep when a rule-dropped one exists.
///
/// Never our newest completed item: until its successor has completed it
/// is the restore point. When the rules would drop only that one (the
/// incoming item takes its bucket), the oldest completed item of ours goes
/// instead. `None` when nothing of ours would go, or when only the newest
/// is left.
pub(crate) fn next_to_drop(
    items: &[Point],
    policy: &Retention,
    now: DateTime<Utc>,
    incoming: DateTime<Utc>,
) -> Option<RoomVictim> {
    // The newest completed item of ours (ties: the lowest id, the one a
    // slot keeps among duplicates).
    let newest = items
        .iter()
        .enumerate()
        .filter(|(_, item)| is_ours_completed(item))
        .max_by_key(|(_, item)| (item.time, std::cmp::Reverse(item.id)))
        .map(|(i, _)| i)?;
    let mut with_incoming = items.to_vec();
    with_incoming.push(Point {
        id: 0, // never read back: the incoming item is told apart by index
        time: incoming,
        state: State::Completed,
        ours: true,
    });
    let incoming_index = items.len();
    let dropped: Vec<usize> = decide(&with_incoming, policy, now)
        .into_iter()
        .rev() // oldest first, and among equal times the last in input order
        .filter(|&(i, keep, _)| i != incoming_index && !keep && is_ours_completed(&items[i]))
        .map(|(i, _, _)| i)
        .collect();
    if let Some(&i) = dropped.iter().find(|&&i| i != newest) {
        return Some(RoomVictim {
            id: items[i].id,
            instead_of_newest: false,
        });
    }
    if dropped.is_empty() {
        return None;
    }
    items
        .iter()
        .enumerate()
        .filter(|&(i, item)| i != newest && is_ours_completed(item))
        .min_by_key(|(_, item)| (item.time, item.id))
        .map(|(_, item)| RoomVictim {
            id: item.id,
            instead_of_newest: true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    use crate::zone::known;
    use proptest::prelude::*;
    use serde_json::Value;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/restic");

    fn at(s: &str) -> DateTime<Utc> {
        s.parse()
            .unwrap_or_else(|e| panic!("bad test time {s:?}: {e}"))
    }

    fn span(s: &str) -> Span {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn read_json(path: &str) -> Value {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
    }

    fn rules_from_fixture(policy: &serde_json::Map<String, Value>) -> KeepRules {
        let count = |key: &str| {
            policy.get(key).map(|v| {
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .expect("count")
            })
        };
        let within = |key: &str| policy.get(key).map(|v| span(v.as_str().expect("duration")));
        let rules = KeepRules {
            last: count("last"),
            hourly: count("hourly"),
            daily: count("daily"),
            weekly: count("weekly"),
            monthly: count("monthly"),
            yearly: count("yearly"),
            within: within("within"),
            within_hourly: within("within_hourly"),
            within_daily: within("within_daily"),
            within_weekly: within("within_weekly"),
            within_monthly: within("within_monthly"),
            within_yearly: within("within_yearly"),
        };
        let known = [
            "last",
            "hourly",
            "daily",
            "weekly",
            "monthly",
            "yearly",
            "within",
            "within_hourly",
            "within_daily",
            "within_weekly",
            "within_monthly",
            "within_yearly",
        ];
        for key in policy.keys() {
            assert!(known.contains(&key.as_str()), "unknown policy key {key}");
        }
        rules
    }

    /// What identifies a fixture snapshot besides its time: tied times are
    /// told apart by these, so comparing them checks the tie-break too.
    fn identity(snapshot: &Value) -> (DateTime<Utc>, Value, Value) {
        let time = at(snapshot["time"].as_str().expect("time"));
        let field = |k: &str| match snapshot.get(k) {
            None | Some(Value::Null) => Value::Array(Vec::new()),
            Some(v) => v.clone(),
        };
        (time, field("tags"), field("paths"))
    }

    fn counters_map(c: &Counters) -> BTreeMap<String, i64> {
        [
            ("last", c.last),
            ("hourly", c.hourly),
            ("daily", c.daily),
            ("weekly", c.weekly),
            ("monthly", c.monthly),
            ("yearly", c.yearly),
        ]
        .into_iter()
        .filter(|&(_, v)| v != 0)
        .map(|(k, v)| (k.to_owned(), i64::from(v)))
        .collect()
    }

    fn check_case(snapshots: &[Value], rules: &KeepRules, golden: &Value) -> Result<(), String> {
        let times: Vec<DateTime<Utc>> = snapshots.iter().map(|s| identity(s).0).collect();
        // restic used the wall clock; any instant after every fixture is the same.
        let now = at("2100-01-01T00:00:00Z");
        let kept = restic_apply(&times, rules, Zone::UTC, now);

        // `"keep": null` is Go's nil slice: restic kept nothing (the empty
        // policy matches no rule; restic's CLI refuses it before this point).
        let want_keep: &[Value] = match &golden["keep"] {
            Value::Null => &[],
            Value::Array(a) => a,
            other => return Err(format!("unexpected keep {other}")),
        };
        let want_reasons: &[Value] = match golden.get("reasons") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(other) => return Err(format!("unexpected reasons {other}")),
        };
        if want_keep.len() != want_reasons.len() {
            return Err("golden keep and reasons differ in length".into());
        }
        if kept.len() != want_keep.len() {
            return Err(format!(
                "kept {} snapshots, want {}",
                kept.len(),
                want_keep.len()
            ));
        }
        for (n, ((k, want), reason)) in kept.iter().zip(want_keep).zip(want_reasons).enumerate() {
            let got_id = identity(&snapshots[k.index]);
            let want_id = identity(want);
            if got_id != want_id {
                return Err(format!("keep[{n}]: got {got_id:?}, want {want_id:?}"));
            }
            if identity(&reason["snapshot"]) != want_id {
                return Err(format!("reasons[{n}] is about another snapshot"));
            }
            let got_matches: Vec<String> = k.matches.iter().map(Match::to_string).collect();
            let want_matches: Vec<String> = reason["matches"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if got_matches != want_matches {
                return Err(format!(
                    "keep[{n}] matches: got {got_matches:?}, want {want_matches:?}"
                ));
            }
            let want_counters: BTreeMap<String, i64> = reason["counters"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default();
            let got_counters = counters_map(&k.counters);
            if got_counters != want_counters {
                return Err(format!(
                    "keep[{n}] counters: got {got_counters:?}, want {want_counters:?}"
                ));
            }
        }
        Ok(())
    }

    #[test]
    fn conformance_with_restic_fixtures() {
        let inputs = read_json(&format!("{FIXTURES}/inputs.json"));
        let snapshots = inputs["snapshots"].as_array().expect("snapshots");
        let policies = inputs["policies"].as_array().expect("policies");
        assert_eq!(snapshots.len(), 103);
        assert_eq!(policies.len(), 40);
        let (mut ran, mut passed, mut skipped) = (0, 0, 0);
        let mut failures = Vec::new();
        for entry in policies {
            let name = entry["golden"].as_str().expect("golden name");
            let policy = entry["policy"].as_object().expect("policy object");
            let golden = read_json(&format!("{FIXTURES}/golden/{name}"));
            // snapkeep has no tags: restic's tag policies (cases 18–20) do not apply.
            if policy.contains_key("tags") {
                skipped += 1;
                continue;
            }
            ran += 1;
            match check_case(snapshots, &rules_from_fixture(policy), &golden) {
                Ok(()) => passed += 1,
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        println!(
            "restic conformance: {ran} ran, {passed} passed, {skipped} skipped (tag policies)"
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!((ran, skipped), (37, 3));
    }

    fn kept_times(times: &[&str], rules: &KeepRules, tz: Zone) -> Vec<DateTime<Utc>> {
        let times: Vec<DateTime<Utc>> = times.iter().map(|s| at(s)).collect();
        restic_apply(&times, rules, tz, at("2100-01-01T00:00:00Z"))
            .into_iter()
            .map(|k| times[k.index])
            .collect()
    }

    #[test]
    fn daily_buckets_follow_the_policy_zone() {
        let rules = KeepRules {
            daily: Some(10),
            ..KeepRules::default()
        };
        let times = [
            "2025-01-11T10:00:00Z", // 11 Jan in Berlin
            "2025-01-10T23:30:00Z", // 00:30 on 11 Jan in Berlin
            "2025-01-10T22:30:00Z", // 23:30 on 10 Jan in Berlin
            "2025-01-09T12:00:00Z",
        ];
        assert_eq!(
            kept_times(&times, &rules, known("Europe/Berlin")),
            vec![at(times[0]), at(times[2]), at(times[3])]
        );
        assert_eq!(
            kept_times(&times, &rules, Zone::UTC),
            vec![at(times[0]), at(times[1]), at(times[3])]
        );
    }

    #[test]
    fn hourly_buckets_across_spring_forward() {
        // Berlin 2025-03-30: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
        let rules = KeepRules {
            hourly: Some(10),
            ..KeepRules::default()
        };
        let times = [
            "2025-03-30T01:30:00Z", // 03:30 CEST
            "2025-03-30T01:00:00Z", // 03:00 CEST, same hour bucket
            "2025-03-30T00:59:00Z", // 01:59 CET, one minute earlier, other bucket
            "2025-03-30T00:10:00Z", // 01:10 CET, same bucket as 01:59
            "2025-03-29T23:10:00Z", // 00:10 CET
        ];
        assert_eq!(
            kept_times(&times, &rules, known("Europe/Berlin")),
            vec![at(times[0]), at(times[2]), at(times[4])]
        );
    }

    #[test]
    fn hourly_buckets_across_fall_back() {
        // Berlin 2025-10-26: 03:00 CEST falls back to 02:00 CET at 01:00 UTC,
        // so the wall-clock hour 02 happens twice and is one bucket.
        let rules = KeepRules {
            hourly: Some(10),
            ..KeepRules::default()
        };
        let times = [
            "2025-10-26T01:30:00Z", // 02:30 CET
            "2025-10-26T00:30:00Z", // 02:30 CEST: same wall hour
            "2025-10-26T00:10:00Z", // 02:10 CEST
            "2025-10-25T23:50:00Z", // 01:50 CEST
        ];
        assert_eq!(
            kept_times(&times, &rules, known("Europe/Berlin")),
            vec![at(times[0]), at(times[3])]
        );
        assert_eq!(
            kept_times(&times, &rules, Zone::UTC),
            vec![at(times[0]), at(times[1]), at(times[3])]
        );
    }

    #[test]
    fn weekly_buckets_use_the_iso_week_year() {
        let rules = KeepRules {
            weekly: Some(10),
            ..KeepRules::default()
        };
        // 2024-12-30 (Mon) is ISO 2025-W01, like 2025-01-01; 2024-12-29 is 2024-W52.
        let times = [
            "2025-01-01T12:00:00Z",
            "2024-12-30T12:00:00Z",
            "2024-12-29T12:00:00Z",
        ];
        assert_eq!(
            kept_times(&times, &rules, Zone::UTC),
            vec![at(times[0]), at(times[2])]
        );
        // 2021-01-03 (Sun) is ISO 2020-W53, the week of 2020-12-28.
        let times = [
            "2021-01-04T12:00:00Z",
            "2021-01-03T12:00:00Z",
            "2020-12-28T12:00:00Z",
            "2020-12-27T12:00:00Z",
        ];
        assert_eq!(
            kept_times(&times, &rules, Zone::UTC),
            vec![at(times[0]), at(times[1]), at(times[3])]
        );
    }

    #[test]
    fn oldest_snapshot_is_kept_while_budget_remains() {
        let rules = KeepRules {
            daily: Some(5),
            ..KeepRules::default()
        };
        let times: Vec<DateTime<Utc>> = [
            "2025-01-02T10:00:00Z",
            "2025-01-01T12:00:00Z",
            "2025-01-01T08:00:00Z",
        ]
        .iter()
        .map(|s| at(s))
        .collect();
        let kept = restic_apply(&times, &rules, Zone::UTC, at("2025-02-01T00:00:00Z"));
        let text: Vec<String> = kept.iter().map(Kept::to_string).collect();
        assert_eq!(
            text,
            [
                "daily snapshot (left: daily 4)",
                "daily snapshot (left: daily 3)",
                "oldest daily snapshot (left: daily 2)",
            ]
        );
    }

    #[test]
    fn thresholds_step_back_on_the_wall_clock() {
        let utc = Zone::UTC;
        // 31 Mar − 1 month is "31 Feb": 3 Mar, or 2 Mar in a leap year.
        assert_eq!(
            span("1m").threshold(at("2025-03-31T12:00:00Z"), utc),
            Some(at("2025-03-03T12:00:00Z"))
        );
        assert_eq!(
            span("1m").threshold(at("2024-03-31T12:00:00Z"), utc),
            Some(at("2024-03-02T12:00:00Z"))
        );
        // Months before days: 1m1d from 1 Mar is 31 Jan, not 28 Jan.
        assert_eq!(
            span("1m1d").threshold(at("2025-03-01T00:00:00Z"), utc),
            Some(at("2025-01-31T00:00:00Z"))
        );
        // Hours are elapsed time, taken after the calendar step.
        assert_eq!(
            span("1y2m3d3h").threshold(at("2016-01-18T12:02:03Z"), utc),
            Some(at("2014-11-15T09:02:03Z"))
        );
        // A Berlin day across spring forward is 23 hours long.
        assert_eq!(
            span("1d").threshold(at("2025-03-30T12:00:00Z"), known("Europe/Berlin")),
            Some(at("2025-03-29T13:00:00Z"))
        );
        // Landing in the skipped hour: 02:30 reads as 03:30 CEST (Go's choice).
        assert_eq!(
            span("1d").threshold(at("2025-03-31T00:30:00Z"), known("Europe/Berlin")),
            Some(at("2025-03-30T01:30:00Z"))
        );
        // Landing in the repeated hour: the later 02:30 (CET), as Go does.
        assert_eq!(
            span("1d").threshold(at("2025-10-27T01:30:00Z"), known("Europe/Berlin")),
            Some(at("2025-10-26T01:30:00Z"))
        );
        // Past the calendar's range: everything is within.
        assert_eq!(
            span("4000000000y").threshold(at("2025-01-01T00:00:00Z"), utc),
            None
        );
    }

    #[test]
    fn within_a_day_in_berlin_is_a_calendar_day() {
        let times = [
            "2025-03-30T12:00:00Z",
            "2025-03-29T13:30:00Z",
            "2025-03-29T12:30:00Z",
        ];
        let rules = KeepRules {
            within: Some(span("1d")),
            ..KeepRules::default()
        };
        assert_eq!(
            kept_times(&times, &rules, known("Europe/Berlin")),
            vec![at(times[0]), at(times[1])]
        );
        assert_eq!(
            kept_times(&times, &rules, Zone::UTC),
            vec![at(times[0]), at(times[1]), at(times[2])]
        );
    }

    #[test]
    fn latest_ignores_snapshots_from_the_future() {
        let times: Vec<DateTime<Utc>> = [
            "2025-06-10T00:00:00Z",
            "2025-06-01T12:00:00Z",
            "2025-05-31T12:00:00Z",
        ]
        .iter()
        .map(|s| at(s))
        .collect();
        let rules = KeepRules {
            within: Some(span("1d")),
            ..KeepRules::default()
        };
        let now = at("2025-06-02T00:00:00Z");
        let kept: Vec<usize> = restic_apply(&times, &rules, Zone::UTC, now)
            .iter()
            .map(|k| k.index)
            .collect();
        // Counted back from 1 Jun, not from the future 10 Jun.
        assert_eq!(kept, vec![0, 1]);
        // All in the future: nothing to count back from, all are within.
        let kept: Vec<usize> = restic_apply(&times, &rules, Zone::UTC, at("2000-01-01T00:00:00Z"))
            .iter()
            .map(|k| k.index)
            .collect();
        assert_eq!(kept, vec![0, 1, 2]);
        // Exactly at `now` counts as the latest.
        let kept: Vec<usize> = restic_apply(&times, &rules, Zone::UTC, times[1])
            .iter()
            .map(|k| k.index)
            .collect();
        assert_eq!(kept, vec![0, 1]);
    }

    #[test]
    fn spans_parse_and_print_like_restic() {
        assert_eq!(
            span("1y2m3d4h"),
            Span {
                years: 1,
                months: 2,
                days: 3,
                hours: 4
            }
        );
        for (input, canonical) in [
            ("1y2m3d4h", "1y2m3d4h"),
            ("14d", "14d"),
            ("1y1d1m", "1y1m1d"),
            ("2m2h", "2m2h"),
            ("13d23h", "13d23h"),
            (" 9999y ", "9999y"),
            ("0d", "0h"),
            ("0y3h", "3h"),
        ] {
            let parsed = span(input);
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(span(canonical), parsed, "{canonical}");
        }
        assert!(span("0d").is_zero());
    }

    #[test]
    fn span_errors_say_what_is_allowed() {
        let err = "3x".parse::<Span>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid duration \"3x\": 'x' is not a unit; use numbers followed by y (years), m (months), d (days), h (hours), e.g. 1y6m or 14d"
        );
        for (input, problem) in [
            ("", SpanProblem::Empty),
            ("   ", SpanProblem::Empty),
            ("-1d", SpanProblem::Negative),
            ("d", SpanProblem::MissingNumber('d')),
            ("1d h", SpanProblem::MissingNumber(' ')),
            ("5", SpanProblem::MissingUnit("5".into())),
            ("1d5", SpanProblem::MissingUnit("5".into())),
            ("2w", SpanProblem::UnknownUnit('w')),
            ("1D", SpanProblem::UnknownUnit('D')),
            ("1d2d", SpanProblem::Repeated('d')),
            ("99999999999d", SpanProblem::TooLarge("99999999999".into())),
        ] {
            let err = input.parse::<Span>().unwrap_err();
            assert_eq!(err.problem, problem, "{input:?}");
            assert_eq!(err.input, input);
        }
    }

    #[test]
    fn rule_names_are_stable() {
        assert_eq!(Rule::WithinMonthly.to_string(), "within_monthly");
        assert_eq!(Rule::UnknownState.as_str(), "unknown-status");
        assert_eq!(Rule::Unmatched.as_str(), "no-rule");
        assert_eq!(Rule::OverCap.as_str(), "over-cap");
    }

    #[test]
    fn max_kept_and_is_empty() {
        let rules = KeepRules {
            daily: Some(7),
            weekly: Some(2),
            monthly: Some(3),
            yearly: Some(10),
            ..KeepRules::default()
        };
        assert_eq!(rules.max_kept(), Some(22));
        assert!(!rules.is_empty());
        assert_eq!(KeepRules::default().max_kept(), Some(0));
        assert!(KeepRules::default().is_empty());
        let ignored = KeepRules {
            last: Some(0),
            hourly: Some(-2),
            within: Some(Span::default()),
            ..KeepRules::default()
        };
        assert!(ignored.is_empty());
        assert_eq!(ignored.max_kept(), Some(0));
        let unlimited = KeepRules {
            last: Some(3),
            monthly: Some(-1),
            ..KeepRules::default()
        };
        assert_eq!(unlimited.max_kept(), None);
        let within = KeepRules {
            last: Some(3),
            within_daily: Some(span("7d")),
            ..KeepRules::default()
        };
        assert_eq!(within.max_kept(), None);
        assert!(!within.is_empty());
    }

    #[test]
    fn buckets_are_equal_exactly_within_one_unit() {
        let wall = |date: NaiveDate, hour: u32| {
            Zone::UTC.from_utc_datetime(&date.and_hms_opt(hour, 0, 0).expect("valid time"))
        };
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        let iso =
            |y, w| NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Wed).expect("valid ISO week");
        let same = |grain: Grain, a: (NaiveDate, u32), b: (NaiveDate, u32)| {
            grain.bucket(&wall(a.0, a.1), 0) == grain.bucket(&wall(b.0, b.1), 1)
        };
        // Same unit, other hour (or day, week): one bucket.
        assert!(same(
            Grain::Hour,
            (ymd(2025, 1, 2), 5),
            (ymd(2025, 1, 2), 5)
        ));
        assert!(same(
            Grain::Day,
            (ymd(2025, 1, 2), 1),
            (ymd(2025, 1, 2), 23)
        ));
        assert!(same(Grain::Week, (iso(2025, 1), 1), (ymd(2024, 12, 30), 0)));
        assert!(same(
            Grain::Month,
            (ymd(2025, 3, 1), 0),
            (ymd(2025, 3, 31), 23)
        ));
        assert!(same(
            Grain::Year,
            (ymd(2025, 1, 1), 0),
            (ymd(2025, 12, 31), 23)
        ));
        // Different units, chosen so that any mix-up of the fields (their
        // sum, product, or a field divided away) would share a bucket.
        for (grain, a, b) in [
            (Grain::Hour, (ymd(2025, 1, 1), 0), (ymd(2025, 1, 2), 0)),
            (Grain::Hour, (ymd(2025, 1, 1), 1), (ymd(2025, 1, 1), 0)),
            (Grain::Day, (ymd(2014, 7, 30), 0), (ymd(1949, 10, 31), 0)),
            (Grain::Day, (ymd(2000, 3, 1), 0), (ymd(3000, 2, 1), 0)),
            (Grain::Day, (ymd(2025, 1, 2), 0), (ymd(2026, 1, 1), 0)),
            (Grain::Day, (ymd(2024, 6, 1), 0), (ymd(2025, 6, 1), 0)),
            (Grain::Day, (ymd(2025, 1, 2), 0), (ymd(2025, 2, 1), 0)),
            (Grain::Day, (ymd(2025, 1, 1), 0), (ymd(2025, 2, 1), 0)),
            (Grain::Week, (iso(2000, 3), 0), (iso(3000, 2), 0)),
            (Grain::Week, (iso(2025, 1), 0), (iso(2024, 2), 0)),
            (Grain::Week, (iso(2025, 10), 0), (iso(2026, 10), 0)),
            (Grain::Month, (ymd(2000, 3, 1), 0), (ymd(3000, 2, 1), 0)),
            (Grain::Month, (ymd(2025, 1, 1), 0), (ymd(2024, 2, 1), 0)),
            (Grain::Month, (ymd(2025, 5, 1), 0), (ymd(2024, 5, 1), 0)),
            (Grain::Year, (ymd(2025, 1, 1), 0), (ymd(2024, 1, 1), 0)),
        ] {
            assert!(
                !same(grain, a, b),
                "{grain:?}: {a:?} and {b:?} share a bucket"
            );
        }
    }

    #[test]
    fn counters_print_like_restic() {
        let counters = Counters {
            last: 1,
            monthly: -1,
            yearly: 2,
            ..Counters::default()
        };
        assert_eq!(counters.to_string(), "last 1, monthly all, yearly 2");
        assert_eq!(Counters::default().to_string(), "none");
    }

    #[test]
    fn parts_say_each_rule_in_words() {
        let rules = KeepRules {
            last: Some(2),
            daily: Some(-1),
            weekly: Some(0),
            within: Some(span("3d")),
            within_monthly: Some(span("1y")),
            ..KeepRules::default()
        };
        assert_eq!(
            rules.parts(),
            [
                "2 last",
                "every daily",
                "0 weekly",
                "all within 3d",
                "monthly within 1y"
            ]
        );
        assert!(KeepRules::default().parts().is_empty());
    }

    fn item(id: u64, time: &str, state: State, ours: bool) -> Point {
        Point {
            id,
            time: at(time),
            state,
            ours,
        }
    }

    fn policy(rules: KeepRules, cap: usize) -> Retention {
        Retention {
            rules,
            tz: Zone::UTC,
            cap,
        }
    }

    fn verdicts(decisions: &[Decision]) -> Vec<(u64, bool, Vec<Rule>)> {
        decisions
            .iter()
            .map(|d| (d.id, d.keep, d.reasons.clone()))
            .collect()
    }

    #[test]
    fn plan_applies_states_newest_and_cap() {
        let items = [
            item(1, "2025-01-01T00:00:00Z", State::Completed, true),
            item(2, "2025-01-02T00:00:00Z", State::Completed, true),
            item(3, "2025-01-03T00:00:00Z", State::Completed, true),
            item(4, "2025-01-04T00:00:00Z", State::Failed, true),
            item(5, "2025-01-05T00:00:00Z", State::InProgress, true),
            item(6, "2025-01-05T00:00:00Z", State::Unknown, true),
            item(7, "2024-01-01T00:00:00Z", State::Completed, false),
            item(8, "2024-01-02T00:00:00Z", State::Failed, false),
        ];
        let now = at("2025-01-06T00:00:00Z");
        let rules = KeepRules {
            daily: Some(10),
            ..KeepRules::default()
        };
        assert_eq!(
            verdicts(&plan(&items, &policy(rules.clone(), 2), now)),
            vec![
                (5, true, vec![Rule::InProgress]),
                (6, true, vec![Rule::UnknownState]),
                (4, false, vec![Rule::Failed]),
                (3, true, vec![Rule::Daily]),
                (2, true, vec![Rule::Daily]),
                (1, false, vec![Rule::OverCap]),
                (8, true, vec![Rule::NotOurs]),
                (7, true, vec![Rule::NotOurs]),
            ]
        );
        // Rules that keep nothing still keep the newest completed item.
        let decisions = plan(&items, &policy(KeepRules::default(), 5), now);
        let ours: Vec<_> = verdicts(&decisions)
            .into_iter()
            .filter(|(id, ..)| [1, 2, 3].contains(id))
            .collect();
        assert_eq!(
            ours,
            vec![
                (3, true, vec![Rule::Newest]),
                (2, false, vec![Rule::Unmatched]),
                (1, false, vec![Rule::Unmatched]),
            ]
        );
        // A cap of 0 still keeps the newest.
        let decisions = plan(&items, &policy(rules, 0), now);
        assert!(decisions.iter().any(|d| d.id == 3 && d.keep));
        assert!(decisions.iter().any(|d| d.id == 2 && !d.keep));
    }

    #[test]
    fn plan_ties_keep_input_order() {
        let items = [
            item(10, "2025-01-01T00:00:00Z", State::Completed, true),
            item(11, "2025-01-01T00:00:00Z", State::Completed, true),
        ];
        let rules = KeepRules {
            last: Some(1),
            ..KeepRules::default()
        };
        let decisions = plan(&items, &policy(rules, 5), at("2025-01-02T00:00:00Z"));
        assert_eq!(
            verdicts(&decisions),
            vec![
                (10, true, vec![Rule::Last]),
                (11, false, vec![Rule::Unmatched])
            ]
        );
    }

    #[test]
    fn next_to_drop_picks_the_oldest_rule_dropped_item() {
        let items = [
            item(1, "2025-01-01T00:00:00Z", State::Completed, true),
            item(2, "2025-01-02T00:00:00Z", State::Completed, true),
            item(3, "2025-01-03T00:00:00Z", State::Completed, true),
            item(9, "2020-01-01T00:00:00Z", State::Completed, false),
            item(8, "2020-01-01T00:00:00Z", State::Failed, true),
        ];
        let now = at("2025-01-04T00:00:00Z");
        let last3 = KeepRules {
            last: Some(3),
            ..KeepRules::default()
        };
        assert_eq!(
            next_to_drop(&items, &policy(last3.clone(), 3), now, now).map(|v| v.id),
            Some(1)
        );
        // Rules that keep everything: only the cap makes room.
        let keep_all = KeepRules {
            within: Some(span("1y")),
            ..KeepRules::default()
        };
        assert_eq!(
            next_to_drop(&items, &policy(keep_all.clone(), 3), now, now).map(|v| v.id),
            Some(1)
        );
        assert_eq!(
            next_to_drop(&items, &policy(keep_all.clone(), 4), now, now).map(|v| v.id),
            None
        );
        // Never the last completed item of ours.
        let single = [items[2].clone(), items[3].clone()];
        assert_eq!(next_to_drop(&single, &policy(last3, 1), now, now), None);
        // Nothing of ours: nothing to drop, however full.
        let theirs = [items[3].clone()];
        assert_eq!(next_to_drop(&theirs, &policy(keep_all, 1), now, now), None);
    }

    #[test]
    fn making_room_never_takes_the_newest_restore_point() {
        // Hourly slots, keep_daily = 5, at the cap: four earlier days plus
        // the previous hour. The incoming item takes today's bucket, so the
        // rules would drop the previous hour's item — the newest restore
        // point, whose successor does not exist yet. The oldest day goes.
        let items = [
            item(1, "2025-01-01T10:00:00Z", State::Completed, true),
            item(2, "2025-01-02T10:00:00Z", State::Completed, true),
            item(3, "2025-01-03T10:00:00Z", State::Completed, true),
            item(4, "2025-01-04T10:00:00Z", State::Completed, true),
            item(5, "2025-01-05T10:00:00Z", State::Completed, true),
        ];
        let incoming = at("2025-01-05T11:00:00Z");
        let rules = KeepRules {
            daily: Some(5),
            ..KeepRules::default()
        };
        assert_eq!(
            next_to_drop(&items, &policy(rules.clone(), 5), incoming, incoming),
            Some(RoomVictim {
                id: 1,
                instead_of_newest: true
            })
        );
        // Only the newest is ours: nothing can go.
        let alone = [
            items[4].clone(),
            item(9, "2025-01-01T00:00:00Z", State::Completed, false),
        ];
        assert_eq!(
            next_to_drop(&alone, &policy(rules, 5), incoming, incoming),
            None
        );
    }

    #[test]
    fn next_to_drop_prefers_an_item_rules_no_longer_keep() {
        // Two on 2 Jan: with daily rules the older of them goes first, not
        // the oldest item, which is the only one for its day.
        let items = [
            item(1, "2025-01-01T12:00:00Z", State::Completed, true),
            item(2, "2025-01-02T08:00:00Z", State::Completed, true),
            item(3, "2025-01-02T12:00:00Z", State::Completed, true),
        ];
        let now = at("2025-01-03T12:00:00Z");
        let rules = KeepRules {
            daily: Some(3),
            ..KeepRules::default()
        };
        assert_eq!(
            next_to_drop(&items, &policy(rules, 3), now, now).map(|v| v.id),
            Some(2)
        );
    }

    #[test]
    fn future_items_do_not_narrow_windows_on_the_next_pass() {
        // Found by `a_plan_applied_is_stable`: the only item at or before
        // `now` goes over the cap. Had windows then counted back from the
        // newest (future) item, the next pass would drop item 2.
        let items: Vec<Point> = [
            "2024-05-10T18:50:00Z",
            "2024-05-12T21:44:00Z",
            "2024-05-19T23:24:00Z",
            "2024-05-27T01:04:00Z",
            "2024-05-31T23:50:00Z",
            "2024-01-01T00:00:00Z",
            "2024-07-16T22:40:00Z",
        ]
        .iter()
        .enumerate()
        .map(|(id, t)| item(id as u64, t, State::Completed, true))
        .collect();
        let policy = Retention {
            rules: KeepRules {
                last: Some(1),
                hourly: Some(1),
                monthly: Some(-1),
                within_weekly: Some(span("1h")),
                ..KeepRules::default()
            },
            tz: known("Asia/Kolkata"),
            cap: 5,
        };
        let now = at("2024-01-01T00:00:00Z");
        let first = plan(&items, &policy, now);
        let survivors: Vec<Point> = items
            .iter()
            .filter(|i| decision_of(&first, i.id).keep)
            .cloned()
            .collect();
        assert_eq!(survivors.len(), 5);
        assert!(plan(&survivors, &policy, now).iter().all(|d| d.keep));
    }

    // ---- properties ----

    fn zones() -> [Zone; 4] {
        [
            Zone::UTC,
            known("Europe/Berlin"),
            known("America/New_York"),
            known("Asia/Kolkata"),
        ]
    }

    fn arb_count() -> impl Strategy<Value = Option<i32>> {
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(-1)),
            3 => (1i32..6).prop_map(Some),
        ]
    }

    fn arb_span() -> impl Strategy<Value = Option<Span>> {
        prop_oneof![
            4 => Just(None),
            1 => (0u32..2, 0u32..3, 0u32..20, 0u32..30).prop_map(|(years, months, days, hours)| {
                Some(Span { years, months, days, hours })
            }),
        ]
    }

    fn arb_rules() -> impl Strategy<Value = KeepRules> {
        (
            [
                arb_count(),
                arb_count(),
                arb_count(),
                arb_count(),
                arb_count(),
                arb_count(),
            ],
            [
                arb_span(),
                arb_span(),
                arb_span(),
                arb_span(),
                arb_span(),
                arb_span(),
            ],
        )
            .prop_map(|(c, s)| KeepRules {
                last: c[0],
                hourly: c[1],
                daily: c[2],
                weekly: c[3],
                monthly: c[4],
                yearly: c[5],
                within: s[0],
                within_hourly: s[1],
                within_daily: s[2],
                within_weekly: s[3],
                within_monthly: s[4],
                within_yearly: s[5],
            })
    }

    fn arb_state() -> impl Strategy<Value = State> {
        prop_oneof![
            6 => Just(State::Completed),
            1 => Just(State::InProgress),
            1 => Just(State::Failed),
            1 => Just(State::Unknown),
        ]
    }

    /// Times within ~2 years, on a coarse grid so ties and shared buckets
    /// are common.
    fn arb_items() -> impl Strategy<Value = Vec<Point>> {
        prop::collection::vec((0i64..2_000, arb_state(), prop::bool::weighted(0.8)), 0..30)
            .prop_map(|raw| {
                let base = at("2024-01-01T00:00:00Z");
                raw.into_iter()
                    .enumerate()
                    .map(|(i, (step, state, ours))| Point {
                        id: i as u64,
                        time: base + TimeDelta::minutes(step * 509),
                        state,
                        ours,
                    })
                    .collect()
            })
    }

    fn arb_policy() -> impl Strategy<Value = Retention> {
        (arb_rules(), 0usize..4, 1usize..8).prop_map(|(rules, zone, cap)| Retention {
            rules,
            tz: zones()[zone],
            cap,
        })
    }

    fn arb_now() -> impl Strategy<Value = DateTime<Utc>> {
        // Half the time after every item, else among them (items from the future).
        prop_oneof![2_000i64..2_100, 0i64..2_000]
            .prop_map(|step| at("2024-01-01T00:00:00Z") + TimeDelta::minutes(step * 509))
    }

    fn decision_of(decisions: &[Decision], id: u64) -> &Decision {
        decisions
            .iter()
            .find(|d| d.id == id)
            .expect("one decision per item")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn plan_invariants(items in arb_items(), policy in arb_policy(), now in arb_now()) {
            let decisions = plan(&items, &policy, now);
            prop_assert_eq!(decisions.len(), items.len());
            for pair in decisions.windows(2) {
                prop_assert!(pair[0].time >= pair[1].time);
            }
            for item in &items {
                let d = decision_of(&decisions, item.id);
                match (item.ours, item.state) {
                    (false, _) => prop_assert!(d.keep && d.reasons == [Rule::NotOurs]),
                    (true, State::InProgress | State::Unknown) => prop_assert!(d.keep),
                    (true, State::Failed) => prop_assert!(!d.keep && d.reasons == [Rule::Failed]),
                    (true, State::Completed) => prop_assert!(!d.reasons.is_empty()),
                }
            }
            let ours_completed: Vec<&Decision> = decisions
                .iter()
                .filter(|d| is_ours_completed(&items[d.id as usize]))
                .collect();
            if let Some(newest) = ours_completed.first() {
                prop_assert!(newest.keep, "newest completed item deleted");
            }
            let kept = ours_completed.iter().filter(|d| d.keep).count();
            prop_assert!(kept <= policy.cap, "kept {} > cap {}", kept, policy.cap);
        }

        #[test]
        fn a_plan_applied_is_stable(items in arb_items(), policy in arb_policy(), now in arb_now()) {
            let decisions = plan(&items, &policy, now);
            let survivors: Vec<Point> = items
                .iter()
                .filter(|item| decision_of(&decisions, item.id).keep)
                .cloned()
                .collect();
            let again = plan(&survivors, &policy, now);
            let deleted: Vec<&Decision> = again.iter().filter(|d| !d.keep).collect();
            prop_assert!(deleted.is_empty(), "second pass deletes {:?}", deleted);
        }

        #[test]
        fn items_not_ours_change_nothing_for_ours(
            items in arb_items(),
            extra in arb_items(),
            policy in arb_policy(),
            now in arb_now(),
        ) {
            let offset = items.len() as u64;
            let mut mixed = items.clone();
            // Interleave foreign items, including some at our exact times.
            for (n, mut foreign) in extra.into_iter().enumerate() {
                foreign.id += offset;
                foreign.ours = false;
                if let Some(ours) = items.get(n).filter(|_| n % 2 == 0) {
                    foreign.time = ours.time;
                }
                let at = (n * 2).min(mixed.len());
                mixed.insert(at, foreign);
            }
            let alone = plan(&items, &policy, now);
            let together = plan(&mixed, &policy, now);
            for d in &alone {
                prop_assert_eq!(d, decision_of(&together, d.id));
            }
        }

        #[test]
        fn next_to_drop_is_ours_completed_and_never_the_last(
            items in arb_items(),
            policy in arb_policy(),
            now in arb_now(),
        ) {
            let ours_completed = items.iter().filter(|i| is_ours_completed(i)).count();
            if let Some(victim) = next_to_drop(&items, &policy, now, now) {
                let item = &items[victim.id as usize];
                prop_assert!(is_ours_completed(item));
                prop_assert!(ours_completed >= 2);
                // Never the newest completed item of ours.
                let newest = items
                    .iter()
                    .filter(|i| is_ours_completed(i))
                    .map(|i| i.time)
                    .max();
                prop_assert!(Some(item.time) < newest || items.iter().filter(|i| is_ours_completed(i) && Some(i.time) == newest).count() > 1);
            }
        }
    }
}

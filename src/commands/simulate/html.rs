//! `simulate --html FILE`: the simulation as a picture — a retention
//! calendar, one column per day, one mark per item held at the end of the
//! day, coloured by the rule that keeps it — for the operator choosing
//! between `keep_daily = 7` and `keep_weekly = 4`, who would rather look
//! than read 90 days of text. Two or more policies sit side by side.
//!
//! It draws what [`super::simulate`] computed and decides nothing: a day
//! without a slot holds what the last day with one held (nothing runs in
//! between), and that carrying forward is all [`columns`] adds. Pure: the
//! simulations in, one self-contained page out (inline SVG and CSS, no
//! script, no outside resource; `crate::html`).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};

use super::{Aged, Deleted, Kept, Simulation};
use crate::clock::compact_duration;
use crate::html::{document, escape};

/// One day of the calendar, in the policy's time zone.
#[derive(Debug)]
pub(crate) struct Column<'s> {
    pub(crate) date: NaiveDate,
    /// Held at the end of the day, oldest first.
    pub(crate) held: Vec<&'s Kept>,
    pub(crate) created: usize,
    /// Deleted this day of what the day before held (drawn as marks).
    pub(crate) deleted_held: Vec<&'s Deleted>,
    /// Made and deleted this same day (counted, as the text counts them).
    pub(crate) deleted_same_day: usize,
    pub(crate) refused: usize,
}

/// Every calendar day of the simulated period, in the policy's time zone:
/// from the day `from` falls on to the day of the last instant before `to`.
pub(crate) fn columns(sim: &Simulation) -> Vec<Column<'_>> {
    let tz = sim.zone;
    let first = sim.from.with_timezone(&tz).date_naive();
    let last = (sim.to - TimeDelta::seconds(1))
        .with_timezone(&tz)
        .date_naive()
        .max(first);
    let mut days = sim.timeline.iter().peekable();
    let mut held: Vec<&Kept> = Vec::new();
    let mut out = Vec::new();
    for date in first.iter_days().take_while(|d| *d <= last) {
        let mut column = Column {
            date,
            held: Vec::new(),
            created: 0,
            deleted_held: Vec::new(),
            deleted_same_day: 0,
            refused: 0,
        };
        if let Some(day) = days.next_if(|d| d.date == date) {
            held = day.kept.iter().rev().collect();
            column.created = day.created.len();
            column.refused = day.refused.len();
            for d in &day.deleted {
                if d.slot.with_timezone(&tz).date_naive() < date {
                    column.deleted_held.push(d);
                } else {
                    column.deleted_same_day += 1;
                }
            }
        }
        column.held.clone_from(&held);
        out.push(column);
    }
    out
}

/// The rules a mark's colour can stand for, longest reach first: an item
/// kept by `last`, `daily` and `weekly` is drawn as the weekly one, since
/// that is the rule that will keep it longest.
const RULES: [(&str, &str); 8] = [
    ("yearly", "yearly"),
    ("monthly", "monthly"),
    ("weekly", "weekly"),
    ("daily", "daily"),
    ("hourly", "hourly"),
    ("within", "within (keep_within…)"),
    ("last", "last"),
    ("newest", "newest (always kept)"),
];

/// The colour class of an item kept by `rules`.
pub(crate) fn rule_class(rules: &[&str]) -> &'static str {
    RULES
        .iter()
        .map(|(class, _)| *class)
        .find(|class| {
            rules
                .iter()
                .any(|r| r == class || (*class == "within" && r.starts_with("within")))
        })
        .unwrap_or("other")
}

/// The whole page for `sims` (one or more policies, side by side).
pub(crate) fn render(sims: &[Simulation]) -> String {
    let names: Vec<&str> = sims.iter().map(|s| s.policy.as_str()).collect();
    let title = format!("snapkeep simulate: {}", names.join(" vs "));
    // Side by side, the page stays about 1300 px wide.
    let width = 1240 / sims.len().clamp(1, 3);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<header>\n<h1>{}</h1>\n<p class=\"muted\">Each column is a day (in the policy's time zone); each mark an item held at the end of that day, coloured by the rule that keeps it, oldest at the bottom. Every create is assumed to succeed and nothing else to be on the server; the same code as a pass decides. Hover a mark for its time and rules.</p>\n</header>",
        escape(&title)
    );
    body.push_str(&legend(sims));
    body.push_str("<main class=\"compare\">\n");
    for sim in sims {
        body.push_str(&section(sim, width));
    }
    body.push_str("</main>\n");
    document(&title, "", STYLE, &body)
}

fn legend(sims: &[Simulation]) -> String {
    let used = |class: &str| {
        sims.iter().any(|s| {
            s.timeline
                .iter()
                .flat_map(|d| &d.kept)
                .any(|k| rule_class(&k.rules) == class)
        })
    };
    let swatch = |shape: &str| {
        format!(
            "<svg width=\"14\" height=\"14\" viewBox=\"0 0 14 14\" aria-hidden=\"true\">{shape}</svg>"
        )
    };
    let mut out = String::from("<ul class=\"legend\">\n");
    for (class, label) in RULES.iter().filter(|(class, _)| used(class)) {
        let _ = writeln!(
            out,
            "<li data-rule=\"{class}\">{}kept by {label}</li>",
            swatch(&format!(
                "<rect class=\"mark rule-{class}\" x=\"1\" y=\"1\" width=\"12\" height=\"12\" rx=\"2\"/>"
            ))
        );
    }
    let _ = writeln!(
        out,
        "<li>{}created that day</li>\n<li>{}deleted that day</li>\n<li>{}refused (at the cap, nothing could go)</li>\n<li>{}the provider's cap per server</li>\n</ul>",
        swatch(
            "<rect class=\"mark rule-other new\" x=\"1.5\" y=\"1.5\" width=\"11\" height=\"11\" rx=\"2\"/>"
        ),
        swatch("<rect class=\"gone\" x=\"1.5\" y=\"1.5\" width=\"11\" height=\"11\" rx=\"2\"/>"),
        swatch("<path class=\"refused\" d=\"M1 2 L13 2 L7 12 Z\"/>"),
        swatch("<line class=\"cap\" x1=\"0\" y1=\"7\" x2=\"14\" y2=\"7\"/>"),
    );
    out
}

/// Geometry of one calendar, in pixels.
struct Grid {
    col: usize,
    mark: usize,
    row: usize,
    rows: usize,
    left: usize,
    top: usize,
}

impl Grid {
    /// The top of stack position `k` (0 at the bottom).
    fn y(&self, k: usize) -> usize {
        self.top + (self.rows - 1 - k.min(self.rows - 1)) * self.row
    }
    fn x(&self, i: usize) -> usize {
        self.left + i * self.col
    }
    fn bottom(&self) -> usize {
        self.top + self.rows * self.row
    }
}

impl Grid {
    /// The calendar's geometry: columns as wide as `width` allows, rows
    /// for the cap or the most held and deleted in a day.
    fn for_columns(sim: &Simulation, columns: &[Column<'_>], width: usize) -> Grid {
        let n = columns.len().max(1);
        let col = (width.saturating_sub(50) / n).clamp(3, 22);
        let stack = columns
            .iter()
            .map(|c| c.held.len() + c.deleted_held.len())
            .max()
            .unwrap_or(0);
        Grid {
            col,
            mark: if col >= 8 {
                col - 2
            } else {
                col.saturating_sub(1).max(2)
            },
            row: 14,
            rows: stack.max(sim.cap) + 1,
            left: 34,
            top: 14,
        }
    }
}

/// The section's heading: the policy, its schedule and the time simulated.
fn heading(sim: &Simulation, local: &dyn Fn(DateTime<Utc>) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section class=\"policy\" data-policy=\"{}\">\n<h2>{} <span class=\"muted\">{} {}</span></h2>",
        escape(&sim.policy),
        escape(&sim.policy),
        escape(sim.kind),
        escape(&sim.schedule_words),
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\"><code>{}</code> in {}, keeps {}{}<br>server {} alone{}; {} day{} from {} to {}</p>",
        escape(&sim.schedule),
        escape(&sim.timezone),
        escape(&sim.keeps),
        if sim.paused {
            " — <strong>paused</strong> in the config, simulated as if enabled"
        } else {
            ""
        },
        sim.server_id,
        if sim.servers > 1 {
            format!(" (each of its {} servers holds the same)", sim.servers)
        } else {
            String::new()
        },
        sim.days,
        if sim.days == 1 { "" } else { "s" },
        local(sim.from),
        local(sim.to),
    );
    out
}

fn section(sim: &Simulation, width: usize) -> String {
    let tz = sim.zone;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let columns = columns(sim);
    let grid = Grid::for_columns(sim, &columns, width);
    let counts = grid.col >= 18;
    let height = grid.bottom() + if counts { 44 } else { 22 };
    let svg_width = grid.x(columns.len()) + 12;

    let mut out = heading(sim, &local);
    out.push_str(&summary(sim, &local));
    let _ = writeln!(
        out,
        "<div class=\"scroll\">\n<svg class=\"calendar\" role=\"img\" width=\"{svg_width}\" height=\"{height}\" viewBox=\"0 0 {svg_width} {height}\" data-days=\"{}\" data-cap=\"{}\">\n<title>{} day by day: what is held at the end of each day</title>",
        columns.len(),
        sim.cap,
        escape(&sim.policy),
    );
    // The y axis: counts, with the cap as a line across every day.
    for k in [0, sim.cap / 2, sim.cap] {
        let _ = writeln!(
            out,
            "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{k}</text>",
            grid.left - 6,
            grid.bottom() - k * grid.row + 4,
        );
    }
    let cap_y = grid.bottom() - sim.cap * grid.row;
    let _ = writeln!(
        out,
        "<line class=\"axis-line\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>",
        grid.left,
        grid.bottom(),
        grid.x(columns.len()),
    );
    let label_every = 44usize.div_ceil(grid.col);
    for (i, c) in columns.iter().enumerate() {
        out.push_str(&day(sim, c, i, &grid, counts, &local));
        if i % label_every == 0 {
            let _ = writeln!(
                out,
                "<text class=\"axis\" x=\"{}\" y=\"{}\">{}</text>",
                grid.x(i),
                grid.bottom() + 14 + if counts { 22 } else { 0 },
                c.date.format("%m-%d"),
            );
        }
    }
    let _ = writeln!(
        out,
        "<line class=\"cap\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"><title>VPS.org's cap: {3} {4}s per server</title></line>\n<text class=\"cap-label\" x=\"{0}\" y=\"{5}\">cap {3}</text>",
        grid.left,
        cap_y,
        grid.x(columns.len()),
        sim.cap,
        escape(sim.kind),
        cap_y.saturating_sub(3),
    );
    out.push_str("</svg>\n</div>\n</section>\n");
    out
}

/// One column: the held stack (oldest at the bottom), what went that day
/// above it, a refusal at the top, and the day's counts below when there
/// is room for them.
fn day(
    sim: &Simulation,
    c: &Column<'_>,
    i: usize,
    grid: &Grid,
    counts: bool,
    local: &dyn Fn(DateTime<Utc>) -> String,
) -> String {
    let tz = sim.zone;
    let deleted = c.deleted_held.len() + c.deleted_same_day;
    let weekend = matches!(c.date.weekday(), Weekday::Sat | Weekday::Sun);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<g class=\"day{}\" data-date=\"{}\"><title>{} {}: {} created, {} deleted{}, holding {}</title>",
        if weekend { " weekend" } else { "" },
        c.date,
        c.date,
        c.date.format("%a"),
        c.created,
        deleted,
        if c.refused > 0 {
            format!(", {} REFUSED", c.refused)
        } else {
            String::new()
        },
        c.held.len(),
    );
    let _ = writeln!(
        out,
        "<rect class=\"col\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
        grid.x(i),
        grid.top,
        grid.col,
        grid.rows * grid.row,
    );
    for (k, kept) in c.held.iter().enumerate() {
        let new = kept.slot.with_timezone(&tz).date_naive() == c.date;
        let _ = writeln!(
            out,
            "<rect class=\"mark rule-{}{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\"><title>{}: kept by {}{}</title></rect>",
            rule_class(&kept.rules),
            if new { " new" } else { "" },
            grid.x(i),
            grid.y(k) + 1,
            grid.mark,
            grid.row - 2,
            local(kept.slot),
            escape(&kept.rules.join(", ")),
            if new { " (created this day)" } else { "" },
        );
    }
    for (k, gone) in c.deleted_held.iter().enumerate() {
        let _ = writeln!(
            out,
            "<rect class=\"gone\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\"><title>{}: deleted this day ({})</title></rect>",
            grid.x(i) as f64 + 0.5,
            grid.y(c.held.len() + k) as f64 + 1.5,
            grid.mark.saturating_sub(1),
            grid.row - 3,
            local(gone.slot),
            escape(&gone.rules.join(", ")),
        );
    }
    if c.refused > 0 {
        let (x, w) = (grid.x(i), grid.mark);
        let _ = writeln!(
            out,
            "<path class=\"refused\" d=\"M{x} 1 L{} 1 L{} {} Z\"><title>{} slot{} refused: at the cap, nothing of this policy's could go</title></path>",
            x + w,
            x as f64 + w as f64 / 2.0,
            grid.top - 2,
            c.refused,
            if c.refused == 1 { "" } else { "s" },
        );
    }
    if counts {
        let _ = writeln!(
            out,
            "<text class=\"count created\" x=\"{0}\" y=\"{1}\">+{2}</text>\n<text class=\"count deleted\" x=\"{0}\" y=\"{3}\">\u{2212}{4}</text>",
            grid.x(i),
            grid.bottom() + 11,
            c.created,
            grid.bottom() + 22,
            deleted,
        );
    }
    out.push_str("</g>\n");
    out
}

/// The numbers under the heading: peak against the cap, the totals, and
/// the oldest and newest item kept at the end.
fn summary(sim: &Simulation, local: &dyn Fn(DateTime<Utc>) -> String) -> String {
    let age =
        |a: &Aged| compact_duration(std::time::Duration::from_secs(a.age_seconds.max(0) as u64));
    let aged = |a: Option<&Aged>| {
        a.map_or_else(
            || "none".to_owned(),
            |a| {
                format!(
                    "{} <span class=\"muted\">({} old)</span>",
                    local(a.slot),
                    age(a)
                )
            },
        )
    };
    let mut out = String::from("<dl class=\"summary\">\n");
    let _ = writeln!(
        out,
        "<div class=\"{}\"><dt>peak held</dt><dd data-peak=\"{}\">{} of the cap {}</dd></div>",
        if sim.max_held >= sim.cap {
            "at-cap"
        } else {
            ""
        },
        sim.max_held,
        sim.max_held,
        sim.cap,
    );
    let _ = writeln!(
        out,
        "<div><dt>slots</dt><dd>{} ({} created, {} deleted{})</dd></div>",
        sim.slots,
        sim.created,
        sim.deleted,
        if sim.room_deletes > 0 {
            format!(", {} to make room", sim.room_deletes)
        } else {
            String::new()
        },
    );
    if sim.refused > 0 {
        let _ = writeln!(
            out,
            "<div class=\"bad\"><dt>refused</dt><dd>{}</dd></div>",
            sim.refused
        );
    }
    let _ = writeln!(
        out,
        "<div><dt>kept at the end</dt><dd>{}</dd></div>\n<div><dt>oldest</dt><dd>{}</dd></div>\n<div><dt>newest</dt><dd>{}</dd></div>",
        sim.kept_at_end.len(),
        aged(sim.oldest.as_ref()),
        aged(sim.newest.as_ref()),
    );
    out.push_str("</dl>\n");
    if !sim.sharing_server.is_empty() {
        let others: Vec<String> = sim
            .sharing_server
            .iter()
            .map(|o| format!("{} (up to {})", escape(&o.policy), o.max_kept))
            .collect();
        let _ = writeln!(
            out,
            "<p class=\"note\">Not simulated: other {} policies on server {} share that cap: {}.</p>",
            escape(sim.kind),
            sim.server_id,
            others.join(", ")
        );
    }
    out
}

const STYLE: &str = "\
:root { --last: #8c959f; --hourly: #54aeff; --daily: #0969da; --weekly: #1a7f37; --monthly: #bf8700; --yearly: #8250df; --within: #bc4c00; --newest: #424a53; --other: #d1d9e0; --bad: #cf222e; }
header p { max-width: 60rem; }
.legend { list-style: none; padding: 0; margin: .75rem 0 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1.1rem; }
.legend li { display: flex; align-items: center; gap: .35rem; }
.compare { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1.5rem; }
.policy { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; min-width: 0; }
.policy p { margin: .2rem 0 .6rem; }
.scroll { overflow-x: auto; }
.summary { display: flex; flex-wrap: wrap; gap: .3rem 1.4rem; margin: .4rem 0 .8rem; }
.summary div { display: flex; gap: .35rem; }
.summary dt { color: var(--muted); }
.summary dd { margin: 0; font-weight: 600; }
.summary .at-cap dd, .summary .bad dd { color: var(--bad); }
.note { color: var(--bad); }
svg text { font: 10px system-ui, sans-serif; fill: var(--muted); }
.col { fill: transparent; }
.weekend .col { fill: var(--panel); }
.mark { stroke: none; }
.mark.new { stroke: var(--fg); stroke-width: 1.5; }
.rule-last { fill: var(--last); } .rule-hourly { fill: var(--hourly); } .rule-daily { fill: var(--daily); }
.rule-weekly { fill: var(--weekly); } .rule-monthly { fill: var(--monthly); } .rule-yearly { fill: var(--yearly); }
.rule-within { fill: var(--within); } .rule-newest { fill: var(--newest); } .rule-other { fill: var(--other); }
.gone { fill: none; stroke: var(--bad); stroke-width: 1; stroke-dasharray: 2 2; }
.refused { fill: var(--bad); }
.cap { stroke: var(--bad); stroke-width: 1.5; stroke-dasharray: 6 3; }
svg text.cap-label { fill: var(--bad); font-weight: 600; }
.axis-line { stroke: var(--line); }
svg text.count.created { fill: var(--weekly); }
svg text.count.deleted { fill: var(--bad); }
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::simulate::simulate;
    use crate::commands::simulate::tests::{GFS, config, from};

    /// The calendar alone, without the legend's swatches.
    fn calendar(page: &str) -> &str {
        &page[page.find("<svg class=\"calendar\"").expect("a calendar")..]
    }

    #[test]
    fn one_column_per_day_holding_what_the_text_says() {
        let sim = simulate(&config(GFS), "gfs", from(), 14).unwrap();
        let cols = columns(&sim);
        assert_eq!(cols.len(), 14);
        assert_eq!(cols[0].date.to_string(), "2025-01-06");
        for (c, d) in cols.iter().zip(&sim.timeline) {
            assert_eq!(c.date, d.date);
            assert_eq!(c.held.len(), d.kept.len());
            assert_eq!(c.created, 24);
            assert_eq!(c.deleted_held.len() + c.deleted_same_day, d.deleted.len());
        }
        let page = render(std::slice::from_ref(&sim));
        let calendar = calendar(&page);
        assert_eq!(calendar.matches("<g class=\"day").count(), 14, "{page}");
        let marks: usize = cols.iter().map(|c| c.held.len()).sum();
        assert_eq!(calendar.matches("<rect class=\"mark rule-").count(), marks);
        assert!(page.contains("data-days=\"14\""));
    }

    #[test]
    fn days_without_a_slot_hold_what_the_last_slot_left() {
        let c = config(
            "[[policy]]\nname = \"w\"\nkind = \"backup\"\nservers = [1]\nschedule = \"0 3 * * 1\"\nkeep_last = 3\n",
        );
        // From a Monday at noon: the first slot is next Monday.
        let sim = simulate(&c, "w", from() + TimeDelta::hours(12), 21).unwrap();
        let cols = columns(&sim);
        // 21 days from noon cover 22 calendar days.
        assert_eq!(cols.len(), 22);
        let held: Vec<usize> = cols.iter().map(|c| c.held.len()).collect();
        assert_eq!(
            held,
            [vec![0; 7], vec![1; 7], vec![2; 7], vec![3; 1]].concat(),
            "held: {held:?}"
        );
        assert_eq!(cols[7].created, 1);
        assert_eq!(cols[8].created, 0);
    }

    #[test]
    fn the_cap_is_a_line_and_a_refusal_is_marked() {
        let c = config(
            "[[policy]]\nname = \"five\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 5\n",
        );
        let sim = simulate(&c, "five", from(), 10).unwrap();
        let page = render(std::slice::from_ref(&sim));
        assert_eq!(
            calendar(&page).matches("<line class=\"cap\"").count(),
            1,
            "{page}"
        );
        assert!(page.contains(">cap 5</text>"), "{page}");
        assert!(page.contains("data-peak=\"5\">5 of the cap 5"), "{page}");
        // The sixth day deletes the first day's item to make room.
        assert!(
            page.contains("2025-01-06 03:00: deleted this day (room)"),
            "{page}"
        );
    }

    #[test]
    fn the_strongest_rule_colours_a_mark() {
        assert_eq!(rule_class(&["last", "daily", "weekly"]), "weekly");
        assert_eq!(rule_class(&["within_daily"]), "within");
        assert_eq!(rule_class(&["newest"]), "newest");
        assert_eq!(rule_class(&[]), "other");
    }

    #[test]
    fn names_are_escaped_and_policies_sit_side_by_side() {
        let mut a = simulate(&config(GFS), "gfs", from(), 3).unwrap();
        a.policy = "<script>alert('x')</script>".into();
        a.timezone = "\"Europe/Berlin\"".into();
        let b = simulate(&config(GFS), "gfs", from(), 3).unwrap();
        let page = render(&[a, b]);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("&quot;Europe/Berlin&quot;"));
        assert_eq!(page.matches("<section class=\"policy\"").count(), 2);
        assert!(page.contains("<title>snapkeep simulate: &lt;script&gt;"));
    }
}

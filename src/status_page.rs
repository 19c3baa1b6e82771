//! The daemon's status page (`GET /` on `[metrics] listen`): the report
//! `snapkeep status --json` prints, for someone glancing at a fleet of 200
//! servers rather than reading a table — problems first and in colour
//! (stale, failed items, retrying, old, paused), then the rest, the
//! orphans, and what is protected.
//!
//! Pure: the report, when it was listed and `now` in, one self-contained
//! page out (`crate::html`: every name the provider chose is escaped, no
//! script, nothing fetched). It reloads itself every [`REFRESH_SECONDS`]
//! with a `<meta>` refresh, so it needs no script. Read-only: it shows no
//! token, no hook command, nothing from the config but policy names and
//! schedules.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::html::{document, escape};
use crate::status::{Health, OrphanRow, Report, Row};

/// How often the page reloads itself.
pub(crate) const REFRESH_SECONDS: u32 = 30;

/// The page for `report`, built from a listing taken at `listed_at`.
pub(crate) fn render(report: &Report, listed_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let mut body = String::new();
    let count = |state: State| report.pairs.iter().filter(|r| state_of(r) == state).count();
    let _ = writeln!(
        body,
        "<header>\n<h1>snapkeep status</h1>\n<p class=\"muted\">{} (server, policy) pair{} · account listed {} ago at {} · page at {} · reloads every {REFRESH_SECONDS} s · <a href=\"status.json\">status.json</a></p>",
        report.pairs.len(),
        if report.pairs.len() == 1 { "" } else { "s" },
        ago((now - listed_at).num_seconds()),
        listed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    body.push_str("<ul class=\"tally\">\n");
    for state in State::ALL {
        let _ = writeln!(
            body,
            "<li class=\"{}\" data-state=\"{}\"><b>{}</b> {}</li>",
            state.class(),
            state.class(),
            count(state),
            state.label(),
        );
    }
    let failed: usize = report.pairs.iter().map(|r| r.ours.failed as usize).sum();
    let _ = writeln!(
        body,
        "<li class=\"{}\"><b>{failed}</b> failed item{}</li>\n<li class=\"{}\"><b>{}</b> orphan{}</li>\n</ul>\n</header>",
        if failed > 0 { "failed" } else { "quiet" },
        if failed == 1 { "" } else { "s" },
        if report.orphans.is_empty() {
            "quiet"
        } else {
            "orphans"
        },
        report.orphans.len(),
        if report.orphans.len() == 1 { "" } else { "s" },
    );
    let accounts: BTreeSet<&str> = report
        .pairs
        .iter()
        .map(|r| r.account.as_str())
        .chain(report.orphans.iter().map(|o| o.account.as_str()))
        .collect();
    let of = OfAccount(accounts.len() > 1);
    body.push_str(&pairs(&report.pairs, now, of));
    body.push_str(&orphans(&report.orphans, of));
    body.push_str(&protected(&report.pairs, of));
    document(
        "snapkeep status",
        &format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\n"),
        STYLE,
        &body,
    )
}

/// Whether the page shows several accounts: server ids repeat across
/// accounts, so then every server says its account.
#[derive(Debug, Clone, Copy)]
struct OfAccount(bool);

impl OfAccount {
    /// ` of account prod` (after a server's name), or nothing.
    fn of(self, account: &str) -> String {
        if self.0 {
            format!(
                " <span class=\"account\">of account {}</span>",
                escape(account)
            )
        } else {
            String::new()
        }
    }
}

/// What a row shows as its state, worst first (the order of the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    Stale,
    Retrying,
    Old,
    Paused,
    Ok,
}

impl State {
    const ALL: [State; 5] = [
        State::Stale,
        State::Retrying,
        State::Old,
        State::Paused,
        State::Ok,
    ];

    fn class(self) -> &'static str {
        match self {
            State::Stale => "stale",
            State::Retrying => "retrying",
            State::Old => "old",
            State::Paused => "paused",
            State::Ok => "ok",
        }
    }

    fn label(self) -> &'static str {
        match self {
            State::Stale => "STALE",
            State::Retrying => "RETRYING",
            State::Old => "old",
            State::Paused => "PAUSED",
            State::Ok => "ok",
        }
    }
}

/// The same precedence as `status`'s STATE column.
fn state_of(r: &Row) -> State {
    match (r.health, &r.retry) {
        (Health::Paused, _) => State::Paused,
        (_, Some(_)) => State::Retrying,
        (Health::Critical, None) => State::Stale,
        (Health::Warning, None) => State::Old,
        (Health::Ok, None) => State::Ok,
    }
}

fn pairs(rows: &[Row], now: DateTime<Utc>, of: OfAccount) -> String {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    // Problems first; within a state, the config's order (a stable sort).
    sorted.sort_by_key(|r| state_of(r));
    let mut out = String::from(
        "<section>\n<h2>Servers and policies</h2>\n<table class=\"pairs\">\n<thead><tr><th>state</th><th>server</th><th>policy</th><th>kind</th><th title=\"completed / in progress / failed items of the policy's own; others on the server\">holds</th><th>newest completed</th><th>next fire</th><th>next pass prunes</th><th>notes</th></tr></thead>\n<tbody>\n",
    );
    for r in sorted {
        let state = state_of(r);
        let newest = match r.newest_completed {
            Some(t) => format!(
                "<span title=\"{}\">{} ago</span>",
                t.to_rfc3339_opts(SecondsFormat::Secs, true),
                ago((now - t).num_seconds())
            ),
            None => "<span class=\"none\">none</span>".to_owned(),
        };
        let mut notes = Vec::new();
        if let Some(retry) = &r.retry {
            notes.push(format!(
                "retry {} of slot {} at {} (last try: {})",
                retry.attempt,
                retry.slot.format("%m-%d %H:%M UTC"),
                retry.at.format("%H:%M:%S UTC"),
                escape(&retry.reason)
            ));
        }
        if let Some(note) = &r.shared_cap {
            notes.push(escape(note));
        }
        if !r.protected.is_empty() {
            notes.push(format!("{} protected", r.protected.len()));
        }
        let prunes = if r.would_delete.is_empty() {
            "0".to_owned()
        } else {
            let names: Vec<String> = r
                .would_delete
                .iter()
                .map(|p| format!("#{} {} ({})", p.id, p.name, p.reasons.join(", ")))
                .collect();
            format!(
                "<span title=\"{}\">{}</span>",
                escape(&names.join("\n")),
                r.would_delete.len()
            )
        };
        let _ = writeln!(
            out,
            "<tr class=\"pair {}{}\" data-server=\"{}\" data-policy=\"{}\"><td><span class=\"badge\">{}</span></td><td><b>{}</b> {}{}</td><td>{}</td><td>{}</td><td class=\"holds\">{} / {} / <span class=\"{}\">{}</span>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"notes\">{}</td></tr>",
            state.class(),
            if r.ours.failed > 0 { " has-failed" } else { "" },
            r.server_id,
            escape(&r.policy),
            state.label(),
            r.server_id,
            escape(&r.server_name),
            of.of(&r.account),
            escape(&r.policy),
            escape(r.kind),
            r.ours.completed,
            r.ours.in_progress,
            if r.ours.failed > 0 { "failed" } else { "" },
            r.ours.failed,
            if r.ours.not_ours > 0 {
                format!(" <span class=\"muted\">+{} others</span>", r.ours.not_ours)
            } else {
                String::new()
            },
            newest,
            r.next_fire_short
                .as_deref()
                .map_or_else(|| "never".to_owned(), escape),
            prunes,
            notes.join("<br>"),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    out
}

fn orphans(orphans: &[OrphanRow], of: OfAccount) -> String {
    if orphans.is_empty() {
        return "<section>\n<h2>Orphans</h2>\n<p class=\"muted\">None: every item in our naming belongs to a configured policy.</p>\n</section>\n".to_owned();
    }
    let mut out = format!(
        "<section>\n<h2>Orphans</h2>\n<p class=\"muted\">{} item{} in our naming that no configured policy prunes; see <code>snapkeep prune-orphans</code>.</p>\n<table class=\"orphans\">\n<thead><tr><th>server</th><th>kind</th><th>item</th><th>status</th><th>why</th></tr></thead>\n<tbody>\n",
        orphans.len(),
        if orphans.len() == 1 { "" } else { "s" },
    );
    for o in orphans {
        let mut why = escape(&o.reason);
        if let Some(note) = o.live_note() {
            let _ = write!(why, "<br><span class=\"muted\">{}</span>", escape(&note));
        }
        let _ = writeln!(
            out,
            "<tr class=\"orphan\" data-server=\"{}\"><td><b>{}</b> {}{}</td><td>{}</td><td>#{} {}{}</td><td>{}</td><td>{}</td></tr>",
            o.server_id,
            o.server_id,
            escape(&o.server_name),
            of.of(&o.account),
            escape(o.kind),
            o.id,
            escape(&o.name),
            if o.protected {
                " <em>(protected)</em>"
            } else {
                ""
            },
            escape(&o.status),
            why,
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    out
}

fn protected(rows: &[Row], of: OfAccount) -> String {
    let listed: Vec<&Row> = rows.iter().filter(|r| !r.protected.is_empty()).collect();
    if listed.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section>\n<h2>Protected</h2>\n<p class=\"muted\">Listed in a policy's <code>protect</code>: never deleted.</p>\n<ul class=\"protected\">\n",
    );
    for r in listed {
        for p in &r.protected {
            let _ = writeln!(
                out,
                "<li>server <b>{}</b> {}{}, policy {}: #{} {} ({})</li>",
                r.server_id,
                escape(&r.server_name),
                of.of(&r.account),
                escape(&r.policy),
                p.id,
                escape(&p.name),
                escape(&p.status),
            );
        }
    }
    out.push_str("</ul>\n</section>\n");
    out
}

/// An age for people: `45s`, `12m`, `5h`, `3d`.
fn ago(secs: i64) -> String {
    match secs {
        s if s < 0 => "0s".to_owned(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

const STYLE: &str = "\
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
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;
    use crate::inventory::Item;
    use crate::metrics::RetryState;
    use crate::provider::Kind;
    use crate::status::{Inventories, Listing};
    use chrono::{TimeDelta, TimeZone};
    use std::collections::HashMap;
    use std::sync::Arc;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 10, h, 0, 0).unwrap()
    }

    fn item(id: u64, server: u64, name: &str, label: &str, status: Status) -> Item {
        Item {
            id,
            server_id: server,
            server_name: name.into(),
            label: label.into(),
            status,
            created_at: at(3),
            size_bytes: None,
        }
    }

    /// Two servers of one policy, a paused one, a failed item, a retry and
    /// an orphan whose server and item names are markup.
    fn listing() -> Listing {
        let config = crate::config::parse_str(
            r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1, 2]
schedule = "0 3 * * *"
keep_last = 2
protect = [9]
[[policy]]
name = "held"
kind = "snapshot"
servers = [3]
schedule = "0 4 * * *"
keep_last = 1
enabled = false
"#,
            "t",
        )
        .unwrap();
        let evil = "<script>alert(\"x\")</script>'";
        let inventories: Inventories = HashMap::from([(
            Kind::Snapshot,
            HashMap::from([
                (
                    1,
                    vec![
                        item(
                            1,
                            1,
                            evil,
                            "snapkeep-nightly-20250110-030000",
                            Status::Completed,
                        ),
                        item(
                            2,
                            1,
                            evil,
                            "snapkeep-nightly-20250109-030000",
                            Status::Failed,
                        ),
                        item(9, 1, evil, "before <upgrade>", Status::Completed),
                        item(
                            5,
                            1,
                            evil,
                            "snapkeep-gone-20250101-030000",
                            Status::Completed,
                        ),
                    ],
                ),
                (3, vec![]),
            ]),
        )]);
        Listing {
            config: Arc::new(config),
            inventories: vec![("default".to_owned(), inventories)],
            at: at(12),
        }
    }

    fn retry() -> RetryState {
        RetryState {
            server_id: 2,
            policy: "nightly".into(),
            slot: at(3),
            attempt: 2,
            at: at(13),
            reason: "api".into(),
        }
    }

    #[test]
    fn one_row_per_pair_problems_first_each_highlighted() {
        let now = at(12) + TimeDelta::minutes(5);
        let report = listing().report(now, &[retry()]);
        let page = render(&report, at(12), now);
        assert_eq!(page.matches("<tr class=\"pair ").count(), 3, "{page}");
        let order: Vec<&str> = page
            .match_indices("<tr class=\"pair ")
            .map(|(i, _)| page[i + 16..].split('"').next().unwrap())
            .collect();
        assert_eq!(order, ["retrying", "paused", "ok has-failed"], "{page}");
        assert!(page.contains("retry 2 of slot 01-10 03:00 UTC at 13:00:00 UTC (last try: api)"));
        assert!(
            page.contains("<li class=\"retrying\" data-state=\"retrying\"><b>1</b> RETRYING</li>")
        );
        assert!(page.contains("<b>1</b> failed item</li>"), "{page}");
        assert!(page.contains("account listed 5m ago"), "{page}");
        assert!(page.contains("<span title=\"2025-01-10T03:00:00Z\">9h ago</span>"));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        // Without the retry, server 2 (nothing there) is stale.
        let report = listing().report(now, &[]);
        let page = render(&report, at(12), now);
        assert!(
            page.contains("<tr class=\"pair stale\" data-server=\"2\""),
            "{page}"
        );
    }

    /// Server ids repeat across accounts: with several, every server on
    /// the page (pairs, orphans, protected items) says its account; with
    /// one, none does.
    #[test]
    fn with_several_accounts_every_server_says_its_account() {
        let now = at(12);
        let mut report = listing().report(now, &[]);
        let one = render(&report, now, now);
        assert!(!one.contains("of account"), "{one}");
        for (i, r) in report.pairs.iter_mut().enumerate() {
            r.account = if i == 0 { "prod" } else { "staging<x>" }.into();
        }
        let page = render(&report, now, now);
        let r = &report.pairs[0];
        let cell = format!(
            "<td><b>{}</b> {} <span class=\"account\">of account prod</span></td>",
            r.server_id,
            escape(&r.server_name)
        );
        assert!(page.contains(&cell), "{cell}\n{page}");
        assert!(page.contains("of account staging&lt;x&gt;"), "{page}");
        let protected: usize = report.pairs.iter().map(|r| r.protected.len()).sum();
        assert_eq!(
            page.matches("<span class=\"account\">").count(),
            report.pairs.len() + report.orphans.len() + protected,
            "{page}"
        );
    }

    #[test]
    fn provider_names_show_as_text() {
        let now = at(12);
        let page = render(&listing().report(now, &[]), now, now);
        assert!(!page.contains("<script"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;"),
            "{page}"
        );
        assert!(
            page.contains("#9 before &lt;upgrade&gt; (completed)"),
            "{page}"
        );
        assert!(page.contains("#5 snapkeep-gone-20250101-030000"), "{page}");
    }

    #[test]
    fn the_json_is_the_status_report() {
        let now = at(12);
        let report = listing().report(now, &[retry()]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["pairs"].as_array().unwrap().len(), 3);
        assert_eq!(json["pairs"][1]["retry"]["attempt"], 2);
        assert_eq!(json["orphans"][0]["id"], 5);
    }
}

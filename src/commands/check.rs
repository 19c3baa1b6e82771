//! `snapkeep check`: validate a config and say, in words, what it will do.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::clock::compact_duration;
use crate::config::{self, Config, Policy, StartError, TokenSource};
use crate::error::AppError;
use crate::hooks::{self, OnHookFailure, PostHookAfter};
use crate::provider::Kind;

pub(crate) fn run(path: &Path) -> Result<u8, AppError> {
    let config = config::load(path)?;
    // `[[account]]` tokens are checked (read, never printed): a missing or
    // unreadable source, or one account listed twice. An `[api]`-only
    // config is checked without a token, as always.
    if !config
        .accounts
        .iter()
        .all(|a| a.token == TokenSource::Default)
    {
        config::check_tokens(&config).map_err(StartError::from)?;
    }
    print!("{}", summary(&config, Utc::now()));
    Ok(0)
}

/// The report `check` prints; pure, `now` injected.
pub(crate) fn summary(config: &Config, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    // Server 7 of one account and server 7 of another are two servers.
    let servers: Vec<u64> = config
        .accounts
        .iter()
        .flat_map(|a| config.servers_of(&a.name))
        .collect();
    let _ = writeln!(
        out,
        "{}: valid — {} polic{}, {} server{}",
        config.origin,
        config.policies.len(),
        if config.policies.len() == 1 {
            "y"
        } else {
            "ies"
        },
        servers.len(),
        if servers.len() == 1 { "" } else { "s" }
    );
    for w in &config.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if config.several_accounts() || config.accounts[0].token != TokenSource::Default {
        accounts(&mut out, config);
    } else {
        let _ = writeln!(out, "API: {}", config.api.base_url);
    }
    let _ = writeln!(out, "\nPolicies:");
    for p in &config.policies {
        let next = p
            .schedule
            .next_after(now)
            .map(|t| t.with_timezone(&p.schedule.timezone()).to_rfc3339())
            .unwrap_or_else(|| "never".into());
        let account = if config.several_accounts() {
            format!(" (account {})", p.account)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {}{account} — {} {}",
            p.name,
            p.kind,
            p.schedule.describe()
        );
        let _ = writeln!(
            out,
            "      schedule \"{}\" in {}; next: {next}",
            p.schedule.expression(),
            p.schedule.timezone()
        );
        let _ = writeln!(out, "      keeps: {}", keep_text(p));
        let _ = writeln!(
            out,
            "      servers: {}",
            p.servers
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        for line in extras(p, now) {
            let _ = writeln!(out, "      {line}");
        }
    }
    caps(&mut out, config);
    out
}

/// `At most, per server`: what the policies of each (account, server) may
/// keep of each kind, against the provider's cap.
fn caps(out: &mut String, config: &Config) {
    let _ = writeln!(
        out,
        "\nAt most, per server (VPS.org caps: 5 snapshots, 10 manual backups):"
    );
    let mut per: BTreeMap<(usize, u64), BTreeMap<Kind, Vec<&Policy>>> = BTreeMap::new();
    let order = |name: &str| config.accounts.iter().position(|a| a.name == name);
    for p in &config.policies {
        for s in &p.servers {
            per.entry((order(&p.account).unwrap_or(usize::MAX), *s))
                .or_default()
                .entry(p.kind)
                .or_default()
                .push(p);
        }
    }
    for ((account, server), kinds) in per {
        let parts: Vec<String> = kinds
            .iter()
            .map(|(kind, ps)| {
                let total: usize = ps.iter().map(|p| p.max_kept).sum();
                let by: Vec<String> = ps
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.max_kept))
                    .collect();
                format!(
                    "{total}/{} {} ({})",
                    kind.cap(),
                    kind.plural(),
                    by.join(" + ")
                )
            })
            .collect();
        let label = match config.accounts.get(account) {
            Some(a) if config.several_accounts() => format!("{} ", a.name),
            _ => String::new(),
        };
        let _ = writeln!(out, "  {label}server {server}: {}", parts.join("; "));
    }
}

/// `Accounts:`: each account's API, where its token comes from (never the
/// token) and its servers.
fn accounts(out: &mut String, config: &Config) {
    let _ = writeln!(out, "Accounts:");
    for a in &config.accounts {
        let token = match &a.token {
            TokenSource::Default => {
                "VPS_API_TOKEN, api.token_file, credential vps-api-token or api.token".to_owned()
            }
            TokenSource::File(path) => format!("token_file {}", path.display()),
            TokenSource::Env(var) => format!("token_env ${var}"),
            TokenSource::Credential(name) => format!("token_credential {name}"),
        };
        let servers: Vec<String> = config
            .servers_of(&a.name)
            .iter()
            .map(u64::to_string)
            .collect();
        let _ = writeln!(
            out,
            "  {} — {} (token from {token})",
            a.name, a.api.base_url
        );
        let _ = writeln!(
            out,
            "      servers: {}",
            if servers.is_empty() {
                "none (no policy names this account)".to_owned()
            } else {
                servers.join(", ")
            }
        );
    }
}

/// Pause, protect, hooks and alert thresholds, when they say something.
fn extras(p: &Policy, now: DateTime<Utc>) -> Vec<String> {
    let mut lines = Vec::new();
    if !p.enabled {
        lines.push(
            "PAUSED (enabled = false): not fired, nothing pruned; its items still count toward the cap"
                .to_owned(),
        );
    }
    if !p.protect.is_empty() {
        let ids: Vec<String> = p.protect.iter().map(|id| format!("#{id}")).collect();
        lines.push(format!("protects: {} (never deleted)", ids.join(", ")));
    }
    if let Some(h) = &p.hooks {
        let mut parts = Vec::new();
        if let Some(pre) = &h.pre {
            parts.push(format!("pre {}", hooks::argv_text(pre)));
        }
        if let Some(post) = &h.post {
            parts.push(format!("post {}", hooks::argv_text(post)));
        }
        lines.push(format!(
            "hooks: {} (timeout {}; on pre failure: {}; post after the create is {})",
            parts.join(", "),
            compact_duration(h.timeout),
            match h.on_failure {
                OnHookFailure::Abort => "abort",
                OnHookFailure::Continue => "continue",
            },
            match h.post_after {
                PostHookAfter::Accepted => "accepted",
                PostHookAfter::Completed => "completed",
            }
        ));
    }
    if let Some(t) = p.alert_thresholds(now) {
        lines.push(format!(
            "alerts (status --check): warning after {}, critical after {} without a new completed item",
            compact_duration(t.warn),
            compact_duration(t.crit)
        ));
    }
    lines
}

fn keep_text(p: &Policy) -> String {
    format!(
        "{} (at most {} per server; the newest completed is always kept)",
        p.keep.parts().join(", "),
        p.max_kept
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn summary_of_example_config() {
        let c = config::parse_str(
            include_str!("../../config.example.toml"),
            "config.example.toml",
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2025, 3, 29, 12, 0, 0).unwrap();
        let s = summary(&c, now);
        assert!(s.contains("valid — 2 policies, 2 servers"), "{s}");
        // 03:00 Berlin on the DST day is still 03:00 local (+02:00).
        assert!(s.contains("next: 2025-03-30T03:00:00+02:00"), "{s}");
        assert!(s.contains("10/10 manual backups (weekly-backup 10)"), "{s}");
        assert!(s.contains("5/5 snapshots (nightly 5)"), "{s}");
        assert!(
            // The interval around now spans the DST change: 23 hours.
            s.contains(
                "alerts (status --check): warning after 1d 10h, critical after 1d 22h without"
            ),
            "{s}"
        );
        assert!(!s.contains("PAUSED") && !s.contains("hooks:"), "{s}");
    }

    #[test]
    fn summary_shows_pause_protect_and_hooks() {
        let c = config::parse_str(
            r#"
[[policy]]
name = "n"
kind = "snapshot"
servers = [1]
schedule = "@hourly"
keep_last = 2
enabled = false
protect = [801, 7]
pre_hook = ["fsfreeze", "--freeze", "/"]
post_hook = ["fsfreeze", "--unfreeze", "/"]
on_hook_failure = "continue"
warn_after = "90m"
"#,
            "t",
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2025, 3, 29, 12, 0, 0).unwrap();
        let s = summary(&c, now);
        for want in [
            "      PAUSED (enabled = false): not fired, nothing pruned; its items still count toward the cap\n",
            "      protects: #7, #801 (never deleted)\n",
            "      hooks: pre [\"fsfreeze\", \"--freeze\", \"/\"], post [\"fsfreeze\", \"--unfreeze\", \"/\"] (timeout 1m; on pre failure: continue; post after the create is accepted)\n",
            "      alerts (status --check): warning after 1h 30m, critical after 2h without a new completed item\n",
        ] {
            assert!(s.contains(want), "{want}\n---\n{s}");
        }
    }
}

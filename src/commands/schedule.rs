//! `snapkeep schedule`: each policy's next fire times, in its zone and UTC.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::ScheduleArgs;
use crate::config::{self, Config};
use crate::error::AppError;

#[derive(Debug, Serialize)]
struct PolicyTimes {
    policy: String,
    timezone: String,
    /// `enabled = false`: the times are the schedule's, but nothing fires.
    paused: bool,
    next: Vec<String>,
}

pub(crate) fn run(path: &Path, args: &ScheduleArgs) -> Result<u8, AppError> {
    let config = config::load(path)?;
    let from = super::from_arg(args.from.as_deref())?;
    print!("{}", render(&config, from, args.count, args.json));
    Ok(0)
}

/// Pure rendering; `from` injected.
pub(crate) fn render(config: &Config, from: DateTime<Utc>, count: usize, json: bool) -> String {
    let times: Vec<PolicyTimes> = config
        .policies
        .iter()
        .map(|p| PolicyTimes {
            policy: p.name.clone(),
            timezone: p.schedule.timezone().name().to_owned(),
            paused: !p.enabled,
            next: p
                .schedule
                .upcoming(from, count)
                .iter()
                .map(|t| t.to_rfc3339())
                .collect(),
        })
        .collect();
    if json {
        return serde_json::to_string_pretty(&times).expect("plain data serialises") + "\n";
    }
    let mut out = String::new();
    for (p, t) in config.policies.iter().zip(&times) {
        out.push_str(&format!(
            "{} ({}, \"{}\" in {}){}:\n",
            p.name,
            p.schedule.describe(),
            p.schedule.expression(),
            t.timezone,
            if p.enabled {
                ""
            } else {
                " — PAUSED (enabled = false): these times do not fire"
            }
        ));
        for local in p.schedule.upcoming(from, count) {
            out.push_str(&format!(
                "  {}   {}\n",
                local.format("%Y-%m-%d %H:%M:%S %Z (%:z)"),
                local.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn json_shape_and_dst() {
        let c = config::parse_str(include_str!("../../config.example.toml"), "c").unwrap();
        let from = Utc.with_ymd_and_hms(2025, 3, 29, 12, 0, 0).unwrap();
        let v: serde_json::Value = serde_json::from_str(&render(&c, from, 2, true)).unwrap();
        assert_eq!(v[0]["policy"], "nightly");
        assert_eq!(v[0]["timezone"], "Europe/Berlin");
        assert_eq!(v[0]["next"][0], "2025-03-30T03:00:00+02:00");
        assert_eq!(v[0]["next"][1], "2025-03-31T03:00:00+02:00");
        assert_eq!(v[1]["timezone"], "UTC");
        let text = render(&c, from, 1, false);
        assert!(
            text.contains("2025-03-30 03:00:00 CEST (+02:00)   2025-03-30T01:00:00Z"),
            "{text}"
        );
        assert_eq!(v[0]["paused"], false);
        let paused = config::parse_str(
            "[[policy]]\nname = \"p\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"@daily\"\nkeep_last = 1\nenabled = false\n",
            "c",
        )
        .unwrap();
        assert!(
            render(&paused, from, 1, false).starts_with(
                "p (at 00:00 every day (UTC), \"@daily\" in UTC) — PAUSED (enabled = false): these times do not fire:\n"
            ),
            "{}",
            render(&paused, from, 1, false)
        );
    }
}

use super::*;
use crate::api::DEFAULT_BASE_URL;
use crate::hooks::{OnHookFailure, PostHookAfter};
use crate::provider::SNAPSHOT_CAP;
use crate::zone::{Zone, known};

const MINIMAL: &str = r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1]
schedule = "0 3 * * *"
keep_last = 3
"#;

fn problems(text: &str) -> Vec<Problem> {
    match parse_str(text, "test.toml") {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("config was accepted"),
    }
}

#[test]
fn example_config_validates() {
    let text = include_str!("../../config.example.toml");
    let config = parse_str(text, "config.example.toml").expect("config.example.toml must validate");
    assert_eq!(config.policies.len(), 2);
    assert_eq!(
        config.policies[0].schedule.timezone(),
        known("Europe/Berlin")
    );
    assert_eq!(config.policies[0].max_kept, 5);
    assert_eq!(config.policies[1].kind, Kind::Backup);
    assert_eq!(
        config.api.token_file.as_deref(),
        Some(Path::new("/etc/snapkeep/token"))
    );
    assert!(config.warnings.is_empty());
    // The hook lines are commented out; the other new keys show their defaults.
    let p = &config.policies[0];
    assert!(p.hooks.is_none() && p.enabled && p.protect.is_empty());
    assert_eq!((p.warn_after, p.crit_after), (None, None));
}

#[test]
fn defaults_apply() {
    let c = parse_str(MINIMAL, "t").unwrap();
    let p = &c.policies[0];
    assert_eq!(c.api.base_url, DEFAULT_BASE_URL);
    assert_eq!(p.prefix, "snapkeep");
    assert_eq!(p.schedule.timezone(), Zone::UTC);
    assert_eq!(p.poll_interval, Duration::from_secs(15));
    assert_eq!(p.wait_timeout, Duration::from_secs(1800));
    assert_eq!(p.missed, Missed::RunOnce);
    assert_eq!(p.keep.last, Some(3));
    assert_eq!(c.daemon.shutdown_timeout, Duration::from_secs(30));
}

#[test]
fn policy_overrides_defaults() {
    let text = r#"
[defaults]
timezone = "America/New_York"
poll_interval = "5s"
[[policy]]
name = "a"
kind = "backup"
servers = [1]
schedule = "@daily"
poll_interval = "1s"
missed = "skip"
keep_daily = 7
"#;
    let c = parse_str(text, "t").unwrap();
    let p = &c.policies[0];
    assert_eq!(p.schedule.timezone(), known("America/New_York"));
    assert_eq!(p.poll_interval, Duration::from_secs(1));
    assert_eq!(p.missed, Missed::Skip);
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = MINIMAL.replace("keep_last = 3", "keep_lst = 3\nkeep_daily = 2");
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 7, "{p:?}");
    assert_eq!(p[0].key, "policy.nightly.keep_lst");
    assert_eq!(
        p[0].message,
        "unknown key `keep_lst`; did you mean `keep_last`?"
    );
}

#[test]
fn typos_say_did_you_mean_and_hide_no_other_problem() {
    let text = format!(
        "[api]\nrequests_per_secnd = 3\n{}zzzzqqq = 1\n",
        MINIMAL.replace("\"0 3 * * *\"", "\"0 25 * * *\"")
    );
    let err = parse_str(&text, "c.toml").unwrap_err().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(
        lines[0],
        "c.toml:2:1: api.requests_per_secnd: unknown key `requests_per_secnd`; did you mean `requests_per_second`?"
    );
    assert!(
        lines[1].starts_with("c.toml:8:12: policy.schedule: "),
        "{err}"
    );
    assert!(
        lines[2].starts_with("c.toml:10:1: policy.nightly.zzzzqqq: unknown key `zzzzqqq`; allowed here: name, kind, servers"),
        "{err}"
    );
}

#[test]
fn errors_render_file_line_column_key() {
    let text = MINIMAL.replace("\"0 3 * * *\"", "\"0 25 * * *\"");
    let err = parse_str(&text, "/etc/snapkeep/config.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/etc/snapkeep/config.toml:6:12: policy.schedule: "),
        "{err}"
    );
    assert!(err.contains("hour"), "cron errors say which field: {err}");
}

#[test]
fn all_problems_reported_at_once() {
    let text = r#"
[defaults]
timezone = "Mars/Olympus"
[[policy]]
name = "Bad Name"
kind = "snapshots"
servers = []
schedule = "0 3 * * *"
wait_timeout = "soon"
"#;
    let p = problems(text);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for want in [
        "defaults.timezone",
        "policy.name",
        "policy.kind",
        "policy.servers",
    ] {
        assert!(keys.contains(&want), "{want} missing from {keys:?}");
    }
    assert!(keys.iter().any(|k| k.ends_with("wait_timeout")), "{keys:?}");
    assert!(
        keys.iter().any(|k| k.starts_with("policy.Bad Name")),
        "keeps nothing: {keys:?}"
    );
}

#[test]
fn keep_nothing_is_an_error() {
    let text = MINIMAL.replace("keep_last = 3", "keep_last = 0\nkeep_daily = 0");
    let p = problems(&text);
    assert!(p[0].message.contains("keeps nothing"), "{p:?}");
}

#[test]
fn negative_keep_other_than_minus_one_is_rejected() {
    let p = problems(&MINIMAL.replace("keep_last = 3", "keep_last = -2"));
    assert!(p[0].message.contains("-1 (unlimited)"), "{p:?}");
}

#[test]
fn cross_policy_cap_names_server_and_policies() {
    let text = r#"
[[policy]]
name = "a"
kind = "snapshot"
servers = [7, 8]
schedule = "@daily"
keep_last = 3
[[policy]]
name = "b"
kind = "snapshot"
servers = [8]
schedule = "@weekly"
keep_last = 2
keep_weekly = 1
[[policy]]
name = "c"
kind = "backup"
servers = [8]
schedule = "@daily"
keep_daily = 10
"#;
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:?}");
    let m = &p[0].message;
    assert!(
        m.contains("server 8") && m.contains("a keeps up to 3") && m.contains("b keeps up to 3"),
        "{m}"
    );
    assert!(m.contains("allows 5"), "{m}");
}

#[test]
fn unbounded_counts_as_whole_cap() {
    let text = r#"
[[policy]]
name = "a"
kind = "snapshot"
servers = [7]
schedule = "@daily"
keep_within = "7d"
[[policy]]
name = "b"
kind = "snapshot"
servers = [7]
schedule = "@daily"
keep_last = 1
"#;
    let p = problems(text);
    assert!(p[0].message.contains("unbounded"), "{p:?}");
    // Alone, an unbounded policy is allowed and capped at the provider's limit.
    let alone = parse_str(&text[..text.find("[[policy]]\nname = \"b\"").unwrap()], "t").unwrap();
    assert_eq!(alone.policies[0].max_kept, SNAPSHOT_CAP);
}

#[test]
fn within_uses_restic_grammar() {
    let ok = MINIMAL.replace("keep_last = 3", "keep_within = \"1y2m3d4h\"");
    let c = parse_str(&ok, "t").unwrap();
    let s = c.policies[0].keep.within.unwrap();
    assert_eq!((s.years, s.months, s.days, s.hours), (1, 2, 3, 4));
    let bad = problems(&MINIMAL.replace("keep_last = 3", "keep_within = \"30s\""));
    assert_eq!(bad[0].key, "policy.keep_within");
}

#[test]
fn insecure_base_url_and_inline_token() {
    let text = format!("[api]\nbase_url = \"http://admin.vps.org/api/v1\"\n{MINIMAL}");
    let p = problems(&text);
    assert_eq!((p[0].line, p[0].key.as_str()), (2, "api.base_url"));
    let text =
        format!("[api]\nbase_url = \"http://127.0.0.1:8080/api/v1\"\ntoken = \"abc\"\n{MINIMAL}");
    let c = parse_str(&text, "t").unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert!(
        !format!("{c:?}").contains("abc\""),
        "token must not be in Debug"
    );
}

#[test]
fn duplicate_names_and_servers() {
    let text = format!(
        "{MINIMAL}{}",
        MINIMAL.replace("servers = [1]", "servers = [2, 2]")
    );
    let p = problems(&text);
    assert!(p.iter().any(|p| p.message.contains("unique")), "{p:?}");
    assert!(
        p.iter().any(|p| p.message.contains("listed twice")),
        "{p:?}"
    );
}

#[test]
fn empty_file_says_add_a_policy() {
    let p = problems("");
    assert!(p[0].message.contains("no [[policy]]"));
}

#[test]
fn prefix_rules() {
    let p = problems(&MINIMAL.replace("keep_last = 3", "keep_last = 3\nprefix = \"my-co\""));
    assert_eq!(p[0].key, "policy.nightly.prefix");
}

#[test]
fn a_policy_that_keeps_one_item_needs_a_free_slot() {
    let two = |a: u32, b: u32| {
        format!(
            "[[policy]]\nname = \"a\"\nkind = \"snapshot\"\nservers = [7]\nschedule = \"@daily\"\nkeep_last = {a}\n\n[[policy]]\nname = \"b\"\nkind = \"snapshot\"\nservers = [7]\nschedule = \"@hourly\"\nkeep_last = {b}\n"
        )
    };
    // 1 + 4 = 5 fits the cap but can never rotate `a`.
    let p = problems(&two(1, 4));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "policy.a");
    for needle in [
        "server 7",
        "a keep(s) only one snapshot",
        "keep up to 5",
        "allows 5",
        "b keeps up to 4",
    ] {
        assert!(p[0].message.contains(needle), "{needle}: {}", p[0].message);
    }
    // With a slot of headroom, or two items, it is fine.
    assert!(parse_str(&two(1, 3), "t").is_ok());
    assert!(parse_str(&two(2, 3), "t").is_ok());
    // Alone on a server, one item has all the headroom it needs.
    assert!(parse_str(&MINIMAL.replace("keep_last = 3", "keep_last = 1"), "t").is_ok());
}

#[test]
fn numbers_out_of_range_are_refused_with_the_key() {
    for (line, key, needle) in [
        (
            "requests_per_second = 1e-300",
            "api.requests_per_second",
            "between 0.01 and 10000",
        ),
        (
            "requests_per_second = 1e300",
            "api.requests_per_second",
            "between 0.01 and 10000",
        ),
        (
            "requests_per_second = nan",
            "api.requests_per_second",
            "between 0.01 and 10000",
        ),
        ("timeout = \"5000y\"", "api.timeout", "longer than a year"),
        (
            "retry_deadline = \"500years\"",
            "api.retry_deadline",
            "longer than a year",
        ),
    ] {
        let text = format!("[api]\n{line}\n{MINIMAL}");
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{line}: {p:?}");
        assert_eq!(p[0].key, key);
        assert!(p[0].message.contains(needle), "{line}: {}", p[0].message);
    }
    for (line, needle) in [
        ("jitter = \"2d\"", "longer than a day"),
        ("wait_timeout = \"400d\"", "longer than a year"),
        ("poll_interval = \"9999999h\"", "longer than a year"),
    ] {
        let p = problems(&format!("{MINIMAL}{line}\n"));
        assert_eq!(p.len(), 1, "{line}: {p:?}");
        assert!(p[0].message.contains(needle), "{line}: {}", p[0].message);
    }
    assert!(parse_str(&format!("[api]\nrequests_per_second = 0\n{MINIMAL}"), "t").is_ok());
}

#[test]
fn hooks_come_from_defaults_and_a_policy_overrides_them() {
    let text = r#"
[defaults]
pre_hook = ["ssh", "root@web-01", "fsfreeze --freeze /"]
post_hook = ["ssh", "root@web-01", "fsfreeze --unfreeze /"]
hook_timeout = "2m"
[[policy]]
name = "a"
kind = "snapshot"
servers = [1]
schedule = "@daily"
keep_last = 1
[[policy]]
name = "b"
kind = "backup"
servers = [1]
schedule = "@daily"
keep_last = 1
pre_hook = ["/usr/local/bin/flush-db"]
on_hook_failure = "continue"
post_hook_after = "completed"
[[policy]]
name = "c"
kind = "backup"
servers = [2]
schedule = "@daily"
keep_last = 1
"#;
    let c = parse_str(text, "t").unwrap();
    let a = c.policies[0].hooks.as_ref().unwrap();
    assert_eq!(
        a.pre.as_deref().unwrap(),
        ["ssh", "root@web-01", "fsfreeze --freeze /"]
    );
    assert_eq!(a.timeout, Duration::from_secs(120));
    assert_eq!(a.on_failure, OnHookFailure::Abort);
    assert_eq!(a.post_after, PostHookAfter::Accepted);
    let b = c.policies[1].hooks.as_ref().unwrap();
    assert_eq!(b.pre.as_deref().unwrap(), ["/usr/local/bin/flush-db"]);
    assert_eq!(
        b.post.as_deref().unwrap(),
        ["ssh", "root@web-01", "fsfreeze --unfreeze /"],
        "post_hook still from [defaults]"
    );
    assert_eq!(b.on_failure, OnHookFailure::Continue);
    assert_eq!(b.post_after, PostHookAfter::Completed);
    // Without hooks anywhere: none, and the documented defaults.
    let plain = parse_str(MINIMAL, "t").unwrap();
    assert!(plain.policies[0].hooks.is_none());
    let only_post = parse_str(
        &MINIMAL.replace("keep_last = 3", "keep_last = 3\npost_hook = [\"true\"]"),
        "t",
    )
    .unwrap();
    let h = only_post.policies[0].hooks.as_ref().unwrap();
    assert!(h.pre.is_none());
    assert_eq!(h.timeout, Duration::from_secs(60));
    assert_eq!(h.on_failure, OnHookFailure::Abort);
    assert_eq!(h.post_after, PostHookAfter::Accepted);
}

#[test]
fn hook_problems_are_all_reported_with_their_place() {
    let text = r#"
[defaults]
pre_hook = []
hook_timeout = "0s"
[[policy]]
name = "a"
kind = "snapshot"
servers = [1]
schedule = "@daily"
keep_last = 1
post_hook = "fsfreeze --unfreeze /"
"#;
    let p = problems(text);
    // A string instead of an array is a type error: reported alone by serde.
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("sequence"), "{p:?}");
    assert_eq!(p[0].line, 11);

    let text = r#"
[defaults]
pre_hook = []
hook_timeout = "0s"
[[policy]]
name = "a"
kind = "snapshot"
servers = [1]
schedule = "@daily"
keep_last = 1
post_hook = [""]
hook_timeout = "2h"
on_hook_failure = "ignore"
post_hook_after = "done"
"#;
    let p = problems(text);
    let got: Vec<(usize, &str)> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (3, "defaults.pre_hook"),
            (4, "defaults.hook_timeout"),
            (11, "policy.a.post_hook"),
            (12, "policy.a.hook_timeout"),
            (13, "policy.a.on_hook_failure"),
            (14, "policy.a.post_hook_after"),
        ],
        "{p:?}"
    );
    assert!(p[0].message.contains("no shell"), "{p:?}");
    assert!(p[3].message.contains("at most 1h"), "{p:?}");
    assert!(
        p[4].message.contains("use \"abort\" or \"continue\""),
        "{p:?}"
    );
    assert!(
        p[5].message.contains("use \"accepted\" or \"completed\""),
        "{p:?}"
    );
}

#[test]
fn enabled_and_protect() {
    let c = parse_str(MINIMAL, "t").unwrap();
    assert!(c.policies[0].enabled);
    assert!(c.policies[0].protect.is_empty());
    let c = parse_str(
        &MINIMAL.replace(
            "keep_last = 3",
            "keep_last = 3\nenabled = false\nprotect = [801, 798]",
        ),
        "t",
    )
    .unwrap();
    let p = &c.policies[0];
    assert!(!p.enabled);
    assert!(p.lists_protected(801) && p.lists_protected(798) && !p.lists_protected(1));
    assert!(c.is_protected(801, Kind::Snapshot) && !c.is_protected(801, Kind::Backup));
    let bad = problems(&MINIMAL.replace("keep_last = 3", "keep_last = 3\nprotect = [5, -1, 5]"));
    let got: Vec<(&str, &str)> = bad
        .iter()
        .map(|p| (p.key.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "policy.nightly.protect");
    assert!(got[0].1.contains("-1 is not an item id"), "{got:?}");
    assert!(got[1].1.contains("item 5 is listed twice"), "{got:?}");
    let typo = problems(&MINIMAL.replace("keep_last = 3", "keep_last = 3\nenabled = \"no\""));
    assert!(typo[0].message.contains("bool"), "{typo:?}");
}

#[test]
fn disabled_policies_still_count_toward_the_cap() {
    let text = r#"
[[policy]]
name = "a"
kind = "snapshot"
servers = [1]
schedule = "@daily"
keep_last = 3
enabled = false
[[policy]]
name = "b"
kind = "snapshot"
servers = [1]
schedule = "@daily"
keep_last = 3
"#;
    let p = problems(text);
    assert!(p[0].message.contains("server 1"), "{p:?}");
}

#[test]
fn alert_thresholds_default_to_the_schedule_interval() {
    use chrono::TimeZone;
    let now = Utc.with_ymd_and_hms(2025, 1, 8, 12, 0, 0).unwrap(); // a Wednesday
    let c = parse_str(MINIMAL, "t").unwrap();
    let t = c.policies[0].alert_thresholds(now).unwrap();
    assert_eq!(t.warn, Duration::from_secs(36 * 3600));
    assert_eq!(t.crit, Duration::from_secs(48 * 3600));

    let set = |extra: &str| {
        let c = parse_str(
            &MINIMAL.replace("keep_last = 3", &format!("keep_last = 3\n{extra}")),
            "t",
        )
        .unwrap();
        c.policies[0].alert_thresholds(now).unwrap()
    };
    let both = set("warn_after = \"26h\"\ncrit_after = \"3d\"");
    assert_eq!(
        (both.warn, both.crit),
        (
            Duration::from_secs(26 * 3600),
            Duration::from_secs(72 * 3600)
        )
    );
    // Only one set: the other keeps its default unless that would cross it.
    let warn_only = set("warn_after = \"3d\"");
    assert_eq!(warn_only.crit, Duration::from_secs(72 * 3600));
    let crit_only = set("crit_after = \"1d\"");
    assert_eq!(
        (crit_only.warn, crit_only.crit),
        (
            Duration::from_secs(24 * 3600),
            Duration::from_secs(24 * 3600)
        )
    );
    let crit_later = set("crit_after = \"5d\"");
    assert_eq!(crit_later.warn, Duration::from_secs(36 * 3600));

    let bad = problems(&MINIMAL.replace(
        "keep_last = 3",
        "keep_last = 3\nwarn_after = \"2d\"\ncrit_after = \"1d\"",
    ));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].key, "policy.nightly.warn_after");
    assert!(
        bad[0]
            .message
            .contains("not shorter than crit_after (1day)"),
        "{bad:?}"
    );
    let zero = problems(&MINIMAL.replace("keep_last = 3", "keep_last = 3\ncrit_after = \"0s\""));
    assert_eq!(zero[0].key, "policy.nightly.crit_after");
}

#[test]
fn run_now_selects_paused_policies_only_by_name() {
    let text = format!(
        "{MINIMAL}{}",
        MINIMAL
            .replace("nightly", "paused")
            .replace("keep_last = 3", "keep_last = 1\nenabled = false")
            .replace("servers = [1]", "servers = [2]")
    );
    let c = parse_str(&text, "t").unwrap();
    let (on, off) = (&c.policies[0], &c.policies[1]);
    assert!(on.selected_for_run_now(&[]));
    assert!(!off.selected_for_run_now(&[]));
    let named = vec!["paused".to_owned()];
    assert!(off.selected_for_run_now(&named));
    assert!(!on.selected_for_run_now(&named));
}

/// A schedule that never fires (31 February) would leave its policy silently
/// never running: a problem with its place, judged from an injected now. A
/// leap day fires within the five years, so it is fine.
#[test]
fn a_schedule_with_no_fire_time_in_five_years_is_a_problem() {
    let now: DateTime<Utc> = "2025-03-01T00:00:00Z".parse().unwrap();
    let text = MINIMAL.replace("0 3 * * *", "0 3 31 2 *");
    let err = parse_at(&text, "test.toml", now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "test.toml:6:12: policy.nightly.schedule: \"0 3 31 2 *\" has no fire time in the next 5 years, so the policy would never run: a date that does not exist (31 February, 31 April)? Fix day-of-month or month"
    );
    let leap = MINIMAL.replace("0 3 * * *", "0 3 29 2 *");
    assert!(parse_at(&leap, "test.toml", now).is_ok());
    // 29 February 2100 does not exist: from March 2096 the next is 2104.
    let late: DateTime<Utc> = "2096-03-01T00:00:00Z".parse().unwrap();
    assert!(parse_at(&leap, "test.toml", late).is_err());
}

/// `[notify]` alone keeps working as always: its webhook is a target
/// named `webhook` for what it always got; `[[notify.target]]` adds more,
/// each with defaults for what it leaves out.
#[test]
fn notify_targets_beside_the_legacy_keys() {
    let text = format!(
        r#"[notify]
webhook_url = "https://hooks.example.com/x"
on_success = true
ping_url = "https://hc-ping.com/u/"

[[notify.target]]
type = "slack"
url = "https://hooks.slack.com/services/T/B/X"
events = ["failed", "recovered"]

[[notify.target]]
name = "ops-mail"
type = "email"
smtp_host = "smtp.example.com"
tls = "implicit"
from = "snapkeep <snapkeep@example.com>"
to = ["ops@example.com", "Oncall <oncall@example.com>"]
username = "snapkeep"
password_file = "/etc/snapkeep/smtp-password"

[[notify.target]]
type = "email"
smtp_host = "127.0.0.1"
tls = "none"
from = "snapkeep@localhost"
to = ["root@localhost"]
{MINIMAL}"#
    );
    let c = parse_str(&text, "t")
        .unwrap_or_else(|e| panic!("{e}"))
        .notify;
    assert_eq!(c.ping_url.as_deref(), Some("https://hc-ping.com/u"));
    let all = c.all_targets();
    let names: Vec<(&str, &str, Vec<&str>)> = all
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.channel.type_name(),
                t.events.iter().map(|e| e.as_str()).collect(),
            )
        })
        .collect();
    let but_succeeded = vec!["failed", "recovered", "stale", "refused", "fire_skipped"];
    assert_eq!(
        names,
        [
            (
                "webhook",
                "webhook",
                vec!["failed", "fire_skipped", "succeeded"]
            ),
            ("slack-1", "slack", vec!["failed", "recovered"]),
            ("ops-mail", "email", but_succeeded.clone()),
            ("email-3", "email", but_succeeded),
        ]
    );
    let Channel::Email(mail) = &all[2].channel else {
        panic!("email")
    };
    assert_eq!(
        (mail.smtp_port, mail.tls, mail.to.len()),
        (465, SmtpTls::Implicit, 2),
        "implicit TLS defaults to port 465"
    );
    let Channel::Email(local) = &all[3].channel else {
        panic!("email")
    };
    assert_eq!((local.smtp_port, local.tls), (25, SmtpTls::None));
    assert!(format!("{mail:?}").contains("/etc/snapkeep/smtp-password"));
}

#[test]
fn notify_target_mistakes_are_located_and_explained() {
    let err = parse_str(
        &format!(
            r#"[[notify.target]]
type = "slak"

[[notify.target]]
name = "mail"
type = "email"
smtp_host = "smtp.example.com"
tls = "none"
from = "not an address"
to = []
username = "u"
url = "https://x"

[[notify.target]]
type = "ntfy"
events = ["failed", "stael"]
url = "https://ntfy.sh/t"
smtp_prot = 25
{MINIMAL}"#
        ),
        "t.toml",
    )
    .expect_err("invalid")
    .to_string();
    assert_eq!(
        err,
        r#"t.toml:2:8: notify.target.type: "slak" is not a target type; did you mean "slack"?
t.toml:6:8: notify.target.mail.url: is not a key of an email target (type = "email")
t.toml:8:7: notify.target.mail.tls: "none" sends mail and password in the clear: allowed only to a loopback host (localhost, 127.0.0.1, ::1), not "smtp.example.com"; use "starttls" or "implicit"
t.toml:9:8: notify.target.mail.from: "not an address" is not an email address (write "ops@example.com" or "Ops <ops@example.com>")
t.toml:10:6: notify.target.mail.to: is empty: list at least one address
t.toml:11:12: notify.target.mail.password_file: is missing: username needs a password_file (a file with the password, mode 0600; never the password itself)
t.toml:16:21: notify.target.events: "stael" is not an event; did you mean "stale"?
t.toml:18:1: notify.target.smtp_prot: unknown key `smtp_prot`; did you mean `smtp_port`?"#
    );
}

#[test]
fn a_notify_array_says_where_targets_go() {
    let err = parse_str(
        &format!("[[notify]]\ntype = \"slack\"\nurl = \"https://x\"\n{MINIMAL}"),
        "t.toml",
    )
    .expect_err("invalid")
    .to_string();
    assert!(
        err.starts_with(
            "t.toml:1:1: notify: [[notify]] is not how targets are written: use [[notify.target]]"
        ),
        "{err}"
    );
}

/// Every policy stays in memory while the daemon runs, a thousand of them
/// in the idle figure of BENCHMARKS.md ("Memory: time zones as bytes"): a
/// schedule keeps its expression, not its parsed fields.
#[test]
fn a_policy_stays_small() {
    let (policy, schedule) = (size_of::<Policy>(), size_of::<crate::schedule::Schedule>());
    println!("Policy: {policy} bytes, its Schedule {schedule}");
    assert!(schedule <= 64, "Schedule is {schedule} bytes");
    assert!(policy <= 512, "Policy is {policy} bytes");
}

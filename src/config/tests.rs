use super::*;

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
        chrono_tz::Europe::Berlin
    );
    assert_eq!(config.policies[0].max_kept, 5);
    assert_eq!(config.policies[1].kind, Kind::Backup);
    assert_eq!(
        config.api.token_file.as_deref(),
        Some(Path::new("/etc/snapkeep/token"))
    );
    assert!(config.warnings.is_empty());
}

#[test]
fn defaults_apply() {
    let c = parse_str(MINIMAL, "t").unwrap();
    let p = &c.policies[0];
    assert_eq!(c.api.base_url, DEFAULT_BASE_URL);
    assert_eq!(p.prefix, "snapkeep");
    assert_eq!(p.schedule.timezone(), Tz::UTC);
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
    assert_eq!(p.schedule.timezone(), chrono_tz::America::New_York);
    assert_eq!(p.poll_interval, Duration::from_secs(1));
    assert_eq!(p.missed, Missed::Skip);
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = MINIMAL.replace("keep_last = 3", "keep_lst = 3");
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 7, "{p:?}");
    assert!(p[0].message.contains("keep_lst"), "{p:?}");
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

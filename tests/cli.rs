//! Commands that need no API: check, schedule, help; and token hygiene.

use snapkeep_sim::{Endpoint, FaultSpec, Faults, Seed};

use crate::support::{BIN, Run, Setup, Sim, temp_dir};

#[test]
fn check_validates_the_example_config_without_a_token() {
    let out = std::process::Command::new(BIN)
        .args([
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"),
        ])
        .env_remove("VPS_API_TOKEN")
        .output()
        .unwrap();
    let run = Run(out).expect(0);
    assert!(
        run.stdout().contains("valid — 2 policies"),
        "{}",
        run.stdout()
    );
}

#[test]
fn check_rejects_a_bad_cron_field_with_exit_2() {
    let dir = temp_dir();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[[policy]]\nname = \"a\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * 8\"\nkeep_last = 1\n").unwrap();
    let run = Run(std::process::Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap())
    .expect(2);
    assert!(
        run.stderr().contains("bad.toml:5:12: policy.schedule"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("day-of-week"), "{}", run.stderr());
}

#[test]
fn missing_config_file_says_what_to_do() {
    let run = Run(std::process::Command::new(BIN)
        .args(["check", "--config", "/nonexistent/snapkeep.toml"])
        .output()
        .unwrap())
    .expect(2);
    assert!(run.stderr().contains("--config"), "{}", run.stderr());
}

#[test]
fn schedule_json_lists_next_fire_times_with_offsets() {
    let run = Run(std::process::Command::new(BIN)
        .args([
            "schedule",
            "--json",
            "--count",
            "3",
            "--from",
            "2025-03-29T12:00:00Z",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"),
        ])
        .output()
        .unwrap())
    .expect(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v[0]["next"][0], "2025-03-30T03:00:00+02:00");
    assert_eq!(v[0]["next"].as_array().unwrap().len(), 3);
}

#[test]
fn help_explains_every_flag() {
    let run = Run(std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap())
    .expect(0);
    for flag in [
        "--run-now",
        "--dry-run",
        "--force",
        "--policy",
        "--server",
        "--config",
        "--log-format",
        "SNAPKEEP_CONFIG",
    ] {
        assert!(run.stdout().contains(flag), "{flag} missing from --help");
    }
}

/// A canary token, every error path and debug logging: the token must appear nowhere.
#[test]
fn the_token_never_appears_in_output_or_errors() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    sim.faults(
        Faults::none()
            .with_global(
                FaultSpec::none()
                    .with_errors(0.3, 500)
                    .with_rate_limit(0.2, 0)
                    .with_malformed(0.1),
            )
            .with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_lost_responses(0.5),
            ),
    );
    let s = Setup::new(
        &sim,
        "[[policy]]\nname = \"a\"\nkind = \"snapshot\"\nservers = [1, 404]\nschedule = \"@daily\"\nkeep_last = 1\n",
    );
    let canary = sim.sim.token();
    for args in [
        &["--run-now", "--log-level", "trace"][..],
        &["--run-now", "--log-format", "json", "--log-level", "debug"],
    ] {
        let run = s.run(args);
        assert!(
            !run.stdout().contains(canary) && !run.stderr().contains(canary),
            "token leaked"
        );
        assert!(
            run.stderr().contains("DEBUG") || run.stderr().contains("\"level\":\"debug\""),
            "debug logs were on"
        );
    }
    // A wrong token: the 401 error names the problem, not the token.
    let run = s
        .cmd()
        .env("VPS_API_TOKEN", "wrong-canary-token")
        .args(["--run-now", "--log-level", "debug"])
        .output()
        .unwrap();
    let run = Run(run).expect(1);
    assert!(
        !run.stdout().contains("wrong-canary-token")
            && !run.stderr().contains("wrong-canary-token")
    );
    assert!(run.stdout().contains("401"), "{}", run.stdout());
}

//! The API token stays out of a hook's reach: not in its environment, not in
//! `/proc/<snapkeep's pid>/environ` (snapkeep wipes it from its own
//! environment block at start; see src/secrets.rs). The same for an
//! `[[account]]`'s `token_env` variable, taken right after the config loads.

use std::process::Stdio;
use std::time::{Duration, Instant};

use snapkeep_sim::{Seed, SimConfig};

use crate::support::{Daily, Setup, Sim, temp_dir};

const CANARY: &str = "canary-7d3e91-token-never-in-environ";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_hook_finds_the_token_neither_in_its_environment_nor_in_snapkeeps_proc_environ() {
    token_out_of_reach("VPS_API_TOKEN", "");
}

#[test]
fn a_token_env_variable_is_neither_in_a_hooks_environment_nor_in_snapkeeps_proc_environ() {
    token_out_of_reach(
        "SNAPKEEP_IT_MAIN_TOKEN",
        "[[account]]\nname = \"main\"\ntoken_env = \"SNAPKEEP_IT_MAIN_TOKEN\"\n",
    );
}

/// A pass with a pre hook, the token in `var` (an `[[account]]` naming it
/// in `account`, or none for `VPS_API_TOKEN`): neither the hook's
/// environment nor snapkeep's `/proc/<pid>/environ` has it.
fn token_out_of_reach(var: &str, account: &str) {
    // The simulator accepts only the canary: the pass below works only if
    // snapkeep still has the token after wiping it from its environment.
    let sim = Sim::with(SimConfig {
        seed: Seed::empty().server(1, "web-01"),
        complete_after: Duration::from_millis(300),
        token: CANARY.into(),
        ..SimConfig::default()
    });
    let daily = Daily::now();
    let dir = temp_dir();
    let d = dir.display();
    // The pre hook saves its own environment and what it can read of its
    // parent's (snapkeep's) /proc environ, then waits for `release`.
    let setup = Setup::new(
        &sim,
        &daily.policies(&format!(
            r#"{account}
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1]
schedule = "{{daily}}"
keep_last = 1
pre_hook = ["sh", "-c", "env > {d}/hook.env; cat /proc/$PPID/environ > {d}/parent.environ 2>{d}/parent.err; touch {d}/started; while [ ! -e {d}/release ]; do sleep 0.05; done"]
"#
        )),
    );
    assert_eq!(setup.token, CANARY);
    let mut child = setup
        .cmd()
        .env_remove("VPS_API_TOKEN")
        .env(var, CANARY)
        .arg("--run-now")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while !dir.join("started").exists() {
        if Instant::now() > end || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the pre hook never ran\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Read while snapkeep runs (as root here; another user of snapkeep's
    // own would get EACCES: snapkeep is non-dumpable).
    let environ = std::fs::read(format!("/proc/{}/environ", child.id()));
    std::fs::write(dir.join("release"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    match environ {
        Ok(environ) => {
            assert!(
                !contains(&environ, CANARY),
                "/proc/<snapkeep>/environ shows the token"
            );
            // The variable is wiped where the kernel reads it, not moved.
            assert!(contains(&environ, &format!("{var}=")));
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}"),
    }
    let hook_env = std::fs::read(dir.join("hook.env")).unwrap();
    assert!(!contains(&hook_env, CANARY), "the hook's environment");
    assert!(!contains(&hook_env, var));
    let parent = std::fs::read(dir.join("parent.environ")).unwrap_or_default();
    assert!(
        !contains(&parent, CANARY),
        "the hook read the token from snapkeep's environ"
    );
    assert!(
        !contains(&out.stdout, CANARY) && !contains(&out.stderr, CANARY),
        "the token in snapkeep's output"
    );
    assert_eq!(sim.snapshot_names(1), [daily.snapshot("nightly", 0)]);
}

//! The API token is never shown: not in any output or error (a canary
//! token through every error path with debug logs), and out of a hook's
//! reach: not in its environment, not in `/proc/<snapkeep's pid>/environ`
//! (snapkeep wipes it from its own environment block at start; see
//! src/secrets.rs).

use snapkeep_sim::{Endpoint, FaultSpec, Faults, Seed};

use crate::support::{Run, Setup, Sim, Test};

const CANARY: &str = "canary-7d3e91-token-never-in-environ";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

const HOOKED_STDOUT: &str =
    "ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
";
const HOOKED_LOG: &str = r#"INFO hook server 1 policy nightly: pre_hook ["sh", "-c", "env > {DIR}/hook.env; cat /proc/$PPID/environ > {DIR}/parent.environ 2>{DIR}/parent.err; touch {DIR}/started; while [ ! -e {DIR}/release ]; do sleep 0.05; done; sleep 0.2"] succeeded ({T})
INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})
"#;

#[test]
fn a_hook_finds_the_token_neither_in_its_environment_nor_in_snapkeeps_proc_environ() {
    // The simulator accepts only the canary: the pass below works only if
    // snapkeep still has the token after wiping it from its environment.
    // The pre hook saves its own environment and what it can read of its
    // parent's (snapkeep's) /proc environ, then waits for `release` (and
    // 0.2 s more, so the log always shows its duration: >= 100 ms).
    let live = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .sim_token(CANARY)
        .policies(
            r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1]
schedule = "{daily}"
keep_last = 1
pre_hook = ["sh", "-c", "env > {dir}/hook.env; cat /proc/$PPID/environ > {dir}/parent.environ 2>{dir}/parent.err; touch {dir}/started; while [ ! -e {dir}/release ]; do sleep 0.05; done; sleep 0.2"]
"#,
        )
        .args(&["--run-now"])
        .start();
    assert_eq!(live.ran.setup().token, CANARY);
    let dir = live.ran.setup().dir.clone();
    live.wait_until("the pre hook runs", || dir.join("started").exists());
    // Read while snapkeep runs (as root here; another user of snapkeep's
    // own would get EACCES: snapkeep is non-dumpable).
    let environ = std::fs::read(format!("/proc/{}/environ", live.pid()));
    std::fs::write(dir.join("release"), "").unwrap();
    // The whole outputs do not hold the token.
    live.finish(0, HOOKED_STDOUT, HOOKED_LOG);

    match environ {
        Ok(environ) => {
            assert!(
                !contains(&environ, CANARY),
                "/proc/<snapkeep>/environ shows the token"
            );
            // The variable is wiped where the kernel reads it, not moved.
            assert!(contains(&environ, "VPS_API_TOKEN="));
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}"),
    }
    let hook_env = std::fs::read(dir.join("hook.env")).unwrap();
    assert!(!contains(&hook_env, CANARY), "the hook's environment");
    assert!(!contains(&hook_env, "VPS_API_TOKEN"));
    let parent = std::fs::read(dir.join("parent.environ")).unwrap_or_default();
    assert!(
        !contains(&parent, CANARY),
        "the hook read the token from snapkeep's environ"
    );
}

/// A canary token, every error path and debug logging: the token must
/// appear nowhere. Not a whole-output test: the faults are drawn at random
/// and debug logs are the HTTP stack's; what is compared is that the token
/// is in none of it.
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
    // Each run must show it logged at debug level, in its own format.
    for (args, debug_marker) in [
        (&["--run-now", "--log-level", "trace"][..], " DEBUG "),
        (
            &["--run-now", "--log-format", "json", "--log-level", "debug"],
            "\"level\":\"debug\"",
        ),
    ] {
        let run = s.run(args);
        assert!(
            !run.stdout().contains(canary) && !run.stderr().contains(canary),
            "token leaked"
        );
        assert!(
            run.stderr().contains(debug_marker),
            "debug logs were on ({debug_marker}):\n{}",
            run.stderr()
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

//! The API token is never shown: not in any output or error (a canary
//! token through every error path with debug logs), and out of a hook's
//! reach: not in its environment, not in `/proc/<snapkeep's pid>/environ`
//! (snapkeep wipes it from its own environment block at start; see
//! src/secrets.rs).

use snapkeep_sim::{Endpoint, Faults, InjectedFault, Scripted, Seed};

use crate::support::{Daily, Normalize, Run, Setup, Sim, Test, assert_text};

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
    token_out_of_reach("VPS_API_TOKEN", "", "");
}

#[test]
fn a_token_env_variable_is_neither_in_a_hooks_environment_nor_in_snapkeeps_proc_environ() {
    token_out_of_reach(
        "SNAPKEEP_IT_MAIN_TOKEN",
        "[[account]]\nname = \"main\"\ntoken_env = \"SNAPKEEP_IT_MAIN_TOKEN\"\n",
        " of account main",
    );
}

/// A pass with a pre hook, the token in `var` (an `[[account]]` naming it
/// in `account`, or none for `VPS_API_TOKEN`; `of` is what the log then
/// says after the server): neither the hook's environment nor snapkeep's
/// `/proc/<pid>/environ` has it.
fn token_out_of_reach(var: &str, account: &str, of: &str) {
    // The simulator accepts only the canary: the pass below works only if
    // snapkeep still has the token after wiping it from its environment.
    // The pre hook saves its own environment and what it can read of its
    // parent's (snapkeep's) /proc environ, then waits for `release` (and
    // 0.2 s more, so the log always shows its duration: >= 100 ms).
    let live = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .sim_token(CANARY)
        .token_env(var)
        .policies(&format!(
            r#"{account}
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1]
schedule = "{{daily}}"
keep_last = 1
pre_hook = ["sh", "-c", "env > {{dir}}/hook.env; cat /proc/$PPID/environ > {{dir}}/parent.environ 2>{{dir}}/parent.err; touch {{dir}}/started; while [ ! -e {{dir}}/release ]; do sleep 0.05; done; sleep 0.2"]
"#
        ))
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
    let log = HOOKED_LOG
        .replace("server 1 policy", &format!("server 1{of} policy"))
        .replace("(web-01) policy", &format!("(web-01){of} policy"));
    live.finish(0, HOOKED_STDOUT, &log);

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
}

/// A canary token, every error path and debug logging: the token must
/// appear nowhere. The faults are scripted ([`secrecy_faults`]), so each
/// run's stdout is compared whole. Stderr is not: at debug and trace level
/// it is the HTTP stack's thousands of lines in an order of its own; what is
/// checked there is that the token is in none of it.
#[test]
fn the_token_never_appears_in_output_or_errors() {
    let d = Daily::now();
    let normalize = Normalize::default().daily(&d);
    // Each run from the same world and script, on a simulator of its own.
    let start = || {
        let seed = d.with_snapshots(Seed::empty().server(1, "web-01"), 1, "a", &[1]);
        let sim = Sim::start(seed);
        sim.faults(secrecy_faults());
        let setup = Setup::with_api(
            &sim,
            "requests_per_second = 0\nlist_lag = \"200ms\"\n",
            &d.policies(SECRECY_POLICY),
        );
        (sim, setup)
    };
    // Each run must show it logged at debug level, in its own format.
    for (args, debug_marker) in [
        (&["--run-now", "--log-level", "trace"][..], " DEBUG "),
        (
            &["--run-now", "--log-format", "json", "--log-level", "debug"],
            "\"level\":\"debug\"",
        ),
    ] {
        let (sim, s) = start();
        let run = s.run(args).expect(1);
        assert_text("stdout", SECRECY_STDOUT, &normalize.apply(&run.stdout()));
        let faults: Vec<InjectedFault> =
            sim.sim.requests().iter().filter_map(|r| r.fault).collect();
        assert_eq!(
            faults,
            [
                InjectedFault::Malformed,
                InjectedFault::Error,
                InjectedFault::LostResponse,
                InjectedFault::RateLimit
            ],
            "every scripted error path was taken"
        );
        let canary = sim.sim.token();
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
    let (_sim, s) = start();
    let run = s
        .cmd()
        .env("VPS_API_TOKEN", "wrong-canary-token")
        .args(["--run-now", "--log-level", "debug"])
        .output()
        .unwrap();
    let run = Run(run).expect(1);
    assert_text(
        "stdout",
        WRONG_TOKEN_STDOUT,
        &normalize.apply(&run.stdout()),
    );
    assert!(
        !run.stdout().contains("wrong-canary-token")
            && !run.stderr().contains("wrong-canary-token")
    );
}

const SECRECY_STDOUT: &str = "ok      server 1 (web-01) policy a: adopted #1002 snapkeep-a-{SLOT} (made by another writer or by a create whose answer was lost); deleted #1001 snapkeep-a-{SLOT-1d} [{T}]
FAILED  server 404 policy a (not_found): create failed: snapshots.create (server 404): not found (404: Server not found.) [{T}]
2 job(s): 1 ok, 1 failed; created 0, deleted 1; {N} API call(s), 2 retried, in {T}
";

const WRONG_TOKEN_STDOUT: &str = "FAILED  server 1 policy a (unauthorized): listing snapshots failed: snapshots.list: VPS.org refused the API token (401: Invalid token.); check VPS_API_TOKEN or api.token_file [{T}]
FAILED  server 404 policy a (unauthorized): listing snapshots failed: snapshots.list: VPS.org refused the API token (401: Invalid token.); check VPS_API_TOKEN or api.token_file [{T}]
2 job(s): 0 ok, 2 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
";

const SECRECY_POLICY: &str = r#"
[[policy]]
name = "a"
kind = "snapshot"
servers = [1, 404]
schedule = "{daily}"
keep_last = 1
"#;

/// An error on every path a token could leak through: the first listing's
/// body cut in half (a decode error, retried), server 1's create answered
/// with Django's 500 page (looked for, not found, sent again), then done but
/// its answer lost (found and adopted), its delete answered 429 (retried);
/// server 404's create is a 404 of the API's own.
fn secrecy_faults() -> Faults {
    Faults::none()
        .with_endpoint_script(Endpoint::SnapshotsList, [Scripted::Malformed])
        .with_script(
            Endpoint::SnapshotsCreate,
            1,
            [Scripted::Error(500), Scripted::LostResponse],
        )
        .with_script(
            Endpoint::SnapshotsDelete,
            1,
            [Scripted::RateLimit {
                retry_after_secs: 0,
            }],
        )
}

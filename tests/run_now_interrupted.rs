//! `--run-now` stopped by SIGINT or SIGTERM: the thaw still runs, the
//! summary names every job that did not end, the exit code is the signal's,
//! and no hook process outlives snapkeep.

use std::path::Path;
use std::time::Duration;

use snapkeep_sim::Seed;

use crate::support::{Live, Test};

/// Two policies on one server (they run one after another): `a` freezes in
/// its pre hook (writes its process group id, then sleeps far longer than
/// any test), `b` waits its turn. The post hook appends its
/// `SNAPKEEP_RESULT` to `post.log`. `{dir}` is the test's temp dir.
fn policies(shutdown_timeout: &str) -> String {
    format!(
        r#"
[daemon]
shutdown_timeout = "{shutdown_timeout}"

[defaults]
poll_interval = "100ms"
wait_timeout = "20s"

[[policy]]
name = "a"
kind = "snapshot"
servers = [1]
schedule = "{{daily}}"
keep_last = 2
pre_hook = ["sh", "-c", "echo $$ > {{dir}}/pre.pgid; sleep 300; echo thawed-too-late > {{dir}}/pre.end"]
post_hook = ["sh", "-c", "echo $SNAPKEEP_RESULT >> {{dir}}/post.log"]

[[policy]]
name = "b"
kind = "snapshot"
servers = [1]
schedule = "{{daily}}"
keep_last = 2
"#
    )
}

/// What `--run-now` prints when `a` was cut off in its pre hook and `b`
/// never started.
const CUT_OFF: &str = "\
FAILED  server 1 policy a (interrupted): cut off: the pass was stopped (SIGINT/SIGTERM) and this job did not end within daemon.shutdown_timeout; a post hook it owed ran with SNAPKEEP_RESULT=aborted; the next pass finishes its slot [{T}]
FAILED  server 1 policy b (interrupted): not started: the pass was stopped (SIGINT/SIGTERM) before this job's turn; the next pass runs it [{T}]
2 job(s): 0 ok, 2 failed (2 interrupted); created 0, deleted 0; {N} API call(s), 0 retried, in {T}
";

/// Processes in process group `pgid` that are alive (zombies are dead: they
/// wait for whoever reaps orphans).
fn alive_in_group(pgid: i32) -> Vec<String> {
    let mut alive = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces: split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            alive.push(stat);
        }
    }
    alive
}

/// Starts `--run-now` and waits until `a`'s pre hook runs: the pass, and
/// the hook's process group id.
fn frozen(shutdown_timeout: &str) -> (Live, i32) {
    let live = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(&policies(shutdown_timeout))
        .args(&["--run-now"])
        .start();
    let pgid_file = live.ran.setup().dir.join("pre.pgid");
    live.wait_until("the pre hook runs", || {
        std::fs::read_to_string(&pgid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let pgid = std::fs::read_to_string(&pgid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive_in_group(pgid).is_empty(), "the pre hook runs");
    (live, pgid)
}

/// After the exit: the post hook ran once, told `aborted`; the pre hook
/// was killed (not waited out) with its whole group; nothing was created.
#[track_caller]
fn assert_thawed(dir: &Path, pgid: i32, creates: usize) {
    let post_log = std::fs::read_to_string(dir.join("post.log")).unwrap_or_default();
    assert_eq!(
        post_log, "aborted\n",
        "the post hook runs once, told aborted"
    );
    assert!(
        !dir.join("pre.end").exists(),
        "the pre hook was killed, not waited out"
    );
    let left = alive_in_group(pgid);
    assert!(
        left.is_empty(),
        "hook processes outlived snapkeep: {left:?}"
    );
    assert_eq!(creates, 0, "nothing created after the signal");
}

const SIGINT_LOG: &str = r#"WARN SIGINT: starting no new job; jobs under way have daemon.shutdown_timeout (1s) to end, then they are cut off (post hooks owed still run); send it again to cut them off now
WARN jobs still under way after daemon.shutdown_timeout; cutting them off
WARN cutting off the jobs still under way; a post hook they owe runs first servers=1
WARN the job ended before its post_hook ran; starting it now (SNAPKEEP_RESULT=aborted)
INFO post_hook ["sh", "-c", "echo $SNAPKEEP_RESULT >> {DIR}/post.log"] for server 1 policy a succeeded
"#;

#[test]
fn sigint_during_a_pre_hook_thaws_reports_and_exits_130() {
    // shutdown_timeout 1s: the pre hook (300 s) is cut off after it.
    let (live, pgid) = frozen("1s");
    let (ran, _) = live.stop_timed("INT", 130, CUT_OFF, SIGINT_LOG);
    assert_thawed(&ran.setup().dir, pgid, ran.sim().count(&["POST"]));
}

const SIGTERM_TWICE_LOG: &str = r#"WARN SIGTERM: starting no new job; jobs under way have daemon.shutdown_timeout (1h) to end, then they are cut off (post hooks owed still run); send it again to cut them off now
WARN SIGTERM again: cutting off the jobs under way now
WARN cutting off the jobs still under way; a post hook they owe runs first servers=1
WARN the job ended before its post_hook ran; starting it now (SNAPKEEP_RESULT=aborted)
INFO post_hook ["sh", "-c", "echo $SNAPKEEP_RESULT >> {DIR}/post.log"] for server 1 policy a succeeded
"#;

#[test]
fn a_second_sigterm_cuts_off_at_once_thaws_and_exits_143() {
    // shutdown_timeout 1h: only the second signal can end this run soon
    // (the stop waits 20 s at most; the grace alone would take an hour).
    let (live, pgid) = frozen("1h");
    live.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    let (ran, _) = live.stop_timed("TERM", 143, CUT_OFF, SIGTERM_TWICE_LOG);
    assert_thawed(&ran.setup().dir, pgid, ran.sim().count(&["POST"]));
}

//! `--run-now` stopped by SIGINT or SIGTERM: the thaw still runs, the
//! summary names every job that did not end, the exit code is the signal's,
//! and no hook process outlives snapkeep.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use snapkeep_sim::Seed;

use crate::support::{Daily, Normalize, Setup, Sim, assert_text, temp_dir};

/// Two policies on one server (they run one after another): `a` freezes in
/// its pre hook (writes its process group id, then sleeps far longer than
/// any test), `b` waits its turn. The post hook appends its
/// `SNAPKEEP_RESULT` to `post.log`.
fn policies(dir: &Path, daily: &Daily, shutdown_timeout: &str) -> String {
    let dir = dir.display();
    daily.policies(&format!(
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
pre_hook = ["sh", "-c", "echo $$ > {dir}/pre.pgid; sleep 300; echo thawed-too-late > {dir}/pre.end"]
post_hook = ["sh", "-c", "echo $SNAPKEEP_RESULT >> {dir}/post.log"]

[[policy]]
name = "b"
kind = "snapshot"
servers = [1]
schedule = "{{daily}}"
keep_last = 2
"#
    ))
}

/// What `--run-now` prints when `a` was cut off in its pre hook and `b`
/// never started.
const CUT_OFF: &str = "\
FAILED  server 1 policy a (interrupted): cut off: the pass was stopped (SIGINT/SIGTERM) and this job did not end within daemon.shutdown_timeout; a post hook it owed ran with SNAPKEEP_RESULT=aborted; the next pass finishes its slot [{T}]
FAILED  server 1 policy b (interrupted): not started: the pass was stopped (SIGINT/SIGTERM) before this job's turn; the next pass runs it [{T}]
2 job(s): 0 ok, 2 failed (2 interrupted); created 0, deleted 0; {N} API call(s), 0 retried, in {T}
";

/// `--run-now` with stdout and stderr in `dir` (read after it exits).
fn spawn_run_now(setup: &Setup, dir: &Path) -> Child {
    let file = |name: &str| Stdio::from(std::fs::File::create(dir.join(name)).unwrap());
    setup
        .cmd()
        .arg("--run-now")
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        .spawn()
        .unwrap()
}

/// Waits up to `limit` for `child` to exit; kills it and fails the test if
/// it does not (a pass that ignores the signal must not hang the suite).
fn exit_code(child: &mut Child, limit: Duration, dir: &Path) -> i32 {
    if wait_for(limit, || child.try_wait().unwrap().is_some()) {
        return child.wait().unwrap().code().unwrap_or(-1);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "--run-now did not exit within {limit:?} of the signal\n--- stdout\n{}\n--- stderr\n{}",
        std::fs::read_to_string(dir.join("stdout")).unwrap_or_default(),
        std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
    );
}

fn send(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) only sends a signal, to our own child (not reaped yet).
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}

/// Polls `cond` every 20 ms for up to `limit`.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

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

/// Starts `--run-now`, waits until `a`'s pre hook runs, sends `signals`
/// (`pause` apart), and returns (exit code, stdout normalised, stderr, dir).
fn interrupt(shutdown_timeout: &str, signals: &[libc::c_int], pause: Duration) -> Interrupted {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let daily = Daily::now();
    let dir = temp_dir();
    let setup = Setup::new(&sim, &policies(&dir, &daily, shutdown_timeout));
    let mut child = spawn_run_now(&setup, &dir);
    let pgid_file = dir.join("pre.pgid");
    let started = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&pgid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the pre hook never started\n{}",
            std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
        );
    }
    let pgid: i32 = std::fs::read_to_string(&pgid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive_in_group(pgid).is_empty(), "the pre hook runs");
    let sent = Instant::now();
    for (i, &signal) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        send(&child, signal);
    }
    let code = exit_code(&mut child, Duration::from_secs(60), &dir);
    let took = sent.elapsed();
    let normalize = Normalize::default()
        .literal(dir.display().to_string(), "{DIR}")
        .daily(&daily);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    Interrupted {
        code,
        stdout: normalize.apply(&read("stdout")),
        stderr: read("stderr"),
        post_log: std::fs::read_to_string(dir.join("post.log")).unwrap_or_default(),
        pre_ended: dir.join("pre.end").exists(),
        left: alive_in_group(pgid),
        creates: sim.count(&["POST"]),
        took,
    }
}

struct Interrupted {
    code: i32,
    stdout: String,
    stderr: String,
    post_log: String,
    pre_ended: bool,
    left: Vec<String>,
    creates: usize,
    took: Duration,
}

impl Interrupted {
    #[track_caller]
    fn assert_thawed_and_reported(&self, code: i32) {
        assert_eq!(self.code, code, "exit code\n--- stderr\n{}", self.stderr);
        assert_text("stdout", CUT_OFF, &self.stdout);
        assert_eq!(
            self.post_log, "aborted\n",
            "the post hook runs once, told aborted\n--- stderr\n{}",
            self.stderr
        );
        assert!(!self.pre_ended, "the pre hook was killed, not waited out");
        assert!(
            self.left.is_empty(),
            "hook processes outlived snapkeep: {:?}",
            self.left
        );
        assert_eq!(self.creates, 0, "nothing created after the signal");
    }
}

#[test]
fn sigint_during_a_pre_hook_thaws_reports_and_exits_130() {
    // shutdown_timeout 1s: the pre hook (300 s) is cut off after it.
    let run = interrupt("1s", &[libc::SIGINT], Duration::ZERO);
    run.assert_thawed_and_reported(130);
    assert!(
        run.stderr.contains(
            "SIGINT: starting no new job; jobs under way have daemon.shutdown_timeout (1s) to end"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("jobs still under way after daemon.shutdown_timeout; cutting them off"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_second_sigterm_cuts_off_at_once_thaws_and_exits_143() {
    // shutdown_timeout 1h: only the second signal can end this run soon.
    let run = interrupt(
        "1h",
        &[libc::SIGTERM, libc::SIGTERM],
        Duration::from_millis(300),
    );
    run.assert_thawed_and_reported(143);
    assert!(
        run.stderr
            .contains("SIGTERM again: cutting off the jobs under way now"),
        "{}",
        run.stderr
    );
    // (exit_code gives up after 60 s; the grace alone would take an hour.)
    assert!(run.took < Duration::from_secs(60), "took {:?}", run.took);
}

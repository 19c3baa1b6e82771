use super::*;

use std::path::{Path, PathBuf};

use chrono::TimeZone;

fn ctx() -> HookContext {
    HookContext {
        account: "default".into(),
        server_id: 12345,
        server_name: "web-01".into(),
        policy: "nightly".into(),
        kind: Kind::Snapshot,
        slot: Utc.with_ymd_and_hms(2025, 1, 5, 3, 0, 0).unwrap(),
    }
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

fn hooks(pre: Option<Vec<String>>, post: Option<Vec<String>>) -> Hooks {
    Hooks {
        pre,
        post,
        timeout: Duration::from_secs(10),
        max_freeze: Duration::from_secs(120),
        on_failure: OnHookFailure::Abort,
        post_after: PostHookAfter::Accepted,
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "snapkeep-hooks-{}-{name}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `cond` every 20 ms for up to 5 s.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Gone, or a zombie nobody reaps (a container's init may not).
fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn env_adds_the_job_and_withholds_the_token() {
    let pre = hook_env(Phase::Pre, &ctx());
    assert_eq!(
        pre,
        vec![
            ("SNAPKEEP_PHASE", "pre".to_owned()),
            ("SNAPKEEP_SERVER_ID", "12345".into()),
            ("SNAPKEEP_POLICY", "nightly".into()),
            ("SNAPKEEP_KIND", "snapshot".into()),
            ("SNAPKEEP_SLOT", "2025-01-05T03:00:00Z".into()),
        ]
    );
    let post = hook_env(
        Phase::Post {
            result: JobResult::Completed,
            item_id: Some(801),
        },
        &ctx(),
    );
    assert!(post.contains(&("SNAPKEEP_PHASE", "post".into())));
    assert!(post.contains(&("SNAPKEEP_RESULT", "completed".into())));
    assert!(post.contains(&("SNAPKEEP_ITEM_ID", "801".into())));
    let no_item = hook_env(
        Phase::Post {
            result: JobResult::Aborted,
            item_id: None,
        },
        &ctx(),
    );
    assert!(no_item.iter().all(|(k, _)| *k != "SNAPKEEP_ITEM_ID"));

    // The command removes the withheld names explicitly, whatever the parent has.
    let cmd = command(&sh("true"), Phase::Pre, &ctx());
    let envs: Vec<_> = cmd.get_envs().collect();
    for name in WITHHELD_ENV {
        assert!(
            envs.contains(&(std::ffi::OsStr::new(name), None)),
            "{name} not removed: {envs:?}"
        );
    }
}

#[test]
fn every_token_env_variable_taken_is_removed_from_a_hooks_environment() {
    // An account's token_env variable (unset here: taking it records the
    // name and touches no environment of this multi-threaded test process).
    let var = "SNAPKEEP_HOOKS_TEST_ACCOUNT_TOKEN";
    crate::secrets::take_env_vars(&[var.to_owned()]);
    let cmd = command(&sh("true"), Phase::Pre, &ctx());
    let envs: Vec<_> = cmd.get_envs().collect();
    assert!(
        envs.contains(&(std::ffi::OsStr::new(var), None)),
        "{var} not removed: {envs:?}"
    );
}

/// Runs in a child copy of this test binary whose environment carries a
/// token from the start (see `hook_never_sees_the_token`).
#[tokio::test]
#[ignore = "run by hook_never_sees_the_token in a child process"]
async fn probe_env_in_child() {
    let Ok(out) = std::env::var("SNAPKEEP_PROBE_OUT") else {
        return;
    };
    let script = format!(
        "env > {out}; echo \"token=${{VPS_API_TOKEN:-none}} creds=${{CREDENTIALS_DIRECTORY:-none}}\" >> {out}"
    );
    run_hook(Phase::Pre, &sh(&script), Duration::from_secs(10), &ctx())
        .await
        .unwrap();
}

#[test]
fn hook_never_sees_the_token() {
    let dir = temp("env");
    let out = dir.join("env.txt");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hooks::tests::probe_env_in_child",
            "--ignored",
            "--quiet",
        ])
        .env("VPS_API_TOKEN", "secret-token-123")
        .env("CREDENTIALS_DIRECTORY", "/run/credentials/snapkeep.service")
        .env("SNAPKEEP_PROBE_OUT", &out)
        .env("SOME_OTHER_VAR", "kept")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let env = read(&out);
    assert!(env.contains("token=none creds=none"), "{env}");
    assert!(!env.contains("secret-token-123"), "{env}");
    assert!(env.contains("SOME_OTHER_VAR=kept"), "{env}");
    assert!(env.contains("SNAPKEEP_PHASE=pre"), "{env}");
    assert!(env.contains("SNAPKEEP_SLOT=2025-01-05T03:00:00Z"), "{env}");
}

#[tokio::test]
async fn output_is_captured_and_a_failure_says_which_hook_and_why() {
    let ok = run_hook(
        Phase::Pre,
        &sh("echo \"hello $SNAPKEEP_POLICY\"; echo note >&2"),
        Duration::from_secs(10),
        &ctx(),
    )
    .await
    .unwrap();
    assert_eq!(ok.stdout, "hello nightly");
    assert_eq!(ok.stderr, "note");

    let err = run_hook(
        Phase::Post {
            result: JobResult::Failed,
            item_id: None,
        },
        &sh("echo out; echo first >&2; echo 'cannot thaw /' >&2; exit 3"),
        Duration::from_secs(10),
        &ctx(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.failure, HookFailure::Exit(3));
    assert_eq!(
        err.to_string(),
        "post_hook [\"sh\", \"-c\", \"echo out; echo first >&2; echo 'cannot thaw /' >&2; exit 3\"] for server 12345 (web-01) policy nightly exited with code 3; stderr: first / cannot thaw /"
    );
}

#[tokio::test]
async fn a_missing_program_is_a_clear_failure() {
    let err = run_hook(
        Phase::Pre,
        &["/nonexistent/freeze".to_owned()],
        Duration::from_secs(10),
        &ctx(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.failure, HookFailure::Spawn(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("pre_hook [\"/nonexistent/freeze\"] for server 12345 (web-01) policy nightly could not be started: \"/nonexistent/freeze\": "),
        "{err}"
    );
    let empty = run_hook(Phase::Pre, &[], Duration::from_secs(1), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(empty.failure, HookFailure::Spawn(_)));
}

#[tokio::test]
async fn a_hook_past_its_timeout_dies_with_its_whole_group() {
    let dir = temp("timeout");
    let pidfile = dir.join("grandchild.pid");
    // Both ignore SIGTERM: only the SIGKILL that follows ends them.
    let script = format!(
        "trap '' TERM; sleep 60 & echo $! > {}; wait",
        pidfile.display()
    );
    let started = Instant::now();
    let err = run_hook(Phase::Pre, &sh(&script), Duration::from_millis(300), &ctx())
        .await
        .unwrap_err();
    assert_eq!(
        err.failure,
        HookFailure::TimedOut(Duration::from_millis(300))
    );
    assert!(
        err.to_string().contains(
            "did not finish within hook_timeout (300ms) and was killed with its process group"
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid = read(&pidfile).trim().to_owned();
    assert!(!pid.is_empty());
    assert!(
        eventually(|| process_gone(&pid)),
        "grandchild {pid} survived"
    );
}

#[tokio::test]
async fn output_is_truncated_and_a_leftover_background_process_does_not_hang_it() {
    let big = run_hook(
        Phase::Pre,
        &sh("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done"),
        Duration::from_secs(10),
        &ctx(),
    )
    .await
    .unwrap();
    assert!(
        big.stdout.len() < OUTPUT_LIMIT + 100,
        "{}",
        big.stdout.len()
    );
    assert!(big.stdout.starts_with('['), "{}", &big.stdout[..80]);
    assert!(big.stdout.ends_with("line-1999"));

    // The background sleep keeps stdout open; the hook itself is done.
    let started = Instant::now();
    let ran = run_hook(
        Phase::Pre,
        &sh("sleep 30 & echo started"),
        Duration::from_secs(10),
        &ctx(),
    )
    .await
    .unwrap();
    assert_eq!(ran.stdout, "started");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn post_runs_once_and_pre_failure_follows_on_hook_failure() {
    let dir = temp("order");
    let log = dir.join("log");
    let post = sh(&format!(
        "echo \"post $SNAPKEEP_RESULT ${{SNAPKEEP_ITEM_ID:-}}\" >> {}",
        log.display()
    ));
    let mut run = HookRun::new(&hooks(Some(sh("exit 1")), Some(post.clone())), ctx());
    assert!(matches!(run.pre().await, PreOutcome::Abort(_)));
    run.post(JobResult::Aborted, None).await.unwrap();
    run.post(JobResult::Completed, Some(9)).await.unwrap();
    drop(run);
    assert_eq!(read(&log), "post aborted \n");

    let mut h = hooks(Some(sh("exit 1")), Some(post));
    h.on_failure = OnHookFailure::Continue;
    let mut run = HookRun::new(&h, ctx());
    assert!(matches!(
        run.pre().await,
        PreOutcome::ProceedCrashConsistent(_)
    ));
    run.post(JobResult::Accepted, Some(801)).await.unwrap();
    assert_eq!(read(&log), "post aborted \npost accepted 801\n");

    // No hooks configured: nothing to do, nothing fails.
    let mut none = HookRun::new(&hooks(None, None), ctx());
    assert!(matches!(none.pre().await, PreOutcome::Proceed));
    none.post(JobResult::Completed, Some(1)).await.unwrap();
}

#[tokio::test]
async fn a_job_dropped_after_its_pre_hook_still_runs_the_post_hook() {
    let dir = temp("drop");
    let log = dir.join("log");
    let post = sh(&format!(
        "echo \"post $SNAPKEEP_RESULT\" >> {}",
        log.display()
    ));
    let mut run = HookRun::new(&hooks(Some(sh("true")), Some(post.clone())), ctx());
    assert!(matches!(run.pre().await, PreOutcome::Proceed));
    drop(run); // shutdown: the job is cut off between pre hook and create
    assert_eq!(read(&log), "post aborted\n", "done before drop returns");

    // Never started a pre hook: nothing to thaw, the drop runs nothing.
    let quiet = dir.join("quiet");
    let run = HookRun::new(
        &hooks(
            Some(sh("true")),
            Some(sh(&format!("echo x > {}", quiet.display()))),
        ),
        ctx(),
    );
    drop(run);
    assert!(!quiet.exists());

    // A post hook that hangs in Drop is killed at its timeout, group and all.
    let mut h = hooks(Some(sh("true")), Some(sh("sleep 60")));
    h.timeout = Duration::from_millis(200);
    let mut run = HookRun::new(&h, ctx());
    run.pre().await;
    let started = Instant::now();
    drop(run);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn dry_run_plan_says_what_would_run() {
    let h = hooks(
        Some(vec![
            "ssh".into(),
            "root@web-01".into(),
            "fsfreeze --freeze /".into(),
        ]),
        Some(vec![
            "ssh".into(),
            "root@web-01".into(),
            "fsfreeze --unfreeze /".into(),
        ]),
    );
    assert_eq!(
        plan(&h, &ctx()),
        vec![
            "would run pre_hook [\"ssh\", \"root@web-01\", \"fsfreeze --freeze /\"] (timeout 10s; on failure: abort, no create) with SNAPKEEP_PHASE=pre SNAPKEEP_SERVER_ID=12345 SNAPKEEP_POLICY=nightly SNAPKEEP_KIND=snapshot SNAPKEEP_SLOT=2025-01-05T03:00:00Z".to_owned(),
            "would run post_hook [\"ssh\", \"root@web-01\", \"fsfreeze --unfreeze /\"] once the create is accepted (timeout 10s; also after a failed pre hook or create) with SNAPKEEP_PHASE=post SNAPKEEP_SERVER_ID=12345 SNAPKEEP_POLICY=nightly SNAPKEEP_KIND=snapshot SNAPKEEP_SLOT=2025-01-05T03:00:00Z SNAPKEEP_RESULT=accepted".to_owned(),
        ]
    );
    assert!(plan(&hooks(None, None), &ctx()).is_empty());
}

#[tokio::test]
async fn a_post_hook_cut_off_mid_run_is_run_again_on_drop() {
    let dir = temp("cut");
    let log = dir.join("log");
    let post = sh(&format!(
        "echo \"start $SNAPKEEP_RESULT\" >> {0}; sleep 0.5; echo \"end $SNAPKEEP_RESULT\" >> {0}",
        log.display()
    ));
    let mut run = HookRun::new(&hooks(Some(sh("true")), Some(post)), ctx());
    run.pre().await;
    let cut = tokio::time::timeout(
        Duration::from_millis(150),
        run.post(JobResult::Accepted, Some(7)),
    )
    .await;
    assert!(cut.is_err(), "the post hook was still running");
    drop(run);
    assert_eq!(
        read(&log),
        "start accepted\nstart aborted\nend aborted\n",
        "the cut-off run died with its group; the drop ran it to the end"
    );
}

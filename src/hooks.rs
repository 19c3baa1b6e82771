//! Pre/post hooks: the operator's own commands around a create.
//!
//! A snapshot of a running server is crash-consistent at best. A hook that
//! freezes the filesystem or flushes a database before the create, and
//! thaws it afterwards, makes it consistent — and a server left frozen is an
//! outage, so the thaw is the one thing that must never be skipped: once a
//! pre hook has started, the post hook runs exactly once, whether the create
//! was accepted, completed, refused or never sent, and (through
//! [`HookRun`]'s drop) when the job is cut off.
//!
//! Hooks are argv arrays run without a shell, with stdin closed, in their
//! own process group (a hook that outlives `hook_timeout` dies with
//! everything it started), and never see the API token. What they print goes
//! to the log, truncated.
//!
//! A rotation job uses it in this order (never when the slot's item already
//! exists; with `--dry-run` it emits [`plan`]'s lines instead):
//! 1. make room; then `HookRun::new(hooks, ctx)` for `policy.hooks`;
//! 2. `pre()`: `Proceed`, `ProceedCrashConsistent(e)` (create anyway and
//!    say so in the summary and audit line) or `Abort(e)` (no create:
//!    `post(JobResult::Aborted, None)`, then fail the job with reason `hook`);
//! 3. create: refused → `post(Failed, None)`; accepted and
//!    `post_after() == Accepted` → `post(Accepted, Some(id))`;
//! 4. wait: with `Completed`, `post(Completed or Failed, Some(id))`;
//! 5. prune. Dropping the `HookRun` early (shutdown) runs the post hook.

// The rotation job (rotation.rs, being rewritten) is what calls these; until
// it does, only the tests and `check` do. Remove once wired.

use std::os::fd::AsFd as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::io::AsyncReadExt as _;

use crate::events::{self, Action, Event, Subject};
use crate::provider::Kind;

/// What `on_hook_failure` says to do when the pre hook fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnHookFailure {
    /// No create; the job fails with reason `hook`.
    Abort,
    /// Create anyway; the item is only crash-consistent, and the summary and
    /// audit line say so.
    Continue,
}

/// When the post hook runs (`post_hook_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostHookAfter {
    /// As soon as the provider accepted the create (the usual: the snapshot
    /// point is taken when the create is accepted).
    Accepted,
    /// Only once the item is `completed`.
    Completed,
}

/// A policy's hooks, validated (see `config.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hooks {
    /// argv of `pre_hook` (non-empty), if set.
    pub(crate) pre: Option<Vec<String>>,
    /// argv of `post_hook` (non-empty), if set.
    pub(crate) post: Option<Vec<String>>,
    /// Longest a hook may run before it is killed with its process group.
    pub(crate) timeout: Duration,
    /// Longest VPS.org may take to accept the create after the pre hook
    /// ended; then the post hook thaws and nothing more is sent.
    pub(crate) max_freeze: Duration,
    pub(crate) on_failure: OnHookFailure,
    pub(crate) post_after: PostHookAfter,
}

/// How the create went, as the post hook is told (`SNAPKEEP_RESULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobResult {
    /// The provider accepted the create.
    Accepted,
    /// The item completed.
    Completed,
    /// The create was refused or the item failed or never completed.
    Failed,
    /// No create was made: the pre hook failed (`abort`), or the job was cut
    /// off (shutdown).
    Aborted,
}

impl JobResult {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobResult::Accepted => "accepted",
            JobResult::Completed => "completed",
            JobResult::Failed => "failed",
            JobResult::Aborted => "aborted",
        }
    }
}

/// Which hook, and for `post` what it is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Pre,
    Post {
        result: JobResult,
        /// The new (or the slot's) item, when there is one.
        item_id: Option<u64>,
    },
}

impl Phase {
    /// `SNAPKEEP_PHASE`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post { .. } => "post",
        }
    }

    /// The config key, for messages.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Phase::Pre => "pre_hook",
            Phase::Post { .. } => "post_hook",
        }
    }
}

/// The job a hook runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HookContext {
    /// The account the server is in (for the audit event).
    pub(crate) account: String,
    pub(crate) server_id: u64,
    /// As the provider names it; may be empty.
    pub(crate) server_name: String,
    pub(crate) policy: String,
    pub(crate) kind: Kind,
    /// The slot the item is for.
    pub(crate) slot: DateTime<Utc>,
}

/// Environment variables a hook never inherits: the API token, and the
/// directory systemd hands the token in. (Nor does it inherit any
/// account's `token_env` variable: `crate::secrets::taken_names`.)
pub(crate) const WITHHELD_ENV: [&str; 2] = ["VPS_API_TOKEN", "CREDENTIALS_DIRECTORY"];

/// How much of each of stdout and stderr is kept for the log (the end).
const OUTPUT_LIMIT: usize = 4096;

/// Between SIGTERM and SIGKILL for a hook that outlived its timeout.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// How long output is still read after the hook exited (a background
/// process it left behind may hold the pipes open for good).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// The variables a hook gets on top of snapkeep's environment (minus
/// [`WITHHELD_ENV`]).
pub(crate) fn hook_env(phase: Phase, ctx: &HookContext) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("SNAPKEEP_PHASE", phase.as_str().to_owned()),
        ("SNAPKEEP_SERVER_ID", ctx.server_id.to_string()),
        ("SNAPKEEP_POLICY", ctx.policy.clone()),
        ("SNAPKEEP_KIND", ctx.kind.as_str().to_owned()),
        (
            "SNAPKEEP_SLOT",
            ctx.slot.to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
    ];
    if let Phase::Post { result, item_id } = phase {
        env.push(("SNAPKEEP_RESULT", result.as_str().to_owned()));
        if let Some(id) = item_id {
            env.push(("SNAPKEEP_ITEM_ID", id.to_string()));
        }
    }
    env
}

/// What went wrong with a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HookFailure {
    /// It could not be started (not found, not executable, ...).
    Spawn(String),
    /// It exited with a non-zero code.
    Exit(i32),
    /// A signal ended it (not ours).
    Signal(i32),
    /// It outlived `hook_timeout` and was killed with its process group.
    TimedOut(Duration),
    /// Waiting for it failed (should not happen).
    Wait(String),
}

impl std::fmt::Display for HookFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookFailure::Spawn(e) => write!(f, "could not be started: {e}"),
            HookFailure::Exit(code) => write!(f, "exited with code {code}"),
            HookFailure::Signal(signal) => write!(f, "was killed by signal {signal}"),
            HookFailure::TimedOut(t) => write!(
                f,
                "did not finish within hook_timeout ({}) and was killed with its process group",
                humantime::format_duration(*t)
            ),
            HookFailure::Wait(e) => write!(f, "could not be waited for: {e}"),
        }
    }
}

/// A hook that failed: which one, for which job, how, and the end of what
/// it printed to stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {argv} for server {}{} policy {} {failure}{}", phase.key(), ctx.server_id, server_name(&ctx.server_name), ctx.policy, stderr_note(stderr))]
pub(crate) struct HookError {
    pub(crate) phase: Phase,
    /// The argv as configured, for the message.
    pub(crate) argv: String,
    pub(crate) ctx: HookContext,
    pub(crate) failure: HookFailure,
    /// The end of its stderr (up to a few KB).
    pub(crate) stderr: String,
}

fn server_name(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" ({name})")
    }
}

/// The last few lines of stderr, for an error message.
fn stderr_note(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let last = &lines[lines.len().saturating_sub(3)..];
    format!("; stderr: {}", last.join(" / "))
}

/// A hook that ran and succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HookRan {
    pub(crate) duration: Duration,
    /// The end of its stdout and stderr (up to a few KB each).
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// The argv as the config writes it: `["ssh", "root@web-01", "sync"]`.
pub(crate) fn argv_text(argv: &[String]) -> String {
    format!("{argv:?}")
}

/// The command for a hook: no shell, stdin closed, own process group, the
/// token withheld, the job's variables added.
fn command(argv: &[String], phase: Phase, ctx: &HookContext) -> std::process::Command {
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).process_group(0);
    for name in WITHHELD_ENV {
        cmd.env_remove(name);
    }
    // Every account's `token_env` variable (taken after the config loaded).
    for name in crate::secrets::taken_names() {
        cmd.env_remove(name);
    }
    for (name, value) in hook_env(phase, ctx) {
        cmd.env(name, value);
    }
    cmd
}

/// Runs one hook to its end (or its timeout) and logs what it did: one
/// audit event (`action=hook`) and its output. Never panics on what the
/// hook does; an empty `argv` is refused (config validation rules it out).
pub(crate) async fn run_hook(
    phase: Phase,
    argv: &[String],
    timeout: Duration,
    ctx: &HookContext,
) -> Result<HookRan, HookError> {
    let started = Instant::now();
    let result = run_inner(argv, phase, timeout, ctx).await;
    let duration = started.elapsed();
    let fail = |failure, stderr: String| HookError {
        phase,
        argv: argv_text(argv),
        ctx: ctx.clone(),
        failure,
        stderr,
    };
    let result = match result {
        Ok((status, stdout, stderr)) => {
            log_output(phase, ctx, "stdout", &stdout);
            log_output(phase, ctx, "stderr", &stderr);
            match status {
                Outcome::Exited(s) if s.success() => Ok(HookRan {
                    duration,
                    stdout,
                    stderr,
                }),
                Outcome::Exited(s) => Err(fail(
                    match (s.code(), s.signal()) {
                        (Some(code), _) => HookFailure::Exit(code),
                        (None, Some(signal)) => HookFailure::Signal(signal),
                        (None, None) => HookFailure::Wait(s.to_string()),
                    },
                    stderr,
                )),
                Outcome::TimedOut => Err(fail(HookFailure::TimedOut(timeout), stderr)),
            }
        }
        Err(failure) => Err(fail(failure, String::new())),
    };
    let item_id = match phase {
        Phase::Post { item_id, .. } => item_id,
        Phase::Pre => None,
    };
    let reason = match &result {
        Ok(_) => format!("{} {} succeeded", phase.key(), argv_text(argv)),
        Err(e) => e.to_string(),
    };
    let event = Event::new(
        Action::Hook,
        Subject {
            account: &ctx.account,
            server_id: ctx.server_id,
            server_name: &ctx.server_name,
            policy: &ctx.policy,
        },
    );
    let event = match item_id {
        Some(id) => event.item(id, ""),
        None => event,
    };
    event
        .reason(&reason)
        .outcome(events::Outcome::of(&result))
        .took(duration)
        .emit();
    result
}

enum Outcome {
    Exited(ExitStatus),
    TimedOut,
}

async fn run_inner(
    argv: &[String],
    phase: Phase,
    timeout: Duration,
    ctx: &HookContext,
) -> Result<(Outcome, String, String), HookFailure> {
    if argv.is_empty() {
        return Err(HookFailure::Spawn("the command is empty".into()));
    }
    let mut cmd = tokio::process::Command::from(command(argv, phase, ctx));
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| HookFailure::Spawn(format!("{:?}: {e}", argv[0])))?;
    // Declared after `child`, so dropped (killing the group) before it is.
    let mut group = GroupGuard(child.id());
    let stdout = Arc::new(Mutex::new(Tail::default()));
    let stderr = Arc::new(Mutex::new(Tail::default()));
    let readers = [
        child
            .stdout
            .take()
            .map(|pipe| tokio::spawn(drain(pipe, Arc::clone(&stdout)))),
        child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(drain(pipe, Arc::clone(&stderr)))),
    ];
    let outcome = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // Reaped: the group id is no longer ours to signal.
            group.disarm();
            Outcome::Exited(status)
        }
        Ok(Err(e)) => {
            group.kill(libc::SIGKILL);
            group.disarm();
            return Err(HookFailure::Wait(e.to_string()));
        }
        Err(_) => {
            // Not reaped yet, so the group id cannot have been reused.
            group.kill(libc::SIGTERM);
            tokio::time::sleep(KILL_GRACE).await;
            group.kill(libc::SIGKILL);
            group.disarm();
            let _ = child.wait().await;
            Outcome::TimedOut
        }
    };
    let _ = tokio::time::timeout(OUTPUT_GRACE, async {
        for reader in readers.iter().flatten() {
            while !reader.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    })
    .await;
    for reader in readers.iter().flatten() {
        reader.abort();
    }
    let text = |tail: &Mutex<Tail>| tail.lock().map(|t| t.text()).unwrap_or_default();
    Ok((outcome, text(&stdout), text(&stderr)))
}

async fn drain(mut pipe: impl tokio::io::AsyncRead + Unpin, tail: Arc<Mutex<Tail>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if let Ok(mut t) = tail.lock() {
            t.push(&buf[..n]);
        }
    }
}

/// The end of an output stream.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: usize,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > OUTPUT_LIMIT {
            let excess = self.bytes.len() - OUTPUT_LIMIT;
            self.bytes.drain(..excess);
            self.cut += excess;
        }
    }

    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        let text = text.trim_end();
        if self.cut > 0 {
            format!("[{} earlier bytes not kept] {text}", self.cut)
        } else {
            text.to_owned()
        }
    }
}

fn log_output(phase: Phase, ctx: &HookContext, stream: &'static str, text: &str) {
    if text.is_empty() {
        return;
    }
    tracing::info!(
        target: "snapkeep::hook",
        hook = phase.key(),
        server_id = ctx.server_id,
        policy = %ctx.policy,
        stream,
        "{} for server {} policy {} wrote to {stream}: {text}",
        phase.key(),
        ctx.server_id,
        ctx.policy
    );
}

/// Kills a hook's process group when dropped while armed (the job was cut
/// off mid-hook), so nothing it started outlives it.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn kill(&self, signal: libc::c_int) {
        if let Some(pgid) = self.0 {
            kill_group(pgid, signal);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill(libc::SIGKILL);
    }
}

/// Sends `signal` to process group `pgid` — never to our own group (0) or
/// init's (1), whatever the id says.
fn kill_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: killpg only sends a signal. `pgid` is the id of a child we
    // spawned as the leader of its own group and have not reaped, so the
    // id still names that group.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// What a pre hook's outcome means for the job.
#[derive(Debug)]
pub(crate) enum PreOutcome {
    /// No pre hook, or it succeeded: create.
    Proceed,
    /// It failed and `on_hook_failure = "continue"`: create anyway; the
    /// summary and audit line must say the item is only crash-consistent.
    ProceedCrashConsistent(HookError),
    /// It failed and `on_hook_failure = "abort"`: no create; the job fails
    /// (reason `hook`) after `post(JobResult::Aborted, None)`.
    Abort(HookError),
}

/// One job's hooks, enforcing their order: at most one pre hook, and once
/// it has started, exactly one post hook — run by [`HookRun::post`], or,
/// if the job is dropped before that (shutdown, a cancelled pass), by
/// `Drop` with `SNAPKEEP_RESULT=aborted`, blocking the dropping thread
/// until it ends (at most `hook_timeout` + 1 s) so the thaw is done before
/// the process can exit.
#[derive(Debug)]
pub(crate) struct HookRun {
    hooks: Hooks,
    ctx: HookContext,
    pre_started: bool,
    post_done: bool,
}

impl HookRun {
    pub(crate) fn new(hooks: &Hooks, ctx: HookContext) -> HookRun {
        HookRun {
            hooks: hooks.clone(),
            ctx,
            pre_started: false,
            post_done: false,
        }
    }

    /// When the caller should run [`HookRun::post`] after a successful create.
    pub(crate) fn post_after(&self) -> PostHookAfter {
        self.hooks.post_after
    }

    /// How long the create may take to be accepted after the pre hook
    /// ended, when there is a pre hook (a freeze to bound).
    pub(crate) fn max_freeze(&self) -> Option<Duration> {
        self.hooks.pre.as_ref().map(|_| self.hooks.max_freeze)
    }

    /// Runs the pre hook (once; later calls do nothing and proceed).
    pub(crate) async fn pre(&mut self) -> PreOutcome {
        let Some(argv) = self.hooks.pre.clone() else {
            return PreOutcome::Proceed;
        };
        if self.pre_started {
            return PreOutcome::Proceed;
        }
        self.pre_started = true;
        match run_hook(Phase::Pre, &argv, self.hooks.timeout, &self.ctx).await {
            Ok(_) => PreOutcome::Proceed,
            Err(e) => match self.hooks.on_failure {
                OnHookFailure::Abort => PreOutcome::Abort(e),
                OnHookFailure::Continue => PreOutcome::ProceedCrashConsistent(e),
            },
        }
    }

    /// Runs the post hook, once: later calls (and a post hook that is not
    /// configured) do nothing and return `Ok`.
    pub(crate) async fn post(
        &mut self,
        result: JobResult,
        item_id: Option<u64>,
    ) -> Result<(), HookError> {
        if self.post_done {
            return Ok(());
        }
        let Some(argv) = self.hooks.post.clone() else {
            self.post_done = true;
            return Ok(());
        };
        let result = run_hook(
            Phase::Post { result, item_id },
            &argv,
            self.hooks.timeout,
            &self.ctx,
        )
        .await;
        // Only now: a job dropped while its post hook ran (which kills that
        // run's group) runs it again from `Drop`.
        self.post_done = true;
        result.map(|_| ())
    }
}

impl Drop for HookRun {
    fn drop(&mut self) {
        if !self.pre_started || self.post_done {
            return;
        }
        if let Some(argv) = &self.hooks.post {
            tracing::warn!(
                server_id = self.ctx.server_id,
                policy = %self.ctx.policy,
                "the job ended before its post_hook ran; starting it now (SNAPKEEP_RESULT=aborted)"
            );
            run_blocking(
                argv,
                Phase::Post {
                    result: JobResult::Aborted,
                    item_id: None,
                },
                self.hooks.timeout,
                &self.ctx,
            );
        }
    }
}

/// Runs a hook without async (from `Drop`): blocks the calling thread until
/// it ends, at most `timeout` plus [`KILL_GRACE`], so that a job cut off by
/// a shutdown still thaws before the process exits. Its output goes
/// straight to snapkeep's stderr.
fn run_blocking(argv: &[String], phase: Phase, timeout: Duration, ctx: &HookContext) {
    if argv.is_empty() {
        return;
    }
    let mut cmd = command(argv, phase, ctx);
    let to_stderr = || {
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_or_else(|_| Stdio::null(), Stdio::from)
    };
    cmd.stdout(to_stderr()).stderr(to_stderr());
    let what = format!(
        "{} {} for server {} policy {}",
        phase.key(),
        argv_text(argv),
        ctx.server_id,
        ctx.policy
    );
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let failure = HookFailure::Spawn(format!("{:?}: {e}", argv[0]));
            tracing::error!("{what} {failure}");
            return;
        }
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => break None,
        }
    };
    match status {
        Some(s) if s.success() => tracing::info!("{what} succeeded"),
        Some(s) => tracing::error!("{what} failed: {s}"),
        None => {
            // Not reaped yet: the group id is still the hook's.
            kill_group(child.id(), libc::SIGTERM);
            std::thread::sleep(KILL_GRACE);
            kill_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
            tracing::error!("{what} {}", HookFailure::TimedOut(timeout));
        }
    }
}

/// What `--dry-run` prints instead of running the hooks: each hook with its
/// settings and the variables it would get.
pub(crate) fn plan(hooks: &Hooks, ctx: &HookContext) -> Vec<String> {
    let env_text = |phase| {
        hook_env(phase, ctx)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut lines = Vec::new();
    if let Some(argv) = &hooks.pre {
        lines.push(format!(
            "would run pre_hook {} (timeout {}; on failure: {}) with {}",
            argv_text(argv),
            humantime::format_duration(hooks.timeout),
            match hooks.on_failure {
                OnHookFailure::Abort => "abort, no create",
                OnHookFailure::Continue => "create anyway, crash-consistent",
            },
            env_text(Phase::Pre)
        ));
    }
    if let Some(argv) = &hooks.post {
        let result = match hooks.post_after {
            PostHookAfter::Accepted => JobResult::Accepted,
            PostHookAfter::Completed => JobResult::Completed,
        };
        lines.push(format!(
            "would run post_hook {} once the create is {} (timeout {}; also after a failed pre hook or create) with {}",
            argv_text(argv),
            result.as_str(),
            humantime::format_duration(hooks.timeout),
            env_text(Phase::Post {
                result,
                item_id: None
            })
        ));
    }
    lines
}

#[cfg(test)]
mod tests;

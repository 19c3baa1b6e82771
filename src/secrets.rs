//! Keeps the API token out of reach of the processes snapkeep starts.
//!
//! Hooks run as snapkeep's own user. Leaving `VPS_API_TOKEN` out of a hook's
//! environment (`hooks::WITHHELD_ENV`) is not enough on its own: a process
//! of the same user can read `/proc/<snapkeep's pid>/environ`, which the
//! kernel reads from snapkeep's *initial* environment block — the strings
//! `execve` put on the stack — not from the C library's current
//! environment. `std::env::remove_var` only drops the pointer to the
//! string; the bytes stay where the kernel shows them. And a process of the
//! same user can read snapkeep's memory (`/proc/<pid>/mem`, ptrace).
//!
//! So, first thing in the process ([`protect_process`], from `app::run`,
//! before any thread exists):
//! 1. the token is taken out of the environment and kept here
//!    ([`env_token`], which `config::token` reads, also on every reload);
//! 2. its bytes are overwritten with zeros in place, in the region the
//!    kernel reports as the environment (`env_start`..`env_end` of
//!    `/proc/self/stat`), and the variable is removed — the way
//!    setproctitle-style code rewrites that block;
//! 3. the process is made non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`, as
//!    ssh-agent does): no core dump, and processes of the same user cannot
//!    read its memory or its `/proc/<pid>/environ` (only root can).
//!
//! A config's `[[account]]` may name another variable (`token_env`): its
//! name is known only once the config is parsed, so [`take_env_vars`] does
//! steps 1 and 2 for it right after the config is loaded (at start, still
//! on one thread; at a reload, for a variable no earlier config named).
//! Every variable taken is withheld from hooks ([`taken_names`]).
//!
//! What a hook can still reach is whatever file snapkeep's user may read:
//! README ("What a hook can and cannot reach") says how to keep the token
//! out of those.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// The environment variable the token may come in.
pub(crate) const TOKEN_VAR: &str = "VPS_API_TOKEN";

/// The token as the environment gave it at start, once [`protect_process`]
/// has run.
static ENV_TOKEN: OnceLock<Option<String>> = OnceLock::new();

/// The `token_env` variables taken out of the environment, by name, with
/// their values as they were (`None`: unset).
static TAKEN: Mutex<BTreeMap<String, Option<String>>> = Mutex::new(BTreeMap::new());

/// What [`protect_process`] did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Protected {
    /// Copies of the token overwritten in the kernel's environment block.
    pub(crate) wiped: usize,
    /// Whether the process is now non-dumpable.
    pub(crate) non_dumpable: bool,
}

/// Takes the token out of the environment, wipes it from the environment
/// block the kernel shows, and makes the process non-dumpable. Call it once,
/// first thing, while the process has one thread: it writes the process's
/// environment. Later calls do nothing.
pub(crate) fn protect_process() -> Protected {
    let mut done = Protected {
        wiped: 0,
        non_dumpable: false,
    };
    if ENV_TOKEN.get().is_some() {
        return done;
    }
    let token = std::env::var_os(TOKEN_VAR).map(|v| v.to_string_lossy().into_owned());
    if token.is_some() {
        // SAFETY: documented precondition of this function: one thread, so
        // nothing reads or writes the environment meanwhile, and no
        // reference into the environment block is alive.
        done.wiped = unsafe { wipe_from_environment_block(TOKEN_VAR.as_bytes()) };
        // SAFETY: as above (one thread).
        unsafe { std::env::remove_var(TOKEN_VAR) };
    }
    let _ = ENV_TOKEN.set(token);
    done.non_dumpable = make_non_dumpable();
    done
}

/// The token from `VPS_API_TOKEN`: as it was at start once
/// [`protect_process`] has run (the environment no longer has it), else the
/// environment's (tests, and code that runs without `app::run`).
pub(crate) fn env_token() -> Option<String> {
    match ENV_TOKEN.get() {
        Some(token) => token.clone(),
        None => std::env::var(TOKEN_VAR).ok(),
    }
}

/// Takes each of `names` (a config's `token_env` variables) out of the
/// environment, as [`protect_process`] does for `VPS_API_TOKEN`: the value
/// is kept here ([`env_var`]) and wiped from the block the kernel shows as
/// `/proc/<pid>/environ`. A name taken before is left alone (its value
/// stays what it was when first taken). Returns how many copies it wiped.
///
/// While the process has one thread (after the config is loaded at start)
/// the variable is also removed from the environment. At a reload the
/// daemon's threads run: then only the value's bytes are zeroed in place —
/// no pointer of the C library's `environ` moves, so a concurrent lookup of
/// another variable reads what it always did. Besides this function, only
/// a hook being started at that very moment reads the value (std copies the
/// environment for the child): it may copy a half-zeroed value, which the
/// child never gets ([`taken_names`] are removed from its environment). The
/// variable stays, empty.
pub(crate) fn take_env_vars(names: &[String]) -> usize {
    let mut taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut wiped = 0;
    for name in names {
        if name == TOKEN_VAR || taken.contains_key(name) || name.is_empty() || name.contains('=') {
            continue;
        }
        let value = std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        if value.is_some() {
            // SAFETY: see above: the bytes written are the value of `name`,
            // which nothing else in the process reads; on one thread nothing
            // reads the environment meanwhile at all.
            wiped += unsafe { wipe_from_environment_block(name.as_bytes()) };
            if threads() == Some(1) {
                // SAFETY: the process has one thread (just checked, and
                // only this thread could start another).
                unsafe { std::env::remove_var(name) };
            }
        }
        taken.insert(name.clone(), value);
    }
    wiped
}

/// The value of a `token_env` variable: as it was when [`take_env_vars`]
/// took it, else the environment's (tests; an empty value counts as unset).
pub(crate) fn env_var(name: &str) -> Option<String> {
    if name == TOKEN_VAR {
        return env_token();
    }
    let taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match taken.get(name) {
        Some(value) => value.clone(),
        None => std::env::var(name).ok(),
    }
    .filter(|v| !v.is_empty())
}

/// Every variable [`take_env_vars`] took: a hook's environment never has
/// them (`hooks::command`).
pub(crate) fn taken_names() -> Vec<String> {
    let taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    taken.keys().cloned().collect()
}

/// How many threads this process has (`Threads:` of `/proc/self/status`).
fn threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// `prctl(PR_SET_DUMPABLE, 0)`; true when it took effect.
fn make_non_dumpable() -> bool {
    // SAFETY: prctl with PR_SET_DUMPABLE only changes a flag of this process.
    let set = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    set == 0 && is_dumpable() == Some(false)
}

/// `prctl(PR_GET_DUMPABLE)`: whether this process is dumpable.
pub(crate) fn is_dumpable() -> Option<bool> {
    // SAFETY: PR_GET_DUMPABLE only reads a flag of this process.
    match unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) } {
        0 => Some(false),
        n if n > 0 => Some(true),
        _ => None,
    }
}

/// Where the kernel says this process's initial environment strings are:
/// `env_start` and `env_end`, fields 50 and 51 of `/proc/self/stat`.
fn environment_block() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // `pid (comm) state ...`: comm may hold spaces and parentheses; the
    // fields after its last `)` start at field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let start = fields.get(50 - 3)?.parse().ok()?;
    let end = fields.get(51 - 3)?.parse().ok()?;
    (start > 0 && end > start).then_some((start, end))
}

/// Overwrites with zeros the value of every `name=value` string in the
/// environment block the kernel reports for this process (what
/// `/proc/<pid>/environ` shows), in place; returns how many it wiped.
/// `getenv(name)` then reads an empty value. Nothing, if the kernel does
/// not say where the block is (no `/proc`).
///
/// # Safety
///
/// Nothing else may read or write the environment while it runs (call it
/// while the process has one thread), and no Rust reference into the
/// environment block may be alive: the C library's `environ` points into
/// this memory and is written behind its back.
unsafe fn wipe_from_environment_block(name: &[u8]) -> usize {
    let Some((start, end)) = environment_block() else {
        return 0;
    };
    // SAFETY: the kernel set up [env_start, env_end) at execve as this
    // process's environment strings, on the main thread's stack: mapped,
    // writable and ours for the life of the process (only prctl(PR_SET_MM)
    // moves it, which snapkeep never calls). By the caller's guarantee no
    // one else reads or writes it while this slice lives.
    let block = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
    wipe_values(block, name)
}

/// In `block` (NUL-separated `NAME=value` strings), overwrites with zeros
/// the value of every string named `name`; returns how many.
fn wipe_values(block: &mut [u8], name: &[u8]) -> usize {
    let mut wiped = 0;
    let mut at = 0;
    while at < block.len() {
        let len = block[at..]
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(block.len() - at);
        let entry = &mut block[at..at + len];
        if entry.len() > name.len() && entry.starts_with(name) && entry[name.len()] == b'=' {
            entry[name.len() + 1..].fill(0);
            wiped += 1;
        }
        at += len + 1;
    }
    wiped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_values_zeroes_every_value_of_the_name_and_nothing_else() {
        let mut block =
            b"PATH=/bin\0VPS_API_TOKEN=s3cret\0VPS_API_TOKEN_FILE=keep\0X=VPS_API_TOKEN=no\0VPS_API_TOKEN=again"
                .to_vec();
        assert_eq!(wipe_values(&mut block, b"VPS_API_TOKEN"), 2);
        assert_eq!(
            block,
            b"PATH=/bin\0VPS_API_TOKEN=\0\0\0\0\0\0\0VPS_API_TOKEN_FILE=keep\0X=VPS_API_TOKEN=no\0VPS_API_TOKEN=\0\0\0\0\0"
                .to_vec()
        );
        let mut empty = b"VPS_API_TOKEN=\0VPS_API_TOKEN\0".to_vec();
        assert_eq!(wipe_values(&mut empty, b"VPS_API_TOKEN"), 1);
        assert_eq!(empty, b"VPS_API_TOKEN=\0VPS_API_TOKEN\0".to_vec());
    }

    #[test]
    fn the_kernel_says_where_the_environment_block_is() {
        let (start, end) = environment_block().expect("env_start/env_end in /proc/self/stat");
        assert!(end > start);
    }

    /// Set in the environment of the child that [`protect_process`] runs in.
    const CHILD: &str = "SNAPKEEP_SECRETS_TEST_CHILD";
    const CANARY: &str = "canary-4f1d8a-never-in-environ";

    /// Runs [`protect_process`] in a fresh process (this test binary again,
    /// started with a canary token), since it changes the whole process.
    #[test]
    fn protect_process_wipes_the_token_from_proc_environ_and_makes_it_non_dumpable() {
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "secrets::tests::in_a_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env(TOKEN_VAR, CANARY)
            .output()
            .expect("the child runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("child: protected"),
            "{}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The child's half of the test above (does nothing in a normal run).
    #[test]
    fn in_a_child_process() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let environ = |pid: &str| std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let has_canary = |bytes: &[u8]| bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes());
        assert!(has_canary(&environ("self")), "the canary is there before");
        assert_eq!(is_dumpable(), Some(true));

        let done = protect_process();
        assert_eq!(
            done,
            Protected {
                wiped: 1,
                non_dumpable: true
            }
        );
        assert!(
            !has_canary(&environ("self")),
            "/proc/self/environ still shows the token"
        );
        assert_eq!(is_dumpable(), Some(false));
        assert_eq!(std::env::var_os(TOKEN_VAR), None);
        assert_eq!(env_token().as_deref(), Some(CANARY));
        // A child started now does not inherit it either.
        let child_env = std::process::Command::new("env").output().unwrap().stdout;
        assert!(!has_canary(&child_env));
        assert_eq!(protect_process().wiped, 0, "once");
        println!("child: protected");
    }

    /// Set in the environment of the child that [`take_env_vars`] runs in.
    const ENV_CHILD: &str = "SNAPKEEP_SECRETS_TEST_ENV_CHILD";
    /// The `token_env` variable the child is given.
    const ACCOUNT_VAR: &str = "SNAPKEEP_SECRETS_TEST_ACCOUNT_TOKEN";
    const ACCOUNT_CANARY: &str = "canary-9b2c77-token-env-never-in-environ";

    #[test]
    fn take_env_vars_wipes_a_token_env_variable_from_proc_environ_and_from_children() {
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "secrets::tests::token_env_in_a_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_CHILD, "1")
            .env(ACCOUNT_VAR, ACCOUNT_CANARY)
            .output()
            .expect("the child runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("child: token_env taken"),
            "{}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The child's half of the test above (does nothing in a normal run).
    #[test]
    fn token_env_in_a_child_process() {
        if std::env::var_os(ENV_CHILD).is_none() {
            return;
        }
        let has_canary = |bytes: &[u8]| {
            bytes
                .windows(ACCOUNT_CANARY.len())
                .any(|w| w == ACCOUNT_CANARY.as_bytes())
        };
        let environ = || std::fs::read("/proc/self/environ").unwrap();
        assert!(has_canary(&environ()), "the canary is there before");

        let names = vec![
            ACCOUNT_VAR.to_owned(),
            "SNAPKEEP_SECRETS_TEST_UNSET".to_owned(),
        ];
        assert_eq!(take_env_vars(&names), 1);
        assert!(!has_canary(&environ()), "/proc/self/environ still shows it");
        assert_eq!(env_var(ACCOUNT_VAR).as_deref(), Some(ACCOUNT_CANARY));
        assert_eq!(env_var("SNAPKEEP_SECRETS_TEST_UNSET"), None);
        assert_eq!(taken_names(), names);
        // Gone from the environment (one thread) or left empty (the test
        // harness may run more threads than a starting snapkeep).
        let left = std::env::var_os(ACCOUNT_VAR);
        assert!(left.as_ref().is_none_or(|v| v.is_empty()), "{left:?}");
        assert_eq!(left.is_none(), threads() == Some(1));
        let child_env = std::process::Command::new("env").output().unwrap().stdout;
        assert!(!has_canary(&child_env));
        assert_eq!(take_env_vars(&names), 0, "once");
        assert_eq!(env_var(ACCOUNT_VAR).as_deref(), Some(ACCOUNT_CANARY));
        println!("child: token_env taken");
    }
}

//! Fleet benchmark: is a pass quick, gentle on the provider's API,
//! and cheap to keep running? Figures, not a pass/fail test.
//!
//! `cargo bench --bench fleet` runs, against the embedded simulator (in this
//! process, 20 ms injected latency on every request):
//!
//! 1. `--run-now` passes of the real binary (built with the `bench` profile,
//!    which has the shipping `dist` profile's settings) over fleets of 10, 100,
//!    1000 and 5000 servers — wall time, API calls by kind, the lower bound
//!    on calls, calls ÷ bound, the concurrency floor, peak RSS, CPU time;
//! 2. an idle daemon with 1000 policies — RSS and CPU over the idle window;
//! 3. `snapkeep check` on a 5000-server config — median wall time.
//!
//! Quick run: `cargo bench --bench fleet -- --sizes 10,100 --idle-secs 5`.
//! Every flag: `cargo bench --bench fleet -- --help`.
//!
//! How calls are counted (from the simulator's request log, in the order
//! answers were sent): a *listing* is a walk over a list's pages, starting
//! with a GET without `page=` (page 1). The first account-wide listing is
//! the pass's inventory; every later listing is a *poll* (the shared
//! completion poller; a poll filtered to one server — used when only one
//! server waits — is a poll too). The bound is
//!
//! ```text
//! bound = Σ over listings of ceil(items at the listing's start ÷ page size)
//!         + creates needed + deletes needed
//! ```
//!
//! i.e. the bound as first set, `pages + creates + deletes + pages × polls`,
//! with each listing's page count taken from the number of items that existed when it
//! began (seeded + created − deleted so far; a listing filtered to one
//! server needs 1 page). Creates and deletes needed come from the scenario,
//! not the log: each server holds two of our snapshots from earlier slots,
//! `keep_last = 2`, so every server needs exactly one create and one delete.
//! Anything else — retries, repeated pages, per-server lists outside polls,
//! extra creates — makes calls exceed the bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use snapkeep_sim::{
    DEFAULT_PAGE_SIZE, FaultSpec, Faults, RecordedRequest, Seed, SimConfig, SimStatus, Simulator,
};

/// The binary cargo built for this bench (`bench` profile = `dist` settings); `SNAPKEEP_BENCH_BIN`
/// points elsewhere (e.g. an unstripped build to profile).
fn bin() -> PathBuf {
    std::env::var_os("SNAPKEEP_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_snapkeep")),
        PathBuf::from,
    )
}
const TOKEN: &str = "bench-token-0123456789";
const POLICY: &str = "bench";

/// What the command line chose.
#[derive(Debug, Clone)]
struct Options {
    sizes: Vec<usize>,
    latency: Duration,
    max_concurrency: usize,
    poll_interval: Duration,
    complete_after: Duration,
    idle_policies: usize,
    /// `None` skips the idle daemon.
    idle_secs: Option<u64>,
    /// `None` skips the `check` timing.
    check_servers: Option<usize>,
    check_runs: usize,
    keep_dir: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sizes: vec![10, 100, 1000, 5000],
            latency: Duration::from_millis(20),
            max_concurrency: 16,
            poll_interval: Duration::from_millis(250),
            complete_after: Duration::from_secs(1),
            idle_policies: 1000,
            idle_secs: Some(60),
            check_servers: Some(5000),
            check_runs: 7,
            keep_dir: false,
        }
    }
}

const HELP: &str = "\
fleet benchmark: cargo bench --bench fleet -- [OPTIONS]
  --sizes 10,100,1000,5000   fleet sizes for --run-now passes (0 or 'none': skip)
  --latency-ms 20            injected latency on every simulated request
  --concurrency 16           api.max_concurrency in the generated config
  --poll-ms 250              poll_interval in the generated config
  --complete-ms 1000         how long a new snapshot stays in_progress
  --idle-secs 60             idle daemon window (0: skip the idle daemon)
  --idle-policies 1000       policies loaded by the idle daemon
  --check-servers 5000       servers in the config timed with `snapkeep check` (0: skip)
  --check-runs 7             runs of `snapkeep check` (the median is reported)
  --keep                     keep the temp dir (configs, logs, request logs as CSV) and print its path";

fn parse_args() -> Result<Options, String> {
    let mut o = Options::default();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --benches` / `--all-targets` runs this without `--bench`:
    // a seconds-long smoke run then, not the benchmark.
    if argv.is_empty() {
        eprintln!("no --bench: smoke run only (cargo bench --bench fleet runs the benchmark)");
        o.sizes = vec![10];
        o.idle_secs = None;
        o.idle_policies = 10;
        o.check_servers = Some(100);
        o.check_runs = 1;
    }
    let mut args = argv.into_iter();
    let num = |flag: &str, v: Option<String>| -> Result<u64, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse::<u64>()
            .map_err(|_| format!("{flag}: {v:?} is not a whole number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--help" | "-h" => return Err(HELP.to_owned()),
            "--sizes" => {
                let v = args.next().ok_or("--sizes needs a value")?;
                o.sizes = if v == "none" || v == "0" {
                    Vec::new()
                } else {
                    v.split(',')
                        .map(|s| {
                            s.trim()
                                .parse::<usize>()
                                .map_err(|_| format!("--sizes: {s:?} is not a number"))
                        })
                        .collect::<Result<_, _>>()?
                };
            }
            "--latency-ms" => o.latency = Duration::from_millis(num(&arg, args.next())?),
            "--concurrency" => o.max_concurrency = num(&arg, args.next())? as usize,
            "--poll-ms" => o.poll_interval = Duration::from_millis(num(&arg, args.next())?),
            "--complete-ms" => o.complete_after = Duration::from_millis(num(&arg, args.next())?),
            "--idle-secs" => {
                o.idle_secs = Some(num(&arg, args.next())?).filter(|s| *s > 0);
            }
            "--idle-policies" => o.idle_policies = num(&arg, args.next())? as usize,
            "--check-servers" => {
                o.check_servers = Some(num(&arg, args.next())? as usize).filter(|n| *n > 0);
            }
            "--check-runs" => o.check_runs = (num(&arg, args.next())? as usize).max(1),
            "--keep" => o.keep_dir = true,
            other => return Err(format!("unknown argument {other:?}\n\n{HELP}")),
        }
    }
    Ok(o)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("snapkeep-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the bench temp dir");

    println!("snapkeep fleet benchmark");
    println!("binary: {}", bin().display());
    println!("machine: {}", machine());
    println!(
        "setup: simulator in-process, {} ms latency on every request, page size {}, new snapshots complete after {:?}; config: max_concurrency = {}, requests_per_second = 0, poll_interval = {:?}, one snapshot policy (keep_last = 2) over the fleet, each server seeded with 2 of its snapshots from earlier slots",
        opts.latency.as_millis(),
        DEFAULT_PAGE_SIZE,
        opts.complete_after,
        opts.max_concurrency,
        opts.poll_interval,
    );
    println!();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut results = Vec::new();
    for &n in &opts.sizes {
        let r = fleet_pass(&rt, &opts, &dir, n);
        print_fleet_row_detail(&r, &opts);
        results.push(r);
    }
    if !results.is_empty() {
        println!();
        println!("{}", fleet_table(&results, &opts));
    }

    if let Some(secs) = opts.idle_secs {
        idle_daemon(&rt, &opts, &dir, secs);
    }
    if let Some(n) = opts.check_servers {
        check_timing(&opts, &dir, n);
    }

    if opts.keep_dir {
        println!("\nfiles kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or("? GiB".into(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} CPU(s) available, {mem} RAM, Linux {kernel}")
}

// ---------------------------------------------------------------- fleet pass

/// The fleet policy's schedule (as BENCHMARKS.md shows it), in UTC.
const SCHEDULE: &str = "0 3 * * *";

/// The slot a pass started at `now` works on: `snapkeep::latest_slot`, the
/// computation the binary itself makes, never date arithmetic of our own.
fn slot_at(now: DateTime<Utc>) -> DateTime<Utc> {
    snapkeep::latest_slot(SCHEDULE, "UTC", now).expect("a valid schedule fires daily")
}

/// Avoids a slot change between seeding and the child's start: waits while
/// the slot two minutes from now would differ from the slot now.
fn away_from_slot_boundary() {
    loop {
        let now = Utc::now();
        if slot_at(now + TimeDelta::minutes(2)) == slot_at(now) {
            return;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn our_name(slot: DateTime<Utc>) -> String {
    format!("snapkeep-{POLICY}-{}", slot.format("%Y%m%d-%H%M%S"))
}

fn servers_list(n: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for id in 1..=n {
        if id > 1 {
            s.push_str(", ");
        }
        let _ = write!(s, "{id}");
    }
    s
}

fn api_section(base_url: &str, opts: &Options) -> String {
    format!(
        "[api]\nbase_url = \"{base_url}\"\nrequests_per_second = 0\nmax_concurrency = {}\n\n",
        opts.max_concurrency
    )
}

fn fleet_config(base_url: &str, opts: &Options, n: usize) -> String {
    format!(
        "{}[defaults]\npoll_interval = \"{}ms\"\nwait_timeout = \"10m\"\n\n[[policy]]\nname = \"{POLICY}\"\nkind = \"snapshot\"\nschedule = \"{SCHEDULE}\"\ntimezone = \"UTC\"\nkeep_last = 2\nservers = [{}]\n",
        api_section(base_url, opts),
        opts.poll_interval.as_millis(),
        servers_list(n)
    )
}

#[derive(Debug, Default)]
struct Counts {
    list_pages: u64,
    posts: u64,
    deletes: u64,
    other: u64,
    /// Responses that were not 2xx.
    errors: u64,
    listings: u64,
    /// Listings filtered to one server.
    filtered_listings: u64,
    /// Σ pages each listing needed (see the module docs).
    pages_needed: u64,
    first_listing_pages: u64,
}

#[derive(Debug)]
struct FleetResult {
    n: usize,
    wall: Duration,
    exit: i32,
    counts: Counts,
    creates_needed: u64,
    deletes_needed: u64,
    peak_rss_kib: u64,
    cpu: Duration,
    summary: String,
    dropped: u64,
}

impl FleetResult {
    fn calls(&self) -> u64 {
        self.counts.list_pages + self.counts.posts + self.counts.deletes + self.counts.other
    }
    fn polls(&self) -> u64 {
        self.counts.listings.saturating_sub(1)
    }
    fn bound(&self) -> u64 {
        self.counts.pages_needed + self.creates_needed + self.deletes_needed
    }
    fn floor(&self, opts: &Options) -> Duration {
        opts.latency * self.calls() as u32 / opts.max_concurrency as u32
    }
}

fn fleet_pass(rt: &tokio::runtime::Runtime, opts: &Options, dir: &Path, n: usize) -> FleetResult {
    away_from_slot_boundary();
    let slot = slot_at(Utc::now());
    let mut seed = Seed::fleet(n);
    for id in 1..=n as u64 {
        for days in [2, 1] {
            let at = slot_at(slot - TimeDelta::days(days));
            seed = seed.snapshot(
                id,
                our_name(at),
                at + TimeDelta::minutes(1),
                SimStatus::Completed,
            );
        }
    }
    let seeded = 2 * n as u64;
    let sim = rt
        .block_on(Simulator::start(
            "127.0.0.1:0".parse().expect("address"),
            SimConfig {
                token: TOKEN.into(),
                complete_after: opts.complete_after,
                seed,
                faults: Faults::none().with_global(FaultSpec::none().with_latency(opts.latency)),
                ..SimConfig::default()
            },
        ))
        .expect("start the simulator");
    sim.set_record_limit(10_000_000);

    let config = dir.join(format!("fleet-{n}.toml"));
    std::fs::write(&config, fleet_config(&sim.base_url(), opts, n)).expect("write config");
    let stdout = dir.join(format!("fleet-{n}.out"));
    let stderr = dir.join(format!("fleet-{n}.log"));

    let started = Instant::now();
    let child = command(&config)
        .arg("--run-now")
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("start snapkeep");
    let watched = watch_until_exit(child, started);
    let requests = sim.requests();
    let dropped = sim.requests_dropped();
    rt.block_on(sim.shutdown());

    let counts = count_calls(&requests, seeded, DEFAULT_PAGE_SIZE as u64);
    if opts.keep_dir {
        let mut csv = String::from("ms_since_start,method,query,status\n");
        let t0 = requests.first().map(|r| r.at);
        for r in &requests {
            let ms = t0.map_or(0, |t0| (r.at - t0).num_milliseconds());
            let _ = writeln!(csv, "{ms},{},{},{}", r.method, r.query, r.status);
        }
        let _ = std::fs::write(dir.join(format!("fleet-{n}.requests.csv")), csv);
    }
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let summary = out.lines().last().unwrap_or("").to_owned();
    if watched.exit != 0 {
        eprintln!(
            "warning: the {n}-server pass exited {}; see {} (use --keep)",
            watched.exit,
            stderr.display()
        );
    }
    FleetResult {
        n,
        wall: watched.wall,
        exit: watched.exit,
        counts,
        creates_needed: n as u64,
        deletes_needed: n as u64,
        peak_rss_kib: watched.peak_rss_kib,
        cpu: watched.cpu,
        summary,
        dropped,
    }
}

fn command(config: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--config")
        .arg(config)
        .env("VPS_API_TOKEN", TOKEN)
        .env_remove("SNAPKEEP_CONFIG")
        .env_remove("SNAPKEEP_LOG_FORMAT")
        .env_remove("SNAPKEEP_LOG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null());
    c
}

struct Watched {
    wall: Duration,
    exit: i32,
    peak_rss_kib: u64,
    cpu: Duration,
}

/// Waits for `child`, reading its high-water RSS (VmHWM) and CPU time from
/// /proc every few milliseconds; the last values read before it exits count.
fn watch_until_exit(mut child: Child, started: Instant) -> Watched {
    let pid = child.id();
    let ticks = clock_ticks();
    let (mut peak, mut cpu) = (0, Duration::ZERO);
    loop {
        if let Some(kib) = proc_status_kib(pid, "VmHWM:") {
            peak = peak.max(kib);
        }
        if let Some(c) = proc_cpu(pid, ticks) {
            cpu = cpu.max(c);
        }
        if let Some(status) = child.try_wait().expect("wait for snapkeep") {
            return Watched {
                wall: started.elapsed(),
                exit: status.code().unwrap_or(-1),
                peak_rss_kib: peak,
                cpu,
            };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A `kB` line of /proc/<pid>/status, e.g. `VmHWM:`.
fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of a process, from /proc/<pid>/stat.
fn proc_cpu(pid: u32, ticks_per_sec: u64) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks_per_sec as f64,
    ))
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Classifies the request log (see the module docs for the counting rules).
fn count_calls(requests: &[RecordedRequest], seeded: u64, page_size: u64) -> Counts {
    let mut c = Counts::default();
    let mut items = seeded as i64;
    for r in requests {
        let ok = (200..300).contains(&r.status);
        if !ok {
            c.errors += 1;
        }
        match r.method.as_str() {
            "GET" if r.path.ends_with("/snapshots/") => {
                c.list_pages += 1;
                let first_page = !r.query.split('&').any(|kv| kv.starts_with("page="));
                if first_page {
                    let filtered = r.query.split('&').any(|kv| kv.starts_with("server_id="));
                    let pages = if filtered {
                        c.filtered_listings += 1;
                        1
                    } else {
                        (items.max(0) as u64).div_ceil(page_size).max(1)
                    };
                    if c.listings == 0 {
                        c.first_listing_pages = pages;
                    }
                    c.listings += 1;
                    c.pages_needed += pages;
                }
            }
            "POST" => {
                c.posts += 1;
                if ok {
                    items += 1;
                }
            }
            "DELETE" => {
                c.deletes += 1;
                if ok {
                    items -= 1;
                }
            }
            _ => c.other += 1,
        }
    }
    c
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_fleet_row_detail(r: &FleetResult, opts: &Options) {
    println!(
        "{} servers: exit {}, wall {:.2}s, {} calls (GET pages {}, POST {}, DELETE {}, other {}, non-2xx {}), listings {} (1 inventory + {} polls, {} filtered to one server), bound {}, calls/bound {:.3}, floor {:.2}s, wall/floor {:.2}, peak RSS {:.1} MiB, CPU {:.2}s{}",
        r.n,
        r.exit,
        r.wall.as_secs_f64(),
        r.calls(),
        r.counts.list_pages,
        r.counts.posts,
        r.counts.deletes,
        r.counts.other,
        r.counts.errors,
        r.counts.listings,
        r.polls(),
        r.counts.filtered_listings,
        r.bound(),
        r.calls() as f64 / r.bound() as f64,
        r.floor(opts).as_secs_f64(),
        r.wall.as_secs_f64() / r.floor(opts).as_secs_f64(),
        mib(r.peak_rss_kib),
        r.cpu.as_secs_f64(),
        if r.dropped > 0 {
            format!(" (WARNING: {} requests dropped from the log)", r.dropped)
        } else {
            String::new()
        }
    );
    println!("    snapkeep: {}", r.summary);
}

fn fleet_table(results: &[FleetResult], opts: &Options) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| servers | wall s | GET pages | POST | DELETE | other | calls | list pages | polls | bound | calls/bound | floor s | wall/floor | peak RSS MiB | CPU s | exit |"
    );
    let _ = writeln!(
        t,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let _ = writeln!(
            t,
            "| {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.2} | {:.2} | {:.1} | {:.2} | {} |",
            r.n,
            r.wall.as_secs_f64(),
            r.counts.list_pages,
            r.counts.posts,
            r.counts.deletes,
            r.counts.other,
            r.calls(),
            r.counts.first_listing_pages,
            r.polls(),
            r.bound(),
            r.calls() as f64 / r.bound() as f64,
            r.floor(opts).as_secs_f64(),
            r.wall.as_secs_f64() / r.floor(opts).as_secs_f64(),
            mib(r.peak_rss_kib),
            r.cpu.as_secs_f64(),
            r.exit,
        );
    }
    // Memory per server against the smallest fleet, and between sizes.
    if let Some(small) = results.iter().min_by_key(|r| r.n) {
        let per: BTreeMap<usize, f64> = results
            .iter()
            .filter(|r| r.n > small.n)
            .map(|r| {
                (
                    r.n,
                    (r.peak_rss_kib as f64 - small.peak_rss_kib as f64) * 1024.0
                        / (r.n - small.n) as f64,
                )
            })
            .collect();
        if !per.is_empty() {
            let _ = writeln!(t);
            let _ = write!(
                t,
                "memory per server ((peak RSS at N − at {}) ÷ (N − {})):",
                small.n, small.n
            );
            for (n, bytes) in per {
                let _ = write!(t, " N={n}: {:.0} B ({:.2} KiB);", bytes, bytes / 1024.0);
            }
            let _ = writeln!(t);
            let mut sorted: Vec<&FleetResult> = results.iter().collect();
            sorted.sort_by_key(|r| r.n);
            let _ = write!(t, "marginal (between consecutive sizes):");
            for pair in sorted.windows(2) {
                let bytes = (pair[1].peak_rss_kib as f64 - pair[0].peak_rss_kib as f64) * 1024.0
                    / (pair[1].n - pair[0].n) as f64;
                let _ = write!(
                    t,
                    " {}→{}: {:.0} B ({:.2} KiB);",
                    pair[0].n,
                    pair[1].n,
                    bytes,
                    bytes / 1024.0
                );
            }
            let _ = writeln!(t);
        }
    }
    t
}

// ---------------------------------------------------------------- idle daemon

fn idle_daemon(rt: &tokio::runtime::Runtime, opts: &Options, dir: &Path, secs: u64) {
    let n = opts.idle_policies;
    let sim = rt
        .block_on(Simulator::start(
            "127.0.0.1:0".parse().expect("address"),
            SimConfig {
                token: TOKEN.into(),
                seed: Seed::fleet(n),
                ..SimConfig::default()
            },
        ))
        .expect("start the simulator");
    let config = dir.join(format!("idle-{n}.toml"));
    std::fs::write(&config, idle_config(&sim.base_url(), opts, n)).expect("write config");
    let log = dir.join("idle.log");

    let started = Instant::now();
    let mut child = command(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start the daemon");
    let ready = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("snapkeep daemon started"))
    });
    let startup = started.elapsed();
    if !ready {
        eprintln!("the idle daemon did not start; its log:\n{}", read(&log));
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    // Let the start settle (first timetable step) before measuring.
    std::thread::sleep(Duration::from_secs(1));
    let idle = IdleFigures::watch(child.id(), Duration::from_secs(secs));
    let (stop, exit) = terminate(&mut child);
    let api_calls = sim.requests().len();
    rt.block_on(sim.shutdown());
    idle.print(n, startup, stop, exit, api_calls);
}

/// What an idle daemon's process showed over a window.
struct IdleFigures {
    rss0: u64,
    rss1: u64,
    rss_max: u64,
    hwm: u64,
    threads: u64,
    cpu_start: Duration,
    cpu_idle: Duration,
    window: Duration,
}

impl IdleFigures {
    /// Samples `pid`'s RSS every 500 ms for `secs`, with its CPU before and after.
    fn watch(pid: u32, secs: Duration) -> IdleFigures {
        let ticks = clock_ticks();
        let rss0 = proc_status_kib(pid, "VmRSS:").unwrap_or(0);
        let cpu0 = proc_cpu(pid, ticks).unwrap_or_default();
        let t0 = Instant::now();
        let mut rss_max = rss0;
        while t0.elapsed() < secs {
            std::thread::sleep(Duration::from_millis(500));
            rss_max = rss_max.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
        }
        let window = t0.elapsed();
        let cpu1 = proc_cpu(pid, ticks).unwrap_or_default();
        IdleFigures {
            rss0,
            rss1: proc_status_kib(pid, "VmRSS:").unwrap_or(0),
            rss_max,
            hwm: proc_status_kib(pid, "VmHWM:").unwrap_or(0),
            threads: proc_status_kib(pid, "Threads:").unwrap_or(0),
            cpu_start: cpu0,
            cpu_idle: cpu1.saturating_sub(cpu0),
            window,
        }
    }

    fn print(&self, n: usize, startup: Duration, stop: Duration, exit: i32, api_calls: usize) {
        println!();
        println!(
            "Idle daemon, {n} policies (one server each, schedule \"0 3 1 1 *\", missed = \"skip\"):"
        );
        println!("| figure | value |");
        println!("|---|---:|");
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("| start → \"daemon started\" | {:.0} ms |", ms(startup));
        println!(
            "| CPU used by start-up (incl. config load) | {:.2} s |",
            self.cpu_start.as_secs_f64()
        );
        let rows = [
            ("RSS at the start of the idle window", self.rss0),
            ("RSS at the end of the idle window", self.rss1),
            ("RSS max sampled in the window", self.rss_max),
            ("peak RSS (VmHWM, incl. start-up)", self.hwm),
        ];
        for (what, kib) in rows {
            println!("| {what} | {:.1} MiB |", mib(kib));
        }
        println!("| threads | {} |", self.threads);
        println!(
            "| CPU over {:.0} s idle (utime+stime) | {:.2} s |",
            self.window.as_secs_f64(),
            self.cpu_idle.as_secs_f64()
        );
        println!("| SIGTERM → exit | {:.0} ms, exit {exit} |", ms(stop));
        println!("| API requests the simulator saw | {api_calls} |");
    }
}

/// Sends SIGTERM and waits (40 s at most, then kills): how long it took
/// and the exit code (-1 when killed).
fn terminate(child: &mut std::process::Child) -> (Duration, i32) {
    let term_at = Instant::now();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait for the daemon") {
            break s.code().unwrap_or(-1);
        }
        if term_at.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (term_at.elapsed(), exit)
}

fn idle_config(base_url: &str, opts: &Options, n: usize) -> String {
    let mut t = api_section(base_url, opts);
    t.push_str("[defaults]\nmissed = \"skip\"\n\n");
    for i in 1..=n {
        let _ = write!(
            t,
            "[[policy]]\nname = \"p{i:04}\"\nkind = \"snapshot\"\nservers = [{i}]\nschedule = \"0 3 1 1 *\"\nkeep_last = 2\n\n"
        );
    }
    t
}

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

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ---------------------------------------------------------------- check

fn check_timing(opts: &Options, dir: &Path, n: usize) {
    let config = dir.join(format!("check-{n}.toml"));
    std::fs::write(
        &config,
        fleet_config("https://admin.vps.org/api/v1", opts, n),
    )
    .expect("write config");
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..opts.check_runs {
        let started = Instant::now();
        let child = command(&config)
            .arg("check")
            .env_remove("VPS_API_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start snapkeep check");
        let w = watch_until_exit(child, started);
        assert_eq!(w.exit, 0, "snapkeep check rejected the generated config");
        peak = peak.max(w.peak_rss_kib);
        times.push(w.wall);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!();
    println!(
        "`snapkeep check` on a {n}-server config (one policy): median {:.1} ms over {} runs (min {:.1} ms, max {:.1} ms), peak RSS {:.1} MiB",
        median.as_secs_f64() * 1000.0,
        times.len(),
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        mib(peak)
    );
}

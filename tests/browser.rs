//! The two pictures in a real browser: headless Chromium opens the retention
//! calendar `snapkeep simulate --html` writes and the status page of a daemon
//! running against the simulator, and checks what a person would see — the
//! page loads without a console message (our pages run no script, so any
//! message is a failure: a blocked resource, a content-security violation),
//! the expected elements are in the DOM the browser built (one column per
//! day, one mark per kept item, the cap line; one row per server and
//! policy), names from the provider show as text, and a screenshot is not
//! blank.
//!
//! Its own test target (it needs a browser the integration binary does
//! not, and its slowness and its skip stay out of that binary): `cargo test`
//! runs it. Chromium is driven by its command line only (`--dump-dom`,
//! `--screenshot`, console messages on stderr), no driver crate. Where no Chromium is installed (Debian's
//! `chromium` package; `SNAPKEEP_CHROMIUM` names another binary) each test
//! prints why and passes, unless `SNAPKEEP_BROWSER_TESTS=required`, which
//! `.ci/run` sets once it has installed Chromium.
//! `SNAPKEEP_UPDATE_SCREENSHOTS=1` copies the screenshots to `docs/`.

#[allow(dead_code, unreachable_pub)] // the integration binary uses the rest
#[path = "support.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use snapkeep_sim::{BackupType, Seed, SeedSnapshot, SimStatus};
use support::{BIN, Daily, Setup, Sim, free_port, http_get, temp_dir};

/// A Chromium to drive, or `None` after saying why the test is skipped.
fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("SNAPKEEP_CHROMIUM").map(PathBuf::from);
    let candidates = named.into_iter().chain(
        [
            "chromium",
            "chromium-browser",
            "google-chrome-stable",
            "google-chrome",
        ]
        .map(PathBuf::from),
    );
    for bin in candidates {
        let works = Command::new(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Some(bin);
        }
    }
    let why = "no Chromium found (tried $SNAPKEEP_CHROMIUM, chromium, chromium-browser, google-chrome): install Debian's package (apt-get install -y chromium) to run the browser tests";
    if std::env::var("SNAPKEEP_BROWSER_TESTS").as_deref() == Ok("required") {
        panic!("SNAPKEEP_BROWSER_TESTS=required but {why}");
    }
    // Past the test harness's capture (it keeps a passing test's `eprintln!`):
    // a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

/// What the browser made of a page.
struct Loaded {
    /// The DOM after the load, serialised by the browser.
    dom: String,
    /// Every console message (`CONSOLE` lines of Chromium's log).
    console: Vec<String>,
}

/// Runs headless Chromium with `args` and a throwaway profile; its stdout
/// and stderr. Killed after a minute.
fn run_chromium(bin: &Path, args: &[&str]) -> (String, String) {
    let profile = temp_dir().join("chromium-profile");
    let dir = temp_dir();
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(bin)
        .args([
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium {args:?} took over a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    (read(&out), read(&err))
}

fn load(bin: &Path, url: &str) -> Loaded {
    let (dom, log) = run_chromium(bin, &["--dump-dom", url]);
    assert!(dom.contains("</html>"), "no page from {url}:\n{log}");
    Loaded {
        dom,
        console: log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect(),
    }
}

/// A 1400×900 screenshot of `url` at `png`.
fn screenshot(bin: &Path, url: &str, png: &Path) {
    let shot = format!("--screenshot={}", png.display());
    let (_, log) = run_chromium(bin, &[&shot, "--window-size=1400,900", url]);
    assert!(png.exists(), "no screenshot of {url}:\n{log}");
}

/// How many colours a screenshot has and how many of its pixels differ
/// from its top-left one (the background), counted by the browser itself
/// (a canvas), so no PNG decoder is needed here.
fn not_blank(bin: &Path, png: &Path) -> (usize, usize) {
    let probe = temp_dir().join("probe.html");
    std::fs::write(
        &probe,
        format!(
            r#"<!DOCTYPE html><html><body><img id="i" src="data:image/png;base64,{}"><pre id="out">pending</pre><script>
window.onload = function () {{
  var i = document.getElementById("i"), c = document.createElement("canvas");
  c.width = i.naturalWidth; c.height = i.naturalHeight;
  var g = c.getContext("2d"); g.drawImage(i, 0, 0);
  var d = g.getImageData(0, 0, c.width, c.height).data, seen = {{}}, n = 0, other = 0;
  var bg = d[0] + "," + d[1] + "," + d[2];
  for (var p = 0; p < d.length; p += 4) {{
    var k = d[p] + "," + d[p + 1] + "," + d[p + 2];
    if (!seen[k]) {{ seen[k] = 1; n++; }}
    if (k !== bg) other++;
  }}
  document.getElementById("out").textContent = "colours=" + n + " other=" + other + " end";
}};
</script></body></html>"#,
            base64(&std::fs::read(png).unwrap())
        ),
    )
    .unwrap();
    let page = load(bin, &format!("file://{}", probe.display()));
    let field = |name: &str| -> usize {
        let at = page
            .dom
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("the probe did not run:\n{}", page.dom));
        page.dom[at + name.len() + 1..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (field("colours"), field("other"))
}

/// Asserts `png` shows something: many colours, a good part of the
/// window not background. (A blank page has one colour and no other pixel.)
fn assert_not_blank(bin: &Path, png: &Path) {
    let (colours, other) = not_blank(bin, png);
    assert!(
        colours >= 16 && other >= 1400 * 900 / 50,
        "{} looks blank: {colours} colours, {other} pixels not background",
        png.display()
    );
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Keeps a screenshot under `docs/` when asked (`SNAPKEEP_UPDATE_SCREENSHOTS=1`).
fn keep_for_docs(png: &Path, name: &str) {
    if std::env::var_os("SNAPKEEP_UPDATE_SCREENSHOTS").is_some() {
        let to = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::copy(png, &to).unwrap();
        eprintln!("wrote {}", to.display());
    }
}

#[test]
fn the_checks_see_a_console_message_and_a_blank_page() {
    let Some(bin) = chromium() else { return };
    let dir = temp_dir();
    let page = dir.join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><script>console.error(\"boom\")</script></body></html>",
    )
    .unwrap();
    let loaded = load(&bin, &format!("file://{}", page.display()));
    assert!(
        loaded.console.iter().any(|l| l.contains("boom")),
        "{:?}",
        loaded.console
    );
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let png = dir.join("blank.png");
    screenshot(&bin, &format!("file://{}", blank.display()), &png);
    let (colours, other) = not_blank(&bin, &png);
    assert_eq!((colours, other), (1, 0));
}

const POLICIES: &str = r#"
[[policy]]
name = "gfs"
kind = "snapshot"
servers = [1]
schedule = "0 3 * * *"
keep_daily = 2
keep_weekly = 2
keep_monthly = 1

[[policy]]
name = "daily_backups"
kind = "backup"
servers = [1]
schedule = "30 2 * * *"
keep_daily = 6
keep_weekly = 3
"#;

#[test]
fn the_retention_calendar_in_a_browser() {
    let Some(bin) = chromium() else { return };
    let dir = temp_dir();
    let config = dir.join("config.toml");
    std::fs::write(&config, POLICIES).unwrap();
    let days = 60;
    let simulate = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("simulate")
            .arg("--config")
            .arg(&config)
            .args([
                "--days",
                &days.to_string(),
                "--from",
                "2025-01-06T00:00:00Z",
            ])
            .args(args)
            .env_remove("VPS_API_TOKEN")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // What each calendar must show: every day has a slot here, so the marks
    // are the kept items of every day of the simulation.
    let marks = |policy: &str| -> usize {
        let sim: serde_json::Value =
            serde_json::from_str(&simulate(&["--policy", policy, "--json"])).unwrap();
        let timeline = sim["timeline"].as_array().unwrap();
        assert_eq!(timeline.len(), days);
        timeline
            .iter()
            .map(|d| d["kept"].as_array().unwrap().len())
            .sum()
    };
    let expected = [marks("gfs"), marks("daily_backups")];
    let html = dir.join("calendar.html");
    simulate(&[
        "--policy",
        "gfs",
        "--policy",
        "daily_backups",
        "--html",
        &html.display().to_string(),
    ]);
    let url = format!("file://{}", html.display());
    let started = Instant::now();
    let page = load(&bin, &url);
    let load_time = started.elapsed();
    assert_eq!(page.console, Vec::<String>::new(), "console messages");
    let calendars: Vec<&str> = page.dom.split("<svg class=\"calendar\"").skip(1).collect();
    assert_eq!(calendars.len(), 2, "{}", page.dom);
    for (calendar, marks) in calendars.iter().zip(expected) {
        let calendar = &calendar[..calendar.find("</svg>").unwrap()];
        assert_eq!(calendar.matches("<g class=\"day").count(), days);
        assert_eq!(calendar.matches("<rect class=\"mark rule-").count(), marks);
        assert_eq!(calendar.matches("<line class=\"cap\"").count(), 1);
    }
    assert!(page.dom.contains("<ul class=\"legend\">"));
    assert!(page.dom.contains("data-peak="));
    let png = dir.join("simulate.png");
    screenshot(&bin, &url, &png);
    assert_not_blank(&bin, &png);
    keep_for_docs(&png, "simulate.png");
    eprintln!(
        "calendar: {} bytes, loaded in {load_time:?}",
        std::fs::metadata(&html).unwrap().len()
    );
}

const EVIL: &str = "<script>alert(\"x\")</script> 'quoted'";

/// Six servers for the status page: every state a row can be in (ok,
/// stale, paused, failed items, an orphan, a protected item), and a name
/// and an item name from the provider that are markup ([`EVIL`]).
fn status_page_seed(daily: &Daily) -> Seed {
    let snap = |server, days, status| {
        SeedSnapshot::new(
            server,
            daily.snapshot("nightly", days),
            daily.at(days),
            status,
        )
    };
    Seed::empty()
        .server(1, "web-01")
        .server(2, "web-02")
        .server(3, "db-01")
        .server(4, EVIL)
        .server(5, "mail-01")
        .server(6, "legacy-box")
        .add_snapshot(snap(1, 1, SimStatus::Completed))
        .add_snapshot(snap(1, 2, SimStatus::Completed))
        .add_snapshot(
            SeedSnapshot::new(1, "before-upgrade", daily.at(20), SimStatus::Completed).with_id(900),
        )
        .add_snapshot(snap(2, 0, SimStatus::Completed))
        .add_snapshot(snap(3, 4, SimStatus::Completed))
        .add_snapshot(snap(4, 0, SimStatus::Completed))
        // Protected, so the start-up pass (rule 3: failed first) leaves it
        // for the page's "has-failed" row whenever Chromium loads it.
        .add_snapshot(snap(4, 1, SimStatus::Failed).with_id(901))
        .add_snapshot(snap(6, 9, SimStatus::Completed))
        .snapshot(
            2,
            EVIL,
            Utc::now() - TimeDelta::days(3),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Manual,
            daily.backup_marker("weekly", 0),
            daily.at(0),
            SimStatus::Completed,
        )
        .backup(
            3,
            BackupType::Manual,
            daily.backup_marker("weekly", 1),
            daily.at(1),
            SimStatus::Completed,
        )
}

/// Three policies on the servers of [`status_page_seed`], metrics (and the
/// status page) on `port`.
fn status_page_policies(daily: &Daily, port: u16) -> String {
    daily.policies(&format!(
        r#"[metrics]
listen = "127.0.0.1:{port}"

[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1, 2, 3, 4]
schedule = "{{daily}}"
missed = "skip"
keep_last = 3
protect = [900, 901]

[[policy]]
name = "weekly"
kind = "backup"
servers = [1, 3, 5]
schedule = "{{daily}}"
missed = "skip"
keep_last = 2

[[policy]]
name = "archive"
kind = "snapshot"
servers = [2]
schedule = "{{daily}}"
keep_last = 1
enabled = false
"#
    ))
}

/// The page's DOM has a row per pair, the provider's markup as text, a
/// row in each state, the orphan and the protected item.
fn assert_status_page(dom: &str, pairs: &[serde_json::Value]) {
    assert_eq!(dom.matches("<tr class=\"pair ").count(), pairs.len());
    for pair in pairs {
        let row = format!(
            "data-server=\"{}\" data-policy=\"{}\"",
            pair["server_id"],
            pair["policy"].as_str().unwrap()
        );
        assert_eq!(dom.matches(&row).count(), 1, "{row}:\n{}", dom);
    }
    // Markup from the provider is text: no element came of it.
    assert!(!dom.contains("<script"), "{}", dom);
    assert!(
        dom.contains("&lt;script&gt;alert(\"x\")&lt;/script&gt; 'quoted'"),
        "{}",
        dom
    );
    for state in ["stale", "paused", "ok has-failed"] {
        assert!(
            dom.contains(&format!("<tr class=\"pair {state}\"")),
            "no {state} row:\n{}",
            dom
        );
    }
    assert!(dom.contains("<tr class=\"orphan\" data-server=\"6\""));
    assert!(dom.contains("#900 before-upgrade (completed)"));
}

#[test]
fn the_live_status_page_in_a_browser() {
    let Some(bin) = chromium() else { return };
    let daily = Daily::now();
    let sim = Sim::start(status_page_seed(&daily));
    let port = free_port();
    let setup = Setup::new(&sim, &status_page_policies(&daily, port));
    let daemon = setup.spawn(&[]);
    let served = || http_get(port, "/status.json").is_some_and(|(status, _)| status == 200);
    assert!(
        daemon.wait_until(Duration::from_secs(20), served),
        "no /status.json: {:?}\n{}",
        http_get(port, "/status.json"),
        daemon.log()
    );
    let (_, json) = http_get(port, "/status.json").unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pairs = report["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 4 + 3 + 1, "{json}");
    assert!(
        pairs.iter().any(|p| p["server_name"] == EVIL),
        "the name as it is: {json}"
    );

    let url = format!("http://127.0.0.1:{port}/");
    let started = Instant::now();
    let page = load(&bin, &url);
    let load_time = started.elapsed();
    assert_eq!(page.console, Vec::<String>::new(), "console messages");
    assert_status_page(&page.dom, pairs);
    let png = temp_dir().join("status-page.png");
    screenshot(&bin, &url, &png);
    assert_not_blank(&bin, &png);
    keep_for_docs(&png, "status-page.png");
    eprintln!(
        "status page: {} bytes, loaded in {load_time:?}",
        http_get(port, "/").unwrap().1.len()
    );
}

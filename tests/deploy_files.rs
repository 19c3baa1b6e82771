//! The files under `deploy/`: the Prometheus rules and the Grafana
//! dashboard, checked against the metrics a running daemon really exports,
//! and the Kubernetes sidecar (its config passes `check`, its probes hit
//! the metrics port).

use std::collections::{BTreeMap, BTreeSet};

use saphyr::{LoadableYamlNode, Yaml};
use snapkeep_sim::Seed;

use crate::support::{Normalize, Test, berlin_nightly_alerts};

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/prometheus/snapkeep-rules.yml"
);
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/grafana/snapkeep-dashboard.json"
);

/// Labelled counters that export nothing at all — not even `# TYPE` —
/// until the thing they count has happened, which a healthy test daemon
/// never does: (exported name, name registered in src/metrics.rs, labels).
/// The registration and each label are checked in the daemon's source.
const SILENT_UNTIL_FIRST: &[(&str, &str, &[&str])] = &[
    (
        "snapkeep_skipped_fires_total",
        "\"skipped_fires\"",
        &["server", "policy", "reason"],
    ),
    (
        "snapkeep_job_retries_total",
        "\"job_retries\"",
        &["server", "policy", "reason"],
    ),
    (
        "snapkeep_notify_failures_total",
        "\"notify_failures\"",
        &["target"],
    ),
];

/// Labels Prometheus adds to every scraped series (target labels).
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// What `/metrics` exports: sample name → label names.
#[derive(Debug, Default)]
struct Exported(BTreeMap<String, BTreeSet<String>>);

impl Exported {
    /// Parses the Prometheus text exposition. Families without samples yet
    /// (a counter nobody incremented) count through their `# TYPE` line.
    fn parse(text: &str) -> Exported {
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let samples: &[&str] = match kind {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_sum", "_count"],
                    _ => &[""],
                };
                for suffix in samples {
                    let entry = names.entry(format!("{name}{suffix}")).or_default();
                    if *suffix == "_bucket" {
                        entry.insert("le".into());
                    }
                }
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let entry = names.entry(line[..end].to_owned()).or_default();
            if let Some(labels) = line[end..].strip_prefix('{') {
                let labels = &labels[..labels.rfind('}').unwrap()];
                entry.extend(
                    scan(labels)
                        .windows(2)
                        .filter(|w| w[1] == Token::Punct('='))
                        .filter_map(|w| w[0].ident().map(str::to_owned)),
                );
            }
        }
        Exported(names)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str,
    Num,
    Punct(char),
}

impl Token {
    fn ident(&self) -> Option<&str> {
        match self {
            Token::Ident(s) => Some(s),
            _ => None,
        }
    }
}

/// A PromQL (or exposition label set) tokenizer: just enough to find metric
/// names, label names in matchers and in grouping clauses. String contents
/// (label values, Grafana variables in them) are dropped.
fn scan(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(Token::Str);
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' {
            // Numbers and durations (`7d`, `1h30m`, `1e3`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Num);
        } else if c == '$' {
            // A Grafana variable: `$__rate_interval`, `${datasource}`.
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_{}".contains(chars[i]))
            {
                i += 1;
            }
            out.push(Token::Num);
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// What one PromQL expression uses.
#[derive(Debug, Default)]
struct Uses {
    /// Metric name → label names in its matchers.
    metrics: BTreeMap<String, BTreeSet<String>>,
    /// Label names in `by`, `without`, `on`, `ignoring`, `group_left/right`.
    grouping: BTreeSet<String>,
    /// Label names in `by (…)` only: what an aggregation keeps.
    by: BTreeSet<String>,
}

fn uses(expr: &str) -> Uses {
    let t = scan(expr);
    let mut u = Uses::default();
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Token::Ident(name)
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&name.as_str())
                    && t.get(i + 1) == Some(&Token::Punct('(')) =>
            {
                let mut j = i + 2;
                while j < t.len() && t[j] != Token::Punct(')') {
                    if let Some(label) = t[j].ident() {
                        u.grouping.insert(label.to_owned());
                        if name == "by" {
                            u.by.insert(label.to_owned());
                        }
                    }
                    j += 1;
                }
                i = j;
            }
            Token::Ident(name) if name.starts_with("snapkeep_") => {
                let labels = u.metrics.entry(name.clone()).or_default();
                if t.get(i + 1) == Some(&Token::Punct('{')) {
                    let mut j = i + 2;
                    while j < t.len() && t[j] != Token::Punct('}') {
                        // A label name is an identifier followed by =, !=, =~ or !~.
                        if let (Some(label), Some(Token::Punct('=' | '!'))) =
                            (t[j].ident(), t.get(j + 1))
                        {
                            labels.insert(label.to_owned());
                        }
                        j += 1;
                    }
                    i = j;
                }
            }
            _ => {}
        }
        i += 1;
    }
    u
}

/// `{{server}}` / `{{ $labels.server }}` in a legend or annotation.
fn template_labels(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + end].trim();
        let inner = inner.split('|').next().unwrap().trim();
        if let Some(label) = inner.strip_prefix("$labels.") {
            out.insert(label.to_owned());
        } else if !inner.starts_with('$') && !inner.starts_with('.') {
            out.insert(inner.to_owned());
        }
        rest = &rest[start + end + 2..];
    }
    out
}

/// Every problem found in one expression (and the templates that render its
/// result), as readable lines.
fn check_expr(
    exported: &Exported,
    origin: &str,
    expr: &str,
    templates: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let u = uses(expr);
    let mut available: BTreeSet<String> = TARGET_LABELS.iter().map(|s| s.to_string()).collect();
    for (metric, labels) in &u.metrics {
        let Some(has) = exported.0.get(metric) else {
            problems.push(format!(
                "{origin}: metric {metric} is not exported (in: {expr})"
            ));
            continue;
        };
        available.extend(has.iter().cloned());
        for label in labels {
            if !has.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                problems.push(format!(
                    "{origin}: {metric} has no label {label:?} (it has {has:?})"
                ));
            }
        }
    }
    for label in &u.grouping {
        if !available.contains(label) {
            problems.push(format!(
                "{origin}: groups by {label:?}, which no metric in the expression has ({expr})"
            ));
        }
    }
    for label in templates {
        let ok = available.contains(label) && (u.by.is_empty() || u.by.contains(label));
        if !ok {
            problems.push(format!(
                "{origin}: renders {{{{{label}}}}}, which the expression's result does not carry ({expr})"
            ));
        }
    }
    problems
}

/// (where, PromQL, labels its templates render) for each expression.
type Exprs = Vec<(String, String, BTreeSet<String>)>;

/// The rules file's structure, and its (origin, expr, template labels).
fn rules_exprs() -> (Vec<String>, Exprs) {
    let text = std::fs::read_to_string(RULES).unwrap();
    let docs = Yaml::load_from_str(&text).expect("rules file is YAML");
    let mut problems = Vec::new();
    let mut exprs = Vec::new();
    let mut alerts = BTreeSet::new();
    let groups = docs[0]
        .as_mapping_get("groups")
        .and_then(Yaml::as_sequence)
        .expect("top-level `groups:` list");
    assert!(!groups.is_empty(), "no groups");
    for group in groups {
        let gname = group
            .as_mapping_get("name")
            .and_then(Yaml::as_str)
            .expect("every group has a name");
        let rules = group
            .as_mapping_get("rules")
            .and_then(Yaml::as_sequence)
            .unwrap_or_else(|| panic!("group {gname} has no `rules:` list"));
        assert!(!rules.is_empty(), "group {gname} has no rules");
        for rule in rules {
            let get = |k: &str| rule.as_mapping_get(k);
            let s = |k: &str| get(k).and_then(Yaml::as_str);
            let Some(alert) = s("alert") else {
                problems.push(format!("{gname}: a rule without `alert:`"));
                continue;
            };
            let origin = format!("rules {gname}/{alert}");
            if !alerts.insert(alert.to_owned()) {
                problems.push(format!("{origin}: alert name used twice"));
            }
            let expr = s("expr").unwrap_or_default();
            if expr.trim().is_empty() {
                problems.push(format!("{origin}: no `expr:`"));
            }
            let valid_for = s("for").is_some_and(|d| {
                let (n, unit) = d.split_at(d.len().saturating_sub(1));
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && "smhdwy".contains(unit)
            });
            if !valid_for {
                problems.push(format!(
                    "{origin}: `for:` missing or not a duration like 5m"
                ));
            }
            let severity = get("labels")
                .and_then(|l| l.as_mapping_get("severity"))
                .and_then(Yaml::as_str);
            if !matches!(severity, Some("critical" | "warning" | "info")) {
                problems.push(format!(
                    "{origin}: labels.severity must be critical, warning or info, not {severity:?}"
                ));
            }
            let annotations = get("annotations");
            let summary = annotations
                .and_then(|a| a.as_mapping_get("summary"))
                .and_then(Yaml::as_str);
            if summary.is_none_or(|s| s.trim().is_empty()) {
                problems.push(format!("{origin}: annotations.summary missing"));
            }
            let mut templates = BTreeSet::new();
            for (_, v) in annotations.and_then(Yaml::as_mapping).into_iter().flatten() {
                templates.extend(template_labels(v.as_str().unwrap_or_default()));
            }
            exprs.push((origin, expr.to_owned(), templates));
        }
    }
    (problems, exprs)
}

/// Every PromQL expression of the dashboard: panel targets (with their
/// legends) and template variables (`label_values(metric, label)`).
fn dashboard_exprs() -> (Vec<String>, Exprs) {
    let text = std::fs::read_to_string(DASHBOARD).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut problems = Vec::new();
    let mut exprs = Vec::new();
    for key in ["title", "uid", "schemaVersion", "panels"] {
        if dash.get(key).is_none() {
            problems.push(format!("dashboard: no {key:?}"));
        }
    }
    let mut ids = BTreeSet::new();
    for panel in dash["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("?");
        if !ids.insert(panel["id"].as_i64()) {
            problems.push(format!(
                "dashboard panel {title:?}: id missing or used twice"
            ));
        }
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("dashboard panel {title:?}: no targets"));
        }
        for t in targets {
            let Some(expr) = t["expr"].as_str() else {
                problems.push(format!("dashboard panel {title:?}: a target without expr"));
                continue;
            };
            let legend = template_labels(t["legendFormat"].as_str().unwrap_or_default());
            exprs.push((
                format!("dashboard panel {title:?}"),
                expr.to_owned(),
                legend,
            ));
        }
    }
    for var in dash["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().unwrap_or("?");
        let q = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap_or_default();
        // label_values(selector, label): the label must be on the selector's metric.
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: only label_values(…) is checked: {q}"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let origin = format!("dashboard variable {name:?}");
        let metric = uses(selector).metrics.into_keys().next();
        exprs.push((
            origin.clone(),
            format!("sum by ({}) ({selector})", label.trim()),
            BTreeSet::new(),
        ));
        if metric.is_none() {
            problems.push(format!("{origin}: no snapkeep_ metric in {q}"));
        }
    }
    (problems, exprs)
}

/// The daemon that exports every family for the check below.
const EXPORTING_LOG: &str = "INFO metrics at http://{METRICS}/metrics, health at /healthz and /readyz addr={METRICS}
INFO snapkeep daemon started config={DIR}/config.toml policies=1 servers=2
INFO catching up a missed slot (once) slot={SLOT}
INFO catching up a missed slot (once) slot={SLOT}
INFO create server 1 (web-01) policy fast #1001 snapkeep-fast-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy fast #1001 snapkeep-fast-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1001 snapkeep-fast-{SLOT} ({T})
ERROR fail server 999 policy fast: create of snapkeep-fast-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)
INFO ok      server 1 (web-01) policy fast: created #1001 snapkeep-fast-{SLOT} [{T}]
INFO FAILED  server 999 policy fast (not_found): create failed: snapshots.create (server 999): not found (404: Server not found.) [{T}]
INFO 2 job(s): 1 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
ERROR the slot ends without its restore point: no retry left in its window (retry_window, or the next fire) slot={SLOT} tries=1
INFO SIGTERM: finishing in-flight work, starting nothing new
INFO snapkeep daemon stopped
";

#[test]
fn alert_rules_and_dashboard_use_only_what_the_daemon_exports() {
    // Structure first: no daemon needed to find a malformed file.
    let (mut problems, mut exprs) = rules_exprs();
    let (dash_problems, dash_exprs) = dashboard_exprs();
    problems.extend(dash_problems);
    exprs.extend(dash_exprs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for want in [
        "up{job=\"snapkeep\"}",
        "snapkeep_api_requests_total{status=\"401\"}",
    ] {
        assert!(
            exprs
                .iter()
                .any(|(_, e, _)| e.replace(' ', "").contains(want)),
            "no rule uses {want}"
        );
    }

    // A daemon with one good server and one unknown one (999, a 404, its
    // slot given up at once), so a pass exports every family with its
    // labels: successes, items, API requests by status, failures by
    // reason, failed slots, pass durations.
    let mut d = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies("[metrics]\nlisten = \"{metrics}\"\n\n[[policy]]\nname = \"fast\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"{daily}\"\nkeep_last = 2\nretry_window = \"0s\"\n")
        .normalize(Normalize::jobs_concurrently)
        .start();
    d.wait_for(
        "INFO 2 job(s): 1 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}",
    );
    // Counted in snapkeep_slots_failed_total (retry_window 0s: at once).
    d.wait_for("ERROR the slot ends without its restore point: no retry left in its window (retry_window, or the next fire) slot={SLOT} tries=1");
    let mut exported = Exported::parse(&d.get("/metrics", 200));
    d.stop("TERM", 0, EXPORTING_LOG);
    let source = include_str!("../src/metrics.rs");
    for (name, registered, labels) in SILENT_UNTIL_FIRST {
        assert!(
            source.contains(registered),
            "{name}: {registered} is not registered in src/metrics.rs"
        );
        for label in *labels {
            assert!(
                source.contains(&format!("    {label}: String,")),
                "{name}: no label {label} in src/metrics.rs"
            );
        }
        exported
            .0
            .entry((*name).to_owned())
            .or_default()
            .extend(labels.iter().map(|l| l.to_string()));
    }

    let mut problems = Vec::new();
    for (origin, expr, templates) in &exprs {
        problems.extend(check_expr(&exported, origin, expr, templates));
    }
    assert!(
        problems.is_empty(),
        "{}\n\nexported: {:#?}",
        problems.join("\n"),
        exported.0
    );
    // Every exported family appears somewhere in the dashboard or the rules.
    let used: BTreeSet<String> = exprs
        .iter()
        .flat_map(|(_, e, _)| uses(e).metrics.into_keys())
        .collect();
    for name in exported.0.keys() {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            used.iter().any(|u| u.starts_with(family)),
            "{name} is exported but neither alerted on nor graphed"
        );
    }
}

#[test]
fn the_checker_catches_a_wrong_name_or_label() {
    let exported = Exported::parse(
        "# TYPE snapkeep_items gauge\nsnapkeep_items{server=\"1\",policy=\"p\",state=\"completed\"} 1\n# TYPE snapkeep_job_failures counter\n",
    );
    let none = BTreeSet::new();
    let ok = |e: &str| check_expr(&exported, "t", e, &none);
    assert!(ok("sum by (state) (snapkeep_items{server=~\"$server\"})").is_empty());
    assert!(ok("increase(snapkeep_job_failures_total[1h])").is_empty());
    assert_eq!(
        ok("snapkeep_item{server=\"1\"}").len(),
        1,
        "typo in the name"
    );
    assert_eq!(ok("snapkeep_items{host=\"1\"}").len(), 1, "unknown label");
    assert_eq!(
        ok("sum by (reason) (snapkeep_items)").len(),
        1,
        "unknown grouping label"
    );
    let legend: BTreeSet<String> = template_labels("{{ $labels.server }} {{ $value | humanize }}");
    assert_eq!(legend, BTreeSet::from(["server".to_owned()]));
    assert_eq!(
        check_expr(&exported, "t", "sum by (state) (snapkeep_items)", &legend).len(),
        1,
        "renders a label the aggregation dropped"
    );
}

/// `{ALERTS}`: see [`berlin_nightly_alerts`] (DST changes the interval).
const SIDECAR_CHECK: &str = "{DIR}/config.toml: valid — 1 policy, 1 server
API: https://admin.vps.org/api/v1

Policies:
  nightly — snapshot at 03:00 every day (Europe/Berlin)
      schedule \"0 3 * * *\" in Europe/Berlin; next: {NEXT}
      keeps: 3 last, 2 weekly (at most 5 per server; the newest completed is always kept)
      servers: 12345
      alerts (status --check): {ALERTS} without a new completed item

At most, per server (VPS.org caps: 5 snapshots, 10 manual backups):
  server 12345: 5/5 snapshots (nightly 5)
";

#[test]
fn kubernetes_sidecar_config_is_valid_and_its_probes_hit_the_metrics_port() {
    // Startup and liveness on /healthz; no readiness probe: as a sidecar, a
    // failing one (VPS.org rejecting the token) would take the application's
    // whole pod out of its Service.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/kubernetes-sidecar.yaml"
    ))
    .unwrap();
    let docs = Yaml::load_from_str(&text).unwrap();
    let kind = |d: &Yaml| {
        d.as_mapping_get("kind")
            .and_then(Yaml::as_str)
            .map(str::to_owned)
    };
    let config_map = docs
        .iter()
        .find(|d| kind(d).as_deref() == Some("ConfigMap"))
        .expect("a ConfigMap");
    let config = config_map["data"]["config.toml"].as_str().unwrap();
    Test::new()
        .no_token()
        .config_file("config.toml", config)
        .args(&["check"])
        .stdout(&SIDECAR_CHECK.replace("{ALERTS}", &berlin_nightly_alerts()))
        .run();

    let table: toml::Table = config.parse().unwrap();
    let listen = table["metrics"]["listen"].as_str().unwrap();
    let port: i64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    let deployment = docs
        .iter()
        .find(|d| kind(d).as_deref() == Some("Deployment"))
        .expect("a Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let port_name = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"].as_integer() == Some(port))
        .and_then(|p| p["name"].as_str())
        .unwrap_or_else(|| panic!("no container port {port} (metrics.listen = {listen})"));
    assert!(
        container.as_mapping_get("readinessProbe").is_none(),
        "a readiness probe gates the application's traffic on snapkeep's token"
    );
    for (probe, path) in [("startupProbe", "/healthz"), ("livenessProbe", "/healthz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        let to = get["port"]
            .as_str()
            .map(str::to_owned)
            .or(get["port"].as_integer().map(|p| p.to_string()));
        assert!(
            to.as_deref() == Some(port_name) || to == Some(port.to_string()),
            "{probe} targets port {to:?}, not the metrics port {port_name}/{port}"
        );
    }
}

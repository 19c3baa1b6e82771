//! `--log-format json`: the audit log of a pass, one JSON object a line
//! with the documented fields, compared whole.

use snapkeep_sim::Seed;

use crate::support::Test;

const ONE_FAILED: &str = "ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
FAILED  server 999 policy nightly (not_found): create failed: snapshots.create (server 999): not found (404: Server not found.) [{T}]
2 job(s): 1 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
";
const JSON_LOG: &str = r#"{"action":"create","duration_ms":"{MS}","item_id":1001,"item_name":"snapkeep-nightly-{SLOT}","level":"info","message":"create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot","outcome":"ok","policy":"nightly","reason":"scheduled slot","server_id":1,"server_name":"web-01","ts":"{TS}"}
{"action":"wait","duration_ms":"{MS}","item_id":1001,"item_name":"snapkeep-nightly-{SLOT}","level":"info","message":"wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)","outcome":"ok","policy":"nightly","reason":"until completed (poll every 100ms, give up after 20s)","server_id":1,"server_name":"web-01","ts":"{TS}"}
{"action":"completed","duration_ms":"{MS}","item_id":1001,"item_name":"snapkeep-nightly-{SLOT}","level":"info","message":"completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})","outcome":"ok","policy":"nightly","reason":"","server_id":1,"server_name":"web-01","ts":"{TS}"}
{"action":"fail","duration_ms":"{MS}","item_id":-1,"item_name":"","level":"error","message":"fail server 999 policy nightly: create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)","outcome":"error","policy":"nightly","reason":"create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)","server_id":999,"server_name":"","ts":"{TS}"}
"#;

#[test]
fn json_logs_parse_line_by_line_with_the_documented_fields() {
    Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies("[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"{daily}\"\nkeep_last = 1\n")
        .args(&["--run-now", "--log-format", "json"])
        .status(1)
        .stdout(ONE_FAILED)
        .normalize(|n| n.json_log().jobs_concurrently())
        .stderr(JSON_LOG)
        .run();
}

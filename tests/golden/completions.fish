# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_snapkeep_global_optspecs
    string join \n c/config= log-format= log-level= run-now dry-run force policy= server= h/help V/version
end

function __fish_snapkeep_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_snapkeep_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_snapkeep_using_subcommand
    set -l cmd (__fish_snapkeep_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c snapkeep -n "__fish_snapkeep_needs_command" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_needs_command" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_needs_command" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_needs_command" -l policy -d 'With --run-now: only these policies (repeatable). A paused one named here is listed as PAUSED and does nothing; filters that select no job exit 2' -r
complete -c snapkeep -n "__fish_snapkeep_needs_command" -l server -d 'With --run-now: only these server ids (repeatable)' -r
complete -c snapkeep -n "__fish_snapkeep_needs_command" -l run-now -d 'Make one pass over every (server, policy) now, then exit (for cron, systemd timers, Kubernetes CronJobs)'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -l dry-run -d 'With --run-now: list and plan, print every create and delete it would make with the deciding rule, change nothing'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -l force -d 'With --run-now: take a fresh slot at the current time instead of the latest scheduled one ("snapshot now, before an upgrade")'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -s V -l version -d 'Print version'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "check" -d 'Validate the config and print what it does: servers, policies, schedules in words with their next fire time, and what each server may hold at most. Exit 0 valid, 2 invalid. No token or network needed'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "schedule" -d 'Print each policy\'s next fire times, in its time zone and in UTC'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "status" -d 'Show what each server holds per policy: ours / in progress / failed / not ours, the newest completed item\'s age, what the next pass would delete and why, the next fire time, paused policies, protected items, orphans, and STALE when the newest completed item is older than crit_after (default twice the schedule\'s interval). --check: a monitoring plugin'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "prune-orphans" -d 'List orphans — items in snapkeep\'s naming whose policy is no longer configured, or whose server that policy no longer lists, so no pass prunes them — and with --yes delete those that can go. Left and reported: in-progress and protected items, live groups (newest item younger than orphan_grace: maybe another config\'s; --include-live) and each group\'s newest completed item (--all). Exit 0 done, 1 a listing or delete failed'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "simulate" -d 'Play a policy\'s schedule and keep rules forward (default 90 days) on one server, every create succeeding, with the same code as a real pass; print day by day what is created, kept and deleted (with the rule), the most items held at once against the cap, and the oldest and newest kept at the end. No token or network needed'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "demo" -d 'Run a rotation against the built-in simulator: no setup, no token, under a minute'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "sim" -d 'Run the built-in VPS.org API simulator standalone, to try a config without touching real servers'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "restore" -d 'Restore a server from a snapshot (--snapshot ID) or a backup (--backup ID --server ID). This overwrites all current data on the server and cannot be undone; VPS.org stops the server first. Needs --yes'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "completions" -d 'Print a shell completion script, e.g. `snapkeep completions bash > /etc/bash_completion.d/snapkeep`'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "manpage" -d 'Print the man page (roff), generated from these same definitions: `snapkeep manpage | man -l -`'
complete -c snapkeep -n "__fish_snapkeep_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand check" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand check" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand check" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand check" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand schedule" -l count -d 'How many fire times per policy' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand schedule" -l from -d 'Start from this instant (RFC 3339, e.g. 2025-03-30T00:00:00+01:00) instead of now' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand schedule" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand schedule" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand schedule" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand schedule" -l json -d 'Print JSON: [{"policy", "timezone", "next": [RFC 3339 with offset, ...]}]'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand schedule" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand status" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand status" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand status" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand status" -l json -d 'Print JSON ({"pairs": one object per server and policy, "orphans": [...]}) instead of a table'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand status" -l check -d 'Behave as a monitoring plugin (Nagios/Icinga/Sensu): first line `SNAPKEEP OK|WARNING|CRITICAL|UNKNOWN - ...` with perfdata, exit 0/1/2/3. Judged per policy by warn_after/crit_after; a config, token or API error is UNKNOWN'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand status" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l server -d 'Only orphans on these server ids (repeatable, or a comma list)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l policy -d 'Only orphans whose name carries this policy name (repeatable, or a comma list)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l yes -d 'Delete the listed orphans that can go (without it, nothing is deleted): completed or failed, not protected, past orphan_grace, not their group\'s newest completed item'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l include-live -d 'Also delete orphans of live groups — a (prefix, policy, server) whose newest item is younger than [defaults] orphan_grace (7d), which may be another config\'s or a renamed policy\'s'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l all -d 'Also delete each group\'s newest completed item (by default it stays as its last restore point)'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -l json -d 'Print JSON: {"orphans": [{server_id, kind, id, name, status, policy, slot, reason, protected, live, group_age_seconds, newest_completed, verdict}]}'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand prune-orphans" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l policy -d 'The policy to simulate. Give it more than once (with --html) to compare policies side by side' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l days -d 'How many days to play forward (1 to 3660)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l from -d 'Start at this instant (RFC 3339, e.g. 2025-03-30T00:00:00+01:00) instead of now' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l html -d 'Write the simulation as a self-contained HTML page to FILE instead: a calendar, one column per day, one mark per item held, coloured by the rule that keeps it, the provider\'s cap as a line (no script, no network; opens in any browser)' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l size-mb -d 'Estimate storage with every item this size (VPS.org\'s size_mb): the peak and steady size per server' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -l json -d 'Print the same as one JSON document'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand simulate" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand demo" -l slots -d 'How many daily slots to play through' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand demo" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand demo" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand demo" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand demo" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l listen -d 'Address to listen on (loopback; port 0 picks a free one)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l token -d 'Bearer token the simulated API accepts' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l complete-after -d 'How long new snapshots and backups stay in_progress, and restores keep a server restoring (e.g. 2s, 500ms)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l seed -d 'Seed file (*.toml or *.json) with the servers, snapshots and backups to start with; without it (and without --fleet) the API docs\' examples' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l fleet -d 'Start with this many empty servers (ids 1..=N) instead of a seed file' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l error-rate -d 'Share of requests (0.0-1.0) answered with --error-status, changing nothing' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l error-status -d 'HTTP status for --error-rate answers (500, 502 or 503 are typical)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l rate-limit-rate -d 'Share of requests (0.0-1.0) answered 429 Too Many Requests, changing nothing' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l retry-after -d 'Retry-After seconds sent with a 429 (0 sends no Retry-After header)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l latency -d 'Delay added to every request (e.g. 200ms)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l lost-response-rate -d 'Share of requests (0.0-1.0) that take effect but whose connection is then dropped without a response (a lost response)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l malformed-rate -d 'Share of successful responses (0.0-1.0) whose JSON body is cut in half' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l page-size -d 'Items per list page; 0 serves every item on one page' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l retry-after-raw -d 'Send exactly this Retry-After value with a 429 instead of --retry-after, to test absurd ones: 10000000000000000000, -5, soon, "Wed, 21 Oct 2015 07:28:00 GMT"' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l applied-error-rate -d 'Share of successful requests (0.0-1.0) that take effect but are then answered with --error-status (a proxy\'s 5xx after the backend acted)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l list-lag -d 'Lists lag behind writes by this long (e.g. 3s): new items are missing from lists and deleted ones still show until it has passed; caps and deletes see the real state' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l page-shift-rate -d 'Share of list pages 2..n (0.0-1.0) served shifted by one item (repeating or skipping one), as when the list changes mid-walk' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l count-inflation -d 'Report this count in every list answer whatever the real number (e.g. 5000000); next links still follow the real list' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l junk-item -d 'Append this raw JSON object (or every object of this JSON array) to every snapshot and backup list, e.g. \'{"id": 9000001, "server": null, "status": "completed", "created_at": null}\' (repeatable)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l fault-server -d 'Limit --stuck and --fail-creates to these server ids (repeatable or comma-separated); all servers when none' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l endpoint -d 'Apply the error, 429 (and Retry-After), latency, lost-response, applied-error and malformed faults above to this endpoint only (snapshots.list, snapshots.create, snapshots.delete, snapshots.restore, backups.list, backups.create, backups.delete, servers.restore); all endpoints when absent. The list faults (--list-lag, --page-shift-rate, --count-inflation, --junk-item, --stock-junk) always apply to both lists' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l rng-seed -d 'Seed of the random draws that pick which requests fail, so a run can be replayed' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l account -d 'Serve one more account, NAME with bearer token TOKEN (repeatable): its own world, started from the same seed as the primary account (`default`, --token), so server ids repeat across accounts' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l stock-junk -d 'Append three stock malformed items to every list: a snapshot and a backup of a deleted server (ids 9000001, 9000002) and an item with only an id and a status (9000003)'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l stuck -d 'New snapshots and backups stay in_progress forever'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -l fail-creates -d 'New snapshots and backups end failed instead of completed'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand sim" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -l snapshot -d 'The snapshot to restore (its server is restored)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -l backup -d 'The backup to restore; needs --server' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -l server -d 'The server to restore the backup onto (the backup must belong to it)' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -l account -d 'The account the item is in (a name from the config\'s [[account]] tables); needed when the config has several' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -l yes -d 'Confirm: all current data on the server is overwritten'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand restore" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand completions" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand completions" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand completions" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand completions" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand manpage" -s c -l config -d 'Config file (TOML); see config.example.toml for every key' -r -F
complete -c snapkeep -n "__fish_snapkeep_using_subcommand manpage" -l log-format -d 'Log format: `text` for people and journald, `json` (one object per line) for log collectors' -r -f -a "text\t''
json\t''"
complete -c snapkeep -n "__fish_snapkeep_using_subcommand manpage" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`' -r
complete -c snapkeep -n "__fish_snapkeep_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "check" -d 'Validate the config and print what it does: servers, policies, schedules in words with their next fire time, and what each server may hold at most. Exit 0 valid, 2 invalid. No token or network needed'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "schedule" -d 'Print each policy\'s next fire times, in its time zone and in UTC'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "status" -d 'Show what each server holds per policy: ours / in progress / failed / not ours, the newest completed item\'s age, what the next pass would delete and why, the next fire time, paused policies, protected items, orphans, and STALE when the newest completed item is older than crit_after (default twice the schedule\'s interval). --check: a monitoring plugin'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "prune-orphans" -d 'List orphans — items in snapkeep\'s naming whose policy is no longer configured, or whose server that policy no longer lists, so no pass prunes them — and with --yes delete those that can go. Left and reported: in-progress and protected items, live groups (newest item younger than orphan_grace: maybe another config\'s; --include-live) and each group\'s newest completed item (--all). Exit 0 done, 1 a listing or delete failed'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "simulate" -d 'Play a policy\'s schedule and keep rules forward (default 90 days) on one server, every create succeeding, with the same code as a real pass; print day by day what is created, kept and deleted (with the rule), the most items held at once against the cap, and the oldest and newest kept at the end. No token or network needed'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "demo" -d 'Run a rotation against the built-in simulator: no setup, no token, under a minute'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "sim" -d 'Run the built-in VPS.org API simulator standalone, to try a config without touching real servers'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "restore" -d 'Restore a server from a snapshot (--snapshot ID) or a backup (--backup ID --server ID). This overwrites all current data on the server and cannot be undone; VPS.org stops the server first. Needs --yes'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "completions" -d 'Print a shell completion script, e.g. `snapkeep completions bash > /etc/bash_completion.d/snapkeep`'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "manpage" -d 'Print the man page (roff), generated from these same definitions: `snapkeep manpage | man -l -`'
complete -c snapkeep -n "__fish_snapkeep_using_subcommand help; and not __fish_seen_subcommand_from check schedule status prune-orphans simulate demo sim restore completions manpage help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

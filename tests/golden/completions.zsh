#compdef snapkeep

autoload -U is-at-least

_snapkeep() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'*--policy=[With --run-now\: only these policies (repeatable). A paused one named here is listed as PAUSED and does nothing; filters that select no job exit 2]:NAME:_default' \
'*--server=[With --run-now\: only these server ids (repeatable)]:ID:_default' \
'--run-now[Make one pass over every (server, policy) now, then exit (for cron, systemd timers, Kubernetes CronJobs)]' \
'--dry-run[With --run-now\: list and plan, print every create and delete it would make with the deciding rule, change nothing]' \
'--force[With --run-now\: take a fresh slot at the current time instead of the latest scheduled one ("snapshot now, before an upgrade")]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_snapkeep_commands" \
"*::: :->snapkeep" \
&& ret=0
    case $state in
    (snapkeep)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:snapkeep-command-$line[1]:"
        case $line[1] in
            (check)
_arguments "${_arguments_options[@]}" : \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(schedule)
_arguments "${_arguments_options[@]}" : \
'--count=[How many fire times per policy]:COUNT:_default' \
'--from=[Start from this instant (RFC 3339, e.g. 2025-03-30T00\:00\:00+01\:00) instead of now]:RFC3339:_default' \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'--json[Print JSON\: \[{"policy", "timezone", "next"\: \[RFC 3339 with offset, ...\]}\]]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'--json[Print JSON ({"pairs"\: one object per server and policy, "orphans"\: \[...\]}) instead of a table]' \
'(--json)--check[Behave as a monitoring plugin (Nagios/Icinga/Sensu)\: first line \`SNAPKEEP OK|WARNING|CRITICAL|UNKNOWN - ...\` with perfdata, exit 0/1/2/3. Judged per policy by warn_after/crit_after; a config, token or API error is UNKNOWN]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(prune-orphans)
_arguments "${_arguments_options[@]}" : \
'*--server=[Only orphans on these server ids (repeatable, or a comma list)]:ID:_default' \
'*--policy=[Only orphans whose name carries this policy name (repeatable, or a comma list)]:NAME:_default' \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'--yes[Delete the listed orphans that can go (without it, nothing is deleted)\: completed or failed, not protected, past orphan_grace, not their group'\''s newest completed item]' \
'--include-live[Also delete orphans of live groups — a (prefix, policy, server) whose newest item is younger than \[defaults\] orphan_grace (7d), which may be another config'\''s or a renamed policy'\''s]' \
'--all[Also delete each group'\''s newest completed item (by default it stays as its last restore point)]' \
'--json[Print JSON\: {"orphans"\: \[{server_id, kind, id, name, status, policy, slot, reason, protected, live, group_age_seconds, newest_completed, verdict}\]}]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(simulate)
_arguments "${_arguments_options[@]}" : \
'*--policy=[The policy to simulate. Give it more than once (with --html) to compare policies side by side]:NAME:_default' \
'--days=[How many days to play forward (1 to 3660)]:DAYS:_default' \
'--from=[Start at this instant (RFC 3339, e.g. 2025-03-30T00\:00\:00+01\:00) instead of now]:RFC3339:_default' \
'(--json)--html=[Write the simulation as a self-contained HTML page to FILE instead\: a calendar, one column per day, one mark per item held, coloured by the rule that keeps it, the provider'\''s cap as a line (no script, no network; opens in any browser)]:FILE:_files' \
'--size-mb=[Estimate storage with every item this size (VPS.org'\''s size_mb)\: the peak and steady size per server]:MB:_default' \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'--json[Print the same as one JSON document]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(demo)
_arguments "${_arguments_options[@]}" : \
'--slots=[How many daily slots to play through]:SLOTS:_default' \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(sim)
_arguments "${_arguments_options[@]}" : \
'--listen=[Address to listen on (loopback; port 0 picks a free one)]:LISTEN:_default' \
'--token=[Bearer token the simulated API accepts]:TOKEN:_default' \
'--complete-after=[How long new snapshots and backups stay in_progress, and restores keep a server restoring (e.g. 2s, 500ms)]:COMPLETE_AFTER:_default' \
'(--fleet)--seed=[Seed file (*.toml or *.json) with the servers, snapshots and backups to start with; without it (and without --fleet) the API docs'\'' examples]:FILE:_files' \
'--fleet=[Start with this many empty servers (ids 1..=N) instead of a seed file]:N:_default' \
'--error-rate=[Share of requests (0.0-1.0) answered with --error-status, changing nothing]:ERROR_RATE:_default' \
'--error-status=[HTTP status for --error-rate answers (500, 502 or 503 are typical)]:ERROR_STATUS:_default' \
'--rate-limit-rate=[Share of requests (0.0-1.0) answered 429 Too Many Requests, changing nothing]:RATE_LIMIT_RATE:_default' \
'--retry-after=[Retry-After seconds sent with a 429 (0 sends no Retry-After header)]:RETRY_AFTER:_default' \
'--latency=[Delay added to every request (e.g. 200ms)]:LATENCY:_default' \
'--lost-response-rate=[Share of requests (0.0-1.0) that take effect but whose connection is then dropped without a response (a lost response)]:LOST_RESPONSE_RATE:_default' \
'--malformed-rate=[Share of successful responses (0.0-1.0) whose JSON body is cut in half]:MALFORMED_RATE:_default' \
'--page-size=[Items per list page; 0 serves every item on one page]:PAGE_SIZE:_default' \
'--retry-after-raw=[Send exactly this Retry-After value with a 429 instead of --retry-after, to test absurd ones\: 10000000000000000000, -5, soon, "Wed, 21 Oct 2015 07\:28\:00 GMT"]:VALUE:_default' \
'--applied-error-rate=[Share of successful requests (0.0-1.0) that take effect but are then answered with --error-status (a proxy'\''s 5xx after the backend acted)]:APPLIED_ERROR_RATE:_default' \
'--list-lag=[Lists lag behind writes by this long (e.g. 3s)\: new items are missing from lists and deleted ones still show until it has passed; caps and deletes see the real state]:LIST_LAG:_default' \
'--page-shift-rate=[Share of list pages 2..n (0.0-1.0) served shifted by one item (repeating or skipping one), as when the list changes mid-walk]:PAGE_SHIFT_RATE:_default' \
'--count-inflation=[Report this count in every list answer whatever the real number (e.g. 5000000); next links still follow the real list]:N:_default' \
'*--junk-item=[Append this raw JSON object (or every object of this JSON array) to every snapshot and backup list, e.g. '\''{"id"\: 9000001, "server"\: null, "status"\: "completed", "created_at"\: null}'\'' (repeatable)]:JSON:_default' \
'*--fault-server=[Limit --stuck and --fail-creates to these server ids (repeatable or comma-separated); all servers when none]:ID:_default' \
'--endpoint=[Apply the error, 429 (and Retry-After), latency, lost-response, applied-error and malformed faults above to this endpoint only (snapshots.list, snapshots.create, snapshots.delete, snapshots.restore, backups.list, backups.create, backups.delete, servers.restore); all endpoints when absent. The list faults (--list-lag, --page-shift-rate, --count-inflation, --junk-item, --stock-junk) always apply to both lists]:ENDPOINT:_default' \
'--rng-seed=[Seed of the random draws that pick which requests fail, so a run can be replayed]:RNG_SEED:_default' \
'*--account=[Serve one more account, NAME with bearer token TOKEN (repeatable)\: its own world, started from the same seed as the primary account (\`default\`, --token), so server ids repeat across accounts]:NAME=TOKEN:_default' \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'--stock-junk[Append three stock malformed items to every list\: a snapshot and a backup of a deleted server (ids 9000001, 9000002) and an item with only an id and a status (9000003)]' \
'--stuck[New snapshots and backups stay in_progress forever]' \
'--fail-creates[New snapshots and backups end failed instead of completed]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(restore)
_arguments "${_arguments_options[@]}" : \
'(--backup)--snapshot=[The snapshot to restore (its server is restored)]:ID:_default' \
'--backup=[The backup to restore; needs --server]:ID:_default' \
'--server=[The server to restore the backup onto (the backup must belong to it)]:ID:_default' \
'--account=[The account the item is in (a name from the config'\''s \[\[account\]\] tables); needed when the config has several]:NAME:_default' \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'--yes[Confirm\: all current data on the server is overwritten]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell to complete for:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(manpage)
_arguments "${_arguments_options[@]}" : \
'-c+[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--config=[Config file (TOML); see config.example.toml for every key]:PATH:_files' \
'--log-format=[Log format\: \`text\` for people and journald, \`json\` (one object per line) for log collectors]:LOG_FORMAT:(text json)' \
'--log-level=[Log filter\: error, warn, info, debug, trace, or a tracing directive such as \`snapkeep=debug\`]:FILTER:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_snapkeep__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:snapkeep-help-command-$line[1]:"
        case $line[1] in
            (check)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(schedule)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(prune-orphans)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(simulate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(demo)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(sim)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(restore)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(manpage)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_snapkeep_commands] )) ||
_snapkeep_commands() {
    local commands; commands=(
'check:Validate the config and print what it does\: servers, policies, schedules in words with their next fire time, and what each server may hold at most. Exit 0 valid, 2 invalid. No token or network needed' \
'schedule:Print each policy'\''s next fire times, in its time zone and in UTC' \
'status:Show what each server holds per policy\: ours / in progress / failed / not ours, the newest completed item'\''s age, what the next pass would delete and why, the next fire time, paused policies, protected items, orphans, and STALE when the newest completed item is older than crit_after (default twice the schedule'\''s interval). --check\: a monitoring plugin' \
'prune-orphans:List orphans — items in snapkeep'\''s naming whose policy is no longer configured, or whose server that policy no longer lists, so no pass prunes them — and with --yes delete those that can go. Left and reported\: in-progress and protected items, live groups (newest item younger than orphan_grace\: maybe another config'\''s; --include-live) and each group'\''s newest completed item (--all). Exit 0 done, 1 a listing or delete failed' \
'simulate:Play a policy'\''s schedule and keep rules forward (default 90 days) on one server, every create succeeding, with the same code as a real pass; print day by day what is created, kept and deleted (with the rule), the most items held at once against the cap, and the oldest and newest kept at the end. No token or network needed' \
'demo:Run a rotation against the built-in simulator\: no setup, no token, under a minute' \
'sim:Run the built-in VPS.org API simulator standalone, to try a config without touching real servers' \
'restore:Restore a server from a snapshot (--snapshot ID) or a backup (--backup ID --server ID). This overwrites all current data on the server and cannot be undone; VPS.org stops the server first. Needs --yes' \
'completions:Print a shell completion script, e.g. \`snapkeep completions bash > /etc/bash_completion.d/snapkeep\`' \
'manpage:Print the man page (roff), generated from these same definitions\: \`snapkeep manpage | man -l -\`' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'snapkeep commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__check_commands] )) ||
_snapkeep__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep check commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__completions_commands] )) ||
_snapkeep__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep completions commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__demo_commands] )) ||
_snapkeep__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep demo commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help_commands] )) ||
_snapkeep__subcmd__help_commands() {
    local commands; commands=(
'check:Validate the config and print what it does\: servers, policies, schedules in words with their next fire time, and what each server may hold at most. Exit 0 valid, 2 invalid. No token or network needed' \
'schedule:Print each policy'\''s next fire times, in its time zone and in UTC' \
'status:Show what each server holds per policy\: ours / in progress / failed / not ours, the newest completed item'\''s age, what the next pass would delete and why, the next fire time, paused policies, protected items, orphans, and STALE when the newest completed item is older than crit_after (default twice the schedule'\''s interval). --check\: a monitoring plugin' \
'prune-orphans:List orphans — items in snapkeep'\''s naming whose policy is no longer configured, or whose server that policy no longer lists, so no pass prunes them — and with --yes delete those that can go. Left and reported\: in-progress and protected items, live groups (newest item younger than orphan_grace\: maybe another config'\''s; --include-live) and each group'\''s newest completed item (--all). Exit 0 done, 1 a listing or delete failed' \
'simulate:Play a policy'\''s schedule and keep rules forward (default 90 days) on one server, every create succeeding, with the same code as a real pass; print day by day what is created, kept and deleted (with the rule), the most items held at once against the cap, and the oldest and newest kept at the end. No token or network needed' \
'demo:Run a rotation against the built-in simulator\: no setup, no token, under a minute' \
'sim:Run the built-in VPS.org API simulator standalone, to try a config without touching real servers' \
'restore:Restore a server from a snapshot (--snapshot ID) or a backup (--backup ID --server ID). This overwrites all current data on the server and cannot be undone; VPS.org stops the server first. Needs --yes' \
'completions:Print a shell completion script, e.g. \`snapkeep completions bash > /etc/bash_completion.d/snapkeep\`' \
'manpage:Print the man page (roff), generated from these same definitions\: \`snapkeep manpage | man -l -\`' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'snapkeep help commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__check_commands] )) ||
_snapkeep__subcmd__help__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help check commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__completions_commands] )) ||
_snapkeep__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help completions commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__demo_commands] )) ||
_snapkeep__subcmd__help__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help demo commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__help_commands] )) ||
_snapkeep__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help help commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__manpage_commands] )) ||
_snapkeep__subcmd__help__subcmd__manpage_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help manpage commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__prune-orphans_commands] )) ||
_snapkeep__subcmd__help__subcmd__prune-orphans_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help prune-orphans commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__restore_commands] )) ||
_snapkeep__subcmd__help__subcmd__restore_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help restore commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__schedule_commands] )) ||
_snapkeep__subcmd__help__subcmd__schedule_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help schedule commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__sim_commands] )) ||
_snapkeep__subcmd__help__subcmd__sim_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help sim commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__simulate_commands] )) ||
_snapkeep__subcmd__help__subcmd__simulate_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help simulate commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__help__subcmd__status_commands] )) ||
_snapkeep__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep help status commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__manpage_commands] )) ||
_snapkeep__subcmd__manpage_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep manpage commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__prune-orphans_commands] )) ||
_snapkeep__subcmd__prune-orphans_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep prune-orphans commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__restore_commands] )) ||
_snapkeep__subcmd__restore_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep restore commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__schedule_commands] )) ||
_snapkeep__subcmd__schedule_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep schedule commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__sim_commands] )) ||
_snapkeep__subcmd__sim_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep sim commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__simulate_commands] )) ||
_snapkeep__subcmd__simulate_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep simulate commands' commands "$@"
}
(( $+functions[_snapkeep__subcmd__status_commands] )) ||
_snapkeep__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'snapkeep status commands' commands "$@"
}

if [ "$funcstack[1]" = "_snapkeep" ]; then
    _snapkeep "$@"
else
    compdef _snapkeep snapkeep
fi

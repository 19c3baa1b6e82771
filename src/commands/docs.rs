//! `snapkeep completions SHELL` and `snapkeep manpage`: generated from the
//! same clap definitions as the parser, so they cannot drift from it. The
//! .deb build (`packaging/deb/build`) runs both to ship them.

use std::io::Write as _;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::AppError;

const NAME: &str = "snapkeep";

pub(crate) fn completions(shell: Shell) -> Result<u8, AppError> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), NAME, &mut out);
    print_bytes(&out)
}

pub(crate) fn manpage() -> Result<u8, AppError> {
    print_bytes(&manpage_roff()?)
}

/// One page for the whole tool: NAME, SYNOPSIS, DESCRIPTION, OPTIONS (the
/// global ones), COMMANDS (each subcommand's synopsis, description and own
/// options), EXIT STATUS, FILES, VERSION. clap_mangen renders the sections;
/// subcommands become `.SS` subsections instead of pointers to separate
/// `snapkeep-check(1)` pages we would have to ship too.
fn manpage_roff() -> Result<Vec<u8>, AppError> {
    let mut cmd = Cli::command().name(NAME).bin_name(NAME);
    cmd.build();
    // No date: the page is reproducible (the .deb's bytes do not change with the day).
    let man = clap_mangen::Man::new(cmd.clone()).date("");
    let mut out = Vec::new();
    let io = |e: std::io::Error| AppError::io("cannot render the man page", e);
    man.render_title(&mut out).map_err(io)?;
    man.render_name_section(&mut out).map_err(io)?;
    man.render_synopsis_section(&mut out).map_err(io)?;
    man.render_description_section(&mut out).map_err(io)?;
    man.render_options_section(&mut out).map_err(io)?;
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        // The global options are listed once, above; --help goes without saying.
        let sub = sub.clone().mut_args(|a| {
            if a.is_global_set() || a.get_id() == "help" {
                a.hide(true)
            } else {
                a
            }
        });
        let page = clap_mangen::Man::new(sub.clone());
        let mut section = Vec::new();
        page.render_synopsis_section(&mut section).map_err(io)?;
        page.render_description_section(&mut section).map_err(io)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.render_options_section(&mut section).map_err(io)?;
        }
        let text = String::from_utf8_lossy(&section);
        out.extend_from_slice(format!(".SS \"{NAME} {}\"\n", sub.get_name()).as_bytes());
        for line in text.lines() {
            // Section headings of the subcommand's page become paragraphs.
            if line.starts_with(".SH SYNOPSIS") || line.starts_with(".SH DESCRIPTION") {
                out.extend_from_slice(b".PP\n");
            } else if line.starts_with(".SH ") {
                out.extend_from_slice(b".PP\nOptions:\n");
            } else {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
    }
    out.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    man.render_version_section(&mut out).map_err(io)?;
    Ok(out)
}

/// Hand-written roff for what clap does not know.
const EXTRA_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
Every job succeeded (the daemon: stopped cleanly).
.TP
1
At least one job failed (refused, wait timeout, API error after retries, unknown server).
.TP
2
Config or usage error: nothing was done. Fix the config (\fBsnapkeep check\fR).
.TP
130, 143
\fB\-\-run\-now\fR was stopped by SIGINT (130) or SIGTERM (143): no job started after the signal, jobs under way had \fBdaemon.shutdown_timeout\fR to end (a second signal cuts them off at once), every post hook owed ran, and the summary lists the jobs that did not end as interrupted.
.SH FILES
.TP
\fI/etc/snapkeep/config.toml\fR
The config (every key: \fI/usr/share/doc/snapkeep/config.example.toml\fR).
.TP
\fI/etc/snapkeep/token\fR
The VPS.org API token, mode 0600; the systemd units pass it as the credential \fBvps\-api\-token\fR.
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBcrontab\fR(5)
"#;

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_bytes(bytes: &[u8]) -> Result<u8, AppError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(AppError::io("cannot write to stdout", e)),
    }
}

//! Shell completions and the man page, through the real binary: whole,
//! against `tests/golden/` (bash also checked by `bash -n`), and knowing
//! every subcommand of the command line.

use std::process::Command;

use clap::CommandFactory;
use snapkeep::cli::Cli;

use crate::support::{Test, temp_dir};

fn subcommand_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

/// `snapkeep <args>` prints `golden` (a file under `tests/golden/`, the
/// crate version in it as `{VERSION}`) whole. After a change to the
/// command line, regenerate it: `snapkeep completions bash >
/// tests/golden/completions.bash`, …, `snapkeep manpage | sed
/// 's/<version>/{VERSION}/g' > tests/golden/snapkeep.1`.
fn prints_golden(args: &[&str], golden: &str) {
    Test::new()
        .args(args)
        .literal(env!("CARGO_PKG_VERSION"), "{VERSION}")
        .stdout(golden)
        .run();
}

#[test]
fn bash_completion_script_is_valid_bash_and_knows_the_subcommands() {
    let script = include_str!("golden/completions.bash");
    prints_golden(&["completions", "bash"], script);
    let path = temp_dir().join("snapkeep.bash");
    std::fs::write(&path, script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    for name in subcommand_names() {
        assert!(script.contains(&name), "{name} not completed");
    }
    assert!(script.contains("--run-now") && script.contains("complete -F"));
    prints_golden(
        &["completions", "zsh"],
        include_str!("golden/completions.zsh"),
    );
    prints_golden(
        &["completions", "fish"],
        include_str!("golden/completions.fish"),
    );
    Test::new()
        .args(&["completions", "tcsh"])
        .status(2)
        .stderr(NO_TCSH)
        .run();
}

const NO_TCSH: &str = "error: invalid value 'tcsh' for '<SHELL>'
  [possible values: bash, elvish, fish, powershell, zsh]

  tip: a similar value exists: 'zsh'

For more information, try '--help'.
";

#[test]
fn man_page_has_the_sections_and_every_subcommand() {
    let page = include_str!("golden/snapkeep.1");
    prints_golden(&["manpage"], page);
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH COMMANDS",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(section), "{section} missing");
    }
    for name in subcommand_names().iter().filter(|n| *n != "help") {
        assert!(
            page.contains(&format!(".SS \"snapkeep {name}\"")),
            "subcommand {name} missing"
        );
    }
    // Options of a subcommand and of the top level are both documented;
    // reproducible: no build date (the golden file has none).
    assert!(page.contains(r"\-\-snapshot") && page.contains(r"\-\-run\-now"));
    assert!(page.contains(".TH snapkeep 1"), "{page}");
}

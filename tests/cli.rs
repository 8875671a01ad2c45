//! The command line as an operator meets it: options from flags and environment variables
//! (and the fallbacks resolved after parsing), typo suggestions, completions, man pages, and
//! README's configuration table and the packaged env file agreeing with the definitions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use clap::CommandFactory;
use colonyd::commands::Cli;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_colonyd");

/// Every variable the tests below may set, cleared first so the caller's environment does not
/// leak in.
const VARS: &[&str] = &[
    "COLONYD_LISTEN",
    "COLONYD_DATA_DIR",
    "COLONYD_SYNC",
    "RUST_LOG",
    "COLONIES_SERVER_PORT",
    "STATE_DIRECTORY",
    "COLONIES_MONITOR_PORT",
    "COLONYD_METRICS_LISTEN",
    "COLONIES_RETENTION",
    "COLONIES_RETENTION_POLICY",
    "COLONYD_MIN_FREE_DISK",
    "COLONYD_CRON_MISSED",
];

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for v in VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn config(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["serve", "--print-config"];
    all.extend_from_slice(args);
    let out = run(&all, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn has(cfg: &str, line: &str) -> bool {
    cfg.lines().any(|l| l == line)
}

fn serve_command() -> clap::Command {
    Cli::command()
        .find_subcommand("serve")
        .cloned()
        .expect("serve")
}

#[test]
fn options_come_from_flags_then_variables_then_fallbacks_then_defaults() {
    let c = config(&[], &[]);
    assert!(has(&c, "listen = 127.0.0.1:50080"), "{c}");
    assert!(has(&c, "data-dir = colonyd-data"), "{c}");
    assert!(
        has(&c, "sync = always") && has(&c, "metrics-listen = off"),
        "{c}"
    );
    // the fallbacks: COLONIES_SERVER_PORT, STATE_DIRECTORY (first of a list),
    // COLONIES_MONITOR_PORT
    let c = config(
        &[],
        &[
            ("COLONIES_SERVER_PORT", "6000"),
            ("STATE_DIRECTORY", "/var/lib/colonyd:/other"),
            ("COLONIES_MONITOR_PORT", "9100"),
        ],
    );
    assert!(has(&c, "listen = 127.0.0.1:6000"), "{c}");
    assert!(has(&c, "data-dir = /var/lib/colonyd"), "{c}");
    assert!(has(&c, "metrics-listen = 127.0.0.1:9100"), "{c}");
    // an option's own variable beats the fallback; an empty one counts as unset
    let env = [
        ("COLONYD_LISTEN", "0.0.0.0:7000"),
        ("COLONIES_SERVER_PORT", "6000"),
        ("COLONYD_DATA_DIR", "/srv/colonyd"),
        ("STATE_DIRECTORY", "/var/lib/colonyd"),
        ("COLONYD_METRICS_LISTEN", ""),
        ("COLONIES_MONITOR_PORT", "9100"),
        ("COLONYD_SYNC", "never"),
        ("COLONIES_RETENTION", "true"),
        ("COLONIES_RETENTION_POLICY", "604800"),
        ("COLONYD_MIN_FREE_DISK", "1GiB"),
        ("COLONYD_CRON_MISSED", "skip"),
        ("RUST_LOG", "debug"),
    ];
    let c = config(&[], &env);
    for line in [
        "listen = 0.0.0.0:7000",
        "data-dir = /srv/colonyd",
        "metrics-listen = 127.0.0.1:9100",
        "sync = never",
        "retention = 604800s",
        "min-free-disk = 1073741824",
        "cron-missed = skip",
        "log-level = debug",
    ] {
        assert!(has(&c, line), "{line} missing in\n{c}");
    }
    // flags beat both
    let c = config(
        &[
            "--listen",
            "127.0.0.1:1",
            "--data-dir=/d",
            "--sync",
            "always",
            "--retention",
            "false",
        ],
        &env,
    );
    assert!(
        has(&c, "listen = 127.0.0.1:1") && has(&c, "data-dir = /d"),
        "{c}"
    );
    assert!(
        has(&c, "sync = always") && has(&c, "retention = off"),
        "{c}"
    );
    // a bad value in a variable is a usage error naming the option
    let out = run(
        &["serve", "--print-config"],
        &[("COLONYD_SYNC", "sometimes")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sync") && err.contains("always, never"),
        "{err}"
    );
    let out = run(
        &["serve", "--print-config"],
        &[("COLONIES_SERVER_PORT", "http")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("COLONIES_SERVER_PORT"));
}

#[test]
fn typos_get_a_suggestion_and_exit_code_2() {
    for (args, want) in [
        (&["serve", "--lisen", "x"][..], "'--listen'"),
        (&["serve", "--data-dri", "x"][..], "'--data-dir'"),
        (&["procss", "ls"][..], "'process'"),
        (&["process", "lss"][..], "'ls'"),
    ] {
        let out = run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("similar") && err.contains(want),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn completions_for_bash_zsh_and_fish_know_the_commands_and_options() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], &[]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["serve", "keygen", "backup", "listen", "data-dir", "sync"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    assert_eq!(run(&["completions", "tcsh"], &[]).status.code(), Some(2));
}

#[test]
fn man_pages_document_every_option() {
    // the pages the package ships (examples/man.rs, pkg/deb.sh), from the same definitions
    let dir = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(Cli::command(), dir.path()).unwrap();
    let top = std::fs::read_to_string(dir.path().join("colonyd.1")).unwrap();
    assert!(top.contains(".TH colonyd 1"), "{top}");
    let serve = std::fs::read_to_string(dir.path().join("colonyd-serve.1")).unwrap();
    for arg in serve_command().get_arguments() {
        if let Some(long) = arg.get_long() {
            // roff escapes the hyphens of option names
            let escaped = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(serve.contains(&escaped), "man page lacks --{long}");
        }
        if let Some(var) = arg.get_env() {
            let var = var.to_str().unwrap().replace('_', "\\_");
            let plain = arg.get_env().unwrap().to_str().unwrap();
            assert!(
                serve.contains(&var) || serve.contains(plain),
                "man page lacks {plain}"
            );
        }
    }
    for page in [
        "colonyd-backup.1",
        "colonyd-process-ls.1",
        "colonyd-completions.1",
        "colonyd-status.1",
    ] {
        assert!(dir.path().join(page).exists(), "{page}");
    }
}

/// README's configuration table: `| option(s) | variable(s) | default | meaning |` rows.
fn readme_rows() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("### Configuration reference")
        .nth(1)
        .expect("README has a configuration reference");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_lists_every_serve_option_with_its_variable() {
    let rows = readme_rows();
    assert!(rows.len() > 20, "{rows:?}");
    let mut documented = std::collections::BTreeSet::new();
    for arg in serve_command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "print-config") {
            continue;
        }
        let flag = format!("`--{long}`");
        let row = rows
            .iter()
            .find(|r| r.split('|').nth(1).is_some_and(|c| c.contains(&flag)))
            .unwrap_or_else(|| panic!("README's configuration table lacks {flag}"));
        if let Some(var) = arg.get_env() {
            let var = format!("`{}`", var.to_str().unwrap());
            assert!(
                row.split('|').nth(2).is_some_and(|c| c.contains(&var)),
                "README's row for {flag} does not name {var}: {row}"
            );
        }
        documented.insert(flag);
    }
    // and nothing in the table that the server does not have
    for row in &rows {
        let first = row.split('|').nth(1).unwrap_or_default();
        for flag in first
            .split(',')
            .map(str::trim)
            .filter(|f| f.starts_with("`--"))
        {
            assert!(
                documented.contains(flag),
                "README documents {flag}, which colonyd serve does not have"
            );
        }
    }
}

#[test]
fn the_env_file_sets_only_variables_colonyd_reads() {
    let known: Vec<String> = serve_command()
        .get_arguments()
        .filter_map(|a| a.get_env().map(|v| v.to_string_lossy().into_owned()))
        .chain(
            [
                "COLONIES_SERVER_PORT",
                "STATE_DIRECTORY",
                "COLONIES_MONITOR_PORT",
                "COLONIES_SERVER_ID",
                "COLONIES_SERVER_PRVKEY",
                "COLONIES_ALLOW_EXECUTOR_REREGISTER",
            ]
            .map(String::from),
        )
        .collect();
    let env = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/colonyd.env"))
        .unwrap();
    let mut seen = 0;
    for line in env.lines() {
        let line = line.trim_start_matches('#').trim();
        let Some((var, _)) = line.split_once('=') else {
            continue;
        };
        if var.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !var.is_empty() {
            assert!(
                known.iter().any(|k| k == var),
                "colonyd.env sets {var}, which colonyd does not read"
            );
            seen += 1;
        }
    }
    assert!(seen >= 4, "{env}");
}

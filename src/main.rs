//! The `colonyd` binary: `serve` (default), `keygen`, `--version`, `--help`.

use std::io::IsTerminal;
use std::process::ExitCode;

const HELP: &str = "colonyd: a single-binary, ColonyOS-compatible server for edge devices

USAGE:
  colonyd serve [OPTIONS]   run the server (see colonyd serve --help)
  colonyd keygen            print a fresh key: prvkey=<hex> and id=<hex>
  colonyd process ls        list processes (see below)
  colonyd channel tail      follow a channel
  colonyd backup DIR        consistent copy of a running server's store
  colonyd restore BACKUP --data-dir DIR
  colonyd --version         print the version
  colonyd --help            print this help

EXIT CODES: 0 success, 1 failure, 2 usage error.
";

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn init_logs(filter: &str) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = if std::env::var("RUST_LOG").is_ok() && filter == "info" {
        std::env::var("RUST_LOG").unwrap_or_default()
    } else {
        filter.to_string()
    };
    // storage internals are chatty at info; keep them at warn unless asked
    let directives = format!("fjall=warn,lsm_tree=warn,{filter}");
    // `target=level` directives (`Targets`): the same syntax as RUST_LOG without its span and
    // regex filters, whose regex engine alone was about 0.4 MB of the binary
    let filter: Targets = directives.parse().unwrap_or_else(|e| {
        eprintln!("colonyd: log filter {filter:?} not understood ({e}); logging at info");
        Targets::new()
            .with_target("fjall", tracing::Level::WARN)
            .with_target("lsm_tree", tracing::Level::WARN)
            .with_default(tracing::Level::INFO)
    });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .compact(),
        )
        .with(filter)
        .try_init();
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("serve", &[][..]),
    };
    match cmd {
        "-h" | "--help" | "help" => {
            print!("{HELP}\n{}", colonyd::commands::HELP);
            ExitCode::SUCCESS
        }
        "-V" | "--version" => {
            println!("colonyd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        "keygen" => {
            let k = colonyd::PrivateKey::generate();
            println!("prvkey={}", k.to_hex());
            println!("id={}", k.id());
            ExitCode::SUCCESS
        }
        "serve" => {
            if rest.iter().any(|a| a == "-h" || a == "--help") {
                print!("{}", colonyd::serve_help());
                return ExitCode::SUCCESS;
            }
            let cfg = match colonyd::Config::parse(rest, &env) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("colonyd: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logs(&cfg.log_level);
            if std::env::var_os("SMOL_THREADS").is_none() {
                // smol's global executor reads this once, on first use (no threads exist yet)
                std::env::set_var("SMOL_THREADS", cfg.threads.to_string());
            }
            match colonyd::run(cfg, &env) {
                Ok(0) => ExitCode::SUCCESS,
                Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("colonyd: {e}");
                    ExitCode::from(1)
                }
            }
        }
        "process" | "channel" | "backup" | "restore" => {
            if rest.iter().any(|a| a == "-h" || a == "--help") {
                print!("{HELP}\n{}", colonyd::commands::HELP);
                return ExitCode::SUCCESS;
            }
            let outcome = match (cmd, rest.split_first()) {
                ("process", Some((sub, args))) if sub == "ls" => {
                    colonyd::commands::process_ls(args)
                }
                ("channel", Some((sub, args))) if sub == "tail" => {
                    colonyd::commands::channel_tail(args)
                }
                ("backup", _) => colonyd::commands::backup(rest),
                ("restore", _) => colonyd::commands::restore(rest),
                _ => Err((
                    colonyd::commands::USAGE,
                    format!("unknown command\n\n{}", colonyd::commands::HELP),
                )),
            };
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err((code, msg)) => {
                    eprintln!("colonyd: {msg}");
                    ExitCode::from(code)
                }
            }
        }
        other => {
            eprintln!(
                "colonyd: unknown command {other:?}\n\n{HELP}\n{}",
                colonyd::commands::HELP
            );
            ExitCode::from(2)
        }
    }
}

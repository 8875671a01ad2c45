//! The `colonyd` binary: parses the command line (`colonyd::commands::Cli`) and runs the
//! command; `serve` is the default.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

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

fn outcome(o: Result<(), (u8, String)>) -> ExitCode {
    match o {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("colonyd: {msg}");
            ExitCode::from(code)
        }
    }
}

fn serve(args: colonyd::ServeArgs) -> ExitCode {
    let print = args.print_config;
    let cfg = match colonyd::Config::from_args(args, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("colonyd: {e}");
            return ExitCode::from(colonyd::commands::USAGE);
        }
    };
    if print {
        let _ = write!(std::io::stdout(), "{}", cfg.describe());
        return ExitCode::SUCCESS;
    }
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

fn main() -> ExitCode {
    use clap::{CommandFactory, Parser};
    use colonyd::commands::{ChannelCommand, Cli, Command, ProcessCommand};
    // an empty variable counts as unset (an env file line `COLONYD_LISTEN=` keeps the
    // default); nothing else runs yet, so changing the environment here is safe
    for arg in Cli::command()
        .get_subcommands()
        .flat_map(|c| c.get_arguments().cloned().collect::<Vec<_>>())
    {
        if let Some(var) = arg.get_env() {
            if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
                std::env::remove_var(var);
            }
        }
    }
    // clap prints help, version and usage errors itself (exit 0, 0, 2)
    let cli = Cli::parse();
    match cli.command {
        None => serve(colonyd::ServeArgs::default()),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Keygen) => {
            let k = colonyd::PrivateKey::generate();
            let _ = writeln!(std::io::stdout(), "prvkey={}", k.to_hex());
            let _ = writeln!(std::io::stdout(), "id={}", k.id());
            ExitCode::SUCCESS
        }
        Some(Command::Process(ProcessCommand::Ls(a))) => outcome(colonyd::commands::process_ls(&a)),
        Some(Command::Channel(ChannelCommand::Tail(a))) => {
            outcome(colonyd::commands::channel_tail(&a))
        }
        Some(Command::Backup(a)) => outcome(colonyd::commands::backup(&a)),
        Some(Command::Status(a)) => outcome(colonyd::commands::status(&a)),
        Some(Command::Restore(a)) => outcome(colonyd::commands::restore(&a)),
        Some(Command::Export(a)) => outcome(colonyd::commands::export(&a)),
        Some(Command::Import(a)) => outcome(colonyd::commands::import(&a)),
        Some(Command::Completions { shell }) => {
            colonyd::commands::completions(shell, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

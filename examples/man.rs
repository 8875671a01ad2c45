//! Writes colonyd's man pages (roff) into a directory: `colonyd.1` and one page per command
//! (`colonyd-serve.1`, `colonyd-process-ls.1`, …), generated from the same clap definitions as
//! `colonyd --help`. Run by pkg/deb.sh: `cargo run --example man -- DIR`.

use clap::CommandFactory;

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: cargo run --example man -- DIR");
        return std::process::ExitCode::from(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| clap_mangen::generate_to(colonyd::commands::Cli::command(), &dir));
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("man: cannot write the pages to {}: {e}", dir.display());
            std::process::ExitCode::FAILURE
        }
    }
}

//! The operator's commands besides `serve`: `keygen`, `backup`, `restore`, `process ls`,
//! `channel tail`. They speak the protocol with a key from the environment, so a box with
//! nothing else installed can be debugged. Exit codes: 0 success, 1 failure (the server
//! refused, or I/O failed), 2 usage error.

// replies are read as serde_json::Value, whose `v["key"]` never panics (a missing key or a
// non-object reads as null); nothing else here indexes
#![allow(clippy::indexing_slicing)]

use crate::client::{CallError, Client, Target};
use crate::crypto::PrivateKey;
use std::io::Write;

/// Exit code for a failed command.
pub const FAILURE: u8 = 1;
/// Exit code for a usage error.
pub const USAGE: u8 = 2;

/// A command's outcome: `Err((code, message))`.
pub type Outcome = Result<(), (u8, String)>;

fn usage(m: impl Into<String>) -> (u8, String) {
    (USAGE, m.into())
}

fn failed(e: impl std::fmt::Display) -> (u8, String) {
    (FAILURE, e.to_string())
}

/// `println!` that does not panic when standard output is gone (`colonyd import … | head`):
/// the command goes on, the lines are dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The `colonyd` command line: every command and option, with its environment variable.
/// Help, shell completions and the man page are generated from these definitions.
#[derive(Debug, clap::Parser)]
#[command(
    name = "colonyd",
    version,
    about = "A single-binary, ColonyOS-compatible server for edge devices",
    after_help = "With no command, colonyd runs `serve` with its defaults.\n\
                  EXIT CODES: 0 success, 1 failure (the server refused, I/O failed), 2 usage error."
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// colonyd's commands.
// parsed once per process: the size of the serve variant does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the ColonyOS-compatible server (the default command)
    #[command(after_help = crate::config::SERVE_AFTER_HELP)]
    Serve(crate::config::ServeArgs),
    /// Print a fresh key: prvkey=<hex> and id=<hex>
    Keygen,
    /// Look at processes
    #[command(subcommand)]
    Process(ProcessCommand),
    /// Look at channels
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Ask the running server for a consistent copy of its store in DIR (on the server's
    /// machine; relative paths are inside its data directory); signs with
    /// COLONIES_SERVER_PRVKEY
    Backup(BackupArgs),
    /// Copy a backup into an empty data directory (the server must not be running on it)
    Restore(RestoreArgs),
    /// Show the server's state: identity, uptime, version, sync mode, store size, free disk,
    /// colonies, executors, channels, processes and workflows by state; signs with
    /// COLONIES_SERVER_PRVKEY (the server owner)
    Status(StatusArgs),
    /// Write the server's configuration state (colonies, executors and their approval, users,
    /// functions, locations, blueprint definitions, blueprints, crons, generators) to FILE as
    /// JSON ("-": standard output); signs with COLONIES_SERVER_PRVKEY (the server owner)
    Export(ExportArgs),
    /// Replay an export into any ColonyOS server, upstream or colonyd, signing each item with
    /// the key its message needs from --keys; reports each item as created, present or
    /// refused (with the key it needs); exit 1 if any was refused
    Import(ImportArgs),
    /// Print a shell completion script: colonyd completions bash > /etc/bash_completion.d/colonyd
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `colonyd process …`
#[derive(Debug, clap::Subcommand)]
pub enum ProcessCommand {
    /// List a colony's processes; signs with COLONIES_PRVKEY (a member of the colony)
    Ls(ProcessLsArgs),
}

/// `colonyd channel …`
#[derive(Debug, clap::Subcommand)]
pub enum ChannelCommand {
    /// Print a channel's entries as they arrive (history first); signs with COLONIES_PRVKEY
    Tail(ChannelTailArgs),
}

/// Where the server is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// Server address. Default $COLONIES_SERVER_HOST:$COLONIES_SERVER_PORT, else
    /// 127.0.0.1:50080
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Speak HTTPS and WSS (a server started with --tls-cert), trusting the system's CA
    /// bundle and --ca-file
    #[arg(long, env = "COLONIES_SERVER_TLS")]
    pub tls: bool,
    /// PEM file of CA certificates to trust besides the system's (a private CA); implies
    /// --tls
    #[arg(long, env = "COLONYD_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

/// A process state, as `process ls --state` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    /// submitted, not assigned
    Waiting,
    /// assigned to an executor
    Running,
    /// closed successfully
    Successful,
    /// closed as failed
    Failed,
    /// cancelled
    Cancelled,
}

impl StateArg {
    const ALL: [StateArg; 5] = [
        StateArg::Waiting,
        StateArg::Running,
        StateArg::Successful,
        StateArg::Failed,
        StateArg::Cancelled,
    ];
    fn code(self) -> i64 {
        match self {
            StateArg::Waiting => 0,
            StateArg::Running => 1,
            StateArg::Successful => 2,
            StateArg::Failed => 3,
            StateArg::Cancelled => 4,
        }
    }
    fn name(self) -> &'static str {
        match self {
            StateArg::Waiting => "waiting",
            StateArg::Running => "running",
            StateArg::Successful => "successful",
            StateArg::Failed => "failed",
            StateArg::Cancelled => "cancelled",
        }
    }
}

/// `colonyd process ls`
#[derive(Debug, clap::Args)]
pub struct ProcessLsArgs {
    /// Where the server is
    #[command(flatten)]
    pub server: ServerArgs,
    /// The colony. Default $COLONIES_COLONY_NAME
    #[arg(long, value_name = "NAME")]
    pub colony: Option<String>,
    /// Only processes in this state. Default: every state
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    /// Most processes listed per state
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub count: i64,
    /// One JSON array of the processes as the server returns them, instead of a table
    #[arg(long)]
    pub json: bool,
}

/// `colonyd channel tail`
#[derive(Debug, clap::Args)]
pub struct ChannelTailArgs {
    /// Where the server is
    #[command(flatten)]
    pub server: ServerArgs,
    /// The process whose channel to follow
    pub processid: String,
    /// The channel's name
    pub channel: String,
    /// Start after this sequence number (0: from the beginning)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub after: i64,
    /// Stop after this many seconds without an entry
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub timeout: i64,
    /// One JSON object per entry and line (JSON Lines): the entry as the server sends it,
    /// plus `text`, its payload decoded
    #[arg(long)]
    pub json: bool,
}

/// `colonyd backup`
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where the server is
    #[command(flatten)]
    pub server: ServerArgs,
    /// Directory the server writes the copy to
    pub dir: String,
    /// The server's answer as JSON (`dir`, `records`)
    #[arg(long)]
    pub json: bool,
}

/// `colonyd status`
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Where the server is
    #[command(flatten)]
    pub server: ServerArgs,
    /// One JSON object (serverinfo, statistics, status as the server returns them)
    #[arg(long)]
    pub json: bool,
}

/// `colonyd export`
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Where the server is
    #[command(flatten)]
    pub server: ServerArgs,
    /// The file to write ("-": standard output)
    pub file: std::path::PathBuf,
}

/// `colonyd import`
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Where the target server is
    #[command(flatten)]
    pub server: ServerArgs,
    /// A file `colonyd export` wrote
    pub file: std::path::PathBuf,
    /// Private keys to sign with, one per line (64 hex digits), optionally after a label; the
    /// line labelled `server` is the target server owner's key (else COLONIES_SERVER_PRVKEY);
    /// the others are matched by the IDs the items name (colony owners, executors, users)
    #[arg(long, env = "COLONYD_IMPORT_KEYS", value_name = "FILE")]
    pub keys: std::path::PathBuf,
    /// Show what would be sent and which key signs it; send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The report as one JSON array instead of lines
    #[arg(long)]
    pub json: bool,
}

/// `colonyd restore`
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A directory `colonyd backup` wrote
    pub backup: std::path::PathBuf,
    /// The data directory to restore into (empty or new)
    #[arg(long, env = "COLONYD_DATA_DIR", value_name = "DIR")]
    pub data_dir: std::path::PathBuf,
}

/// `--server HOST:PORT`, else `COLONIES_SERVER_HOST`:`COLONIES_SERVER_PORT`, else
/// 127.0.0.1:50080.
fn server_addr(s: &ServerArgs) -> String {
    if let Some(s) = s.server.as_ref().filter(|s| !s.is_empty()) {
        return s.clone();
    }
    let host = env("COLONIES_SERVER_HOST").unwrap_or_else(|| "127.0.0.1".into());
    let port = env("COLONIES_SERVER_PORT").unwrap_or_else(|| "50080".into());
    format!("{host}:{port}")
}

/// The server to talk to: [`server_addr`], over HTTPS with `--tls` or `--ca-file`.
fn server_target(s: &ServerArgs) -> Result<Target, (u8, String)> {
    let addr = server_addr(s);
    if s.tls || s.ca_file.is_some() {
        Target::tls(&addr, s.ca_file.as_deref()).map_err(failed)
    } else {
        Ok(Target::plain(&addr))
    }
}

fn key_from(var: &str) -> Result<PrivateKey, (u8, String)> {
    let hex =
        env(var).ok_or_else(|| usage(format!("set {var} to the private key to sign with")))?;
    PrivateKey::from_hex(&hex).map_err(|_| usage(format!("{var} is not a valid private key")))
}

/// `colonyd process ls`
pub fn process_ls(a: &ProcessLsArgs) -> Outcome {
    let key = key_from("COLONIES_PRVKEY")?;
    let colony = a
        .colony
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| env("COLONIES_COLONY_NAME"))
        .ok_or_else(|| usage("give --colony or set COLONIES_COLONY_NAME"))?;
    let states: Vec<StateArg> = match a.state {
        None => StateArg::ALL.to_vec(),
        Some(s) => vec![s],
    };
    let mut c = Client::open(&server_target(&a.server)?).map_err(failed)?;
    let mut out = std::io::stdout().lock();
    let mut all = Vec::new();
    if !a.json {
        let _ = writeln!(
            out,
            "{:<64}  {:<10}  {:<20}  {:<16}  SUBMITTED",
            "PROCESSID", "STATE", "FUNCNAME", "EXECUTORTYPE"
        );
    }
    for st in states {
        let list = c
            .call(
                serde_json::json!({"msgtype":"getprocessesmsg","colonyname":colony,"count":a.count,"state":st.code()}),
                &key,
            )
            .map_err(failed)?;
        for p in list.as_array().into_iter().flatten() {
            if a.json {
                all.push(p.clone());
                continue;
            }
            let _ = writeln!(
                out,
                "{:<64}  {:<10}  {:<20}  {:<16}  {}",
                p["processid"].as_str().unwrap_or(""),
                st.name(),
                p["spec"]["funcname"].as_str().unwrap_or(""),
                p["spec"]["conditions"]["executortype"]
                    .as_str()
                    .unwrap_or(""),
                p["submissiontime"].as_str().unwrap_or("")
            );
        }
    }
    if a.json {
        let _ = writeln!(out, "{}", serde_json::Value::Array(all));
    }
    Ok(())
}

/// `colonyd channel tail`
pub fn channel_tail(a: &ChannelTailArgs) -> Outcome {
    use async_tungstenite::tungstenite::{client, Message};
    let (pid, name, after, timeout) = (&a.processid, &a.channel, a.after, a.timeout);
    let key = key_from("COLONIES_PRVKEY")?;
    let target = server_target(&a.server)?;
    let stream = target.open().map_err(failed)?;
    let (mut ws, _) = client(
        format!("{}://{}/pubsub", target.ws_scheme(), target.addr()),
        stream,
    )
    .map_err(failed)?;
    let req = crate::client::envelope(
        &serde_json::json!({"msgtype":"subscribechannelmsg","processid":pid,"name":name,"afterseq":after,"timeout":timeout}),
        &key,
    );
    ws.send(Message::text(String::from_utf8_lossy(&req).into_owned()))
        .map_err(failed)?;
    let mut out = std::io::stdout().lock();
    loop {
        let msg = match ws.read() {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => return Ok(()),
            Ok(_) => continue,
            Err(e) => return Err(failed(e)),
        };
        let (error, v) = crate::client::decode_reply(msg.as_str().as_bytes()).map_err(failed)?;
        if error {
            return Err(failed(CallError {
                status: u16::try_from(v["status"].as_u64().unwrap_or(0)).unwrap_or(0),
                message: v["message"].as_str().unwrap_or("error").to_string(),
            }));
        }
        let entries = v.as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            return Ok(()); // the server ended the subscription
        }
        for mut e in entries {
            use base64::Engine;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(e["payload"].as_str().unwrap_or_default())
                .unwrap_or_default();
            if a.json {
                if let Some(o) = e.as_object_mut() {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    o.insert("text".into(), serde_json::Value::String(text));
                }
                let _ = writeln!(out, "{e}");
                let _ = out.flush();
                continue;
            }
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}",
                e["sequence"],
                e["type"].as_str().unwrap_or("data"),
                e["senderid"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(8)
                    .collect::<String>(),
                String::from_utf8_lossy(&payload)
            );
            let _ = out.flush();
        }
    }
}

/// `colonyd backup DIR`
pub fn backup(a: &BackupArgs) -> Outcome {
    let dir = &a.dir;
    let key = key_from("COLONIES_SERVER_PRVKEY")?;
    let mut c = Client::open(&server_target(&a.server)?).map_err(failed)?;
    // the server copies while this waits: on a terminal, say so and count the seconds
    let waiting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let ticker = {
        let waiting = waiting.clone();
        std::thread::spawn(move || {
            let mut progress = Progress::new();
            while waiting.load(std::sync::atomic::Ordering::Relaxed) {
                progress.show(|secs| {
                    format!("backing up: the server is copying its store ({secs:.0} s)")
                });
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            progress.done();
        })
    };
    let v = c.call(
        serde_json::json!({"msgtype":"colonydbackupmsg","dir":dir}),
        &key,
    );
    waiting.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    let v = v.map_err(failed)?;
    if a.json {
        say!("{v}");
        return Ok(());
    }
    say!(
        "backup written to {} ({} records)",
        v["dir"].as_str().unwrap_or(dir),
        v["records"]
    );
    Ok(())
}

/// `colonyd export FILE`
pub fn export(a: &ExportArgs) -> Outcome {
    let key = key_from("COLONIES_SERVER_PRVKEY")?;
    let doc = crate::migrate::export(&server_target(&a.server)?, &key).map_err(|e| {
        if e.status == 403 && e.message.contains("colonydexportmsg") {
            failed(format!(
                "{e}: colonydexportmsg is colonyd's own (an upstream server does not answer it)"
            ))
        } else {
            failed(e)
        }
    })?;
    let mut text = serde_json::to_string_pretty(&doc).map_err(failed)?;
    text.push('\n');
    let colonies = doc["colonies"].as_array().map_or(0, Vec::len);
    if a.file.as_os_str() == "-" {
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(failed)?;
    } else {
        // written beside, then renamed: a failed export never leaves half a file
        let tmp = a.file.with_extension("partial");
        std::fs::write(&tmp, &text)
            .and_then(|()| std::fs::rename(&tmp, &a.file))
            .map_err(|e| failed(format!("cannot write {}: {e}", a.file.display())))?;
        let count = |field: &str| -> usize {
            doc["colonies"].as_array().map_or(0, |cs| {
                cs.iter()
                    .map(|c| c[field].as_array().map_or(0, Vec::len))
                    .sum()
            })
        };
        eprintln!(
            "exported {colonies} colonies, {} executors, {} users, {} functions, {} locations, \
             {} blueprint definitions, {} blueprints, {} crons, {} generators to {}",
            count("executors"),
            count("users"),
            count("functions"),
            count("locations"),
            count("blueprintdefinitions"),
            count("blueprints"),
            count("crons"),
            count("generators"),
            a.file.display()
        );
    }
    Ok(())
}

/// `colonyd import FILE --keys KEYS`
pub fn import(a: &ImportArgs) -> Outcome {
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| failed(format!("cannot read {}: {e}", a.file.display())))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| failed(format!("{} is not JSON: {e}", a.file.display())))?;
    crate::migrate::check_document(&doc)
        .map_err(|e| failed(format!("{}: {e}", a.file.display())))?;
    let keys_text = std::fs::read_to_string(&a.keys)
        .map_err(|e| failed(format!("cannot read {}: {e}", a.keys.display())))?;
    let mut keys = crate::migrate::KeyRing::parse(&keys_text)
        .map_err(|e| usage(format!("{}: {e}", a.keys.display())))?;
    if let Ok(k) = key_from("COLONIES_SERVER_PRVKEY") {
        keys.set_server(k);
    }
    if keys.is_empty() {
        return Err(usage(format!("{} holds no keys", a.keys.display())));
    }
    let target = server_target(&a.server)?;
    let json = a.json;
    let mut print = |item: &crate::migrate::Item| {
        if json {
            return;
        }
        use crate::migrate::Outcome as O;
        let (what, why) = match &item.outcome {
            O::Created => ("created", String::new()),
            O::Present => ("present", String::new()),
            O::WouldSend => ("would send", format!(" (signed by {})", item.signer)),
            O::Refused(m) => ("REFUSED", format!(": {m}")),
        };
        say!("{what:<10} {:<19} {}{why}", item.kind, item.name);
    };
    let report =
        crate::migrate::import(&target, &doc, &keys, a.dry_run, &mut print).map_err(failed)?;
    let n =
        |f: fn(&crate::migrate::Outcome) -> bool| report.iter().filter(|i| f(&i.outcome)).count();
    use crate::migrate::Outcome as O;
    let refused = n(|o| matches!(o, O::Refused(_)));
    if json {
        let all: Vec<serde_json::Value> =
            report.iter().map(crate::migrate::Item::to_json).collect();
        say!("{}", serde_json::Value::Array(all));
    } else {
        say!(
            "import into {}: {} created, {} present, {} would be sent, {refused} refused",
            target.addr(),
            n(|o| matches!(o, O::Created)),
            n(|o| matches!(o, O::Present)),
            n(|o| matches!(o, O::WouldSend)),
        );
    }
    if refused > 0 {
        return Err(failed(format!("{refused} items refused")));
    }
    Ok(())
}

/// `colonyd restore BACKUP --data-dir DIR`
pub fn restore(a: &RestoreArgs) -> Outcome {
    let backup = a.backup.display();
    let data = a.data_dir.display();
    let src = a.backup.join("store");
    if !src.is_dir() {
        return Err(failed(format!(
            "{} is not a colonyd backup (no store/ inside)",
            backup
        )));
    }
    let dst = a.data_dir.as_path();
    if dst.exists() && std::fs::read_dir(dst).map_err(failed)?.next().is_some() {
        return Err(failed(format!(
            "{data} is not empty; restore only into an empty directory"
        )));
    }
    let (files, bytes) = copy_dir(&src, &dst.join("store")).map_err(failed)?;
    say!(
        "restored {backup} into {data} ({files} files, {})",
        human_bytes(bytes)
    );
    Ok(())
}

/// Progress of a long command on stderr, only when stderr is a terminal (a script or a log
/// gets the final line on stdout and nothing else), at most ten updates a second.
struct Progress {
    on: bool,
    last: std::time::Instant,
    started: std::time::Instant,
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        let now = std::time::Instant::now();
        Progress {
            on: std::io::stderr().is_terminal(),
            // the first update shows at once
            last: now
                .checked_sub(std::time::Duration::from_secs(1))
                .unwrap_or(now),
            started: now,
        }
    }

    fn show(&mut self, what: impl FnOnce(f64) -> String) {
        if self.on && self.last.elapsed() >= std::time::Duration::from_millis(100) {
            self.last = std::time::Instant::now();
            let line = what(self.started.elapsed().as_secs_f64());
            eprint!("\r\x1b[2K{line}");
        }
    }

    fn done(&self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }
}

/// Copies `from` into `to`, every file and directory entry durable before it returns (a power
/// cut right after a restore must not leave half a store).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let mut progress = Progress::new();
    let mut copied = (0u64, 0u64);
    copy_tree(from, to, &mut copied, &mut progress)?;
    crate::store::sync_dir_and_parent(to)?;
    progress.done();
    Ok(copied)
}

/// Copies `from` into `to`, fsyncing every file and every directory below `to` (`to` itself
/// is fsynced by its caller, after its own entry is made).
fn copy_tree(
    from: &std::path::Path,
    to: &std::path::Path,
    copied: &mut (u64, u64),
    progress: &mut Progress,
) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target, copied, progress)?;
            crate::store::sync_dir(&target)?;
        } else {
            copied.1 += std::fs::copy(e.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
            copied.0 += 1;
            let (files, bytes) = *copied;
            progress.show(|secs| {
                format!(
                    "restoring: {files} files, {} ({secs:.0} s)",
                    human_bytes(bytes)
                )
            });
        }
    }
    Ok(())
}

/// `colonyd completions SHELL`: the completion script for `shell` on `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "colonyd", out);
}

/// Bytes for people: 1.5 GiB.
fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units.get(u).copied().unwrap_or("B"))
    }
}

/// Seconds for people: 3d 4h, 2h 13m, 5m 2s.
fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// `colonyd status`
pub fn status(a: &StatusArgs) -> Outcome {
    let key = key_from("COLONIES_SERVER_PRVKEY")?;
    let target = server_target(&a.server)?;
    let mut c = Client::open(&target).map_err(failed)?;
    let info = c
        .call(serde_json::json!({"msgtype":"getserverinfomsg"}), &key)
        .map_err(failed)?;
    let stats = c
        .call(serde_json::json!({"msgtype":"getstatisticsmsg"}), &key)
        .map_err(failed)?;
    let st = c
        .call(serde_json::json!({"msgtype":"colonydstatusmsg"}), &key)
        .map_err(|e| {
            if e.status == 0 {
                failed(e)
            } else {
                failed(format!(
                    "{e}: colonydstatusmsg is colonyd's own (an upstream server does not answer it)"
                ))
            }
        })?;
    let mut out = std::io::stdout().lock();
    if a.json {
        let all = serde_json::json!({"serverinfo": info, "statistics": stats, "status": st});
        let _ = writeln!(out, "{all}");
        return Ok(());
    }
    let n = |v: &serde_json::Value| v.as_i64().unwrap_or(0);
    let u = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let by_state = |kind: &str| {
        ["waiting", "running", "successful", "failed", "cancelled"]
            .iter()
            .map(|s| format!("{s} {}", n(&stats[format!("{s}{kind}").as_str()])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows = [
        (
            "server",
            format!(
                "{} ({}), colonyd {} (build {})",
                target.addr(),
                if st["tls"].as_bool().unwrap_or(false) {
                    "https"
                } else {
                    "http"
                },
                st["version"].as_str().unwrap_or("?"),
                info["buildversion"].as_str().unwrap_or("?"),
            ),
        ),
        (
            "uptime",
            format!(
                "{} (since {})",
                human_duration(u(&st["uptimeseconds"])),
                st["started"].as_str().unwrap_or("?")
            ),
        ),
        ("sync", st["sync"].as_str().unwrap_or("?").to_string()),
        (
            "data dir",
            st["datadir"].as_str().unwrap_or("?").to_string(),
        ),
        ("store", human_bytes(u(&st["storebytes"]))),
        (
            "free disk",
            format!(
                "{} (writes that add data stop below {})",
                human_bytes(u(&st["freediskbytes"])),
                human_bytes(u(&st["mindiskreservebytes"]))
            ),
        ),
        ("colonies", n(&stats["colonies"]).to_string()),
        (
            "executors",
            format!(
                "{} ({} active, {} unregistered)",
                n(&stats["executors"]),
                n(&stats["activeexecutors"]),
                n(&stats["unregisteredexecutors"])
            ),
        ),
        ("channels", u(&st["channels"]).to_string()),
        ("processes", by_state("processes")),
        ("workflows", by_state("workflows")),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<10} {v}");
    }
    Ok(())
}

//! The operator's commands besides `serve`: `keygen`, `backup`, `restore`, `process ls`,
//! `channel tail`. They speak the protocol with a key from the environment, so a box with
//! nothing else installed can be debugged. Exit codes: 0 success, 1 failure (the server
//! refused, or I/O failed), 2 usage error.

// replies are read as serde_json::Value, whose `v["key"]` never panics (a missing key or a
// non-object reads as null); nothing else here indexes
#![allow(clippy::indexing_slicing)]

use crate::client::{CallError, Client};
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

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// `--server HOST:PORT`, else `COLONIES_SERVER_HOST`:`COLONIES_SERVER_PORT`, else
/// 127.0.0.1:50080.
fn server_addr(flags: &Flags) -> String {
    if let Some(s) = flags.get("--server") {
        return s.to_string();
    }
    let host = env("COLONIES_SERVER_HOST").unwrap_or_else(|| "127.0.0.1".into());
    let port = env("COLONIES_SERVER_PORT").unwrap_or_else(|| "50080".into());
    format!("{host}:{port}")
}

fn key_from(var: &str) -> Result<PrivateKey, (u8, String)> {
    let hex =
        env(var).ok_or_else(|| usage(format!("set {var} to the private key to sign with")))?;
    PrivateKey::from_hex(&hex).map_err(|_| usage(format!("{var} is not a valid private key")))
}

/// Parsed `--flag value` pairs and positional arguments.
struct Flags {
    pairs: Vec<(String, String)>,
    positional: Vec<String>,
}

impl Flags {
    fn parse(args: &[String], known: &[&str]) -> Result<Flags, (u8, String)> {
        let mut f = Flags {
            pairs: Vec::new(),
            positional: Vec::new(),
        };
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a.starts_with("--") {
                let (k, v) = match a.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => {
                        i += 1;
                        let v = args
                            .get(i)
                            .ok_or_else(|| usage(format!("{a} needs a value")))?;
                        (a.clone(), v.clone())
                    }
                };
                if !known.contains(&k.as_str()) {
                    return Err(usage(format!("unknown option {k}")));
                }
                f.pairs.push((k, v));
            } else {
                f.positional.push(a.clone());
            }
            i += 1;
        }
        Ok(f)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Help for the client commands.
pub const HELP: &str = "CLIENT COMMANDS (server from --server HOST:PORT, else COLONIES_SERVER_HOST/PORT):
  colonyd process ls [--colony NAME] [--state waiting|running|successful|failed|cancelled] [--count N]
      list processes; signs with COLONIES_PRVKEY (a member of the colony), colony from
      --colony or COLONIES_COLONY_NAME
  colonyd channel tail PROCESSID CHANNEL [--after N] [--timeout SECS]
      print a channel's entries as they arrive (history first); signs with COLONIES_PRVKEY
  colonyd backup DIR
      ask the running server for a consistent copy of its store in DIR (on the server's
      machine; relative paths are inside its data directory); signs with COLONIES_SERVER_PRVKEY
  colonyd restore BACKUP --data-dir DIR
      copy a backup into an empty data directory (the server must not be running on it)
";

/// `colonyd process ls`
pub fn process_ls(args: &[String]) -> Outcome {
    let f = Flags::parse(args, &["--server", "--colony", "--state", "--count"])?;
    let key = key_from("COLONIES_PRVKEY")?;
    let colony = f
        .get("--colony")
        .map(str::to_string)
        .or_else(|| env("COLONIES_COLONY_NAME"))
        .ok_or_else(|| usage("give --colony or set COLONIES_COLONY_NAME"))?;
    let states: Vec<(i64, &str)> = match f.get("--state") {
        None => vec![
            (0, "waiting"),
            (1, "running"),
            (2, "successful"),
            (3, "failed"),
            (4, "cancelled"),
        ],
        Some(s) => {
            let all = [
                (0, "waiting"),
                (1, "running"),
                (2, "successful"),
                (3, "failed"),
                (4, "cancelled"),
            ];
            vec![*all
                .iter()
                .find(|(_, n)| *n == s)
                .ok_or_else(|| usage(format!("unknown state {s}")))?]
        }
    };
    let count: i64 = f
        .get("--count")
        .map(|c| c.parse().map_err(|_| usage("--count needs a number")))
        .transpose()?
        .unwrap_or(100);
    let mut c = Client::connect(&server_addr(&f)).map_err(failed)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<64}  {:<10}  {:<20}  {:<16}  SUBMITTED",
        "PROCESSID", "STATE", "FUNCNAME", "EXECUTORTYPE"
    );
    for (st, name) in states {
        let list = c
            .call(
                serde_json::json!({"msgtype":"getprocessesmsg","colonyname":colony,"count":count,"state":st}),
                &key,
            )
            .map_err(failed)?;
        for p in list.as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "{:<64}  {:<10}  {:<20}  {:<16}  {}",
                p["processid"].as_str().unwrap_or(""),
                name,
                p["spec"]["funcname"].as_str().unwrap_or(""),
                p["spec"]["conditions"]["executortype"]
                    .as_str()
                    .unwrap_or(""),
                p["submissiontime"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

/// `colonyd channel tail`
pub fn channel_tail(args: &[String]) -> Outcome {
    use async_tungstenite::tungstenite::{client, Message};
    let f = Flags::parse(args, &["--server", "--after", "--timeout"])?;
    let [pid, name] = f.positional.as_slice() else {
        return Err(usage("usage: colonyd channel tail PROCESSID CHANNEL"));
    };
    let key = key_from("COLONIES_PRVKEY")?;
    let after: i64 = f
        .get("--after")
        .map(|v| v.parse().map_err(|_| usage("--after needs a number")))
        .transpose()?
        .unwrap_or(0);
    let timeout: i64 = f
        .get("--timeout")
        .map(|v| v.parse().map_err(|_| usage("--timeout needs a number")))
        .transpose()?
        .unwrap_or(3600);
    let addr = server_addr(&f);
    let stream = std::net::TcpStream::connect(&addr)
        .map_err(|e| failed(format!("cannot connect to {addr}: {e}")))?;
    let (mut ws, _) = client(format!("ws://{addr}/pubsub"), stream).map_err(failed)?;
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
        for e in entries {
            use base64::Engine;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(e["payload"].as_str().unwrap_or_default())
                .unwrap_or_default();
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
pub fn backup(args: &[String]) -> Outcome {
    let f = Flags::parse(args, &["--server"])?;
    let [dir] = f.positional.as_slice() else {
        return Err(usage("usage: colonyd backup DIR"));
    };
    let key = key_from("COLONIES_SERVER_PRVKEY")?;
    let mut c = Client::connect(&server_addr(&f)).map_err(failed)?;
    let v = c
        .call(
            serde_json::json!({"msgtype":"colonydbackupmsg","dir":dir}),
            &key,
        )
        .map_err(failed)?;
    println!(
        "backup written to {} ({} records)",
        v["dir"].as_str().unwrap_or(dir),
        v["records"]
    );
    Ok(())
}

/// `colonyd restore BACKUP --data-dir DIR`
pub fn restore(args: &[String]) -> Outcome {
    let f = Flags::parse(args, &["--data-dir"])?;
    let [backup] = f.positional.as_slice() else {
        return Err(usage("usage: colonyd restore BACKUP --data-dir DIR"));
    };
    let data = f
        .get("--data-dir")
        .map(str::to_string)
        .or_else(|| env("COLONYD_DATA_DIR"))
        .ok_or_else(|| usage("give --data-dir (an empty or new directory)"))?;
    let src = std::path::Path::new(backup).join("store");
    if !src.is_dir() {
        return Err(failed(format!(
            "{} is not a colonyd backup (no store/ inside)",
            backup
        )));
    }
    let dst = std::path::Path::new(&data);
    if dst.exists() && std::fs::read_dir(dst).map_err(failed)?.next().is_some() {
        return Err(failed(format!(
            "{data} is not empty; restore only into an empty directory"
        )));
    }
    copy_dir(&src, &dst.join("store")).map_err(failed)?;
    println!("restored {} into {}", backup, data);
    Ok(())
}

/// Copies `from` into `to`, every file and directory entry durable before it returns (a power
/// cut right after a restore must not leave half a store).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    copy_tree(from, to)?;
    crate::store::sync_dir_and_parent(to)
}

/// Copies `from` into `to`, fsyncing every file and every directory below `to` (`to` itself
/// is fsynced by its caller, after its own entry is made).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target)?;
            crate::store::sync_dir(&target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(())
}

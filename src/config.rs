//! Command-line and environment configuration for `colonyd serve` (decisions.md "Server and
//! transport"). Every option has a flag; several also have an environment variable. Flags win
//! over the environment, which wins over defaults.

use crate::store::writer::SyncMode;
use crate::transport::HttpConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Parsed `serve` configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the API binds (`--listen`).
    pub listen: String,
    /// File the bound address's port is written to (`--port-file`).
    pub port_file: Option<PathBuf>,
    /// Data directory (`--data-dir`).
    pub data_dir: PathBuf,
    /// Sync policy (`--sync`).
    pub sync: SyncMode,
    /// Log filter (`--log-level`).
    pub log_level: String,
    /// Transport limits.
    pub http: HttpConfig,
    /// Longest assign long-poll in seconds (`--max-long-poll`).
    pub max_long_poll_secs: u64,
    /// Most concurrent assign long-polls (`--max-long-polls`).
    pub max_long_polls: usize,
    /// Most concurrent assign long-polls per executor (`--max-long-polls-per-executor`).
    pub max_long_polls_per_executor: usize,
    /// fjall block cache bytes (`--cache-size`).
    pub cache_bytes: u64,
    /// fjall memtable bytes per keyspace (`--memtable-size`).
    pub memtable_bytes: u64,
    /// fjall journal cap bytes (`--journal-size`).
    pub journal_bytes: u64,
    /// Free disk space below which writes that add data are refused (`--min-free-disk`).
    pub min_free_disk: u64,
    /// Executor threads (`--threads`).
    pub threads: usize,
    /// Channel limits and retention.
    pub channels: crate::store::ChannelPolicy,
    /// WebSocket limits.
    pub pubsub: crate::pubsub::PubsubConfig,
    /// Metrics listener (`--metrics-listen`), off when unset.
    pub metrics_listen: Option<String>,
    /// TLS certificate chain and private key (`--tls-cert`, `--tls-key`), both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Retention and stale executors.
    pub housekeeping: crate::housekeeping::Policy,
    /// What to do with cron ticks missed while the server was down (`--cron-missed`).
    pub cron_missed: crate::schedules::Missed,
    /// Most packed arguments one generator holds (`--generator-max-args`).
    pub generator_max_args: u64,
    /// History entries kept per blueprint (`--blueprint-history`).
    pub blueprint_history: usize,
}

/// One documented option.
struct Opt {
    flag: &'static str,
    env: &'static str,
    value: &'static str,
    help: &'static str,
}

const OPTS: &[Opt] = &[
    Opt { flag: "--listen", env: "COLONYD_LISTEN", value: "HOST:PORT", help: "address to listen on; port 0 picks a free port. Default 127.0.0.1:$COLONIES_SERVER_PORT, else 127.0.0.1:50080" },
    Opt { flag: "--port-file", env: "", value: "FILE", help: "write the bound port to FILE once listening" },
    Opt { flag: "--data-dir", env: "COLONYD_DATA_DIR", value: "DIR", help: "data directory. Default $STATE_DIRECTORY (systemd), else ./colonyd-data" },
    Opt { flag: "--sync", env: "COLONYD_SYNC", value: "always|never", help: "always (default): fdatasync before acknowledging any write, nothing acknowledged is lost on power loss; never: the OS decides when to write back, acknowledged writes survive a crash of colonyd but may be lost on power loss" },
    Opt { flag: "--log-level", env: "RUST_LOG", value: "FILTER", help: "log filter, e.g. info, debug, colonyd=trace. Default info" },
    Opt { flag: "--max-payload", env: "COLONYD_MAX_PAYLOAD", value: "SIZE", help: "largest channel entry payload (413 above). Default 10MiB" },
    Opt { flag: "--max-body", env: "COLONYD_MAX_BODY", value: "SIZE", help: "largest request body (413 above). Default 7 x --max-payload + 1MiB: pycolonies and the colonyos crate send a payload as a JSON array of byte values inside base64, up to 6.7 body bytes per payload byte" },
    Opt { flag: "--max-channels", env: "", value: "N", help: "most channels one process may declare. Default 100" },
    Opt { flag: "--channel-max-entries", env: "", value: "N", help: "most entries per channel, 0 = no cap (default); appends beyond get 507" },
    Opt { flag: "--channel-rate", env: "", value: "N", help: "channel appends per second per process (bursts of 5 s allowed), 0 = unlimited (default); excess gets 429" },
    Opt { flag: "--channel-disk-budget", env: "", value: "SIZE", help: "total channel payload bytes kept, 0 = unlimited (default); appends beyond get 507" },
    Opt { flag: "--channel-retention", env: "COLONYD_CHANNEL_RETENTION", value: "DURATION", help: "how long a finished process's channels stay readable (e.g. 30m, 24h, 7d). Default 0: removed when the process finishes, as upstream" },
    Opt { flag: "--segment-duration", env: "", value: "DURATION", help: "age at which channel data starts a new segment; old segments are relocated and dropped. Default 1h" },
    Opt { flag: "--body-memory", env: "COLONYD_BODY_MEMORY", value: "SIZE", help: "request-body bytes buffered at once; large requests beyond it get 503. Default 2 x --max-body" },
    Opt { flag: "--max-connections", env: "COLONYD_MAX_CONNECTIONS", value: "N", help: "most simultaneous client connections (503 above). Default 1024" },
    Opt { flag: "--header-timeout", env: "", value: "SECS", help: "time to receive a request head. Default 10" },
    Opt { flag: "--body-timeout", env: "", value: "SECS", help: "time to receive a request body. Default 60" },
    Opt { flag: "--idle-timeout", env: "", value: "SECS", help: "keep-alive idle time before a connection is closed. Default 120" },
    Opt { flag: "--max-long-poll", env: "", value: "SECS", help: "longest an assign request may wait. Default 3600" },
    Opt { flag: "--max-long-polls", env: "", value: "N", help: "most assign requests long-polling at once; beyond it an assign makes a single attempt and gets 503 if nothing is waiting. Default 512" },
    Opt { flag: "--max-long-polls-per-executor", env: "", value: "N", help: "most assign requests one executor may have long-polling at once (same refusal). Default 8" },
    Opt { flag: "--memory-budget", env: "COLONYD_MEMORY_BUDGET", value: "SIZE", help: "memory the storage engine may use: sets the block cache (1/8) and memtables (1/16 each) unless given below; the journal cap (on disk) is the budget, at least 64MiB. Default 32MiB, for a 512 MB board" },
    Opt { flag: "--cache-size", env: "", value: "SIZE", help: "storage block cache. Default memory budget / 8" },
    Opt { flag: "--memtable-size", env: "", value: "SIZE", help: "storage memtable per keyspace. Default memory budget / 16" },
    Opt { flag: "--journal-size", env: "", value: "SIZE", help: "storage journal cap before flushing, at least 64MiB. Default the memory budget" },
    Opt { flag: "--min-free-disk", env: "COLONYD_MIN_FREE_DISK", value: "SIZE", help: "free space to keep on the data directory's filesystem: below it, writes that add data get 507 while reads and removals still work, and writes resume once space is freed; 0 = no reserve. Default 64MiB" },
    Opt { flag: "--max-websockets", env: "", value: "N", help: "most open WebSocket (/pubsub) connections (503 above). Default 4096" },
    Opt { flag: "--max-subscriptions", env: "", value: "N", help: "most concurrent subscriptions on one WebSocket connection. Default 64" },
    Opt { flag: "--ws-ping-interval", env: "", value: "SECS", help: "ping idle WebSocket clients this often; close after two silent intervals. Default 30" },
    Opt { flag: "--ws-write-timeout", env: "", value: "SECS", help: "close a WebSocket whose client takes no frame for this long. Default 120" },
    Opt { flag: "--metrics-listen", env: "COLONYD_METRICS_LISTEN", value: "HOST:PORT", help: "serve Prometheus metrics at GET /metrics on this separate listener. Default: 127.0.0.1:$COLONIES_MONITOR_PORT if that is set, else off" },
    Opt { flag: "--tls-cert", env: "COLONYD_TLS_CERT", value: "FILE", help: "serve HTTPS and WSS with this PEM certificate chain (server certificate first); needs --tls-key. Default: plain HTTP" },
    Opt { flag: "--tls-key", env: "COLONYD_TLS_KEY", value: "FILE", help: "PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert" },
    Opt { flag: "--retention", env: "COLONIES_RETENTION", value: "true|false", help: "purge old finished work, as upstream: successful processes and workflows that finished, and log lines added, more than --retention-policy ago; failed and cancelled work is kept. Runs every minute in small batches. Default false" },
    Opt { flag: "--retention-policy", env: "COLONIES_RETENTION_POLICY", value: "SECS", help: "how old finished work must be for --retention to purge it. Default 0 (as upstream: everything successful is purged within a minute); upstream's documentation uses 604800 (a week)" },
    Opt { flag: "--retention-interval", env: "", value: "SECS", help: "how often the retention purge runs. Default 60, as upstream" },
    Opt { flag: "--stale-executor-duration", env: "COLONIES_STALE_EXECUTOR_DURATION", value: "SECS", help: "unregister executors not heard from (assign calls) for this long, as removeexecutormsg does: their running processes wait again. An executor waiting in an assign long-poll is being heard from. 0 = never. Default 600" },
    Opt { flag: "--cleanup-interval", env: "COLONIES_CLEANUP_INTERVAL", value: "SECS", help: "how often stale executors are looked for. Default 60" },
    Opt { flag: "--cron-missed", env: "COLONYD_CRON_MISSED", value: "run-once|skip", help: "a cron tick that fell while the server was down: run-once (default, as upstream) runs it once at startup, then the schedule continues from then; skip drops it" },
    Opt { flag: "--generator-max-args", env: "", value: "N", help: "most packed arguments a generator holds before packgeneratormsg gets 507. Default 100000" },
    Opt { flag: "--blueprint-history", env: "", value: "N", help: "changes kept per blueprint in getblueprinthistorymsg; older ones are dropped. Default 100 (upstream keeps every one)" },
    Opt { flag: "--threads", env: "COLONYD_THREADS", value: "N", help: "request-handling threads. Default: number of CPUs" },
];

/// The text of `colonyd serve --help`.
pub fn serve_help() -> String {
    let mut s = String::from(
        "colonyd serve: run the ColonyOS-compatible server\n\n\
         USAGE: colonyd serve [OPTIONS]\n\nOPTIONS (flag, environment variable):\n",
    );
    for o in OPTS {
        s.push_str(&format!("  {} {}", o.flag, o.value));
        if !o.env.is_empty() {
            s.push_str(&format!("   [env {}]", o.env));
        }
        s.push_str(&format!("\n      {}\n", o.help));
    }
    s.push_str(
        "  -h, --help\n      print this help\n\n\
         SERVER OWNER: COLONIES_SERVER_ID, or COLONIES_SERVER_PRVKEY (ID derived), on first start;\n\
         with neither, the first start generates an owner key and writes it to\n\
         <data-dir>/server-owner.key (mode 0600). Later starts use the stored ID; if either\n\
         variable is set it must match, or colonyd refuses to start.\n\
         SCHEDULED WORK: crons (addcronmsg, getcronmsg, getcronsmsg, runcronmsg, removecronmsg)\n\
         and generators (addgeneratormsg, getgeneratormsg, getgeneratorsmsg, resolvegeneratormsg,\n\
         packgeneratormsg, removegeneratormsg) run workflows; their next runs and packed\n\
         arguments are durable. Also answered: locations (addlocationmsg, getlocationmsg,\n\
         getlocationsmsg, removelocationmsg), getclustermsg (this one node), blueprints and\n\
         their definitions (…blueprint…msg: one reconcile cron per kind and location) and\n\
         ColonyFS metadata (addfilemsg, getfilemsg, getfilesmsg, getfilelabelsmsg,\n\
         removefilemsg, createsnapshotmsg, getsnapshot(s)msg, removesnapshotmsg,\n\
         removeallsnapshotmsg; the bytes live in the clients' S3 store).\n\
         OTHER ENVIRONMENT: COLONIES_ALLOW_EXECUTOR_REREGISTER=true lets addexecutormsg replace an\n\
         executor of the same name; BUILD_VERSION / BUILD_TIME are reported by versionmsg.\n",
    );
    s
}

/// Parses a duration: seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86_400),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 90s, 15m, 24h, 7d"))?;
    n.checked_mul(mult)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("invalid duration {s:?}: too large"))
}

/// Parses a size: bytes, or a number with a unit (KiB MiB GiB, K M G…).
pub fn parse_size(s: &str) -> Result<u64, String> {
    if let Ok(n) = s.trim().parse::<u64>() {
        return Ok(n);
    }
    crate::scheduler::parse_bytes(s)
        .and_then(|n| u64::try_from(n).map_err(|_| format!("invalid size {s:?}")))
}

impl Config {
    /// Parses `args` (after `serve`) with `env` as the environment lookup.
    pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut given: Vec<(&'static str, String)> = Vec::new();
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let Some(opt) = OPTS.iter().find(|o| o.flag == flag) else {
                return Err(format!("unknown option {arg:?} (see colonyd serve --help)"));
            };
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{} needs a value: {}", opt.flag, opt.value))?
                }
            };
            given.push((opt.flag, value));
            i += 1;
        }
        let get = |flag: &str| -> Option<String> {
            if let Some((_, v)) = given.iter().rev().find(|(f, _)| *f == flag) {
                return Some(v.clone());
            }
            let opt = OPTS.iter().find(|o| o.flag == flag)?;
            if opt.env.is_empty() {
                None
            } else {
                env(opt.env).filter(|v| !v.is_empty())
            }
        };
        let num = |flag: &str, default: u64| -> Result<u64, String> {
            match get(flag) {
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{flag}: expected a whole number, got {v:?}")),
                None => Ok(default),
            }
        };
        let size = |flag: &str, default: u64| -> Result<u64, String> {
            match get(flag) {
                Some(v) => parse_size(&v).map_err(|e| format!("{flag}: {e}")),
                None => Ok(default),
            }
        };
        let listen = match get("--listen") {
            Some(l) => l,
            None => {
                let port = env("COLONIES_SERVER_PORT").filter(|p| !p.is_empty());
                match port {
                    Some(p) => {
                        let p: u16 = p.trim().parse().map_err(|_| {
                            format!("COLONIES_SERVER_PORT: expected a port number, got {p:?}")
                        })?;
                        format!("127.0.0.1:{p}")
                    }
                    None => "127.0.0.1:50080".to_string(),
                }
            }
        };
        let data_dir = get("--data-dir")
            .or_else(|| env("STATE_DIRECTORY").filter(|s| !s.is_empty()))
            .map(|s| PathBuf::from(s.split(':').next().unwrap_or_default()))
            .unwrap_or_else(|| PathBuf::from("colonyd-data"));
        let sync = match get("--sync").as_deref() {
            None | Some("always") => SyncMode::Always,
            Some("never") => SyncMode::Never,
            Some(other) => return Err(format!("--sync: expected always or never, got {other:?}")),
        };
        let d = HttpConfig::default();
        let dur = |flag: &str, default: Duration| -> Result<Duration, String> {
            match get(flag) {
                Some(v) => parse_duration(&v).map_err(|e| format!("{flag}: {e}")),
                None => Ok(default),
            }
        };
        let cd = crate::store::ChannelPolicy::default();
        let max_payload = size("--max-payload", cd.max_payload as u64)?;
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let channels = crate::store::ChannelPolicy {
            max_payload: usize::try_from(max_payload).unwrap_or(usize::MAX),
            max_channels: usize::try_from(num("--max-channels", cd.max_channels as u64)?)
                .unwrap_or(usize::MAX),
            max_entries: num("--channel-max-entries", 0)?,
            rate_per_sec: u32::try_from(num("--channel-rate", 0)?).unwrap_or(u32::MAX),
            disk_budget: size("--channel-disk-budget", 0)?,
            retention_ns: nanos(dur("--channel-retention", Duration::ZERO)?),
            segment_ns: nanos(dur("--segment-duration", Duration::from_secs(3600))?)
                .max(1_000_000_000),
            page_bytes: cd.page_bytes,
        };
        let default_body = max_payload.saturating_mul(7).saturating_add(1 << 20);
        let budget = size("--memory-budget", 32 << 20)?;
        // durations are capped at ten years: "forever" without overflowing clock arithmetic
        const MAX_SECS: u64 = 10 * 365 * 86_400;
        let secs = |flag: &str, default: Duration| -> Result<Duration, String> {
            Ok(Duration::from_secs(
                num(flag, default.as_secs())?.min(MAX_SECS),
            ))
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = usize::try_from(num("--threads", cpus as u64)?)
            .unwrap_or(1)
            .clamp(1, 256);
        let http = HttpConfig {
            max_body: usize::try_from(size("--max-body", default_body)?).unwrap_or(usize::MAX),
            body_memory: usize::try_from(size("--body-memory", d.body_memory as u64)?)
                .unwrap_or(usize::MAX),
            header_timeout: secs("--header-timeout", d.header_timeout)?,
            body_timeout: secs("--body-timeout", d.body_timeout)?,
            idle_timeout: secs("--idle-timeout", d.idle_timeout)?,
            max_connections: usize::try_from(num("--max-connections", d.max_connections as u64)?)
                .unwrap_or(usize::MAX),
            shutdown_grace: d.shutdown_grace,
        };
        Ok(Config {
            listen,
            port_file: get("--port-file").map(PathBuf::from),
            data_dir,
            sync,
            log_level: get("--log-level").unwrap_or_else(|| "info".to_string()),
            http,
            max_long_poll_secs: num("--max-long-poll", 3600)?.min(MAX_SECS),
            max_long_polls: usize::try_from(num("--max-long-polls", 512)?).unwrap_or(usize::MAX),
            max_long_polls_per_executor: usize::try_from(num("--max-long-polls-per-executor", 8)?)
                .unwrap_or(usize::MAX),
            cache_bytes: size("--cache-size", budget / 8)?,
            memtable_bytes: {
                let m = size("--memtable-size", (budget / 16).max(1 << 20))?;
                if m < 1 << 20 {
                    return Err("--memtable-size must be at least 1MiB".into());
                }
                m
            },
            journal_bytes: {
                // fjall refuses (panics on) journals under 64 MiB; the journal is disk, not memory
                let j = size("--journal-size", budget.max(64 << 20))?;
                if j < 64 << 20 {
                    return Err("--journal-size must be at least 64MiB".into());
                }
                j
            },
            min_free_disk: size("--min-free-disk", 64 << 20)?,
            threads,
            metrics_listen: match get("--metrics-listen") {
                Some(l) => Some(l),
                None => match env("COLONIES_MONITOR_PORT").filter(|p| !p.is_empty()) {
                    Some(p) => {
                        let p: u16 = p.trim().parse().map_err(|_| {
                            format!("COLONIES_MONITOR_PORT: expected a port number, got {p:?}")
                        })?;
                        Some(format!("127.0.0.1:{p}"))
                    }
                    None => None,
                },
            },
            tls: match (get("--tls-cert"), get("--tls-key")) {
                (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
                (None, None) => None,
                (Some(_), None) => return Err("--tls-cert needs --tls-key".into()),
                (None, Some(_)) => return Err("--tls-key needs --tls-cert".into()),
            },
            channels,
            housekeeping: {
                let d = crate::housekeeping::Policy::default();
                let retention = match get("--retention").as_deref().map(str::trim) {
                    None | Some("false") | Some("") => false,
                    Some("true") => true,
                    Some(other) => {
                        return Err(format!(
                            "--retention: expected true or false, got {other:?}"
                        ))
                    }
                };
                crate::housekeeping::Policy {
                    retention: retention
                        .then(|| secs("--retention-policy", Duration::ZERO))
                        .transpose()?,
                    stale_after: secs("--stale-executor-duration", d.stale_after)?,
                    cleanup_interval: secs("--cleanup-interval", d.cleanup_interval)?
                        .max(Duration::from_secs(1)),
                    retention_interval: secs("--retention-interval", d.retention_interval)?
                        .max(Duration::from_secs(1)),
                }
            },
            cron_missed: match get("--cron-missed").as_deref() {
                None | Some("run-once") => crate::schedules::Missed::RunOnce,
                Some("skip") => crate::schedules::Missed::Skip,
                Some(other) => {
                    return Err(format!(
                        "--cron-missed: expected run-once or skip, got {other:?}"
                    ))
                }
            },
            generator_max_args: num("--generator-max-args", 100_000)?,
            blueprint_history: usize::try_from(num("--blueprint-history", 100)?)
                .unwrap_or(usize::MAX)
                .max(1),
            pubsub: {
                let p = crate::pubsub::PubsubConfig::default();
                crate::pubsub::PubsubConfig {
                    max_sockets: usize::try_from(num("--max-websockets", p.max_sockets as u64)?)
                        .unwrap_or(usize::MAX),
                    max_subscriptions: usize::try_from(num(
                        "--max-subscriptions",
                        p.max_subscriptions as u64,
                    )?)
                    .unwrap_or(usize::MAX),
                    ping_interval: secs("--ws-ping-interval", p.ping_interval)?
                        .max(Duration::from_secs(1)),
                    write_timeout: secs("--ws-write-timeout", p.write_timeout)?
                        .max(Duration::from_secs(1)),
                    max_timeout: p.max_timeout,
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Config::parse(&args, &move |k| {
            env.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone())
        })
    }

    #[test]
    fn defaults_and_precedence() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:50080");
        assert_eq!(c.data_dir, PathBuf::from("colonyd-data"));
        assert_eq!(c.sync, SyncMode::Always);
        let c = parse(
            &[],
            &[
                ("COLONIES_SERVER_PORT", "6000"),
                ("STATE_DIRECTORY", "/var/lib/colonyd"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:6000");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/colonyd"));
        let c = parse(
            &["--listen", "0.0.0.0:0", "--data-dir=/x"],
            &[("COLONYD_LISTEN", "1.2.3.4:5")],
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:0");
        assert_eq!(c.data_dir, PathBuf::from("/x"));
        assert_eq!(c.http.max_body, (70 << 20) + (1 << 20));
        assert!(c.housekeeping.retention.is_none());
        assert_eq!(c.housekeeping.stale_after, Duration::from_secs(600));
        let c = parse(
            &["--cron-missed", "skip", "--cleanup-interval", "5"],
            &[
                ("COLONIES_RETENTION", "true"),
                ("COLONIES_RETENTION_POLICY", "604800"),
                ("COLONIES_STALE_EXECUTOR_DURATION", "30"),
            ],
        )
        .unwrap();
        assert_eq!(c.housekeeping.retention, Some(Duration::from_secs(604_800)));
        assert_eq!(c.housekeeping.stale_after, Duration::from_secs(30));
        assert_eq!(c.housekeeping.cleanup_interval, Duration::from_secs(5));
        assert_eq!(c.cron_missed, crate::schedules::Missed::Skip);
        let c = parse(
            &[],
            &[
                ("COLONIES_RETENTION", "false"),
                ("COLONIES_RETENTION_POLICY", "9"),
            ],
        )
        .unwrap();
        assert!(c.housekeeping.retention.is_none());
        assert!(parse(&["--retention", "yes"], &[])
            .unwrap_err()
            .contains("--retention"));
        assert!(parse(&["--cron-missed", "twice"], &[])
            .unwrap_err()
            .contains("--cron-missed"));
        let c = parse(&["--max-payload", "1MiB", "--channel-retention", "2h"], &[]).unwrap();
        assert_eq!(c.http.max_body, 8 << 20);
        assert_eq!(c.channels.retention_ns, 7200 * 1_000_000_000);
        assert_eq!(
            (c.cache_bytes, c.memtable_bytes, c.journal_bytes),
            (4 << 20, 2 << 20, 64 << 20)
        );
        let c = parse(&["--memory-budget", "256MiB", "--cache-size", "1MiB"], &[]).unwrap();
        assert_eq!(
            (c.cache_bytes, c.memtable_bytes, c.journal_bytes),
            (1 << 20, 16 << 20, 256 << 20)
        );
        let c = parse(&["--max-body", "2MiB", "--sync", "never"], &[]).unwrap();
        assert_eq!(c.http.max_body, 2 << 20);
        assert_eq!(c.sync, SyncMode::Never);
    }

    #[test]
    fn errors_are_clear() {
        assert!(parse(&["--bogus"], &[])
            .unwrap_err()
            .contains("unknown option"));
        assert!(parse(&["--listen"], &[])
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&["--sync", "sometimes"], &[])
            .unwrap_err()
            .contains("always or never"));
        assert!(parse(&["--threads", "x"], &[])
            .unwrap_err()
            .contains("whole number"));
        assert!(parse(&[], &[("COLONIES_SERVER_PORT", "abc")]).is_err());
        assert!(parse(&["--channel-retention", "soon"], &[])
            .unwrap_err()
            .contains("duration"));
    }

    #[test]
    fn help_documents_every_option() {
        let h = serve_help();
        for o in OPTS {
            assert!(h.contains(o.flag));
        }
    }
}

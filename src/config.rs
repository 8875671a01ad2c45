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

/// `--sync`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncArg {
    /// fdatasync before acknowledging any write
    Always,
    /// the OS decides when to write back
    Never,
}

/// `--cron-missed`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CronMissedArg {
    /// run a missed tick once at startup, as upstream
    RunOnce,
    /// drop it
    Skip,
}

fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s)
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

fn bool_arg(s: &str) -> Result<bool, String> {
    match s.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

/// `colonyd serve`'s options: each flag with its environment variable (flags win over the
/// environment, which wins over defaults; an empty variable counts as unset). The fallbacks
/// that need two variables or a derived value (`COLONIES_SERVER_PORT`, `STATE_DIRECTORY`,
/// `COLONIES_MONITOR_PORT`) are resolved after parsing, in [`Config::from_args`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. Default 127.0.0.1:$COLONIES_SERVER_PORT,
    /// else 127.0.0.1:50080
    #[arg(long, env = "COLONYD_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Write the bound port to FILE once listening
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Data directory. Default $STATE_DIRECTORY (systemd), else ./colonyd-data
    #[arg(long, env = "COLONYD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// always (default): fdatasync before acknowledging any write, nothing acknowledged is
    /// lost on power loss; never: the OS decides when to write back, acknowledged writes
    /// survive a crash of colonyd but may be lost on power loss
    #[arg(long, env = "COLONYD_SYNC", value_enum, value_name = "MODE")]
    pub sync: Option<SyncArg>,
    /// Log filter, e.g. info, debug, colonyd=trace. Default info
    #[arg(long, env = "RUST_LOG", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Largest channel entry payload (413 above). Default 10MiB
    #[arg(long, env = "COLONYD_MAX_PAYLOAD", value_name = "SIZE", value_parser = size_arg)]
    pub max_payload: Option<u64>,
    /// Largest request body (413 above). Default 7 x --max-payload + 1MiB: pycolonies and the
    /// colonyos crate send a payload as a JSON array of byte values inside base64, up to 6.7
    /// body bytes per payload byte
    #[arg(long, env = "COLONYD_MAX_BODY", value_name = "SIZE", value_parser = size_arg)]
    pub max_body: Option<u64>,
    /// Most channels one process may declare. Default 100
    #[arg(long, value_name = "N")]
    pub max_channels: Option<u64>,
    /// Most entries per channel, 0 = no cap (default); appends beyond get 507
    #[arg(long, value_name = "N")]
    pub channel_max_entries: Option<u64>,
    /// Channel appends per second per process (bursts of 5 s allowed), 0 = unlimited
    /// (default); excess gets 429
    #[arg(long, value_name = "N")]
    pub channel_rate: Option<u64>,
    /// Total channel payload bytes kept, 0 = unlimited (default); appends beyond get 507
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub channel_disk_budget: Option<u64>,
    /// How long a finished process's channels stay readable (e.g. 30m, 24h, 7d). Default 0:
    /// removed when the process finishes, as upstream
    #[arg(long, env = "COLONYD_CHANNEL_RETENTION", value_name = "DURATION", value_parser = duration_arg)]
    pub channel_retention: Option<Duration>,
    /// Age at which channel data starts a new segment; old segments are relocated and
    /// dropped. Default 1h
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub segment_duration: Option<Duration>,
    /// Request-body bytes buffered at once; large requests beyond it get 503. Default
    /// 2 x --max-body
    #[arg(long, env = "COLONYD_BODY_MEMORY", value_name = "SIZE", value_parser = size_arg)]
    pub body_memory: Option<u64>,
    /// Most simultaneous client connections (503 above). Default 1024
    #[arg(long, env = "COLONYD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<u64>,
    /// Time to receive a request head. Default 10
    #[arg(long, value_name = "SECS")]
    pub header_timeout: Option<u64>,
    /// Time to receive a request body. Default 60
    #[arg(long, value_name = "SECS")]
    pub body_timeout: Option<u64>,
    /// Keep-alive idle time before a connection is closed. Default 120
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Longest an assign request may wait. Default 3600
    #[arg(long, value_name = "SECS")]
    pub max_long_poll: Option<u64>,
    /// Most assign requests long-polling at once; beyond it an assign makes a single attempt
    /// and gets 503 if nothing is waiting. Default 512
    #[arg(long, value_name = "N")]
    pub max_long_polls: Option<u64>,
    /// Most assign requests one executor may have long-polling at once (same refusal).
    /// Default 8
    #[arg(long, value_name = "N")]
    pub max_long_polls_per_executor: Option<u64>,
    /// Memory the storage engine may use: sets the block cache (1/8) and memtables (1/16
    /// each) unless given below; the journal cap (on disk) is the budget, at least 64MiB.
    /// Default 32MiB, for a 512 MB board
    #[arg(long, env = "COLONYD_MEMORY_BUDGET", value_name = "SIZE", value_parser = size_arg)]
    pub memory_budget: Option<u64>,
    /// Storage block cache. Default memory budget / 8
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub cache_size: Option<u64>,
    /// Storage memtable per keyspace, at least 1MiB. Default memory budget / 16
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub memtable_size: Option<u64>,
    /// Storage journal cap before flushing, at least 64MiB. Default the memory budget
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub journal_size: Option<u64>,
    /// Free space to keep on the data directory's filesystem: below it, writes that add data
    /// get 507 while reads and removals still work, and writes resume once space is freed;
    /// 0 = no reserve. Default 64MiB
    #[arg(long, env = "COLONYD_MIN_FREE_DISK", value_name = "SIZE", value_parser = size_arg)]
    pub min_free_disk: Option<u64>,
    /// Most open WebSocket (/pubsub) connections (503 above). Default 4096
    #[arg(long, value_name = "N")]
    pub max_websockets: Option<u64>,
    /// Most concurrent subscriptions on one WebSocket connection. Default 64
    #[arg(long, value_name = "N")]
    pub max_subscriptions: Option<u64>,
    /// Ping idle WebSocket clients this often; close after two silent intervals. Default 30
    #[arg(long, value_name = "SECS")]
    pub ws_ping_interval: Option<u64>,
    /// Close a WebSocket whose client takes no frame for this long. Default 120
    #[arg(long, value_name = "SECS")]
    pub ws_write_timeout: Option<u64>,
    /// Serve Prometheus metrics at GET /metrics on this separate listener. Default:
    /// 127.0.0.1:$COLONIES_MONITOR_PORT if that is set, else off
    #[arg(long, env = "COLONYD_METRICS_LISTEN", value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,
    /// Serve HTTPS and WSS with this PEM certificate chain (server certificate first); needs
    /// --tls-key. Default: plain HTTP
    #[arg(
        long,
        env = "COLONYD_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert
    #[arg(
        long,
        env = "COLONYD_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Purge old finished work, as upstream: successful processes and workflows that
    /// finished, and log lines added, more than --retention-policy ago; failed and cancelled
    /// work is kept. Runs every minute in small batches. Default false
    #[arg(long, env = "COLONIES_RETENTION", value_name = "true|false", value_parser = bool_arg)]
    pub retention: Option<bool>,
    /// How old finished work must be for --retention to purge it. Default 0 (as upstream:
    /// everything successful is purged within a minute); upstream's documentation uses 604800
    /// (a week)
    #[arg(long, env = "COLONIES_RETENTION_POLICY", value_name = "SECS")]
    pub retention_policy: Option<u64>,
    /// How often the retention purge runs. Default 60, as upstream
    #[arg(long, value_name = "SECS")]
    pub retention_interval: Option<u64>,
    /// Unregister executors not heard from (assign calls) for this long, as
    /// removeexecutormsg does: their running processes wait again. An executor waiting in an
    /// assign long-poll is being heard from. 0 = never. Default 600
    #[arg(long, env = "COLONIES_STALE_EXECUTOR_DURATION", value_name = "SECS")]
    pub stale_executor_duration: Option<u64>,
    /// How often stale executors are looked for. Default 60
    #[arg(long, env = "COLONIES_CLEANUP_INTERVAL", value_name = "SECS")]
    pub cleanup_interval: Option<u64>,
    /// A cron tick that fell while the server was down: run-once (default, as upstream) runs
    /// it once at startup, then the schedule continues from then; skip drops it
    #[arg(long, env = "COLONYD_CRON_MISSED", value_enum, value_name = "WHAT")]
    pub cron_missed: Option<CronMissedArg>,
    /// Most packed arguments a generator holds before packgeneratormsg gets 507. Default
    /// 100000
    #[arg(long, value_name = "N")]
    pub generator_max_args: Option<u64>,
    /// Changes kept per blueprint in getblueprinthistorymsg; older ones are dropped. Default
    /// 100 (upstream keeps every one)
    #[arg(long, value_name = "N")]
    pub blueprint_history: Option<u64>,
    /// Request-handling threads. Default: number of CPUs
    #[arg(long, env = "COLONYD_THREADS", value_name = "N")]
    pub threads: Option<u64>,
    /// Print the configuration these options and the environment resolve to, then exit
    #[arg(long)]
    pub print_config: bool,
}

/// What `colonyd serve --help` prints after the options.
pub const SERVE_AFTER_HELP: &str = "\
SERVER OWNER: COLONIES_SERVER_ID, or COLONIES_SERVER_PRVKEY (ID derived), on first start; with
neither, the first start generates an owner key and writes it to <data-dir>/server-owner.key
(mode 0600). Later starts use the stored ID; if either variable is set it must match, or
colonyd refuses to start.
SCHEDULED WORK: crons (addcronmsg, getcronmsg, getcronsmsg, runcronmsg, removecronmsg) and
generators (addgeneratormsg, getgeneratormsg, getgeneratorsmsg, resolvegeneratormsg,
packgeneratormsg, removegeneratormsg) run workflows; their next runs and packed arguments are
durable. Also answered: locations, getclustermsg (this one node), blueprints and their
definitions (one reconcile cron per kind and location) and ColonyFS metadata (the bytes live
in the clients' S3 store).
OTHER ENVIRONMENT: COLONIES_ALLOW_EXECUTOR_REREGISTER=true lets addexecutormsg replace an
executor of the same name; BUILD_VERSION / BUILD_TIME are reported by versionmsg.";

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

/// `colonyd serve` on its own: parses only the serve options (tests, embedders).
#[derive(Debug, clap::Parser)]
#[command(name = "colonyd serve")]
struct ServeOnly {
    #[command(flatten)]
    args: ServeArgs,
}

impl Config {
    /// Parses `args` (after `serve`) with clap, options' variables read from the process
    /// environment, and the fallbacks from `env`.
    pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        use clap::Parser;
        let parsed = ServeOnly::try_parse_from(
            std::iter::once("serve".to_string()).chain(args.iter().cloned()),
        )
        .map_err(|e| e.to_string())?;
        Config::from_args(parsed.args, env)
    }

    /// Resolves parsed options into the configuration: defaults, the derived values and the
    /// fallbacks that need more than one variable (`env` is the environment lookup).
    pub fn from_args(a: ServeArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let port_var = |var: &str| -> Result<Option<String>, String> {
            env(var)
                .map(|p| {
                    p.trim()
                        .parse::<u16>()
                        .map(|p| format!("127.0.0.1:{p}"))
                        .map_err(|_| format!("{var}: expected a port number, got {p:?}"))
                })
                .transpose()
        };
        let listen = match a.listen.filter(|l| !l.is_empty()) {
            Some(l) => l,
            None => port_var("COLONIES_SERVER_PORT")?.unwrap_or_else(|| "127.0.0.1:50080".into()),
        };
        let data_dir = a
            .data_dir
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| {
                env("STATE_DIRECTORY")
                    .map(|s| PathBuf::from(s.split(':').next().unwrap_or_default()))
            })
            .unwrap_or_else(|| PathBuf::from("colonyd-data"));
        let sync = match a.sync {
            None | Some(SyncArg::Always) => SyncMode::Always,
            Some(SyncArg::Never) => SyncMode::Never,
        };
        let d = HttpConfig::default();
        let cd = crate::store::ChannelPolicy::default();
        let max_payload = a.max_payload.unwrap_or(cd.max_payload as u64);
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let usize_of = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let channels = crate::store::ChannelPolicy {
            max_payload: usize_of(max_payload),
            max_channels: usize_of(a.max_channels.unwrap_or(cd.max_channels as u64)),
            max_entries: a.channel_max_entries.unwrap_or(0),
            rate_per_sec: u32::try_from(a.channel_rate.unwrap_or(0)).unwrap_or(u32::MAX),
            disk_budget: a.channel_disk_budget.unwrap_or(0),
            retention_ns: nanos(a.channel_retention.unwrap_or(Duration::ZERO)),
            segment_ns: nanos(a.segment_duration.unwrap_or(Duration::from_secs(3600)))
                .max(1_000_000_000),
            page_bytes: cd.page_bytes,
        };
        let default_body = max_payload.saturating_mul(7).saturating_add(1 << 20);
        let budget = a.memory_budget.unwrap_or(32 << 20);
        // durations are capped at ten years: "forever" without overflowing clock arithmetic
        const MAX_SECS: u64 = 10 * 365 * 86_400;
        let secs = |v: Option<u64>, default: Duration| -> Duration {
            Duration::from_secs(v.unwrap_or(default.as_secs()).min(MAX_SECS))
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = usize_of(a.threads.unwrap_or(cpus as u64)).clamp(1, 256);
        let http = HttpConfig {
            max_body: usize_of(a.max_body.unwrap_or(default_body)),
            body_memory: usize_of(a.body_memory.unwrap_or(d.body_memory as u64)),
            header_timeout: secs(a.header_timeout, d.header_timeout),
            body_timeout: secs(a.body_timeout, d.body_timeout),
            idle_timeout: secs(a.idle_timeout, d.idle_timeout),
            max_connections: usize_of(a.max_connections.unwrap_or(d.max_connections as u64)),
            shutdown_grace: d.shutdown_grace,
        };
        let memtable_bytes = a.memtable_size.unwrap_or((budget / 16).max(1 << 20));
        if memtable_bytes < 1 << 20 {
            return Err("--memtable-size must be at least 1MiB".into());
        }
        // fjall refuses (panics on) journals under 64 MiB; the journal is disk, not memory
        let journal_bytes = a.journal_size.unwrap_or(budget.max(64 << 20));
        if journal_bytes < 64 << 20 {
            return Err("--journal-size must be at least 64MiB".into());
        }
        let metrics_listen = match a.metrics_listen.filter(|l| !l.is_empty()) {
            Some(l) => Some(l),
            None => port_var("COLONIES_MONITOR_PORT")?,
        };
        let tls = match (a.tls_cert, a.tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => return Err("--tls-cert needs --tls-key".into()),
            (None, Some(_)) => return Err("--tls-key needs --tls-cert".into()),
        };
        let hd = crate::housekeeping::Policy::default();
        let housekeeping = crate::housekeeping::Policy {
            retention: a
                .retention
                .unwrap_or(false)
                .then(|| secs(a.retention_policy, Duration::ZERO)),
            stale_after: secs(a.stale_executor_duration, hd.stale_after),
            cleanup_interval: secs(a.cleanup_interval, hd.cleanup_interval)
                .max(Duration::from_secs(1)),
            retention_interval: secs(a.retention_interval, hd.retention_interval)
                .max(Duration::from_secs(1)),
        };
        let p = crate::pubsub::PubsubConfig::default();
        let pubsub = crate::pubsub::PubsubConfig {
            max_sockets: usize_of(a.max_websockets.unwrap_or(p.max_sockets as u64)),
            max_subscriptions: usize_of(a.max_subscriptions.unwrap_or(p.max_subscriptions as u64)),
            ping_interval: secs(a.ws_ping_interval, p.ping_interval).max(Duration::from_secs(1)),
            write_timeout: secs(a.ws_write_timeout, p.write_timeout).max(Duration::from_secs(1)),
            max_timeout: p.max_timeout,
        };
        Ok(Config {
            listen,
            port_file: a.port_file,
            data_dir,
            sync,
            log_level: a
                .log_level
                .filter(|l| !l.trim().is_empty())
                .unwrap_or_else(|| "info".to_string()),
            http,
            max_long_poll_secs: a.max_long_poll.unwrap_or(3600).min(MAX_SECS),
            max_long_polls: usize_of(a.max_long_polls.unwrap_or(512)),
            max_long_polls_per_executor: usize_of(a.max_long_polls_per_executor.unwrap_or(8)),
            cache_bytes: a.cache_size.unwrap_or(budget / 8),
            memtable_bytes,
            journal_bytes,
            min_free_disk: a.min_free_disk.unwrap_or(64 << 20),
            threads,
            metrics_listen,
            tls,
            channels,
            housekeeping,
            cron_missed: match a.cron_missed {
                None | Some(CronMissedArg::RunOnce) => crate::schedules::Missed::RunOnce,
                Some(CronMissedArg::Skip) => crate::schedules::Missed::Skip,
            },
            generator_max_args: a.generator_max_args.unwrap_or(100_000),
            blueprint_history: usize_of(a.blueprint_history.unwrap_or(100)).max(1),
            pubsub,
        })
    }

    /// The resolved configuration, one `name = value` line each (`serve --print-config`).
    pub fn describe(&self) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "off".into());
        let mut lines = vec![
            format!("listen = {}", self.listen),
            format!("data-dir = {}", self.data_dir.display()),
            format!(
                "sync = {}",
                match self.sync {
                    SyncMode::Always => "always",
                    SyncMode::Never => "never",
                }
            ),
            format!("log-level = {}", self.log_level),
            format!("metrics-listen = {}", opt(&self.metrics_listen)),
            format!(
                "tls = {}",
                self.tls.as_ref().map_or("off".into(), |(c, k)| format!(
                    "{} {}",
                    c.display(),
                    k.display()
                ))
            ),
            format!("max-payload = {}", self.channels.max_payload),
            format!("max-body = {}", self.http.max_body),
            format!("body-memory = {}", self.http.body_memory),
            format!("max-connections = {}", self.http.max_connections),
            format!("header-timeout = {}s", self.http.header_timeout.as_secs()),
            format!("body-timeout = {}s", self.http.body_timeout.as_secs()),
            format!("idle-timeout = {}s", self.http.idle_timeout.as_secs()),
            format!("max-long-poll = {}s", self.max_long_poll_secs),
            format!("max-long-polls = {}", self.max_long_polls),
            format!(
                "max-long-polls-per-executor = {}",
                self.max_long_polls_per_executor
            ),
            format!("cache-size = {}", self.cache_bytes),
            format!("memtable-size = {}", self.memtable_bytes),
            format!("journal-size = {}", self.journal_bytes),
            format!("min-free-disk = {}", self.min_free_disk),
            format!("threads = {}", self.threads),
            format!("max-channels = {}", self.channels.max_channels),
            format!("channel-max-entries = {}", self.channels.max_entries),
            format!("channel-rate = {}", self.channels.rate_per_sec),
            format!("channel-disk-budget = {}", self.channels.disk_budget),
            format!(
                "channel-retention = {}s",
                self.channels.retention_ns / 1_000_000_000
            ),
            format!(
                "segment-duration = {}s",
                self.channels.segment_ns / 1_000_000_000
            ),
            format!("max-websockets = {}", self.pubsub.max_sockets),
            format!("max-subscriptions = {}", self.pubsub.max_subscriptions),
            format!(
                "ws-ping-interval = {}s",
                self.pubsub.ping_interval.as_secs()
            ),
            format!(
                "ws-write-timeout = {}s",
                self.pubsub.write_timeout.as_secs()
            ),
            format!(
                "retention = {}",
                self.housekeeping
                    .retention
                    .map_or("off".into(), |d| format!("{}s", d.as_secs()))
            ),
            format!(
                "retention-interval = {}s",
                self.housekeeping.retention_interval.as_secs()
            ),
            format!(
                "stale-executor-duration = {}s",
                self.housekeeping.stale_after.as_secs()
            ),
            format!(
                "cleanup-interval = {}s",
                self.housekeeping.cleanup_interval.as_secs()
            ),
            format!(
                "cron-missed = {}",
                match self.cron_missed {
                    crate::schedules::Missed::RunOnce => "run-once",
                    crate::schedules::Missed::Skip => "skip",
                }
            ),
            format!("generator-max-args = {}", self.generator_max_args),
            format!("blueprint-history = {}", self.blueprint_history),
        ];
        if let Some(p) = &self.port_file {
            lines.insert(1, format!("port-file = {}", p.display()));
        }
        let mut out = lines.join("\n");
        out.push('\n');
        out
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
        // variables of options are clap's (tests/cli.rs runs the binary with them set)
        let c = parse(
            &[
                "--cron-missed",
                "skip",
                "--cleanup-interval",
                "5",
                "--retention",
                "true",
                "--retention-policy",
                "604800",
                "--stale-executor-duration",
                "30",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.housekeeping.retention, Some(Duration::from_secs(604_800)));
        assert_eq!(c.housekeeping.stale_after, Duration::from_secs(30));
        assert_eq!(c.housekeeping.cleanup_interval, Duration::from_secs(5));
        assert_eq!(c.cron_missed, crate::schedules::Missed::Skip);
        let c = parse(&["--retention", "false", "--retention-policy", "9"], &[]).unwrap();
        assert!(c.housekeeping.retention.is_none());
        assert!(parse(&["--retention", "yes"], &[])
            .unwrap_err()
            .contains("--retention"));
        assert!(parse(&["--cron-missed", "twice"], &[])
            .unwrap_err()
            .contains("--cron-missed"));
        // the fallbacks resolved after parsing
        let c = parse(&[], &[("COLONIES_MONITOR_PORT", "9200")]).unwrap();
        assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:9200"));
        let c = parse(
            &["--metrics-listen", "127.0.0.1:1"],
            &[
                ("COLONIES_MONITOR_PORT", "9200"),
                ("STATE_DIRECTORY", "/a:/b"),
            ],
        )
        .unwrap();
        assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(c.data_dir, PathBuf::from("/a"));
        let c = parse(
            &[],
            &[("COLONIES_SERVER_PORT", " "), ("STATE_DIRECTORY", "")],
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:50080");
        assert_eq!(c.data_dir, PathBuf::from("colonyd-data"));
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
        let e = parse(&["--bogus"], &[]).unwrap_err();
        assert!(e.contains("unexpected argument '--bogus'"), "{e}");
        let e = parse(&["--lisen", "0.0.0.0:1"], &[]).unwrap_err();
        assert!(e.contains("a similar argument exists: '--listen'"), "{e}");
        let e = parse(&["--listen"], &[]).unwrap_err();
        assert!(
            e.contains("a value is required for '--listen <HOST:PORT>'"),
            "{e}"
        );
        let e = parse(&["--sync", "sometimes"], &[]).unwrap_err();
        assert!(e.contains("[possible values: always, never]"), "{e}");
        let e = parse(&["--threads", "x"], &[]).unwrap_err();
        assert!(e.contains("invalid value 'x' for '--threads <N>'"), "{e}");
        assert!(parse(&[], &[("COLONIES_SERVER_PORT", "abc")])
            .unwrap_err()
            .contains("COLONIES_SERVER_PORT"));
        let e = parse(&["--channel-retention", "soon"], &[]).unwrap_err();
        assert!(e.contains("invalid duration"), "{e}");
        let e = parse(&["--tls-cert", "c.pem"], &[]).unwrap_err();
        assert!(e.contains("--tls-key"), "{e}");
        let e = parse(&["--journal-size", "1MiB"], &[]).unwrap_err();
        assert!(e.contains("at least 64MiB"), "{e}");
    }
}

//! Server startup and shutdown: open the store, settle the server owner, start the writer, the
//! deadline timer and the listener; on a signal, stop accepting, let in-flight requests finish
//! (bounded), drain the writer and close the store.

use crate::config::Config;
use crate::crypto::PrivateKey;
use crate::events::Events;
use crate::lifecycle;
use crate::state::{Limits, ServerInfo, ServerState};
use crate::store::writer::Writer;
use crate::store::{keys, Store, StoreConfig};
use crate::transport::{self, http::Shared};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Most deadlines one timer tick applies.
const EXPIRE_BATCH: usize = 256;

/// Why startup failed: a message for the operator.
pub type StartError = String;

/// The server owner as settled at startup.
pub struct Owner {
    /// The owner ID.
    pub id: String,
    /// Where a generated key was written, if one was generated now.
    pub generated_key: Option<std::path::PathBuf>,
}

/// Settles the server owner ID per decisions.md: stored ID, env, or a generated key.
pub fn settle_owner(
    store: &Store,
    data_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Owner, StartError> {
    let from_env = match (
        env("COLONIES_SERVER_ID").filter(|s| !s.is_empty()),
        env("COLONIES_SERVER_PRVKEY").filter(|s| !s.is_empty()),
    ) {
        (Some(id), _) => {
            let id = id.trim().to_ascii_lowercase();
            crate::handlers::check_id("COLONIES_SERVER_ID", &id).map_err(|e| e.message)?;
            Some(id)
        }
        (None, Some(prv)) => Some(
            PrivateKey::from_hex(&prv)
                .map_err(|_| {
                    "COLONIES_SERVER_PRVKEY is not a valid private key (64 hex characters)"
                        .to_string()
                })?
                .id(),
        ),
        (None, None) => None,
    };
    let stored = store.server_id().map_err(|e| e.to_string())?;
    let mut generated_key = None;
    let id = match (stored, from_env) {
        (Some(stored), Some(env_id)) if stored != env_id => {
            return Err(format!(
                "the server owner given by COLONIES_SERVER_ID/COLONIES_SERVER_PRVKEY ({env_id}) does not match the owner stored in {} ({stored}); unset the variable, or use the stored owner's key (changeserveridmsg changes the owner)",
                data_dir.display()
            ));
        }
        (Some(stored), _) => stored,
        (None, Some(env_id)) => env_id,
        (None, None) => {
            let key = PrivateKey::generate();
            let path = data_dir.join(KEY_FILE);
            write_key(&path, &key)
                .and_then(|()| crate::store::sync_dir(data_dir))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            generated_key = Some(path);
            key.id()
        }
    };
    if generated_key.is_none() {
        check_key_file(&data_dir.join(KEY_FILE), &id)?;
    }
    store
        .meta
        .insert(b"server-id", id.as_bytes())
        .and_then(|()| store.db().persist(fjall::PersistMode::SyncAll))
        .map_err(|e| format!("cannot store the server owner: {e}"))?;
    Ok(Owner { id, generated_key })
}

/// The generated owner key's file in the data directory.
const KEY_FILE: &str = "server-owner.key";
/// The line after the key: the ID it belongs to, so a damaged key is told from a changed owner.
const KEY_ID_LINE: &str = "# server owner id ";

/// A generated owner key file that no longer holds a key, or whose key does not match the ID
/// written beside it, is damage: refuse to start, naming the file and what to do. A whole key
/// of another owner (the owner was changed with changeserveridmsg) is only reported.
fn check_key_file(path: &Path, owner: &str) -> Result<(), StartError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let damaged = |why: &str| {
        format!(
            "{} is damaged ({why}); colonyd has not started. Restore the file from your backup \
             (colonyd backup copies the store, keep this key file with it), or remove it if the \
             owner's key is kept elsewhere; the owner stays {owner}",
            path.display()
        )
    };
    let mut lines = text.lines();
    let key = lines
        .next()
        .map(str::trim)
        .and_then(|h| PrivateKey::from_hex(h).ok())
        .ok_or_else(|| damaged("its first line is not a 64-hex-digit private key"))?;
    let recorded = lines
        .find_map(|l| l.strip_prefix(KEY_ID_LINE))
        .map(str::trim);
    if let Some(recorded) = recorded {
        if recorded != key.id() {
            return Err(damaged(
                "its key does not match the owner ID written with it",
            ));
        }
    }
    if key.id() != owner {
        tracing::warn!(
            file = %path.display(),
            "this key file belongs to a previous server owner (changed with changeserveridmsg); the current owner is {owner}"
        );
    }
    Ok(())
}

fn write_key(path: &Path, key: &PrivateKey) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(f, "{}\n{KEY_ID_LINE}{}", key.to_hex(), key.id())?;
    f.sync_all()
}

/// Creates `dir` and its missing parents so that they survive a power cut: the parent of
/// every directory created is fsynced (a new name is durable only then), then `dir` itself.
fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    std::fs::create_dir_all(dir)?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::store::sync_dir(parent)?;
        }
    }
    crate::store::sync_dir(dir)
}

/// Runs the server until a shutdown signal; returns the process exit code.
pub fn run(cfg: Config, env: &dyn Fn(&str) -> Option<String>) -> Result<i32, StartError> {
    create_dir_durably(&cfg.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            cfg.data_dir.display()
        )
    })?;
    let store_cfg = StoreConfig {
        path: cfg.data_dir.join("store"),
        cache_bytes: cfg.cache_bytes,
        memtable_bytes: cfg.memtable_bytes,
        journal_bytes: cfg.journal_bytes,
        worker_threads: 2,
        channel_policy: cfg.channels.clone(),
    };
    let store = Store::open(&store_cfg).map_err(|e| match e {
        crate::store::Error::Engine(fjall::Error::Locked) => format!(
            "data directory {} is in use by another colonyd",
            cfg.data_dir.display()
        ),
        e => format!("cannot open the store in {}: {e}", cfg.data_dir.display()),
    })?;
    let store = Arc::new(store);
    let owner = settle_owner(&store, &cfg.data_dir, env)?;
    let events = Arc::new(Events::new());
    let (writer, writer_thread) =
        Writer::start_with_reserve(store.clone(), events.clone(), cfg.sync, cfg.min_free_disk)
            .map_err(|e| format!("cannot start the storage writer: {e}"))?;
    let limits = Limits {
        max_long_poll_secs: cfg.max_long_poll_secs,
        allow_executor_reregister: env("COLONIES_ALLOW_EXECUTOR_REREGISTER").as_deref()
            == Some("true"),
        max_long_polls: cfg.max_long_polls,
        max_long_polls_per_executor: cfg.max_long_polls_per_executor,
        generator_max_args: cfg.generator_max_args,
        blueprint_history: cfg.blueprint_history,
    };
    let state = Arc::new(ServerState::new(
        store.clone(),
        writer.clone(),
        events.clone(),
        limits,
        owner.id.clone(),
    ));

    let tls = match &cfg.tls {
        Some((cert, key)) => Some(transport::tls::acceptor(cert, key)?),
        None => None,
    };
    let listener = smol::block_on(async_net::TcpListener::bind(cfg.listen.as_str()))
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    if let Ok(mut info) = state.info.write() {
        *info = ServerInfo {
            build_version: env("BUILD_VERSION")
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string()),
            build_time: env("BUILD_TIME")
                .unwrap_or_else(|| crate::protocol::time::Timestamp::now().to_rfc3339()),
            host: addr.ip().to_string(),
            port: addr.port(),
            tls: tls.is_some(),
            sync: match cfg.sync {
                crate::store::writer::SyncMode::Always => "always",
                crate::store::writer::SyncMode::Never => "never",
            },
            started_ns: crate::protocol::time::now_ns(),
            min_free_disk: cfg.min_free_disk,
        };
    }
    if let Some(pf) = &cfg.port_file {
        std::fs::write(pf, format!("{}\n", addr.port()))
            .map_err(|e| format!("cannot write --port-file {}: {e}", pf.display()))?;
    }
    let sync = match cfg.sync {
        crate::store::writer::SyncMode::Always => "always",
        crate::store::writer::SyncMode::Never => "never",
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "colonyd starting");
    tracing::info!(listen = %addr, tls = tls.is_some(), "listening");
    tracing::info!(data_dir = %cfg.data_dir.display(), sync, min_free_disk = cfg.min_free_disk, "store open");
    tracing::info!(owner = %owner.id, "server owner");
    tracing::info!(
        cache = cfg.cache_bytes,
        memtable = cfg.memtable_bytes,
        journal = cfg.journal_bytes,
        "storage memory"
    );
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {addr}");
        if let Some((cert, _)) = &cfg.tls {
            let _ = writeln!(out, "TLS: on (certificate {})", cert.display());
        }
        let _ = writeln!(out, "data directory: {}", cfg.data_dir.display());
        let _ = writeln!(out, "server owner id: {}", owner.id);
        match &owner.generated_key {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "server owner key: {} (generated now; keep it safe)",
                    p.display()
                );
            }
            None => {
                let p = cfg.data_dir.join("server-owner.key");
                if p.exists() {
                    let _ = writeln!(out, "server owner key: {}", p.display());
                }
            }
        }
        let _ = out.flush();
    }

    let metrics = match &cfg.metrics_listen {
        Some(addr) => {
            let l = smol::block_on(async_net::TcpListener::bind(addr.as_str()))
                .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
            let bound = l
                .local_addr()
                .map_err(|e| format!("cannot read the metrics address: {e}"))?;
            tracing::info!(metrics = %bound, "metrics listener");
            println!("metrics on http://{bound}/metrics");
            Some(smol::spawn(transport::serve_metrics(l, state.clone())))
        }
        None => None,
    };
    let notifier = Arc::new(crate::notify::Notifier::from_env());
    notifier.send(&format!("READY=1\nSTATUS=serving on {addr}"));
    // the probe runs without systemd too (every 10 s), for colonyd_watchdog_misses_total
    let systemd_watchdog = crate::notify::watchdog_interval().filter(|_| notifier.enabled());
    let watchdog = smol::spawn(watchdog(
        state.clone(),
        systemd_watchdog.is_some().then(|| notifier.clone()),
        systemd_watchdog.unwrap_or(Duration::from_secs(10)),
    ));
    let mut shared = Shared::new(cfg.http.clone(), cfg.pubsub.clone());
    shared.tls = tls;
    let shared = Arc::new(shared);
    let timer = smol::spawn(deadline_timer(state.clone()));
    let signals = smol::spawn(watch_signals(events.clone()));
    let maintenance = smol::spawn(channel_maintenance(state.clone()));
    let started_at = crate::protocol::time::now_ns();
    let schedules = smol::spawn(schedule_timer(state.clone(), cfg.cron_missed, started_at));
    if let Some(r) = cfg.housekeeping.retention {
        tracing::info!(
            policy_secs = r.as_secs(),
            "retention on: successful work and logs older than the policy are purged every minute"
        );
        if r.is_zero() {
            tracing::warn!("retention policy 0: every successful process is purged within a minute (set --retention-policy / COLONIES_RETENTION_POLICY)");
        }
    }
    let housekeeping = smol::spawn(housekeeping(state.clone(), cfg.housekeeping.clone()));
    smol::block_on(transport::serve(listener, state.clone(), shared));
    notifier.send("STOPPING=1\nSTATUS=shutting down");
    tracing::info!("shutting down: no longer accepting connections");
    drop(watchdog);
    drop(metrics);
    // let in-flight requests finish (each connection is bounded by the grace period)
    smol::block_on(async {
        let deadline = std::time::Instant::now() + cfg.http.shutdown_grace + Duration::from_secs(1);
        while events
            .counters
            .connections
            .load(std::sync::atomic::Ordering::Acquire)
            > 0
            && std::time::Instant::now() < deadline
        {
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    });
    drop(timer);
    drop(signals);
    drop(maintenance);
    drop(schedules);
    drop(housekeeping);
    writer.close();
    let _ = writer_thread.join();
    let failed = writer.has_failed();
    drop(state);
    if !failed {
        if let Err(e) = store.db().persist(fjall::PersistMode::SyncAll) {
            tracing::error!(error = %e, "final sync failed");
            return Ok(1);
        }
    }
    let c = &events.counters;
    tracing::info!(
        requests = c.requests.load(std::sync::atomic::Ordering::Relaxed),
        writes = c.writes.load(std::sync::atomic::Ordering::Relaxed),
        syncs = c.syncs.load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    Ok(if failed { 1 } else { 0 })
}

/// Waits for `timer`; false if shutdown started first.
async fn sleep_unless_shutdown(state: &ServerState, timer: smol::Timer) -> bool {
    futures_lite::FutureExt::or(
        async {
            timer.await;
            true
        },
        async {
            state.events.shutdown_started().await;
            false
        },
    )
    .await
}

/// Fires wait and execution deadlines (spec §6.1); they live in the store, so they survive
/// restarts. Sleeps until the earliest deadline, at most a second.
async fn deadline_timer(state: Arc<ServerState>) {
    loop {
        let next = state
            .store
            .index
            .prefix(keys::DEADLINES)
            .next()
            .and_then(|g| g.key().ok())
            .and_then(|k| keys::parse_deadline(&k))
            .map(|(at, _, _)| at);
        let now = crate::protocol::time::now_ns();
        match next {
            Some(at) if at <= now => {
                match state
                    .writer
                    .run(|txn| lifecycle::expire_due(txn, EXPIRE_BATCH))
                    .await
                {
                    Ok(n) if n > 0 => tracing::debug!(fired = n, "deadlines applied"),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "applying deadlines failed");
                        smol::Timer::after(Duration::from_secs(1)).await;
                    }
                }
            }
            other => {
                let wait = other.map_or(1_000_000_000, |at| {
                    (at - now).clamp(1_000_000, 1_000_000_000)
                });
                let sleep = smol::Timer::after(Duration::from_nanos(
                    u64::try_from(wait).unwrap_or(1_000_000_000),
                ));
                if !sleep_unless_shutdown(&state, sleep).await {
                    return;
                }
            }
        }
    }
}

/// Probes the storage writer with a no-op every interval; under systemd (`notifier`), pings
/// its watchdog while the executor runs this task and the writer answers within the interval,
/// so a stuck writer or executor stops the pings and systemd restarts colonyd. Probes and
/// misses are counted for the metrics either way.
async fn watchdog(
    state: Arc<ServerState>,
    notifier: Option<Arc<crate::notify::Notifier>>,
    every: Duration,
) {
    let counters = &state.events.counters;
    loop {
        counter(&counters.watchdog_probes, 1);
        let healthy = futures_lite::FutureExt::or(
            async { state.writer.run(|_| Ok(())).await.is_ok() },
            async {
                smol::Timer::after(every).await;
                false
            },
        )
        .await;
        if healthy {
            if let Some(n) = &notifier {
                n.send("WATCHDOG=1");
            }
        } else {
            counter(&counters.watchdog_misses, 1);
            tracing::warn!("storage writer did not answer within the watchdog interval");
        }
        if !sleep_unless_shutdown(&state, smol::Timer::after(every)).await {
            return;
        }
    }
}

/// Most payload bytes one relocation step copies (one writer operation).
const RELOCATE_CHUNK: usize = 4 << 20;

/// Removes channels whose retention expired and retires old segments, through the writer.
async fn channel_maintenance(state: Arc<ServerState>) {
    let mut ticks: u64 = 0;
    loop {
        if !sleep_unless_shutdown(&state, smol::Timer::after(Duration::from_secs(1))).await {
            return;
        }
        ticks += 1;
        let now = crate::protocol::time::now_ns();
        if crate::channels::log::next_expiry(&state.store).is_some_and(|at| at <= now) {
            let r = state
                .writer
                .run(|txn| crate::channels::log::expire_due(txn, EXPIRE_BATCH))
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "channel retention expiry failed");
            }
        }
        if ticks.is_multiple_of(10) {
            // bounded work per round; a long retirement continues next round
            for _ in 0..64 {
                let policy = state.store.channel_policy.clone();
                match state
                    .writer
                    .run(move |txn| crate::channels::log::maintain(txn, &policy, RELOCATE_CHUNK))
                    .await
                {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "channel segment maintenance failed");
                        break;
                    }
                }
            }
        }
    }
}

fn counter(c: &std::sync::atomic::AtomicU64, n: u64) {
    c.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// Most crons run per look (more wait for the next one, a moment later).
const CRON_BATCH: usize = 64;
/// Most workflows one generator submits per look.
const GENERATOR_BATCH: usize = 64;

/// Runs due crons and generators (`crate::schedules`): wakes at the earliest next run, at
/// least every second (generator timeouts, new crons), as upstream's checker period.
async fn schedule_timer(
    state: Arc<ServerState>,
    missed: crate::schedules::Missed,
    started_at: i64,
) {
    use crate::schedules::{self, RunCause};
    // generators whose submission failed at the last look: logged once, not every second
    let mut failing: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let now = crate::protocol::time::now_ns();
        let mut full_batch = false;
        match schedules::due_crons(&state.store, now, CRON_BATCH) {
            Ok(ids) => {
                full_batch = ids.len() >= CRON_BATCH;
                for id in ids {
                    let cid = id.clone();
                    let cause = RunCause::Due { missed, started_at };
                    match state
                        .writer
                        .run(move |txn| schedules::run_cron(txn, &cid, cause))
                        .await
                    {
                        Ok(Some(c)) => {
                            counter(&state.events.counters.cron_runs, 1);
                            tracing::debug!(cron = %c.name, colony = %c.colonyname, "cron ran");
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(cron = %id, error = %e, "cron run failed; skipped to its next tick");
                            let rid = id.clone();
                            let _ = state
                                .writer
                                .run(move |txn| schedules::reschedule(txn, &rid))
                                .await;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading due crons failed"),
        }
        match schedules::due_generators(&state.store, now) {
            Ok(ids) => {
                for id in ids {
                    for _ in 0..GENERATOR_BATCH {
                        let gid = id.clone();
                        match state
                            .writer
                            .run(move |txn| schedules::fire(txn, &gid))
                            .await
                        {
                            Ok(true) => {
                                counter(&state.events.counters.generator_runs, 1);
                                if failing.remove(&id) {
                                    tracing::info!(generator = %id, "generator submits again");
                                }
                                continue;
                            }
                            Ok(false) => break,
                            Err(e) => {
                                if failing.insert(id.clone()) {
                                    tracing::warn!(generator = %id, error = %e, "generator workflow submission failed; its arguments stay queued and it is retried every second");
                                }
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading generators failed"),
        }
        let now = crate::protocol::time::now_ns();
        // the earliest next run, at most a second away; a due cron still there is waiting for
        // its previous workflow (looked at again in a second) unless a full batch just ran
        let wait = match schedules::next_cron_run(&state.store) {
            _ if full_batch => 10_000_000,
            Some(at) if at > now => (at - now).clamp(10_000_000, 1_000_000_000),
            _ => 1_000_000_000,
        };
        let sleep = smol::Timer::after(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(1_000_000_000),
        ));
        if !sleep_unless_shutdown(&state, sleep).await {
            return;
        }
    }
}

/// Unregisters stale executors every cleanup interval and, with retention on, purges old
/// finished work every retention interval in bounded steps (each its own writer operation,
/// so appends interleave).
async fn housekeeping(state: Arc<ServerState>, policy: crate::housekeeping::Policy) {
    use crate::housekeeping as hk;
    let tick = policy
        .cleanup_interval
        .min(policy.retention_interval)
        .max(Duration::from_secs(1));
    let mut since_cleanup = Duration::ZERO;
    // retention runs at startup, then every interval (as upstream)
    let mut since_retention = policy.retention_interval;
    loop {
        if !policy.stale_after.is_zero() && since_cleanup >= policy.cleanup_interval {
            since_cleanup = Duration::ZERO;
            let now = crate::protocol::time::now_ns();
            let cutoff = now
                .saturating_sub(i64::try_from(policy.stale_after.as_nanos()).unwrap_or(i64::MAX));
            let busy: std::collections::HashSet<String> = match state.long_polls_by_executor.lock()
            {
                Ok(m) => m.keys().cloned().collect(),
                Err(p) => p.into_inner().keys().cloned().collect(),
            };
            match hk::stale_executors(&state.store, cutoff, &busy) {
                Ok(found) => {
                    for e in found {
                        match state
                            .writer
                            .run(move |txn| hk::unregister_if_stale(txn, &e, cutoff))
                            .await
                        {
                            Ok(true) => counter(&state.events.counters.stale_executors, 1),
                            Ok(false) => {}
                            Err(err) => {
                                tracing::warn!(error = %err, "unregistering a stale executor failed")
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "looking for stale executors failed"),
            }
        }
        if let Some(keep) = policy.retention {
            if since_retention >= policy.retention_interval {
                since_retention = Duration::ZERO;
                let cutoff = crate::protocol::time::now_ns()
                    .saturating_sub(i64::try_from(keep.as_nanos()).unwrap_or(i64::MAX));
                let mut cursor = None;
                let mut total = hk::Purged::default();
                // bounded: a round of at most this many steps; the rest waits for the next
                for _ in 0..100_000 {
                    if state.events.is_shutting_down() {
                        return;
                    }
                    let from = cursor.take();
                    match state
                        .writer
                        .run(move |txn| hk::purge(txn, cutoff, from))
                        .await
                    {
                        Ok((p, next)) => {
                            total.processes += p.processes;
                            total.graphs += p.graphs;
                            total.logs += p.logs;
                            counter(
                                &state.events.counters.retention_purged,
                                (p.processes + p.graphs + p.logs) as u64,
                            );
                            cursor = next;
                            if cursor.is_none() {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "retention purge failed");
                            break;
                        }
                    }
                    // let other work through between steps
                    smol::future::yield_now().await;
                }
                if total != hk::Purged::default() {
                    tracing::info!(
                        processes = total.processes,
                        workflows = total.graphs,
                        logs = total.logs,
                        "retention purged old work"
                    );
                }
            }
        }
        if !sleep_unless_shutdown(&state, smol::Timer::after(tick)).await {
            return;
        }
        since_cleanup += tick;
        since_retention += tick;
    }
}

/// SIGTERM/SIGINT start a graceful shutdown; a second signal exits at once.
async fn watch_signals(events: Arc<Events>) {
    use async_signal::{Signal, Signals};
    use futures_lite::StreamExt;
    let Ok(mut signals) = Signals::new([Signal::Term, Signal::Int]) else {
        tracing::warn!("cannot install signal handlers; stop colonyd with SIGKILL");
        return;
    };
    let mut seen = 0;
    while let Some(sig) = signals.next().await {
        seen += 1;
        if seen == 1 {
            tracing::info!(signal = ?sig, "shutdown requested");
            events.shutdown();
        } else {
            tracing::warn!(signal = ?sig, "second signal: exiting at once");
            std::process::exit(1);
        }
    }
}

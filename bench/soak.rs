//! `soak`: steady mixed load for `--duration` seconds while the server's resources are sampled
//! every `--sample` seconds; fails (exit 1) if any of them keeps growing.
//!
//! Load: `--clients` workers each loop submit (with a channel) → assign → three appends →
//! close → remove, so everything they create is also removed; `--subscribers` threads keep
//! joining a running process's channel for about a second and leaving. Samples: the server's
//! RSS and open file descriptors (`--server-pid`), the bytes allocated under `--data-dir`, and
//! the p99 latency of the workers' requests in that interval.
//!
//! Verdict, after a warm-up (the first fifth of the samples): comparing the last third with the
//! first third of the rest, RSS may grow by at most a quarter plus 4 MiB, file descriptors by
//! 16, disk (journals aside, see [`disk`]) by half plus 32 MiB, and the median p99 of the last
//! third may reach three times the worst of the first plus 25 ms: deleted records leave
//! tombstones that queue scans step over until a compaction drops them, so p99 saw-tooths with
//! a period of minutes. A leak grows past these bounds in a 2-minute run; the hour-long release
//! run reports min, max and slope of every series.

use super::{call, percentile, proc_rss_kib, submit_msg, Args, Conn, Setup};
use colonyd::envelope;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Default, Debug)]
struct Sample {
    t: f64,
    rss_kib: u64,
    fds: u64,
    disk_bytes: u64,
    p99_ms: f64,
    ops: u64,
}

fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// Bytes allocated under `dir`, journals (`*.jnl`) left out: the journal fills up to
/// `--journal-size` (at least 64 MiB) before it is flushed and reset, a bound of its own that a
/// short run never reaches; tables and everything else must stay bounded by themselves.
fn disk(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk(&e.path()),
            Ok(_) if e.path().extension().is_some_and(|x| x == "jnl") => 0,
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

fn worker(
    addr: String,
    s: (String, colonyd::PrivateKey),
    stop: Arc<AtomicBool>,
    lat: Arc<Mutex<Vec<Duration>>>,
    running: Arc<Mutex<Option<String>>>,
    ops: Arc<AtomicU64>,
) {
    let (colony, exec) = s;
    let mut c = Conn::new(&addr);
    let timed = |c: &mut Conn, msg: serde_json::Value| {
        let t = Instant::now();
        let v = call(c, msg, &exec);
        if let Ok(mut l) = lat.lock() {
            l.push(t.elapsed());
        }
        ops.fetch_add(1, Ordering::Relaxed);
        v
    };
    while !stop.load(Ordering::Relaxed) {
        timed(&mut c, submit_msg(&colony, &["soak"]));
        let p = timed(
            &mut c,
            serde_json::json!({"msgtype":"assignprocessmsg","colonyname":colony,"timeout":-1}),
        );
        let pid = p["processid"].as_str().unwrap_or_default().to_string();
        if let Ok(mut r) = running.lock() {
            *r = Some(pid.clone());
        }
        for i in 0..3 {
            timed(
                &mut c,
                serde_json::json!({"msgtype":"channelappendmsg","processid":pid,"name":"soak",
                    "sequence":i,"payload":[1,2,3,4,5,6,7,8]}),
            );
        }
        timed(
            &mut c,
            serde_json::json!({"msgtype":"closesuccessfulmsg","processid":pid}),
        );
        timed(
            &mut c,
            serde_json::json!({"msgtype":"removeprocessmsg","processid":pid}),
        );
    }
}

fn subscriber(
    addr: String,
    exec: colonyd::PrivateKey,
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<String>>>,
    joins: Arc<AtomicU64>,
) {
    use async_tungstenite::tungstenite::{client, Message};
    while !stop.load(Ordering::Relaxed) {
        let pid = running.lock().ok().and_then(|r| r.clone());
        let Some(pid) = pid else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let req = String::from_utf8(envelope(
            &serde_json::json!({"msgtype":"subscribechannelmsg","processid":pid,"name":"soak",
                "afterseq":0,"timeout":1}),
            &exec,
        ))
        .unwrap_or_default();
        let t = super::target(&addr);
        let Ok(stream) = t.open() else {
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
        let Ok((mut ws, _)) = client(format!("{}://{addr}/pubsub", t.ws_scheme()), stream) else {
            continue;
        };
        if ws.send(Message::text(req)).is_err() {
            continue;
        }
        joins.fetch_add(1, Ordering::Relaxed);
        // until the subscription ends (`[]` after its timeout, or the process closed) or 3 s
        while let Ok(m) = ws.read() {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
        let _ = ws.close(None);
    }
}

fn third(v: &[f64], which: usize) -> &[f64] {
    let n = v.len() / 3;
    match which {
        0 => v.get(..n.max(1)).unwrap_or(v),
        _ => v.get(v.len().saturating_sub(n.max(1))..).unwrap_or(v),
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::MIN, f64::max)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// Least-squares slope of `v` against `t`, per hour.
fn slope_per_hour(t: &[f64], v: &[f64]) -> f64 {
    let n = t.len() as f64;
    let (mt, mv) = (t.iter().sum::<f64>() / n, v.iter().sum::<f64>() / n);
    let cov: f64 = t.iter().zip(v).map(|(a, b)| (a - mt) * (b - mv)).sum();
    let var: f64 = t.iter().map(|a| (a - mt) * (a - mt)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var * 3600.0
    }
}

pub fn run(a: &Args, s: &Setup) {
    let Some(pid) = a.server_pid else {
        eprintln!("soak needs --server-pid (RSS and file descriptors are read from /proc)");
        std::process::exit(2);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let running = Arc::new(Mutex::new(None));
    let ops = Arc::new(AtomicU64::new(0));
    let joins = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..a.clients.max(1) {
        let (addr, stop, lat, running, ops) = (
            a.addr.clone(),
            stop.clone(),
            lat.clone(),
            running.clone(),
            ops.clone(),
        );
        let who = (s.colony.clone(), s.exec.clone());
        threads.push(std::thread::spawn(move || {
            worker(addr, who, stop, lat, running, ops)
        }));
    }
    for _ in 0..a.subscribers {
        let (addr, exec, stop, running, joins) = (
            a.addr.clone(),
            s.exec.clone(),
            stop.clone(),
            running.clone(),
            joins.clone(),
        );
        threads.push(std::thread::spawn(move || {
            subscriber(addr, exec, stop, running, joins)
        }));
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.duration_secs);
    let mut samples: Vec<Sample> = Vec::new();
    println!("t s     rss MiB  fds   disk MiB  p99 ms   ops");
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(a.sample_secs.max(1)));
        let mut window = lat
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        window.sort();
        let smp = Sample {
            t: start.elapsed().as_secs_f64(),
            rss_kib: proc_rss_kib(pid).unwrap_or(0),
            fds: fds(pid),
            disk_bytes: a
                .data_dir
                .as_deref()
                .map_or(0, |d| disk(std::path::Path::new(d))),
            p99_ms: percentile(&window, 0.99).as_secs_f64() * 1e3,
            ops: ops.load(Ordering::Relaxed),
        };
        println!(
            "{:<7.0} {:<8.1} {:<5} {:<9.1} {:<8.2} {}",
            smp.t,
            smp.rss_kib as f64 / 1024.0,
            smp.fds,
            smp.disk_bytes as f64 / 1048576.0,
            smp.p99_ms,
            smp.ops
        );
        samples.push(smp);
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let warm = (samples.len() / 5).max(1);
    let rest = samples.get(warm..).unwrap_or_default();
    if rest.len() < 3 {
        eprintln!(
            "soak: too few samples ({}): raise --duration or lower --sample",
            samples.len()
        );
        std::process::exit(2);
    }
    let t: Vec<f64> = rest.iter().map(|x| x.t).collect();
    let series = |f: fn(&Sample) -> f64| rest.iter().map(f).collect::<Vec<f64>>();
    let rss = series(|x| x.rss_kib as f64 / 1024.0);
    let fd = series(|x| x.fds as f64);
    let dsk = series(|x| x.disk_bytes as f64 / 1048576.0);
    let p99 = series(|x| x.p99_ms);
    let mut failures = Vec::new();
    if max(third(&rss, 2)) > max(third(&rss, 0)) * 1.25 + 4.0 {
        failures.push("RSS keeps growing");
    }
    if max(third(&fd, 2)) > max(third(&fd, 0)) + 16.0 {
        failures.push("open file descriptors keep growing");
    }
    if a.data_dir.is_some() && max(third(&dsk, 2)) > max(third(&dsk, 0)) * 1.5 + 32.0 {
        failures.push("disk usage keeps growing");
    }
    if median(third(&p99, 2)) > max(third(&p99, 0)) * 3.0 + 25.0 {
        failures.push("p99 latency keeps growing");
    }
    let summary = |name: &str, v: &[f64], unit: &str| {
        println!(
            "{name:<5} min {:<9.2} max {:<9.2} slope {:+.2} {unit}/h",
            v.iter().copied().fold(f64::MAX, f64::min),
            max(v),
            slope_per_hour(&t, v)
        );
        serde_json::json!({"min": v.iter().copied().fold(f64::MAX, f64::min), "max": max(v),
            "slope_per_hour": slope_per_hour(&t, v)})
    };
    println!(
        "soak: {:.0} s, {} requests, {} subscriptions joined; after warm-up:",
        start.elapsed().as_secs_f64(),
        ops.load(Ordering::Relaxed),
        joins.load(Ordering::Relaxed)
    );
    let j = serde_json::json!({"scenario": "soak", "seconds": start.elapsed().as_secs_f64(),
        "requests": ops.load(Ordering::Relaxed), "subscriptions": joins.load(Ordering::Relaxed),
        "rss_mib": summary("rss", &rss, "MiB"), "fds": summary("fds", &fd, "fds"),
        "disk_mib": summary("disk", &dsk, "MiB"), "p99_ms": summary("p99", &p99, "ms"),
        "failures": failures});
    if let Some(path) = &a.json {
        std::fs::write(path, j.to_string())
            .unwrap_or_else(|e| eprintln!("cannot write {path}: {e}"));
    }
    if !failures.is_empty() {
        eprintln!("soak FAILED: {}", failures.join("; "));
        std::process::exit(1);
    }
    println!("soak ok: nothing grows without bound");
}

//! `colonyd-bench`: a load generator that speaks the real ColonyOS protocol (signed envelopes
//! over HTTP/1.1 keep-alive) against any ColonyOS-compatible server, colonyd or upstream.
//!
//! Requests are signed before the clock starts, so the client's signing does not steal the
//! server's CPU. With `--server-pid` it reports the server's CPU time per operation and its
//! RSS (from /proc). Every run is bounded by `--count` per client; loopback only in CI.
//!
//! ```text
//! colonyd-bench --addr 127.0.0.1:50080 --server-prvkey <hex> [--server-pid PID]
//!               [--clients N] [--count M] [--payload BYTES] [--channels-per-client K]
//!               [--json FILE] [--duration S] [--sample S] [--data-dir DIR] SCENARIO
//! SCENARIO: submit | append | cycle | latency | release | abuse | soak | purge
//! ```
//!
//! `soak` runs a steady mixed load for `--duration` seconds, samples the server's RSS, file
//! descriptors, disk use under `--data-dir` and request p99 every `--sample` seconds, and
//! exits 1 if any keeps growing (bench/soak.rs).
//!
//! `purge` appends to a channel while retention purges a backlog of successful processes
//! (the server restarted with `--retention true`), and reports the appends' latency during the
//! purge (bench/purge.rs).
//!
//! `abuse` throws hostile load at the server (`--idle`, `--slow`, `--long-polls`,
//! `--subscribers` that never read, `--bulk-mib` for one more, huge and deeply nested bodies)
//! while a well-behaved client runs `--count` rounds of submit/assign/close/get on fresh
//! connections, and reports that client's latencies (bench/abuse.rs).
//!
//! `latency` opens `--subscribers M` WebSocket subscriptions on one channel, appends `--count`
//! entries one at a time at `--rate` appends/s (default 100) and reports the time from sending
//! each append to its arrival at each subscriber (median, p99, max), the request → reply time
//! and the reply → delivery time, the server's CPU per delivered frame next to one bare
//! loopback `send()` measured in the same run, and the server's RSS with the subscribers
//! connected.
//!
//! `--metrics HOST:PORT` (the server's `--metrics-listen`) adds syncs per operation to
//! `submit`, `append` and `cycle`; `--one-channel` makes every `append` client write to one
//! process's channel, submitter and executor alternating.
//!
//! `--tls` (or `COLONIES_SERVER_TLS=true`) and `--ca-file FILE` (or `COLONYD_CA_FILE`) run the
//! requests and subscriptions of every scenario but `abuse` over HTTPS and WSS.

// a test or benchmark that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod abuse;
mod purge;
mod soak;

use colonyd::PrivateKey;
use colonyd::{envelope, Client};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Args {
    addr: String,
    server_prv: String,
    server_pid: Option<u32>,
    clients: usize,
    count: usize,
    payload: usize,
    channels_per_client: usize,
    subscribers: usize,
    idle: usize,
    slow: usize,
    long_polls: usize,
    bulk_mib: usize,
    json: Option<String>,
    duration_secs: u64,
    sample_secs: u64,
    data_dir: Option<String>,
    /// Appends per second in `latency` (paced, one at a time).
    rate: f64,
    /// The server's metrics listener: report syncs per operation.
    metrics: Option<String>,
    /// `append`: every client appends to one process's channel.
    one_channel: bool,
    scenario: String,
}

/// `--tls` / `--ca-file` (or COLONIES_SERVER_TLS=true / COLONYD_CA_FILE): requests and
/// subscriptions over HTTPS and WSS, through the same client as the operator commands.
static TLS: std::sync::OnceLock<Option<Option<std::path::PathBuf>>> = std::sync::OnceLock::new();

/// The server at `addr`, plain or HTTPS as configured.
pub(crate) fn target(addr: &str) -> colonyd::Target {
    match TLS.get().cloned().flatten() {
        Some(ca) => colonyd::Target::tls(addr, ca.as_deref()).unwrap_or_else(|e| panic!("{e}")),
        None => colonyd::Target::plain(addr),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:50080".into(),
        server_prv: std::env::var("COLONIES_SERVER_PRVKEY").unwrap_or_default(),
        server_pid: None,
        clients: 1,
        count: 1000,
        payload: 100,
        channels_per_client: 1,
        subscribers: 1,
        idle: 1000,
        slow: 50,
        long_polls: 100,
        bulk_mib: 8,
        json: None,
        duration_secs: 120,
        sample_secs: 5,
        data_dir: None,
        rate: 100.0,
        metrics: None,
        one_channel: false,
        scenario: String::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut tls = std::env::var("COLONIES_SERVER_TLS").is_ok_and(|v| v == "true");
    let mut ca_file = std::env::var_os("COLONYD_CA_FILE")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    let mut i = 0;
    while i < args.len() {
        let v = |i: usize| {
            args.get(i + 1)
                .cloned()
                .ok_or(format!("{} needs a value", args[i]))
        };
        match args[i].as_str() {
            "--addr" => a.addr = v(i)?,
            "--server-prvkey" => a.server_prv = v(i)?,
            "--server-pid" => a.server_pid = Some(v(i)?.parse().map_err(|_| "bad --server-pid")?),
            "--clients" => a.clients = v(i)?.parse().map_err(|_| "bad --clients")?,
            "--count" => a.count = v(i)?.parse().map_err(|_| "bad --count")?,
            "--payload" => a.payload = v(i)?.parse().map_err(|_| "bad --payload")?,
            "--json" => a.json = Some(v(i)?),
            "--duration" => a.duration_secs = v(i)?.parse().map_err(|_| "bad --duration")?,
            "--sample" => a.sample_secs = v(i)?.parse().map_err(|_| "bad --sample")?,
            "--data-dir" => a.data_dir = Some(v(i)?),
            "--rate" => a.rate = v(i)?.parse().map_err(|_| "bad --rate")?,
            "--metrics" => a.metrics = Some(v(i)?),
            "--one-channel" => {
                a.one_channel = true;
                i += 1;
                continue;
            }
            "--tls" => {
                tls = true;
                i += 1;
                continue;
            }
            "--ca-file" => ca_file = Some(v(i)?.into()),
            "--subscribers" => a.subscribers = v(i)?.parse().map_err(|_| "bad --subscribers")?,
            "--idle" => a.idle = v(i)?.parse().map_err(|_| "bad --idle")?,
            "--slow" => a.slow = v(i)?.parse().map_err(|_| "bad --slow")?,
            "--long-polls" => a.long_polls = v(i)?.parse().map_err(|_| "bad --long-polls")?,
            "--bulk-mib" => a.bulk_mib = v(i)?.parse().map_err(|_| "bad --bulk-mib")?,
            "--channels-per-client" => {
                a.channels_per_client = v(i)?.parse().map_err(|_| "bad --channels-per-client")?
            }
            "-h" | "--help" => return Err(String::new()),
            s if !s.starts_with('-') => {
                a.scenario = s.to_string();
                i += 1;
                continue;
            }
            s => return Err(format!("unknown option {s}")),
        }
        i += 2;
    }
    if a.scenario.is_empty() {
        return Err("no scenario given".into());
    }
    let _ = TLS.set((tls || ca_file.is_some()).then_some(ca_file));
    Ok(a)
}

/// A keep-alive connection that panics on transport errors (a benchmark cannot continue).
struct Conn(Client);

impl Conn {
    fn new(addr: &str) -> Conn {
        Conn(Client::open(&target(addr)).unwrap_or_else(|e| panic!("{e}")))
    }

    fn post(&mut self, body: &[u8]) -> (u16, Vec<u8>) {
        self.0.post(body).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn call(conn: &mut Conn, msg: serde_json::Value, key: &PrivateKey) -> serde_json::Value {
    let t = msg["msgtype"].clone();
    conn.0
        .call(msg, key)
        .unwrap_or_else(|e| panic!("{t} failed: {e}"))
}

/// The `p` quantile of sorted latencies.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    sorted
        .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn proc_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Setup {
    colony: String,
    exec: PrivateKey,
    /// A second executor (another type, never assigned bench work) that submits in
    /// `--one-channel` runs, so submitter and executor alternate on one channel.
    submitter: PrivateKey,
}

/// One counter from the server's Prometheus endpoint (`--metrics`).
fn scrape(addr: &str, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .find(|l| l.split_whitespace().next() == Some(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn setup(addr: &str, server: &PrivateKey) -> Setup {
    let mut c = Conn::new(addr);
    let owner = PrivateKey::generate();
    let colony = format!("bench-{}", &colonyd::random_id()[..8]);
    call(
        &mut c,
        serde_json::json!({"msgtype":"addcolonymsg","colony":{"colonyid":owner.id(),"name":colony}}),
        server,
    );
    // the executor type is its name: `bench` runs the bench processes, `bench-submitter` never
    let mut approved = |name: &str| {
        let key = PrivateKey::generate();
        call(
            &mut c,
            serde_json::json!({"msgtype":"addexecutormsg","executor":{"executorid":key.id(),"executorname":name,"executortype":name,"colonyname":colony}}),
            &owner,
        );
        call(
            &mut c,
            serde_json::json!({"msgtype":"approveexecutormsg","colonyname":colony,"executorname":name}),
            &owner,
        );
        key
    };
    let exec = approved("bench");
    let submitter = approved("bench-submitter");
    Setup {
        colony,
        exec,
        submitter,
    }
}

fn submit_msg(colony: &str, channels: &[&str]) -> serde_json::Value {
    serde_json::json!({"msgtype":"submitfuncspecmsg","spec":{"funcname":"bench","maxexectime":-1,"maxwaittime":-1,
        "conditions":{"colonyname":colony,"executortype":"bench"},"channels":channels}})
}

/// A workflow root with `--count` dependants: how long closing the root (which releases every
/// dependant in one atomic batch) takes, and how long until the first dependant is assigned.
fn release(a: &Args, s: &Setup) {
    let mut c = Conn::new(&a.addr);
    let mut specs = vec![
        serde_json::json!({"nodename":"root","funcname":"root","maxexectime":-1,
        "conditions":{"colonyname":s.colony,"executortype":"bench"}}),
    ];
    for i in 0..a.count {
        specs.push(
            serde_json::json!({"nodename":format!("child{i}"),"funcname":"child","maxexectime":-1,
            "conditions":{"colonyname":s.colony,"executortype":"bench","dependencies":["root"]}}),
        );
    }
    let t = Instant::now();
    call(
        &mut c,
        serde_json::json!({"msgtype":"submitworkflowspecmsg","spec":{"colonyname":s.colony,"functionspecs":specs}}),
        &s.exec,
    );
    let submit = t.elapsed();
    let root = call(
        &mut c,
        serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
        &s.exec,
    );
    let close = envelope(
        &serde_json::json!({"msgtype":"closesuccessfulmsg","processid":root["processid"]}),
        &s.exec,
    );
    let assign = envelope(
        &serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
        &s.exec,
    );
    let t = Instant::now();
    let (st, _) = c.post(&close);
    assert_eq!(st, 200);
    let closed = t.elapsed();
    let (st, _) = c.post(&assign);
    assert_eq!(st, 200);
    let first = t.elapsed();
    println!("scenario  dependants  submit ms  close+release ms  first-child-assigned ms");
    println!(
        "release   {:<11} {:<10.1} {:<17.1} {:.1}",
        a.count,
        submit.as_secs_f64() * 1e3,
        closed.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3
    );
}

fn latency(a: &Args, s: &Setup) {
    use async_tungstenite::tungstenite::{client, Message};
    let mut c = Conn::new(&a.addr);
    let p = call(&mut c, submit_msg(&s.colony, &["lat"]), &s.exec);
    let pid = p["processid"].as_str().unwrap_or_default().to_string();
    call(
        &mut c,
        serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
        &s.exec,
    );
    let count = a.count;
    let start = Instant::now();
    let sub_req = String::from_utf8(envelope(
        &serde_json::json!({"msgtype":"subscribechannelmsg","processid":pid,"name":"lat","afterseq":0,"timeout":3600}),
        &s.exec,
    ))
    .unwrap_or_default();
    let ready = std::sync::Arc::new(std::sync::Barrier::new(a.subscribers + 1));
    let subs: Vec<_> = (0..a.subscribers)
        .map(|_| {
            let addr = a.addr.clone();
            let req = sub_req.clone();
            let ready = ready.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let t = target(&addr);
                    let stream = t.open().unwrap_or_else(|e| panic!("{e}"));
                    let (mut ws, _) = client(format!("{}://{addr}/pubsub", t.ws_scheme()), stream)
                        .expect("ws handshake");
                    ws.send(Message::text(req)).expect("subscribe");
                    ready.wait();
                    let mut arrivals = vec![Duration::ZERO; count];
                    let mut frame_len = 0;
                    let mut got = 0;
                    while got < count {
                        let Ok(Message::Text(t)) = ws.read() else {
                            continue;
                        };
                        let now = start.elapsed();
                        frame_len = t.len();
                        let v: serde_json::Value =
                            serde_json::from_str(t.as_str()).unwrap_or_default();
                        use base64::Engine;
                        let entries: serde_json::Value = serde_json::from_slice(
                            &base64::engine::general_purpose::STANDARD
                                .decode(v["payload"].as_str().unwrap_or_default())
                                .unwrap_or_default(),
                        )
                        .unwrap_or_default();
                        for e in entries.as_array().into_iter().flatten() {
                            let seq = e["sequence"].as_u64().unwrap_or(0) as usize;
                            if let Some(slot) = arrivals.get_mut(seq) {
                                *slot = now;
                                got += 1;
                            }
                        }
                    }
                    (arrivals, frame_len)
                })
                .expect("spawn subscriber")
        })
        .collect();
    ready.wait();
    std::thread::sleep(Duration::from_millis(500));
    let rss_connected = a.server_pid.and_then(proc_rss_kib);
    // signed before the clock starts
    let reqs: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            envelope(
                &serde_json::json!({"msgtype":"channelappendmsg","processid":pid,"name":"lat","sequence":i,"payload":[1,2,3,4]}),
                &s.exec,
            )
        })
        .collect();
    let interval = Duration::from_secs_f64(1.0 / a.rate.max(0.1));
    let cpu0 = a.server_pid.and_then(proc_cpu_ticks);
    let mut sent = Vec::with_capacity(count);
    let mut replied = Vec::with_capacity(count);
    let mut next = Instant::now();
    for req in &reqs {
        let t = start.elapsed();
        let (st, _) = c.post(req);
        let r = start.elapsed();
        assert_eq!(st, 200);
        sent.push(t);
        replied.push(r);
        next += interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let mut lat: Vec<Duration> = Vec::new();
    let mut after_reply: Vec<Duration> = Vec::new();
    let mut frame_bytes = 0;
    for h in subs {
        let (arrivals, flen) = h.join().expect("subscriber");
        frame_bytes = frame_bytes.max(flen);
        for ((arr, s), r) in arrivals.iter().zip(&sent).zip(&replied) {
            lat.push(arr.saturating_sub(*s));
            after_reply.push(arr.saturating_sub(*r));
        }
    }
    let cpu1 = a.server_pid.and_then(proc_cpu_ticks);
    let mut reply: Vec<Duration> = sent
        .iter()
        .zip(&replied)
        .map(|(s, r)| r.saturating_sub(*s))
        .collect();
    lat.sort();
    after_reply.sort();
    reply.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |p: f64| percentile(&lat, p);
    println!(
        "scenario  subscribers  entries  p50 ms   p99 ms   max ms   server-rss MiB (subscribed)"
    );
    println!(
        "latency   {:<12} {:<8} {:<8.2} {:<8.2} {:<8.2} {}",
        a.subscribers,
        count,
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        rss_connected.map_or("-".into(), |v| format!("{:.1}", v as f64 / 1024.0)),
    );
    println!(
        "at {:.0} appends/s: request → reply p50 {:.3} ms, p99 {:.3} ms; reply → delivery p50 {:.3} ms, p99 {:.3} ms",
        a.rate,
        ms(percentile(&reply, 0.5)),
        ms(percentile(&reply, 0.99)),
        ms(percentile(&after_reply, 0.5)),
        ms(percentile(&after_reply, 0.99)),
    );
    // server CPU per delivered frame (the appends' own cost included), next to one bare
    // loopback send() of a frame's size in the same run
    let frames = (count * a.subscribers) as f64;
    let cpu_per_frame_us = match (cpu0, cpu1) {
        (Some(a0), Some(a1)) => Some((a1 - a0) as f64 * 10_000.0 / frames),
        _ => None,
    };
    let send_us = bare_send_us(frame_bytes, 20_000);
    if let Some(v) = cpu_per_frame_us {
        println!(
            "server CPU per delivered frame {v:.2} µs (appends included); one loopback send() of {frame_bytes} bytes {send_us:.2} µs"
        );
    }
    if let Some(path) = &a.json {
        let j = serde_json::json!({"scenario": "latency", "subscribers": a.subscribers, "entries": count,
            "p50_ms": ms(pct(0.5)), "p99_ms": ms(pct(0.99)),
            "max_ms": ms(lat.last().copied().unwrap_or_default()),
            "rate": a.rate, "reply_p50_ms": ms(percentile(&reply, 0.5)), "reply_p99_ms": ms(percentile(&reply, 0.99)),
            "after_reply_p50_ms": ms(percentile(&after_reply, 0.5)),
            "server_cpu_per_frame_us": cpu_per_frame_us, "bare_send_us": send_us,
            "server_rss_kib": rss_connected});
        std::fs::write(path, j.to_string())
            .unwrap_or_else(|e| eprintln!("cannot write {path}: {e}"));
    }
}

/// Mean time of one `send()` of `bytes` bytes over a loopback TCP connection whose other end
/// a thread drains (`n` sends, bounded).
fn bare_send_us(bytes: usize, n: usize) -> f64 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = l.local_addr().expect("addr");
    let total = bytes * n;
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < total {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
    });
    let mut w = TcpStream::connect(addr).expect("connect");
    w.set_nodelay(true).ok();
    let frame = vec![b'x'; bytes];
    let t = Instant::now();
    for _ in 0..n {
        w.write_all(&frame).expect("send");
    }
    let took = t.elapsed();
    drop(w);
    reader.join().ok();
    took.as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\nusage: colonyd-bench --addr HOST:PORT --server-prvkey HEX [--server-pid PID] [--clients N] [--count M] [--payload BYTES] [--channels-per-client K] [--subscribers M] [--idle N] [--slow N] [--long-polls N] [--bulk-mib N] [--json FILE] [--duration S] [--sample S] [--data-dir DIR] submit|append|cycle|latency|release|abuse|soak|purge");
            std::process::exit(2);
        }
    };
    let server = PrivateKey::from_hex(&a.server_prv).unwrap_or_else(|_| {
        eprintln!("--server-prvkey (or COLONIES_SERVER_PRVKEY) must be the server owner's key");
        std::process::exit(2)
    });
    let s = setup(&a.addr, &server);
    if a.scenario == "latency" {
        latency(&a, &s);
        return;
    }
    if a.scenario == "release" {
        release(&a, &s);
        return;
    }
    if a.scenario == "abuse" {
        abuse::run(&a, &s, &server);
        return;
    }
    if a.scenario == "soak" {
        soak::run(&a, &s);
        return;
    }
    if a.scenario == "purge" {
        purge::run(&a, &s, &server);
        return;
    }
    // --one-channel: one process, submitted by one executor and assigned to the other
    let shared = (a.scenario == "append" && a.one_channel).then(|| {
        let mut c = Conn::new(&a.addr);
        let p = call(&mut c, submit_msg(&s.colony, &["bench"]), &s.submitter);
        call(
            &mut c,
            serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
            &s.exec,
        );
        p["processid"].as_str().unwrap_or_default().to_string()
    });
    // per client: pre-signed requests
    let mut prepared: Vec<Vec<Vec<u8>>> = Vec::new();
    let payload: Vec<u8> = (0..a.payload).map(|i| (i % 251) as u8).collect();
    for client in 0..a.clients {
        let mut reqs = Vec::with_capacity(a.count);
        match a.scenario.as_str() {
            "submit" | "cycle" => {
                for _ in 0..a.count {
                    reqs.push(envelope(&submit_msg(&s.colony, &[]), &s.exec));
                }
            }
            "append" if shared.is_some() => {
                let pid = shared.clone().unwrap_or_default();
                // submitter and executor alternate, client by client
                let key = if client % 2 == 0 {
                    &s.submitter
                } else {
                    &s.exec
                };
                for i in 0..a.count {
                    reqs.push(envelope(&serde_json::json!({"msgtype":"channelappendmsg","processid":pid,"name":"bench",
                        "sequence":client * a.count + i,"payload":payload}), key));
                }
            }
            "append" => {
                let mut c = Conn::new(&a.addr);
                let mut pids = Vec::new();
                for _ in 0..a.channels_per_client.max(1) {
                    let p = call(&mut c, submit_msg(&s.colony, &["bench"]), &s.exec);
                    pids.push(p["processid"].as_str().unwrap_or_default().to_string());
                    call(
                        &mut c,
                        serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
                        &s.exec,
                    );
                }
                for i in 0..a.count {
                    let pid = &pids[i % pids.len()];
                    reqs.push(envelope(&serde_json::json!({"msgtype":"channelappendmsg","processid":pid,"name":"bench",
                        "sequence":i,"payload":payload}), &s.exec));
                }
            }
            other => {
                eprintln!("unknown scenario {other}");
                std::process::exit(2);
            }
        }
        prepared.push(reqs);
    }
    let assign = envelope(
        &serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
        &s.exec,
    );
    let syncs0 = a
        .metrics
        .as_deref()
        .and_then(|m| scrape(m, "colonyd_syncs_total"));
    let cpu0 = a.server_pid.and_then(proc_cpu_ticks);
    let start = Instant::now();
    let handles: Vec<_> = prepared
        .into_iter()
        .map(|reqs| {
            let addr = a.addr.clone();
            let scenario = a.scenario.clone();
            let assign = assign.clone();
            let exec = s.exec.clone();
            std::thread::spawn(move || {
                let mut c = Conn::new(&addr);
                let mut lat = Vec::with_capacity(reqs.len());
                for r in reqs {
                    let t = Instant::now();
                    let (st, body) = c.post(&r);
                    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
                    if scenario == "cycle" {
                        let (st, body) = c.post(&assign);
                        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        use base64::Engine;
                        let p: serde_json::Value = serde_json::from_slice(
                            &base64::engine::general_purpose::STANDARD.decode(v["payload"].as_str().unwrap_or_default()).unwrap_or_default(),
                        )
                        .unwrap_or_default();
                        // closing needs the assigned process ID, so it is signed here (outside
                        // the server's CPU but inside the wall-clock time)
                        let close = envelope(&serde_json::json!({"msgtype":"closesuccessfulmsg","processid":p["processid"]}), &exec);
                        let (st, _) = c.post(&close);
                        assert_eq!(st, 200);
                    }
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread"))
        .collect();
    let elapsed = start.elapsed();
    let cpu1 = a.server_pid.and_then(proc_cpu_ticks);
    let syncs1 = a
        .metrics
        .as_deref()
        .and_then(|m| scrape(m, "colonyd_syncs_total"));
    lat.sort();
    let n = lat.len();
    let pct = |p: f64| percentile(&lat, p);
    let ops = n as f64 / elapsed.as_secs_f64();
    let tick = 1.0 / 100.0; // USER_HZ
    let cpu_per_op_ms = match (cpu0, cpu1) {
        (Some(a0), Some(a1)) => Some((a1 - a0) as f64 * tick * 1000.0 / n as f64),
        _ => None,
    };
    let rss = a.server_pid.and_then(proc_rss_kib);
    println!("scenario  clients  ops      ops/s     p50 ms   p99 ms   max ms   server-cpu/op ms  server-rss MiB");
    println!(
        "{:<9} {:<8} {:<8} {:<9.0} {:<8.2} {:<8.2} {:<8.2} {:<17} {}",
        a.scenario,
        a.clients,
        n,
        ops,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        cpu_per_op_ms.map_or("-".into(), |v| format!("{v:.3}")),
        rss.map_or("-".into(), |v| format!("{:.1}", v as f64 / 1024.0)),
    );
    let syncs_per_op = match (syncs0, syncs1) {
        (Some(a0), Some(a1)) => Some((a1 - a0) / n as f64),
        _ => None,
    };
    if let Some(v) = syncs_per_op {
        println!("syncs per operation: {v:.3}");
    }
    if let Some(path) = a.json {
        let j = serde_json::json!({"scenario": a.scenario, "clients": a.clients, "ops": n, "ops_per_sec": ops,
            "p50_ms": pct(0.5).as_secs_f64()*1e3, "p99_ms": pct(0.99).as_secs_f64()*1e3,
            "max_ms": lat.last().copied().unwrap_or_default().as_secs_f64()*1e3,
            "server_cpu_per_op_ms": cpu_per_op_ms, "server_rss_kib": rss, "syncs_per_op": syncs_per_op});
        std::fs::write(&path, j.to_string())
            .unwrap_or_else(|e| eprintln!("cannot write {path}: {e}"));
    }
}

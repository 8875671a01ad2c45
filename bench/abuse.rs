//! The `abuse` scenario: hostile load and a well-behaved client at the same time.
//!
//! Opens `--idle` idle sockets, `--slow` clients that dribble a request head one byte every
//! 500 ms, `--long-polls` assign long-polls spread over ten executors of a separate colony, a few
//! huge (10 GiB announced) and 100 000-level nested bodies, `--subscribers` WebSocket channel
//! subscriptions that never read, and one more never-reading subscriber fed `--bulk` MiB; a
//! producer appends 1 KiB entries for the subscribers meanwhile. Then the well-behaved client
//! runs `--count` rounds of submit → assign → close → get, each request on a new connection (as
//! pycolonies does), signing as it goes, and reports its latencies. Every loop is bounded.

// a test or benchmark that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::{call, percentile, proc_rss_kib, Args, Conn, Setup};
use colonyd::PrivateKey;
use colonyd::{envelope, Client};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn post_head(addr: &str, len: usize) -> Vec<u8> {
    format!("POST /api HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

fn status(s: &mut TcpStream) -> u16 {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    std::str::from_utf8(buf.get(..n).unwrap_or_default())
        .ok()
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn subscribe(addr: &str, req: &str) -> Option<impl Sized> {
    use async_tungstenite::tungstenite::{client, Message};
    let stream = TcpStream::connect(addr).ok()?;
    let (mut ws, _) = client(format!("ws://{addr}/pubsub"), stream).ok()?;
    ws.send(Message::text(req.to_string())).ok()?;
    Some(ws)
}

fn running_process(c: &mut Conn, s: &Setup) -> String {
    let p = call(c, crate::submit_msg(&s.colony, &["out"]), &s.exec);
    call(
        c,
        serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
        &s.exec,
    );
    p["processid"].as_str().unwrap_or_default().to_string()
}

pub fn run(a: &Args, s: &Setup, server: &PrivateKey) {
    let addr = a.addr.as_str();
    let mut c = Conn::new(addr);
    let streaming = running_process(&mut c, s);
    let bulk = running_process(&mut c, s);
    // ten executors of another colony for the long-poll flood
    let owner = PrivateKey::generate();
    let flood = format!("flood-{}", &colonyd::random_id()[..8]);
    call(
        &mut c,
        serde_json::json!({"msgtype":"addcolonymsg","colony":{"colonyid":owner.id(),"name":flood}}),
        server,
    );
    let flooders: Vec<PrivateKey> = (0..10)
        .map(|i| {
            let k = PrivateKey::generate();
            call(
                &mut c,
                serde_json::json!({"msgtype":"addexecutormsg","executor":{"executorid":k.id(),
                "executorname":format!("f{i}"),"executortype":"bench","colonyname":flood}}),
                &owner,
            );
            call(
                &mut c,
                serde_json::json!({"msgtype":"approveexecutormsg","colonyname":flood,
                "executorname":format!("f{i}")}),
                &owner,
            );
            k
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let mut held: Vec<TcpStream> = Vec::new();
    // long-polls first (they hold connections with a request in flight)
    let mut polls: Vec<TcpStream> = Vec::new();
    for i in 0..a.long_polls {
        let k = &flooders[i % flooders.len()];
        let body = envelope(
            &serde_json::json!({"msgtype":"assignprocessmsg","colonyname":flood,"timeout":20}),
            k,
        );
        if let Ok(mut t) = TcpStream::connect(addr) {
            let _ = t.write_all(&post_head(addr, body.len()));
            let _ = t.write_all(&body);
            polls.push(t);
        }
    }
    // subscription flood (never read), and one fed the bulk
    let sub = |pid: &str| {
        String::from_utf8(envelope(
            &serde_json::json!({"msgtype":"subscribechannelmsg","processid":pid,
            "name":"out","afterseq":0,"timeout":60}),
            &s.exec,
        ))
        .unwrap_or_default()
    };
    let subs: Vec<_> = (0..a.subscribers)
        .filter_map(|_| subscribe(addr, &sub(&streaming)))
        .collect();
    let never_reader = subscribe(addr, &sub(&bulk));
    // slow heads
    let slow_stop = stop.clone();
    let slow_n = a.slow;
    let slow_addr = addr.to_string();
    let slow = std::thread::spawn(move || {
        let mut socks: Vec<TcpStream> = (0..slow_n)
            .filter_map(|_| TcpStream::connect(&slow_addr).ok())
            .collect();
        for t in &mut socks {
            let _ = t.write_all(b"POST /api HTTP/1.1\r\nHost: x\r\n");
        }
        for _ in 0..40 {
            if slow_stop.load(Ordering::Relaxed) {
                break;
            }
            for t in &mut socks {
                let _ = t.write_all(b"X");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    // producer: 1 KiB entries for the subscribers, the bulk for the never-reader
    let prod_stop = stop.clone();
    let prod_addr = addr.to_string();
    let exec = s.exec.clone();
    let (bulk_mib, streaming2) = (a.bulk_mib, streaming.clone());
    let producer = std::thread::spawn(move || {
        let mut c = Conn::new(&prod_addr);
        use base64::Engine;
        let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 512 << 10]);
        let small = base64::engine::general_purpose::STANDARD.encode([1u8; 1024]);
        let mut appended = 0;
        for i in 1..=2000usize {
            if prod_stop.load(Ordering::Relaxed) {
                break;
            }
            let (pid, payload, seq) = if i % 20 == 0 && i / 20 <= bulk_mib * 2 {
                (&bulk, &big, i / 20)
            } else {
                (&streaming2, &small, i)
            };
            call(
                &mut c,
                serde_json::json!({"msgtype":"channelappendmsg","processid":pid,"name":"out",
                "sequence":seq,"payload":payload}),
                &exec,
            );
            appended += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        appended
    });
    // idle sockets last: they fill whatever room is left and push each other out
    for _ in 0..a.idle {
        if let Ok(t) = TcpStream::connect(addr) {
            held.push(t);
        }
    }
    // huge and deeply nested bodies
    let mut bodies = Vec::new();
    for _ in 0..3 {
        if let Ok(mut t) = TcpStream::connect(addr) {
            let _ = t.write_all(&post_head(addr, 10 << 30));
            let _ = t.write_all(&[b'{'; 65536]);
            bodies.push(("huge", status(&mut t)));
        }
        let deep = format!(
            "{{\"payloadtype\":{}{},\"payload\":\"\",\"signature\":\"\"}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        if let Ok(mut t) = TcpStream::connect(addr) {
            let _ = t.write_all(&post_head(addr, deep.len()));
            let _ = t.write_all(deep.as_bytes());
            bodies.push(("deep", status(&mut t)));
        }
    }

    // the well-behaved client
    let mut lat: Vec<Duration> = Vec::new();
    let user = &s.exec;
    let mut timed = |msg: serde_json::Value| -> serde_json::Value {
        let t = Instant::now();
        let mut c = Client::connect(addr).unwrap_or_else(|e| panic!("good client: {e}"));
        let v = c
            .call(msg, user)
            .unwrap_or_else(|e| panic!("good client refused: {e}"));
        lat.push(t.elapsed());
        v
    };
    for _ in 0..a.count {
        let p = timed(crate::submit_msg(&s.colony, &[]));
        let got = timed(
            serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":5}),
        );
        assert_eq!(got["processid"], p["processid"], "assigned another process");
        timed(
            serde_json::json!({"msgtype":"closesuccessfulmsg","processid":p["processid"],"out":["ok"]}),
        );
        timed(serde_json::json!({"msgtype":"getprocessmsg","processid":p["processid"]}));
    }
    stop.store(true, Ordering::Relaxed);
    let appended = producer.join().unwrap_or(0);
    let _ = slow.join();
    let rss = a.server_pid.and_then(proc_rss_kib);
    lat.sort();
    let pct = |p: f64| percentile(&lat, p).as_secs_f64() * 1e3;
    println!(
        "hostile load: {} idle sockets, {} slow heads, {} long-polls, {} subscriptions that never read \
         ({} opened), a never-reader fed {} MiB ({}), {} appends, bodies {:?}",
        a.idle,
        a.slow,
        a.long_polls,
        a.subscribers,
        subs.len(),
        a.bulk_mib,
        if never_reader.is_some() { "opened" } else { "refused" },
        appended,
        bodies
    );
    println!("scenario  requests  p50 ms   p99 ms   max ms   server-rss MiB");
    println!(
        "abuse     {:<9} {:<8.2} {:<8.2} {:<8.2} {}",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        rss.map_or("-".into(), |v| format!("{:.1}", v as f64 / 1024.0)),
    );
    if let Some(path) = &a.json {
        let j = serde_json::json!({"scenario": "abuse", "requests": lat.len(), "p50_ms": pct(0.5),
            "p99_ms": pct(0.99), "server_rss_kib": rss, "idle": a.idle, "slow": a.slow,
            "long_polls": a.long_polls, "subscribers": a.subscribers, "bulk_mib": a.bulk_mib});
        std::fs::write(path, j.to_string())
            .unwrap_or_else(|e| eprintln!("cannot write {path}: {e}"));
    }
    drop(subs);
    drop(never_reader);
    drop(polls);
    drop(held);
}

//! `purge`: how retention's purge of a backlog affects appends. Run against a server that was
//! populated with successful processes (the `cycle` scenario) and then restarted with
//! `--retention true --retention-policy 1`: the purge starts at once. This appends to one
//! channel, one append at a time, while polling `getstatisticsmsg` until no successful
//! process is left (or `--duration` seconds pass), and reports the purge's duration and the
//! appends' latency during it (bench/README.md has the commands).

use super::{call, percentile, Args, Conn, Setup};
use colonyd::{envelope, PrivateKey};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn successful(c: &mut Conn, server: &PrivateKey) -> i64 {
    let s = call(c, serde_json::json!({"msgtype":"getstatisticsmsg"}), server);
    s["successfulprocesses"].as_i64().unwrap_or(-1)
}

pub fn run(a: &Args, s: &Setup, server: &PrivateKey) {
    let mut c = Conn::new(&a.addr);
    let start_count = successful(&mut c, server);
    let p = call(&mut c, super::submit_msg(&s.colony, &["purge"]), &s.exec);
    call(
        &mut c,
        serde_json::json!({"msgtype":"assignprocessmsg","colonyname":s.colony,"timeout":-1}),
        &s.exec,
    );
    let pid = p["processid"].as_str().unwrap_or_default().to_string();
    let done = Arc::new(AtomicBool::new(false));
    let appender = {
        let done = done.clone();
        let addr = a.addr.clone();
        let exec = s.exec.clone();
        let limit = a.count.max(1);
        std::thread::spawn(move || {
            let mut c = Conn::new(&addr);
            let mut lat = Vec::new();
            // bounded: at most --count appends
            for i in 0..limit {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let req = envelope(
                    &serde_json::json!({"msgtype":"channelappendmsg","processid":pid,"name":"purge",
                        "sequence":i,"payload":"aGVsbG8="}),
                    &exec,
                );
                let t = Instant::now();
                let (st, body) = c.post(&req);
                assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
                lat.push(t.elapsed());
            }
            lat
        })
    };
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(a.duration_secs.max(1));
    let mut left = start_count;
    while left > 0 && Instant::now() < deadline {
        // counting is itself work for the server: look once a second
        std::thread::sleep(Duration::from_secs(1));
        left = successful(&mut c, server);
    }
    let took = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut lat = appender.join().expect("appender");
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("scenario  purged    left  purge s  appends  append p50 ms  p99 ms  max ms");
    println!(
        "purge     {:<9} {:<5} {:<8.1} {:<8} {:<14.2} {:<7.2} {:.2}",
        start_count - left,
        left,
        took.as_secs_f64(),
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    if left > 0 {
        eprintln!(
            "the purge did not finish within --duration {} s",
            a.duration_secs
        );
        std::process::exit(1);
    }
}

//! `/pubsub` end to end with the unmodified `colonyos` crate: `subscribe_channel` and
//! `subscribe_process`, plus a slow subscriber under a 100 000-entry stream.

// a test or benchmark that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod e2e;

use colonyd::Client;
use colonyd::PrivateKey;
use colonyos::core::{self, FunctionSpec};
use e2e::{Colony, Colonyd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn spec(channels: &[&str]) -> FunctionSpec {
    let mut s = FunctionSpec::new("stream", "cli", "dev");
    s.maxexectime = 600;
    s.channels = channels.iter().map(|c| c.to_string()).collect();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_channel_history_live_and_end() {
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let p = colonyos::submit(&spec(&["tokens"]), &c.exec_prv)
        .await
        .unwrap();
    colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    for (i, t) in ["The", " quick"].iter().enumerate() {
        colonyos::channel_append(&p.processid, "tokens", i as i64 + 1, t, "", 0, &c.exec_prv)
            .await
            .unwrap();
    }
    let pid = p.processid.clone();
    let prv = c.exec_prv.clone();
    let producer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (i, t) in [" brown", " fox"].iter().enumerate() {
            colonyos::channel_append(&pid, "tokens", i as i64 + 3, t, "", 0, &prv)
                .await
                .unwrap();
        }
        colonyos::channel_append(&pid, "tokens", 5, "", "end", 0, &prv)
            .await
            .unwrap();
    });
    let mut text = String::new();
    let all = colonyos::subscribe_channel(&p.processid, "tokens", 0, 20, &c.exec_prv, |entries| {
        for e in &entries {
            text.push_str(&e.payload_as_string());
        }
        !entries.iter().any(|e| e.msgtype == "end")
    })
    .await
    .unwrap();
    producer.await.unwrap();
    assert_eq!(text, "The quick brown fox");
    assert_eq!(
        all.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    // afterseq skips; the server's timeout ends the stream with [] (Ok, not an error)
    let rest = colonyos::subscribe_channel(&p.processid, "tokens", 3, 1, &c.exec_prv, |_| true)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![4, 5]
    );
    // strangers and undeclared channels are refused as errors
    let stranger = colonyos::crypto::gen_prvkey();
    assert!(
        colonyos::subscribe_channel(&p.processid, "tokens", 0, 1, &stranger, |_| true)
            .await
            .is_err()
    );
    let err = colonyos::subscribe_channel(&p.processid, "nope", 0, 1, &c.exec_prv, |_| true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Channel not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_process_returns_on_state_and_times_out_as_error() {
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let p = colonyos::submit(&spec(&[]), &c.exec_prv).await.unwrap();
    let prv = c.exec_prv.clone();
    let executor = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let a = colonyos::assign("dev", 5, &prv).await.unwrap();
        colonyos::close(&a.processid, &prv).await.unwrap();
    });
    colonyos::subscribe_process(&p, core::SUCCESS, 20, &c.exec_prv)
        .await
        .unwrap();
    executor.await.unwrap();
    assert_eq!(
        colonyos::get_process(&p.processid, &c.exec_prv)
            .await
            .unwrap()
            .state,
        core::SUCCESS
    );
    // a timeout stays an error (decisions.md: error frame, not a clean close)
    let q = colonyos::submit(&spec(&[]), &c.exec_prv).await.unwrap();
    let err = colonyos::subscribe_process(&q, core::SUCCESS, 1, &c.exec_prv)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timeout"), "{err}");
}

/// A slow subscriber while producers append 100 000 entries: it receives every one, in log
/// order, without being dropped, and the server's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_gets_all_100k_entries_with_bounded_memory() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 25_000;
    let server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let p = colonyos::submit(&spec(&["firehose"]), &c.exec_prv)
        .await
        .unwrap();
    colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    let max_rss = Arc::new(AtomicU64::new(0));
    let port = server.port;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|k| {
            let pid = p.processid.clone();
            let prv = c.exec_prv.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(&format!("127.0.0.1:{port}")).expect("connect");
                let key = PrivateKey::from_hex(&prv).expect("key");
                for i in 0..PER_PRODUCER {
                    let seq = (k * 1_000_000 + i) as i64;
                    let msg = serde_json::json!({"msgtype": "channelappendmsg", "processid": pid,
                        "name": "firehose", "sequence": seq, "payload": format!("token {seq}").into_bytes()});
                    client.call(msg, &key).expect("append");
                }
            })
        })
        .collect();
    let sampler = {
        let max_rss = max_rss.clone();
        let pid = server.pid().unwrap();
        std::thread::spawn(move || {
            for _ in 0..2400 {
                let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("VmRSS:"))
                            .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
                    })
                    .unwrap_or(0);
                max_rss.fetch_max(rss, Ordering::Relaxed);
                if max_rss.load(Ordering::Relaxed) == u64::MAX {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let total = PRODUCERS * PER_PRODUCER;
    let mut seen = 0u64;
    let mut last_per_producer = vec![-1i64; PRODUCERS as usize];
    let mut frames = 0u64;
    let got =
        colonyos::subscribe_channel(&p.processid, "firehose", 0, 300, &c.exec_prv, |entries| {
            frames += 1;
            for e in &entries {
                let k = (e.sequence / 1_000_000) as usize;
                let i = e.sequence % 1_000_000;
                assert_eq!(
                    i,
                    last_per_producer[k] + 1,
                    "producer {k}: gap or reorder at {i}"
                );
                last_per_producer[k] = i;
                assert_eq!(e.payload_as_string(), format!("token {}", e.sequence));
            }
            seen += entries.len() as u64;
            // slow: a pause now and then lets the producers run far ahead of the ring
            if frames.is_multiple_of(500) {
                std::thread::sleep(Duration::from_millis(200));
            }
            seen < total
        })
        .await
        .unwrap();
    for t in producers {
        t.join().unwrap();
    }
    max_rss.store(u64::MAX, Ordering::Relaxed);
    let _ = sampler.join();
    assert_eq!(got.len() as u64, total);
    assert_eq!(seen, total);
    let final_rss = server.rss_kib().unwrap_or(0);
    eprintln!(
        "slow subscriber: {total} entries in {frames} frames; server RSS now {final_rss} KiB"
    );
    // generous bound that catches a leak or an unbounded queue (the stream is ~2 MB of
    // payload; a queue holding it all would show, a per-entry leak would show more)
    assert!(final_rss < 200 * 1024, "server RSS {final_rss} KiB");
}

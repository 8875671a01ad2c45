//! Shared by the targets: one embedded colonyd (store in a temporary directory) bootstrapped
//! with colony "dev", an approved executor "e" and a user "u", so fuzzed requests signed by
//! those keys get past authorization into the handlers' own parsing and validation.
#![allow(dead_code)] // each target uses a part

use base64::Engine;
use colonyd::PrivateKey;
use colonyd::Embedded;
use std::sync::OnceLock;

/// Server owner, colony owner, executor, user (fixed so that corpus entries stay meaningful).
pub const KEYS: [&str; 4] = [
    "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d",
    "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514",
    "d6eb959e9aec2e6fdc44b5862b269e987b8a4d6f2baca542d8acaa97ee5e74f6",
    "0ca9eb2dbe9ea1d9d7f3b1e5bb9a9c1e4ad1f8f5f1a0c4a6e2b2d9b5a8c3e1f7",
];

pub struct Node {
    pub node: Embedded,
    pub keys: Vec<PrivateKey>,
    _dir: tempfile::TempDir,
}

pub fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys: Vec<PrivateKey> = KEYS
            .iter()
            .map(|k| PrivateKey::from_hex(k).expect("key"))
            .collect();
        let node = Embedded::open(dir.path(), &keys[0].id()).expect("embedded colonyd");
        let n = Node {
            node,
            keys,
            _dir: dir,
        };
        let (so, co, ex, us) = (&n.keys[0], &n.keys[1], &n.keys[2], &n.keys[3]);
        for (msg, key) in [
            (serde_json::json!({"msgtype":"addcolonymsg","colony":{"colonyid":co.id(),"name":"dev"}}), so),
            (serde_json::json!({"msgtype":"addexecutormsg","executor":{"executorid":ex.id(),
                "executorname":"e","executortype":"t","colonyname":"dev"}}), co),
            (serde_json::json!({"msgtype":"approveexecutormsg","colonyname":"dev","executorname":"e"}), co),
            (serde_json::json!({"msgtype":"addusermsg","user":{"colonyname":"dev","userid":us.id(),
                "name":"u","email":"","phone":""}}), co),
        ] {
            let (status, _) = n.node.request(&colonyd::envelope(&msg, key));
            assert_eq!(status, 200, "bootstrap {msg}");
        }
        n
    })
}

/// A signed envelope: `payload` (any bytes) base64-encoded and signed by `key`.
pub fn signed(payloadtype: &str, payload: &[u8], key: &PrivateKey) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
    serde_json::json!({"payloadtype": payloadtype, "payload": b64, "signature": key.sign(b64.as_bytes())})
        .to_string()
        .into_bytes()
}

/// Every status the protocol maps errors to.
pub const STATUSES: &[u16] = &[200, 400, 401, 403, 404, 408, 413, 429, 500, 503, 507];

/// Checks a reply: a known status and a well-formed reply envelope.
pub fn check_reply(status: u16, reply: &[u8]) {
    assert!(STATUSES.contains(&status), "unexpected status {status}");
    let v: serde_json::Value = serde_json::from_slice(reply).expect("reply is JSON");
    assert_eq!(
        v["error"].as_bool(),
        Some(status != 200),
        "error flag matches status"
    );
    assert!(v["payload"].is_string(), "reply payload is a string");
}

/// The shared input format: a mode byte, then below 0x80 raw bytes (returned as they are), from
/// 0x80 on `payloadtype \n payload`, signed with the key the low two bits pick and handed to
/// `wrap` (identity for a request body, a frame for a WebSocket stream).
pub fn input(data: &[u8], wrap: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    if mode < 0x80 {
        return Some(rest.to_vec());
    }
    let key = &node().keys[usize::from(mode & 3)];
    let (pt, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    Some(wrap(signed(&String::from_utf8_lossy(pt), payload, key)))
}

/// A masked client text frame carrying `data`.
pub fn ws_text_frame(data: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x81u8];
    match data.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

//! A minimal blocking ColonyOS client over HTTP/1.1 keep-alive: signs envelopes with a
//! [`PrivateKey`] and decodes replies. Used by the operator CLI (`colonyd process ls`,
//! `colonyd channel tail`, `colonyd backup`) and the load generator, so that a box with
//! nothing else installed can still talk to its server.

// replies are read as serde_json::Value, whose `v["key"]` never panics (a missing key or a
// non-object reads as null); nothing else here indexes
#![allow(clippy::indexing_slicing)]

use crate::crypto::PrivateKey;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One keep-alive connection to `/api`.
pub struct Client {
    addr: String,
    reader: BufReader<TcpStream>,
}

/// A failed call: the server's `{status, message}`, or a transport error (status 0).
#[derive(Debug)]
pub struct CallError {
    /// HTTP status (0 for transport errors).
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} ({})", self.message, self.status)
        }
    }
}

fn io_err(e: std::io::Error) -> CallError {
    CallError {
        status: 0,
        message: format!("connection error: {e}"),
    }
}

/// A signed envelope for `msg` (its `msgtype` is the payload type).
pub fn envelope(msg: &serde_json::Value, key: &PrivateKey) -> Vec<u8> {
    let payload = STANDARD.encode(msg.to_string());
    serde_json::json!({
        "payloadtype": msg["msgtype"],
        "payload": payload,
        "signature": key.sign(payload.as_bytes()),
    })
    .to_string()
    .into_bytes()
}

/// Decodes a reply envelope's payload JSON.
pub fn decode_reply(body: &[u8]) -> Result<(bool, serde_json::Value), CallError> {
    let reply: serde_json::Value = serde_json::from_slice(body).map_err(|e| CallError {
        status: 0,
        message: format!("not a reply envelope: {e}"),
    })?;
    let payload = STANDARD
        .decode(reply["payload"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let v = serde_json::from_slice(&payload).unwrap_or(serde_json::Value::Null);
    Ok((reply["error"].as_bool().unwrap_or(false), v))
}

impl Client {
    /// Connects to `addr` (`HOST:PORT`).
    pub fn connect(addr: &str) -> Result<Client, CallError> {
        let s = TcpStream::connect(addr).map_err(|e| CallError {
            status: 0,
            message: format!("cannot connect to {addr}: {e}"),
        })?;
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(3600))).ok();
        Ok(Client {
            addr: addr.to_string(),
            reader: BufReader::new(s),
        })
    }

    /// Posts raw bytes to `/api`; returns (status, body).
    pub fn post(&mut self, body: &[u8]) -> Result<(u16, Vec<u8>), CallError> {
        let head = format!(
            "POST /api HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes()).map_err(io_err)?;
        s.write_all(body).map_err(io_err)?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(io_err)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).map_err(io_err)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).map_err(io_err)?;
        Ok((status, body))
    }

    /// Signs and sends `msg`; the reply payload on success.
    pub fn call(
        &mut self,
        msg: serde_json::Value,
        key: &PrivateKey,
    ) -> Result<serde_json::Value, CallError> {
        let (status, body) = self.post(&envelope(&msg, key))?;
        let (error, v) = decode_reply(&body)?;
        if error || status != 200 {
            return Err(CallError {
                status,
                message: v["message"].as_str().unwrap_or("error").to_string(),
            });
        }
        Ok(v)
    }
}

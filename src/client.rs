//! A minimal blocking ColonyOS client over HTTP/1.1 keep-alive, plain or HTTPS: signs
//! envelopes with a [`PrivateKey`] and decodes replies. Used by the operator CLI (`colonyd
//! process ls`, `colonyd channel tail`, `colonyd backup`) and the load generator, so that a
//! box with nothing else installed can still talk to its server. HTTPS uses rustls with the
//! same provider as the server (ring), trusting the system's CA bundle plus an optional
//! private CA file ([`Target::tls`]).

// replies are read as serde_json::Value, whose `v["key"]` never panics (a missing key or a
// non-object reads as null); nothing else here indexes
#![allow(clippy::indexing_slicing)]

use crate::crypto::PrivateKey;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_rustls::rustls;
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest reply body read (a reply claiming more is refused, not allocated).
const MAX_REPLY: usize = 1 << 30;

/// Where the distributions keep their CA bundle (`SSL_CERT_FILE` wins).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Raspberry Pi OS, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS
];

/// How to reach a server: its address and, for HTTPS, whom to trust.
#[derive(Clone)]
pub struct Target {
    addr: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}",
            if self.tls.is_some() { "https" } else { "http" },
            self.addr
        )
    }
}

fn call_err(message: String) -> CallError {
    CallError { status: 0, message }
}

impl Target {
    /// Plain HTTP to `addr` (`HOST:PORT`).
    pub fn plain(addr: &str) -> Target {
        Target {
            addr: addr.to_string(),
            tls: None,
        }
    }

    /// HTTPS to `addr`, trusting the system's CA bundle (`SSL_CERT_FILE`, else the first of
    /// the distributions' usual paths that exists) and the certificates in `ca_file`.
    pub fn tls(addr: &str, ca_file: Option<&Path>) -> Result<Target, CallError> {
        let mut roots = rustls::RootCertStore::empty();
        let system = std::env::var_os("SSL_CERT_FILE")
            .map(std::path::PathBuf::from)
            .into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from))
            .find(|p| p.is_file());
        if let Some(bundle) = system {
            if let Ok(certs) = CertificateDer::pem_file_iter(&bundle) {
                // a bundle may hold certificates rustls cannot use; the rest still count
                let (_added, _skipped) =
                    roots.add_parsable_certificates(certs.filter_map(Result::ok));
            }
        }
        if let Some(ca) = ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| call_err(format!("CA file {}: {e}", ca.display())))?;
            if certs.is_empty() {
                return Err(call_err(format!(
                    "CA file {}: no PEM certificate in it",
                    ca.display()
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| call_err(format!("CA file {}: {e}", ca.display())))?;
            }
        }
        if roots.is_empty() {
            return Err(call_err(
                "no CA certificates to trust: install the system's CA bundle or give --ca-file"
                    .into(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| call_err(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Target {
            addr: addr.to_string(),
            tls: Some(Arc::new(config)),
        })
    }

    /// The address, `HOST:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `ws` or `wss`.
    pub fn ws_scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "wss"
        } else {
            "ws"
        }
    }

    /// A connection: TCP, and the TLS handshake for HTTPS (certificate checked against the
    /// host part of the address).
    pub fn open(&self) -> Result<Stream, CallError> {
        let s = TcpStream::connect(&self.addr)
            .map_err(|e| call_err(format!("cannot connect to {}: {e}", self.addr)))?;
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(3600))).ok();
        let Some(config) = &self.tls else {
            return Ok(Stream::Plain(s));
        };
        let host = self
            .addr
            .rsplit_once(':')
            .map_or(self.addr.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| call_err(format!("{host} is not a name TLS can check: {e}")))?;
        let conn = rustls::ClientConnection::new(config.clone(), name)
            .map_err(|e| call_err(format!("TLS setup: {e}")))?;
        let mut tls = rustls::StreamOwned::new(conn, s);
        // the handshake now, so that a certificate problem is reported as one
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| call_err(format!("TLS handshake with {}: {e}", self.addr)))?;
        }
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// A connection to a server, plain or TLS.
pub enum Stream {
    /// HTTP, WS
    Plain(TcpStream),
    /// HTTPS, WSS
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket's read timeout (`None`: block).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.set_read_timeout(d),
            Stream::Tls(s) => s.sock.set_read_timeout(d),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One keep-alive connection to `/api`.
pub struct Client {
    addr: String,
    reader: BufReader<Stream>,
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
    /// Connects to `addr` (`HOST:PORT`) over plain HTTP.
    pub fn connect(addr: &str) -> Result<Client, CallError> {
        Client::open(&Target::plain(addr))
    }

    /// Connects to `target` (HTTP or HTTPS).
    pub fn open(target: &Target) -> Result<Client, CallError> {
        Ok(Client {
            addr: target.addr.clone(),
            reader: BufReader::new(target.open()?),
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
        s.flush().map_err(io_err)?;
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
        if len > MAX_REPLY {
            return Err(call_err(format!("reply of {len} bytes is too large")));
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

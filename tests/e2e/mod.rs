//! Harness for the end-to-end tests (`tests/authz.rs`, `tests/pubsub.rs`, `tests/sdk.rs`):
//! runs a real `colonyd` process on `127.0.0.1:0` with a temporary data directory, reads the
//! bound port from `--port-file`, and can SIGKILL and restart it on the same directory.
//!
//! The binary is the one Cargo builds for these tests (`CARGO_BIN_EXE_colonyd`), or
//! `$COLONYD_BIN` to test another build (a release binary, an installed package).
//!
//! The `colonyos` crate keeps its server URL in a process-wide global, so a test binary runs
//! one server at a time: [`Colonyd`] holds a process-wide lock while it lives. Under
//! cargo-nextest (one process per test) the lock is never contended; under `cargo test` the
//! tests of one file take turns.

// a test or benchmark that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// each test file uses part of the harness
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One live server per test binary (the `colonyos` crate's URL is global).
static ONE_SERVER: Mutex<()> = Mutex::new(());

/// The server owner key every harness server is started with (spec vector V1).
pub const SERVER_PRVKEY: &str = "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d";
/// Colony owner key (spec vector V2).
pub const COLONY_PRVKEY: &str = "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514";

/// Path of the colonyd binary under test.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("COLONYD_BIN") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_BIN_EXE_colonyd"))
}

/// A running colonyd.
pub struct Colonyd {
    _one: MutexGuard<'static, ()>,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Bound port.
    pub port: u16,
}

impl Colonyd {
    /// Starts a server on a fresh temporary data directory.
    pub fn start() -> Colonyd {
        // a test that failed while holding the lock poisons it; the next one may still run
        let one = ONE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = Colonyd {
            _one: one,
            dir,
            child: None,
            port: 0,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let bin = binary();
        assert!(
            bin.exists(),
            "colonyd binary not found at {} (COLONYD_BIN names a missing file?)",
            bin.display()
        );
        let port_file = self.dir.path().join("port");
        let _ = std::fs::remove_file(&port_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("colonyd.log"))
            .expect("log file");
        let child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--port-file"])
            .arg(&port_file)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .env("COLONIES_SERVER_PRVKEY", SERVER_PRVKEY)
            .stdout(Stdio::from(log.try_clone().expect("log clone")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn colonyd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(txt) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = txt.trim().parse() {
                    self.port = p;
                    if std::net::TcpStream::connect(("127.0.0.1", p)).is_ok() {
                        colonyos::set_server_url(&self.api_url());
                        return;
                    }
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("colonyd exited at start ({status}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("colonyd did not start in time:\n{}", self.log());
    }

    /// `http://127.0.0.1:<port>/api`
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// SIGKILL (nothing flushed) and start again on the same data directory.
    pub fn restart_after_kill(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's process ID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's resident memory in KiB (from /proc), if running.
    pub fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("colonyd.log")).unwrap_or_default()
    }
}

impl Drop for Colonyd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bootstrapped colony "dev" with one approved executor of type "cli".
pub struct Colony {
    /// Colony name.
    pub name: String,
    /// Executor private key.
    pub exec_prv: String,
    /// Executor ID.
    pub exec_id: String,
}

impl Colony {
    /// Adds colony "dev" and approves executor "worker-1" through the `colonyos` crate.
    pub async fn bootstrap() -> Colony {
        let colony_id = colonyos::crypto::gen_id(COLONY_PRVKEY);
        let colony = colonyos::core::Colony::new(&colony_id, "dev");
        colonyos::add_colony(&colony, SERVER_PRVKEY)
            .await
            .expect("add colony");
        let exec_prv = colonyos::crypto::gen_prvkey();
        let exec_id = colonyos::crypto::gen_id(&exec_prv);
        let e = colonyos::core::Executor::new("worker-1", &exec_id, "cli", "dev");
        colonyos::add_executor(&e, COLONY_PRVKEY)
            .await
            .expect("add executor");
        colonyos::approve_executor("dev", "worker-1", COLONY_PRVKEY)
            .await
            .expect("approve executor");
        Colony {
            name: "dev".into(),
            exec_prv,
            exec_id,
        }
    }
}

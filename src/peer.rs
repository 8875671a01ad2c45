//! [`PeerWatch`]: tells a long-running handler (a long-polling assign) whether its client is
//! still connected, so that work is not handed to a client that left.
//!
//! HTTP/1.1 clients do not half-close a connection while they wait for a reply, so end-of-file
//! on the socket means the client is gone. Bytes waiting on the socket (a pipelined request)
//! mean it is alive.

use async_net::TcpStream;
use futures_lite::future;

/// Watches one client connection (a clone of its socket); without one (a stream that cannot be
/// peeked) it never reports the client gone.
#[derive(Clone, Debug)]
pub struct PeerWatch {
    stream: Option<TcpStream>,
}

impl PeerWatch {
    /// Watches `stream` (a clone of the connection's socket).
    pub fn new(stream: TcpStream) -> PeerWatch {
        PeerWatch {
            stream: Some(stream),
        }
    }

    /// A watch with no socket: the client is never reported gone (in-process callers).
    pub fn none() -> PeerWatch {
        PeerWatch { stream: None }
    }

    /// Resolves when the client has closed the connection; never resolves otherwise.
    pub async fn gone(&self) {
        let Some(s) = &self.stream else {
            return future::pending().await;
        };
        let mut buf = [0u8; 1];
        match s.peek(&mut buf).await {
            Ok(0) | Err(_) => {}
            Ok(_) => future::pending().await,
        }
    }

    /// Whether the client has already closed the connection (does not wait).
    pub fn is_gone_now(&self) -> bool {
        let Some(s) = &self.stream else {
            return false;
        };
        let mut buf = [0u8; 1];
        matches!(
            future::block_on(future::poll_once(s.peek(&mut buf))),
            Some(Ok(0)) | Some(Err(_))
        )
    }
}

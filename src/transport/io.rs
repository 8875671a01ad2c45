//! [`TimedIo`]: a futures-io stream wrapper that records read activity, so the connection
//! watchdog can enforce a header-read timeout and a keep-alive idle timeout separately.
//!
//! hyper's own `header_read_timeout` also runs while a kept-alive connection sits idle between
//! requests, which would make the idle timeout equal to the header timeout; so hyper's is off
//! and [`Activity`] drives both.

use futures_lite::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

/// What the watchdog needs to know about one connection.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Requests currently being handled.
    pub inflight: AtomicUsize,
    /// Milliseconds since `start` of the last byte read or reply finished.
    last_io_ms: AtomicU64,
    /// Milliseconds since `start` (+1) when the first byte of a not-yet-dispatched request
    /// arrived; 0 when no request is being read.
    head_since_ms: AtomicU64,
    /// Set when the connection cap needs this connection's place.
    evict: AtomicBool,
    evict_event: event_listener::Event,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity {
            start: Instant::now(),
            inflight: AtomicUsize::new(0),
            last_io_ms: AtomicU64::new(0),
            head_since_ms: AtomicU64::new(0),
            evict: AtomicBool::new(false),
            evict_event: event_listener::Event::new(),
        }
    }
}

impl Activity {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn on_read(&self) {
        let now = self.now_ms();
        self.last_io_ms.store(now, Ordering::Relaxed);
        if self.inflight.load(Ordering::Acquire) == 0 {
            let _ = self.head_since_ms.compare_exchange(
                0,
                now + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// A request was dispatched to the service.
    pub fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        self.head_since_ms.store(0, Ordering::Release);
    }

    /// A request's handling finished.
    pub fn request_finished(&self) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long the connection has gone without making progress toward a reply: idle since
    /// its last request, or reading one request head; `None` while a request is in flight
    /// (such a connection is never evicted) or eviction is already under way.
    pub fn stalled_for(&self) -> Option<u64> {
        if self.inflight.load(Ordering::Acquire) > 0 || self.evict.load(Ordering::Acquire) {
            return None;
        }
        let now = self.now_ms();
        let head = self.head_since_ms.load(Ordering::Acquire);
        let since = if head > 0 {
            head - 1
        } else {
            self.last_io_ms.load(Ordering::Relaxed)
        };
        Some(now.saturating_sub(since))
    }

    /// Asks the connection's watchdog to close it (if still no request is in flight).
    pub fn request_eviction(&self) {
        self.evict.store(true, Ordering::Release);
        self.evict_event.notify(usize::MAX);
    }

    /// Resolves once eviction was requested while no request is in flight; an eviction that
    /// races with a request starting is dropped.
    pub async fn evicted(&self) {
        loop {
            if self.evict.load(Ordering::Acquire) {
                if self.inflight.load(Ordering::Acquire) == 0 {
                    return;
                }
                self.evict.store(false, Ordering::Release);
            }
            let listener = self.evict_event.listen();
            if self.evict.load(Ordering::Acquire) {
                continue;
            }
            listener.await;
        }
    }

    /// Instant at which the connection should be closed if nothing changes, or `None` while a
    /// request is in flight.
    pub fn deadline(&self, header_timeout_ms: u64, idle_timeout_ms: u64) -> Option<Instant> {
        if self.inflight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_since_ms.load(Ordering::Acquire);
        let at_ms = if head > 0 {
            head - 1 + header_timeout_ms
        } else {
            self.last_io_ms.load(Ordering::Relaxed) + idle_timeout_ms
        };
        Some(self.start + std::time::Duration::from_millis(at_ms))
    }
}

/// Wraps a stream and reports reads to an [`Activity`].
pub struct TimedIo<S> {
    inner: S,
    activity: std::sync::Arc<Activity>,
}

impl<S> TimedIo<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: std::sync::Arc<Activity>) -> TimedIo<S> {
        TimedIo { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                self.activity.on_read();
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_connection_phase() {
        let a = Activity::default();
        let idle = a.deadline(10_000, 120_000).unwrap();
        assert!(idle >= a.start + std::time::Duration::from_secs(119));
        a.on_read();
        let head = a.deadline(10_000, 120_000).unwrap();
        assert!(head < idle, "a partial request gets the header timeout");
        a.request_started();
        assert!(a.deadline(10_000, 120_000).is_none());
        a.request_finished();
        assert!(a.deadline(10_000, 120_000).unwrap() > head);
    }
}

//! Channels: one persistent, append-only log per (process, channel name).
//!
//! * [`log`]: the log itself — metadata, entries, append, read, close, retention, and the key
//!   layout of the `channels` keyspace and of segment keyspaces.
//! * [`crate::store::segments`] (opened by the store): the time-bucketed segment keyspaces
//!   that hold entries, rotation and retirement.
//!
//! Appends go through the group-commit writer like every other write; readers see the log
//! through the store's *durable snapshot* (taken after each sync), so an entry is visible only
//! once it is durable (decisions.md).

pub mod log;
pub mod wire;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Token-bucket rate limiter for channel appends, per process.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one token for `pid`; false when the process is over its rate.
    pub fn allow(&self, pid: &str, rate: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let rate = f64::from(rate);
        let burst = rate * 5.0;
        let now = Instant::now();
        let mut b = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if b.len() > 10_000 {
            // forget processes idle long enough to have a full bucket again
            b.retain(|_, (_, last)| now.duration_since(*last).as_secs_f64() * rate < burst);
        }
        let (tokens, last) = b.entry(pid.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_burst_then_refuses() {
        let r = RateLimiter::default();
        assert!((0..10).all(|_| r.allow("p", 0)));
        let allowed = (0..100).filter(|_| r.allow("p", 10)).count();
        assert_eq!(allowed, 50);
        assert!(r.allow("other", 10));
    }
}

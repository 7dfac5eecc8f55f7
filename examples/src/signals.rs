//! Process signals as atomic flags the main loop polls.
//!
//! Why flags: a signal handler may do almost nothing safely, and the packet loop already wakes
//! every few milliseconds (ring block timeout, poll timeout), so it can look at three booleans
//! between batches. The conventions are the daemon ones keepalived and ipvsadm users expect:
//! `SIGHUP` reloads the rules, `SIGUSR1` prints statistics, `SIGINT`/`SIGTERM` stop cleanly. A
//! second `SIGINT`/`SIGTERM` while stopping exits at once (status 130), in case the clean stop
//! hangs.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::flag;

/// The flags set by the handlers installed with [`Signals::install`].
#[derive(Debug, Clone, Default)]
pub struct Signals {
    reload: Arc<AtomicBool>,
    stats: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Signals {
    /// Installs handlers for `SIGHUP`, `SIGUSR1`, `SIGINT` and `SIGTERM`.
    pub fn install() -> io::Result<Self> {
        let s = Self::default();
        flag::register(SIGHUP, Arc::clone(&s.reload))?;
        flag::register(SIGUSR1, Arc::clone(&s.stats))?;
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as it was before this signal: it only
            // fires on the second stop signal.
            flag::register_conditional_shutdown(sig, 130, Arc::clone(&s.stop))?;
            flag::register(sig, Arc::clone(&s.stop))?;
        }
        Ok(s)
    }

    /// Whether a stop was requested.
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Requests a stop (as `SIGTERM` would), e.g. from another thread.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether a reload was requested since the last call; clears the request.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::Relaxed)
    }

    /// Whether statistics were requested since the last call; clears the request.
    pub fn take_stats(&self) -> bool {
        self.stats.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_set_by_signals_and_cleared_by_take() {
        let s = Signals::install().unwrap();
        assert!(!s.take_reload());
        signal_hook::low_level::raise(SIGHUP).unwrap();
        signal_hook::low_level::raise(SIGUSR1).unwrap();
        assert!(s.take_reload());
        assert!(!s.take_reload());
        assert!(s.take_stats());
        assert!(!s.should_stop());
        s.request_stop();
        assert!(s.should_stop());
    }
}

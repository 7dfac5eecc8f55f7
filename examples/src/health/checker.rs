//! The checker: every target probed on its own schedule, targets in parallel.
//!
//! Targets are spread over at most [`MAX_CHECK_THREADS`] threads (one per
//! target below that), so a silently dead host with many services costs each
//! of them one timeout per round, not the sum of everyone's: the failure
//! window stays `interval × fall + timeout` however many targets there are,
//! up to that many targets (beyond it, `ceil(targets / MAX_CHECK_THREADS)`
//! timeouts per round at worst).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CheckConfig, Health, HealthState, Probe, probe_for};

/// The most checker threads one [`HealthChecker`] starts.
pub const MAX_CHECK_THREADS: usize = 256;

/// The first probes of all targets are spread over at most this long.
const MAX_START_SPREAD: Duration = Duration::from_secs(1);

/// Stack of a checker thread: probes need little.
const CHECK_THREAD_STACK: usize = 128 * 1024;

/// One thing to check: where, how, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTarget {
    /// Where the probe connects (a real server's address, or its check port).
    pub addr: SocketAddr,
    /// What to probe and how often.
    pub config: CheckConfig,
    /// Source address of TCP and HTTP probes (keepalived's `bindto`).
    pub bind: Option<IpAddr>,
    /// After a failed probe, the next comes after this delay instead of the
    /// interval (keepalived's `delay_before_retry`).
    pub retry_delay: Option<Duration>,
}

impl CheckTarget {
    /// A target probed every `config.interval`, from the kernel's source address.
    pub fn new(addr: SocketAddr, config: CheckConfig) -> Self {
        Self {
            addr,
            config,
            bind: None,
            retry_delay: None,
        }
    }
}

/// A reported change of one target's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// Index of the target in the list given to the checker.
    pub index: usize,
    /// The target's address.
    pub target: SocketAddr,
    /// State before.
    pub from: Health,
    /// State now.
    pub to: Health,
    /// Result of the probe that caused the change ("ok" or the failure reason).
    pub reason: String,
}

/// Background threads checking a fixed list of targets. Changes are reported,
/// not logged: the receiver logs them (once).
#[derive(Debug)]
pub struct HealthChecker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handles: Vec<JoinHandle<()>>,
}

/// One target as a worker holds it.
struct Slot {
    index: usize,
    target: CheckTarget,
    probe: Box<dyn Probe>,
    state: HealthState,
    due: Instant,
}

impl HealthChecker {
    /// Starts checking `targets` (all starting in `initial`), each with the
    /// probe its [`CheckKind`](super::CheckKind) calls for; changes arrive on
    /// the returned channel.
    pub fn spawn_channel(
        targets: Vec<CheckTarget>,
        initial: Health,
    ) -> io::Result<(Self, mpsc::Receiver<StateChange>)> {
        let initial = vec![initial; targets.len()];
        Self::spawn_channel_from(targets, &initial)
    }

    /// Like [`HealthChecker::spawn_channel`], target `i` starting in
    /// `initial[i]` (up where the slice is short).
    pub fn spawn_channel_from(
        targets: Vec<CheckTarget>,
        initial: &[Health],
    ) -> io::Result<(Self, mpsc::Receiver<StateChange>)> {
        let with: Vec<(CheckTarget, Box<dyn Probe>, Health)> = targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let p = probe_for(&t.config.kind, t.bind);
                (t, p, initial.get(i).copied().unwrap_or(Health::Up))
            })
            .collect();
        Self::spawn_inner(with)
    }

    /// Like [`HealthChecker::spawn_channel`] with the probes given (tests, or
    /// probes of an embedder's own).
    pub fn spawn_with_probes(
        targets: Vec<(CheckTarget, Box<dyn Probe>)>,
        initial: Health,
    ) -> io::Result<(Self, mpsc::Receiver<StateChange>)> {
        Self::spawn_inner(targets.into_iter().map(|(t, p)| (t, p, initial)).collect())
    }

    fn spawn_inner(
        targets: Vec<(CheckTarget, Box<dyn Probe>, Health)>,
    ) -> io::Result<(Self, mpsc::Receiver<StateChange>)> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let workers = targets.len().min(MAX_CHECK_THREADS);
        let mut groups: Vec<Vec<Slot>> = (0..workers).map(|_| Vec::new()).collect();
        let start = Instant::now();
        let n = targets.len().max(1) as u32;
        for (index, (target, probe, initial)) in targets.into_iter().enumerate() {
            // Spread the first probes over one interval (at most MAX_START_SPREAD) so that
            // they do not all start at once, nor wait a long delay_loop for a first verdict.
            let spread = target.config.interval.min(MAX_START_SPREAD);
            let due = start + spread / n * index as u32;
            let state = HealthState::new(initial, target.config.rise, target.config.fall);
            groups[index % workers.max(1)].push(Slot {
                index,
                target,
                probe,
                state,
                due,
            });
        }
        let mut me = Self {
            stop,
            handles: Vec::with_capacity(workers),
        };
        for (k, slots) in groups.into_iter().enumerate() {
            let stop = Arc::clone(&me.stop);
            let tx = tx.clone();
            let h = std::thread::Builder::new()
                .name(format!("lvs-health-{k}"))
                .stack_size(CHECK_THREAD_STACK)
                .spawn(move || run(slots, &tx, &stop))?;
            me.handles.push(h);
        }
        Ok((me, rx))
    }

    /// Stops the threads and waits for them (at most one probe timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Tells the threads to stop and returns at once: each ends after the probe it is
    /// running (a keepalived `connect_timeout` or `misc_timeout` can be seconds, which
    /// the caller's event loop should not wait for). Changes they find meanwhile are
    /// sent to the channel, if it still exists.
    pub fn detach(mut self) {
        self.signal();
        self.handles.clear();
    }

    fn signal(&self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    fn shutdown(&mut self) {
        self.signal();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits until `when` or a stop; true when stopped.
fn sleep_until(when: Instant, stop: &(Mutex<bool>, Condvar)) -> bool {
    let (lock, cv) = stop;
    let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if *stopped {
            return true;
        }
        let wait = when.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return false;
        }
        stopped = cv
            .wait_timeout(stopped, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// One checker thread's loop over its targets.
fn run(mut slots: Vec<Slot>, tx: &Sender<StateChange>, stop: &(Mutex<bool>, Condvar)) {
    loop {
        let Some(next) = slots.iter_mut().min_by_key(|s| s.due) else {
            return;
        };
        if sleep_until(next.due, stop) {
            return;
        }
        let addr = next.target.addr;
        let result = next.probe.check(addr, next.target.config.timeout);
        let from = next.state.health();
        if let Some(to) = next.state.record(result.is_ok()) {
            let reason = match &result {
                Ok(()) => "ok".to_string(),
                Err(e) => e.clone(),
            };
            let change = StateChange {
                index: next.index,
                target: addr,
                from,
                to,
                reason,
            };
            if tx.send(change).is_err() {
                return;
            }
        } else if let Err(e) = &result {
            tracing::debug!(target = %addr, reason = %e, "health probe failed");
        }
        let wait = match (&result, next.target.retry_delay) {
            (Err(_), Some(d)) => d,
            _ => next.target.config.interval,
        };
        let now = Instant::now();
        next.due = (next.due + wait).max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::super::CheckKind;
    use super::*;
    use std::collections::VecDeque;

    /// A probe that replays a script of results, then keeps succeeding.
    struct Scripted(Arc<Mutex<VecDeque<bool>>>);

    impl Probe for Scripted {
        fn check(&mut self, _: SocketAddr, _: Duration) -> Result<(), String> {
            match self.0.lock().unwrap().pop_front() {
                Some(false) => Err("scripted failure".into()),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn checker_thread_reports_changes() {
        let script = Arc::new(Mutex::new(VecDeque::from([true, false, false, true, true])));
        let cfg = CheckConfig {
            kind: CheckKind::Tcp,
            interval: Duration::from_millis(2),
            timeout: Duration::from_millis(50),
            rise: 2,
            fall: 2,
        };
        let target: SocketAddr = "192.0.2.7:80".parse().unwrap();
        let (checker, rx) = HealthChecker::spawn_with_probes(
            vec![(
                CheckTarget::new(target, cfg.clone()),
                Box::new(Scripted(Arc::clone(&script))) as Box<dyn Probe>,
            )],
            Health::Up,
        )
        .unwrap();
        let down = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            (down.from, down.to, down.index),
            (Health::Up, Health::Down, 0)
        );
        assert_eq!(down.reason, "scripted failure");
        let up = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            (up.from, up.to, up.target),
            (Health::Down, Health::Up, target)
        );
        let t = Instant::now();
        checker.stop();
        assert!(t.elapsed() < Duration::from_secs(1));
        // A checker in the middle of a long probe is detached at once.
        let slow = CheckConfig {
            timeout: Duration::from_secs(3),
            ..cfg.clone()
        };
        let (c2, rx2) = HealthChecker::spawn_with_probes(
            vec![(
                CheckTarget::new(target, slow),
                Box::new(Silent(Duration::from_secs(3))) as Box<dyn Probe>,
            )],
            Health::Up,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        c2.detach();
        assert!(t.elapsed() < Duration::from_millis(500));
        drop(rx2);
        assert!(rx.recv_timeout(Duration::from_millis(20)).is_err());
    }

    /// Always fails after taking `delay` (a silently dead host).
    struct Silent(Duration);

    impl Probe for Silent {
        fn check(&mut self, _: SocketAddr, timeout: Duration) -> Result<(), String> {
            std::thread::sleep(self.0.min(timeout));
            Err("timed out".into())
        }
    }

    #[test]
    fn many_slow_targets_fail_within_one_window() {
        let cfg = CheckConfig {
            kind: CheckKind::Tcp,
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(300),
            rise: 1,
            fall: 3,
        };
        let targets: Vec<(CheckTarget, Box<dyn Probe>)> = (0..40u16)
            .map(|i| {
                let a = SocketAddr::from(([192, 0, 2, 9], 1000 + i));
                (
                    CheckTarget::new(a, cfg.clone()),
                    Box::new(Silent(Duration::from_millis(300))) as Box<dyn Probe>,
                )
            })
            .collect();
        let t = Instant::now();
        let (checker, rx) = HealthChecker::spawn_with_probes(targets, Health::Up).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < 40 {
            let c = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(c.to, Health::Down);
            seen.insert(c.index);
        }
        // Serial probing would take 40 × 3 × 300 ms = 36 s.
        let limit = Duration::from_millis(100 * 3 + 300 * 3 + 1000);
        assert!(t.elapsed() < limit, "{:?}", t.elapsed());
        checker.stop();
    }
}

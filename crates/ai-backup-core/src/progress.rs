//! Progress events and cancellation, passed into every long operation. The library never
//! prints: it reports events to a `Reporter` the caller supplies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
pub use tokio_util::sync::CancellationToken as Cancel;

/// One thing that happened during a backup, restore or verification.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A new phase starts; `total_bytes` is known for some phases.
    Phase {
        phase: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        total_bytes: Option<u64>,
    },
    /// Bytes done so far in the current phase.
    Progress {
        phase: String,
        bytes: u64,
    },
    Info {
        message: String,
    },
    Warning {
        message: String,
    },
}

pub trait Reporter: Send + Sync {
    fn report(&self, event: Event);
}

/// A reporter that drops everything (for callers that do not care).
pub struct Silent;
impl Reporter for Silent {
    fn report(&self, _: Event) {}
}

pub type SharedReporter = Arc<dyn Reporter>;

/// Small helper that the engine uses to emit events. It also counts the transient errors that
/// were retried (a throttled or dropped request), and times each phase, so the outcome can say
/// how many retries there were and where the time went.
#[derive(Clone)]
pub struct Progress {
    reporter: SharedReporter,
    retries: Arc<AtomicU64>,
    clock: Arc<Mutex<PhaseClock>>,
}

/// Time spent per phase, in the order the phases first started.
#[derive(Default)]
struct PhaseClock {
    spent: Vec<(String, Duration)>,
    current: Option<(usize, Instant)>,
}

impl PhaseClock {
    fn start(&mut self, phase: &str) {
        self.stop();
        let i = match self.spent.iter().position(|(p, _)| p == phase) {
            Some(i) => i,
            None => {
                self.spent.push((phase.to_string(), Duration::ZERO));
                self.spent.len() - 1
            }
        };
        self.current = Some((i, Instant::now()));
    }
    fn stop(&mut self) {
        if let Some((i, at)) = self.current.take() {
            self.spent[i].1 += at.elapsed();
        }
    }
}

impl Progress {
    pub fn new(reporter: SharedReporter) -> Self {
        Self {
            reporter,
            retries: Arc::new(AtomicU64::new(0)),
            clock: Arc::default(),
        }
    }
    pub fn silent() -> Self {
        Self::new(Arc::new(Silent))
    }
    pub fn phase(&self, phase: &str, total_bytes: Option<u64>) {
        self.clock.lock().expect("clock").start(phase);
        self.reporter.report(Event::Phase {
            phase: phase.to_string(),
            total_bytes,
        });
    }
    pub fn bytes(&self, phase: &str, bytes: u64) {
        self.reporter.report(Event::Progress {
            phase: phase.to_string(),
            bytes,
        });
    }
    pub fn info(&self, message: impl Into<String>) {
        self.reporter.report(Event::Info {
            message: message.into(),
        });
    }
    /// A transient error on `what` (`why`) is being retried: counted, and told as info.
    pub fn retrying(&self, what: &str, why: &str) {
        let n = self.retries.fetch_add(1, Ordering::Relaxed) + 1;
        self.info(format!(
            "retrying {what} after a transient error ({why}); retry {n} so far"
        ));
    }
    /// Time spent in each phase so far (the current one up to now), in the order they began.
    pub fn timings(&self) -> Vec<(String, Duration)> {
        let mut clock = self.clock.lock().expect("clock");
        let running = clock.current.map(|(i, _)| i);
        clock.stop();
        let out = clock.spent.clone();
        if let Some(i) = running {
            clock.current = Some((i, Instant::now()));
        }
        out
    }
    /// `timings` in seconds, as outcomes report them.
    pub fn seconds(&self) -> Vec<(String, f64)> {
        let t = self.timings();
        t.into_iter().map(|(p, d)| (p, d.as_secs_f64())).collect()
    }
    /// Transient errors retried so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn warn(&self, message: impl Into<String>) {
        self.reporter.report(Event::Warning {
            message: message.into(),
        });
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn phases_are_timed_in_order_and_a_phase_met_again_adds_up() {
        let p = Progress::silent();
        p.phase("verify", None);
        std::thread::sleep(Duration::from_millis(30));
        p.phase("load", None);
        std::thread::sleep(Duration::from_millis(10));
        p.phase("verify", None);
        std::thread::sleep(Duration::from_millis(30));
        let t = p.timings();
        let names: Vec<_> = t.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["verify", "load"]);
        assert!(t[0].1 >= Duration::from_millis(60), "{t:?}");
        assert!(
            t[1].1 >= Duration::from_millis(10) && t[1].1 < t[0].1,
            "{t:?}"
        );
        // Still running: a later look counts the current phase on.
        std::thread::sleep(Duration::from_millis(20));
        assert!(p.timings()[0].1 >= t[0].1 + Duration::from_millis(20));
    }

    #[test]
    fn retries_are_counted_across_clones() {
        let p = Progress::silent();
        let q = p.clone();
        q.retrying("GET bucket/key", "503 SlowDown");
        p.retrying("POST /_bulk", "429");
        assert_eq!(p.retries(), 2);
    }
}

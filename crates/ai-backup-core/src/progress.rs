//! Progress events and cancellation, passed into every long operation. The library never
//! prints: it reports events to a `Reporter` the caller supplies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
/// were retried (a throttled or dropped request), so the outcome can say how many there were.
#[derive(Clone)]
pub struct Progress {
    reporter: SharedReporter,
    retries: Arc<AtomicU64>,
}

impl Progress {
    pub fn new(reporter: SharedReporter) -> Self {
        Self {
            reporter,
            retries: Arc::new(AtomicU64::new(0)),
        }
    }
    pub fn silent() -> Self {
        Self::new(Arc::new(Silent))
    }
    pub fn phase(&self, phase: &str, total_bytes: Option<u64>) {
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

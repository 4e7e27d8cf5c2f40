//! Jobs that outlive the request that started them, for the page: at most one backup or
//! restore per module, its progress kept and broadcast, so a reloaded page sees the running
//! job and closing a tab cancels nothing. Across processes the module lock refuses a second job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::archive::ArchiveKey;
use crate::config::Config;
use crate::engine::{self, BackupRequest, RestoreRequest};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Event, Progress, Reporter};
use crate::{describe, lock};

/// How often running jobs' byte counts are broadcast, at most.
const TICK: Duration = Duration::from_millis(250);
/// Info and warnings kept per job.
const MESSAGES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backup,
    Restore,
    Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// The design's result object, plus the library's text about the outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobResult {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,
}

impl JobResult {
    fn of<T>(
        r: &Result<T>,
        cancel: &Cancel,
        ok: impl FnOnce(&T) -> (Option<String>, String),
    ) -> Self {
        match r {
            Ok(v) => {
                let (path, text) = ok(v);
                Self {
                    success: true,
                    path,
                    text: Some(text),
                    ..Self::default()
                }
            }
            Err(e) if e.is_cancelled() || (cancel.is_cancelled() && !is_incomplete(e)) => Self {
                cancelled: Some(true),
                ..Self::default()
            },
            Err(e) => Self {
                error: Some(e.to_string()),
                ..Self::default()
            },
        }
    }
}

fn is_incomplete(e: &Error) -> bool {
    matches!(e, Error::RollbackIncomplete { .. })
}

/// One job as the page shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub module: String,
    pub kind: JobKind,
    pub state: JobState,
    pub phase: Option<String>,
    pub bytes: u64,
    pub total_bytes: Option<u64>,
    pub bytes_per_sec: u64,
    pub started_at: String,
    pub elapsed_ms: u64,
    pub messages: Vec<String>,
    pub result: Option<JobResult>,
}

struct Entry {
    job: Job,
    cancel: Cancel,
    started: Instant,
    phase_started: Instant,
    last_sent: Instant,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// The running or last job of each module, and each module's last verification.
    jobs: BTreeMap<(String, bool), Entry>,
}

/// The jobs of one server. Cheap to clone; every clone is the same board.
#[derive(Clone)]
pub struct JobBoard {
    config: Arc<Config>,
    state: Arc<Mutex<State>>,
    tx: broadcast::Sender<Job>,
}

/// A verification as the page shows it before a restore.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub summary: String,
    pub text: String,
    pub module: String,
    pub secrets: Vec<engine::secret_check::SecretCheck>,
}

impl JobBoard {
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            state: Arc::default(),
            tx: broadcast::channel(256).0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every job known, running ones first.
    pub fn snapshot(&self) -> Vec<Job> {
        let st = self.state.lock().unwrap();
        let mut all: Vec<Job> = st.jobs.values().map(|e| self.current(e)).collect();
        all.sort_by_key(|j| j.state != JobState::Running);
        all
    }

    /// Every change of any job from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Job> {
        self.tx.subscribe()
    }

    /// Start a backup of `module` into `output` (a file, or a folder for the default name),
    /// encrypted when `key` holds a passphrase.
    ///
    /// # Errors
    /// `Busy` when a job of the module runs, here or in another process; unknown module.
    pub fn start_backup(&self, module: &str, output: PathBuf, key: ArchiveKey) -> Result<Job> {
        let req = BackupRequest {
            module: module.to_string(),
            output: Some(output),
            notes: None,
            key,
            compression: None,
        };
        self.start(module, JobKind::Backup, move |board, p, c| async move {
            let r = engine::backup(&board.config, &req, &p, &c).await;
            JobResult::of(&r, &c, |o| {
                (
                    Some(o.path.display().to_string()),
                    describe::backup_outcome(&req.module, o),
                )
            })
        })
    }

    /// Start a restore; `on_end` runs when it has ended, whatever the outcome (an uploaded
    /// archive is removed there).
    ///
    /// # Errors
    /// As [`JobBoard::start_backup`].
    pub fn start_restore(
        &self,
        req: RestoreRequest,
        on_end: impl FnOnce() + Send + 'static,
    ) -> Result<Job> {
        let module = req.module.clone();
        self.start(&module, JobKind::Restore, move |board, p, c| async move {
            let r = engine::restore(&board.config, &req, &p, &c).await;
            on_end();
            JobResult::of(&r, &c, |o| {
                (
                    None,
                    describe::restore_outcome(&req.module, &req.archive, o),
                )
            })
        })
    }

    /// Verify `archive` for a restore of `module`, with progress on the board: the whole
    /// archive, that it is of this module, and how its secrets compare with the live ones.
    ///
    /// # Errors
    /// `ArchiveRefused` (corrupt, truncated, foreign, newer, another module's); Docker errors.
    pub async fn verify(
        &self,
        module: &str,
        archive: PathBuf,
        passphrase: &ArchiveKey,
    ) -> Result<VerifyReport> {
        self.config.module(module)?;
        let (progress, cancel, key) = self.register(module, JobKind::Verify)?;
        let which = (archive.as_path(), passphrase);
        let r = self.verify_inner(module, which, &progress, &cancel).await;
        let result = JobResult::of(&r, &cancel, |v| (None, v.summary.clone()));
        self.end(&key, result);
        r
    }

    async fn verify_inner(
        &self,
        module: &str,
        (archive, key): (&std::path::Path, &ArchiveKey),
        progress: &Progress,
        cancel: &Cancel,
    ) -> Result<VerifyReport> {
        let v = crate::archive::verify(archive, key, progress, cancel).await?;
        if v.metadata.module_id != module {
            return Err(Error::ArchiveRefused {
                path: archive.to_path_buf(),
                reason: format!(
                    "it is a backup of module {}, not {module}",
                    v.metadata.module_id
                ),
            });
        }
        let secrets = engine::secret_check::compare_for(&self.config, module, &v, progress).await?;
        Ok(VerifyReport {
            summary: describe::archive_summary(&v.metadata),
            text: describe::archive(&v),
            module: module.to_string(),
            secrets,
        })
    }

    /// Ask the running backup or restore of `module` to stop; `None` when none runs.
    pub fn cancel(&self, module: &str) -> Option<Job> {
        let st = self.state.lock().unwrap();
        let e = st.jobs.get(&(module.to_string(), false))?;
        if e.job.state != JobState::Running {
            return None;
        }
        e.cancel.cancel();
        Some(self.current(e))
    }

    /// Cancel every running job and wait until all have ended (the server is stopping).
    pub async fn cancel_all_and_wait(&self) {
        loop {
            let running: Vec<Cancel> = {
                let st = self.state.lock().unwrap();
                st.jobs
                    .values()
                    .filter(|e| e.job.state == JobState::Running)
                    .map(|e| e.cancel.clone())
                    .collect()
            };
            if running.is_empty() {
                return;
            }
            running.iter().for_each(Cancel::cancel);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn start<F, Fut>(&self, module: &str, kind: JobKind, work: F) -> Result<Job>
    where
        F: FnOnce(JobBoard, Progress, Cancel) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = JobResult> + Send,
    {
        self.config.module(module)?;
        // Another process (the CLI, the desktop app) may hold the module: refuse now rather
        // than accept a job that fails at once. The job takes the lock itself.
        drop(lock::acquire(&lock::default_dir(), module, "check")?);
        let (progress, cancel, key) = self.register(module, kind)?;
        let board = self.clone();
        let job = self.job(&key);
        tokio::spawn(async move {
            let result = work(board.clone(), progress, cancel).await;
            board.end(&key, result);
        });
        Ok(job)
    }

    /// A new running job of `module`, unless one of that key runs (checked and entered under
    /// one lock, so two requests at the same moment cannot both start).
    fn register(&self, module: &str, kind: JobKind) -> Result<(Progress, Cancel, (String, bool))> {
        let key = (module.to_string(), kind == JobKind::Verify);
        let cancel = Cancel::new();
        let now = Instant::now();
        let mut st = self.state.lock().unwrap();
        if st
            .jobs
            .get(&key)
            .is_some_and(|e| e.job.state == JobState::Running)
        {
            return Err(Error::Busy {
                module: module.to_string(),
                holder: " (started from this page)".into(),
            });
        }
        st.next_id += 1;
        let job = Job {
            id: format!("j-{}", st.next_id),
            module: module.to_string(),
            kind,
            state: JobState::Running,
            phase: None,
            bytes: 0,
            total_bytes: None,
            bytes_per_sec: 0,
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            elapsed_ms: 0,
            messages: Vec::new(),
            result: None,
        };
        let _ = self.tx.send(job.clone());
        st.jobs.insert(
            key.clone(),
            Entry {
                job,
                cancel: cancel.clone(),
                started: now,
                phase_started: now,
                last_sent: now,
            },
        );
        let reporter = JobReporter {
            board: self.clone(),
            key: key.clone(),
        };
        Ok((Progress::new(Arc::new(reporter)), cancel, key))
    }

    fn job(&self, key: &(String, bool)) -> Job {
        let st = self.state.lock().unwrap();
        self.current(&st.jobs[key])
    }

    fn current(&self, e: &Entry) -> Job {
        let mut job = e.job.clone();
        if job.state == JobState::Running {
            job.elapsed_ms = e.started.elapsed().as_millis() as u64;
        }
        job
    }

    fn end(&self, key: &(String, bool), result: JobResult) {
        let mut st = self.state.lock().unwrap();
        let Some(e) = st.jobs.get_mut(key) else {
            return;
        };
        e.job.state = match (&result.success, &result.cancelled) {
            (true, _) => JobState::Succeeded,
            (false, Some(true)) => JobState::Cancelled,
            _ => JobState::Failed,
        };
        e.job.elapsed_ms = e.started.elapsed().as_millis() as u64;
        e.job.result = Some(result);
        let _ = self.tx.send(e.job.clone());
    }

    fn update(&self, key: &(String, bool), event: Event) {
        let mut st = self.state.lock().unwrap();
        let Some(e) = st.jobs.get_mut(key) else {
            return;
        };
        let now = Instant::now();
        let urgent = match event {
            Event::Phase { phase, total_bytes } => {
                e.job.phase = Some(phase);
                e.job.total_bytes = total_bytes;
                e.job.bytes = 0;
                e.job.bytes_per_sec = 0;
                e.phase_started = now;
                true
            }
            Event::Progress { bytes, .. } => {
                e.job.bytes = bytes;
                let secs = now.duration_since(e.phase_started).as_secs_f64();
                e.job.bytes_per_sec = if secs > 0.0 {
                    (bytes as f64 / secs) as u64
                } else {
                    0
                };
                false
            }
            Event::Info { message } => push(&mut e.job.messages, message),
            Event::Warning { message } => push(&mut e.job.messages, format!("warning: {message}")),
        };
        if urgent || now.duration_since(e.last_sent) >= TICK {
            e.last_sent = now;
            e.job.elapsed_ms = e.started.elapsed().as_millis() as u64;
            let _ = self.tx.send(e.job.clone());
        }
    }
}

fn push(messages: &mut Vec<String>, m: String) -> bool {
    messages.push(m);
    if messages.len() > MESSAGES {
        messages.remove(0);
    }
    true
}

struct JobReporter {
    board: JobBoard,
    key: (String, bool),
}

impl Reporter for JobReporter {
    fn report(&self, event: Event) {
        self.board.update(&self.key, event);
    }
}

//! Restore of one module, built so that it cannot make things worse. The archive is read once
//! before anything live is touched: verified to its last byte while its dump loads into a
//! staging database beside the live one (`first_pass`). Every part of the module's data
//! (indices, objects, database, secrets) then checks it can be restored; with the apps stopped,
//! every part is staged beside the live data, committed in order — the database swap is the
//! commit point — and the apps are started and checked. Any failure undoes what was done, in
//! reverse. Each step is recorded on disk first, so `ai-backup recover` can end a restore whose
//! process died.

use std::path::PathBuf;

use serde::Serialize;

use super::apps::Apps;
use super::components::{self, Cx, RestoreOf};
use super::first_pass;
use super::state::{self, Durable, RestoreState, Step};
use super::{old_name, staged_name};
use crate::archive::{self, ArchiveKey, ArchiveReader, Metadata, Verified};
use crate::config::{Config, ServerConfig};
use crate::error::{Error, Result};
use crate::health::HealthReport;
use crate::journal::Journal;
use crate::progress::{Cancel, Progress};
use crate::store;

#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub module: String,
    pub archive: PathBuf,
    /// Put the archived secrets in place when the target's differ.
    pub restore_secrets: bool,
    /// How the user confirmed ("typed the module name", "--yes"), for the journal.
    pub confirmation: String,
    /// The passphrase of an encrypted archive (ignored for a plain one).
    pub key: ArchiveKey,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    /// What was done to replace the database, for people.
    pub method: String,
    /// What was restored, for people (tables and rows, objects, documents).
    pub contents: String,
    pub secrets_written: Vec<String>,
    pub health: Option<HealthReport>,
    pub journal: PathBuf,
    /// Transient errors (throttled or dropped requests) that were retried on the way.
    pub retries: u64,
    /// Seconds spent in each phase (load, verify, check, swap, ...), in order.
    pub timings: Vec<(String, f64)>,
    /// Seconds of those spent computing the archive's checksums (the archive is verified
    /// during the load, in one read).
    pub checksum_secs: f64,
}

/// Restore `req.archive` into `req.module`.
///
/// # Errors
/// `ArchiveRefused`, `Secret`, `Busy`... before anything is touched; `Cancelled`, `Tool`,
/// `Verification`, `Health`... after a restore attempt that was undone, and
/// `RollbackIncomplete` if undoing failed too (it says what is left where).
pub async fn restore(
    config: &Config,
    req: &RestoreRequest,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<RestoreOutcome> {
    let (module, server) = config.module(&req.module)?;
    let _lock = crate::lock::acquire(&crate::lock::default_dir(), &req.module, "restore")?;
    let state_dir = state::default_dir();
    state::refuse_if_interrupted(&state_dir, &req.module)?;
    let head = archive::read_metadata(&req.archive, &req.key).await?;
    check_fits(&head, req, server)?;
    let docker = super::docker_for(&config.docker, module, server, progress).await?;
    let journal = Journal::new(&config.journal);
    let mut state = Durable {
        st: new_state(req, &module.database),
        dir: &state_dir,
    };
    let db = store::open(server, docker.as_ref()).await?;
    let verified = first_pass::verify_and_stage(
        (&*db, &head, &req.key),
        &mut state,
        &journal,
        (progress, cancel),
    )
    .await?;
    // From here until the apps are stopped, a refusal only drops the staging database.
    let which = (req.module.as_str(), module, server);
    let of = RestoreOf {
        archive: &req.archive,
        verified: &verified,
        restore_secrets: req.restore_secrets,
    };
    let opened = components::open(
        config,
        which,
        docker.as_ref(),
        Some(&of),
        (progress, cancel),
    )
    .await;
    let mut parts = match opened {
        Ok(p) => p,
        Err(e) => return Err(first_pass::unstage(&*db, &state, &journal, progress, e).await),
    };
    let mut cx = Cx::new(req, &verified, &journal, state, progress, cancel);
    if let Err(e) = parts.preflight(&mut cx).await {
        return Err(first_pass::unstage(&*db, &cx.state, &journal, progress, e).await);
    }
    let healthy_before = Apps::healthy(docker.as_ref(), module).await;
    // From here on, a process that dies leaves its state for `ai-backup recover`.
    cx.state.st.apps_stopped = Apps::running(docker.as_ref(), &module.apps).await;
    if let Err(e) = cx.at(Step::Staging) {
        return Err(first_pass::unstage(&*db, &cx.state, &journal, progress, e).await);
    }
    let stopped = Apps::stop(
        docker.as_ref(),
        &req.module,
        module,
        healthy_before,
        progress,
    )
    .await;
    let mut apps = match stopped {
        Ok(a) => a,
        Err(e) => return Err(first_pass::unstage(&*db, &cx.state, &journal, progress, e).await),
    };
    cx.log(
        "restore-start",
        &format!("apps stopped: {:?}", apps.stopped()),
    );
    let applied = match parts.apply(&mut cx).await {
        Ok(()) => apps.start_and_check(progress).await,
        Err(e) => Err(e),
    };
    let health = match applied {
        Ok(health) => health,
        Err(e) => {
            cx.log("rollback", &e.to_string());
            let e = parts.unwind(&mut cx, e).await;
            apps.restart(progress).await;
            if !matches!(e, Error::RollbackIncomplete { .. }) {
                cx.state.done();
            }
            return Err(e);
        }
    };
    if cancel.is_cancelled() {
        progress.warn("the cancel came after the new data was committed: the restore was finished, not undone");
    }
    parts.release(&mut cx).await;
    cx.state.done();
    let report = parts.report();
    Ok(RestoreOutcome {
        method: report.method,
        contents: verified.metadata.contents(),
        secrets_written: report.secrets_written,
        health,
        journal: journal.path().to_path_buf(),
        retries: progress.retries(),
        timings: progress.seconds(),
        checksum_secs: verified.hashing.as_secs_f64(),
    })
}

/// The archive is of this module and of this database engine.
fn check_fits(meta: &Metadata, req: &RestoreRequest, server: &ServerConfig) -> Result<()> {
    let refused = |reason: String| Error::ArchiveRefused {
        path: req.archive.clone(),
        reason,
    };
    if meta.module_id != req.module {
        return Err(refused(format!(
            "it is a backup of module {}, not {}",
            meta.module_id, req.module
        )));
    }
    if meta.engine != server.engine.as_str() {
        return Err(refused(format!(
            "it holds a {} dump but {} uses {}",
            meta.engine,
            req.module,
            server.engine.as_str()
        )));
    }
    Ok(())
}

fn new_state(req: &RestoreRequest, db: &str) -> RestoreState {
    RestoreState {
        module: req.module.clone(),
        archive: req.archive.clone(),
        pid: std::process::id(),
        started_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        step: Step::Staging,
        apps_stopped: Vec::new(),
        database: db.to_string(),
        staged: staged_name(db),
        old: old_name(db),
        index_targets: Vec::new(),
        indices: None,
        objects: None,
        restore_secrets: req.restore_secrets,
        swap: None,
        objects_put_back: false,
    }
}

/// Send the parts under `prefix`, in order, checking each against the manifest as it goes.
/// Entries before them are skipped; the reader stops before the first entry after them, so
/// the next prefix can be fed from the same reader (the archive is read once).
pub(super) async fn feed_parts(
    reader: &mut ArchiveReader,
    prefix: &str,
    verified: &Verified,
    out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    progress: &Progress,
    phase: &str,
) -> Result<()> {
    let mut done = 0u64;
    let mut started = false;
    while let Some(h) = reader.peek().await? {
        if !archive::is_part_of(&h.path, prefix) {
            if started {
                break;
            }
            reader.next_entry().await?;
            continue;
        }
        started = true;
        reader.next_entry().await?;
        let (sha, size) = reader.copy_entry(out).await?;
        let expected = verified.manifest.entries.iter().find(|e| e.path == h.path);
        if expected.map(|e| (&e.sha256, e.size)) != Some((&sha, size)) {
            return Err(reader.refused(format!("entry {} changed since it was verified", h.path)));
        }
        done += size;
        progress.bytes(phase, done);
    }
    Ok(())
}

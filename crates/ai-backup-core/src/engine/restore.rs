//! Restore of one module, built so that it cannot make things worse:
//! 1. verify the whole archive (ours, this module, this engine, every checksum) and check the
//!    secrets — before anything is touched;
//! 2. stop the apps (a guard starts them again on every path);
//! 3. load the dump into a new database beside the live one and check it against the
//!    statistics recorded at backup — a failure here leaves the live database untouched;
//! 4. swap the new database in by a step that can be undone, put the secrets in place, start
//!    the apps and check their health; if that fails, swap back.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::scope;
use super::state::{self, Durable, RestoreState, Step};
use super::stores;
use super::{old_name, staged_name};
use crate::archive::{self, ArchiveReader, Verified};
use crate::config::{Config, ModuleConfig, SecretConfig};
use crate::docker::{AppsHeld, DockerClient, Hold};
use crate::error::{Error, Result};
use crate::health::{self, HealthReport};
use crate::journal::Journal;
use crate::progress::{Cancel, Progress};
use crate::store::{DatabaseStore, DbProps, Swapped};
use crate::{secrets, store};

#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub module: String,
    pub archive: PathBuf,
    /// Put the archived secrets in place when the target's differ.
    pub restore_secrets: bool,
    /// How the user confirmed ("typed the module name", "--yes"), for the journal.
    pub confirmation: String,
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
}

/// A secret that must be written after the swap.
struct SecretPlan<'a> {
    spec: &'a SecretConfig,
    value: String,
}

/// Restore `req.archive` into `req.module`.
///
/// # Errors
/// `ArchiveRefused` before anything is touched; `Cancelled`, `Tool`, `Verification`,
/// `Health`... after a restore attempt that was undone, and `RollbackIncomplete` if undoing
/// failed too (it says what is left where).
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
    let verified = archive::verify(&req.archive, progress, cancel).await?;
    let meta = &verified.metadata;
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
    let docker = super::docker_for(&config.docker, module, server, progress).await?;
    let db_store = store::open(server, docker.as_ref()).await?;
    let db = module.database.as_str();
    let (staged, old) = (staged_name(db), old_name(db));
    let journal = Journal::new(&config.journal);
    let log = |step: &str, detail: &str| {
        if let Err(e) = journal.record(&req.module, &req.archive, &req.confirmation, step, detail) {
            progress.warn(format!(
                "cannot write the journal {}: {e}",
                journal.path().display()
            ));
        }
    };

    // Pre-flight: other stores, secrets, leftovers. Nothing is changed yet.
    let clients = scope::clients(config, module, docker.as_ref()).await?;
    stores::preflight(&clients, &verified, &req.module, cancel).await?;
    let live_scope = scope::resolve(module, &*db_store, &clients, cancel).await?;
    stores::check_leftovers(&clients, &live_scope, &verified, &req.module, cancel).await?;
    let plans = plan_secrets(docker.as_ref(), module, &verified, req, progress).await?;
    if db_store.exists(&old, cancel).await? {
        return Err(Error::Usage(format!(
            "database {old} exists on {}: it holds the data replaced by an earlier restore that did not finish. Check it, then drop it, and restore again",
            db_store.describe()
        )));
    }
    let healthy_before = match &docker {
        Some(d) if !module.apps.is_empty() => {
            // An app just resumed from a backup's pause may report "starting" or "unhealthy"
            // for a few seconds: give it a short while before calling it unhealthy.
            let quick = ModuleConfig {
                health: crate::config::HealthConfig {
                    timeout_secs: module.health.timeout_secs.min(20),
                    ..module.health.clone()
                },
                ..module.clone()
            };
            health::check(d, &quick, cancel).await.healthy
        }
        _ => false,
    };

    // From here on, a process that dies leaves its state for `ai-backup recover`.
    let mut durable = Durable {
        st: RestoreState {
            module: req.module.clone(),
            archive: req.archive.clone(),
            pid: std::process::id(),
            started_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            step: Step::Staging,
            apps_stopped: running_apps(docker.as_ref(), &module.apps).await,
            database: db.to_string(),
            staged: staged.clone(),
            old: old.clone(),
            index_targets: Vec::new(),
            indices: None,
            objects: None,
            restore_secrets: req.restore_secrets,
            swap: None,
            objects_put_back: false,
        },
        dir: &state_dir,
    };
    durable.at(Step::Staging)?;

    progress.phase("stop-apps", None);
    let guard = match &docker {
        Some(d) => match AppsHeld::hold(d, &module.apps, Hold::Stopped).await {
            Ok(g) => Some(g),
            Err(e) => {
                durable.done();
                return Err(e);
            }
        },
        None => None,
    };
    if let Some(g) = &guard {
        if !g.names().is_empty() {
            progress.info(format!("stopped {}", g.names().join(", ")));
        }
    }
    log(
        "restore-start",
        &format!(
            "apps stopped: {:?}",
            guard
                .as_ref()
                .map(|g| g.names().to_vec())
                .unwrap_or_default()
        ),
    );

    let staged_result = stage(
        &*db_store,
        &verified,
        &req.archive,
        &staged,
        progress,
        cancel,
        &log,
    )
    .await;
    if let Err(e) = staged_result {
        let cleanup = db_store.drop_db(&staged, &Cancel::new()).await;
        log(
            "drop-staged",
            &format!(
                "{staged}: {}",
                if cleanup.is_ok() {
                    "dropped"
                } else {
                    "could not be dropped"
                }
            ),
        );
        restart_keeping_cause(guard, progress).await;
        if cleanup.is_err() {
            progress.warn(format!(
                "the partial database {staged} could not be dropped now; the next restore removes it. The live database {db} was not touched"
            ));
        }
        durable.done();
        return Err(e);
    }

    // Objects and indices: held aside, then replaced; put back by `replace` itself on error.
    let replaced = if verified.metadata.objects.is_some() || verified.metadata.indices.is_some() {
        log(
            "replace-objects-and-indices",
            &format!("{:?} {:?}", live_scope.objects, live_scope.indices),
        );
        match stores::replace(
            &clients,
            &live_scope,
            &verified,
            &req.archive,
            &mut durable,
            progress,
            cancel,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                let _ = db_store.drop_db(&staged, &Cancel::new()).await;
                log("replace-failed", &e.to_string());
                restart_keeping_cause(guard, progress).await;
                if !matches!(e, Error::RollbackIncomplete { .. }) {
                    durable.done();
                }
                return Err(e);
            }
        }
    } else {
        stores::Replaced::default()
    };

    // From here on the live database changes; the steps are short and are not cancelled.
    let calm = Cancel::new();
    progress.phase("swap", None);
    log("swap", &format!("{db} -> {old}, {staged} -> {db}"));
    let props = props_of(&verified);
    let swap = match durable.at(Step::Swapping) {
        Ok(()) => db_store.swap(db, &staged, &old, &props, &calm).await,
        Err(e) => Err(e),
    };
    let swapped = match swap {
        Ok(s) => s,
        Err(e) => {
            let _ = db_store.drop_db(&staged, &calm).await;
            log("swap-failed", &e.to_string());
            let back = stores::put_back(&clients, &replaced, &req.module, &mut durable).await;
            restart_keeping_cause(guard, progress).await;
            return match back {
                Ok(()) => {
                    durable.done();
                    Err(e)
                }
                Err(left) => Err(Error::RollbackIncomplete {
                    message: e.to_string(),
                    left,
                }),
            };
        }
    };
    durable.st.swap = Some(swapped.clone());
    if let Err(e) = durable.at(Step::Swapped) {
        progress.warn(format!("{e}; the restore goes on without it"));
    }
    let method = format!(
        "loaded into new database {staged}, checked against the archive, then swapped in place of {db}; the previous {db} was kept as {old} until the end"
    );
    let stopped = guard
        .as_ref()
        .map(|g| g.names().to_vec())
        .unwrap_or_default();

    let finish = finish(
        docker.as_ref(),
        module,
        &plans,
        req,
        guard,
        healthy_before,
        progress,
        &calm,
    )
    .await;
    match finish {
        Ok((health, written)) => {
            // What is left beside the live database: the emptied staging database (MySQL moves
            // tables out of it) and the previous content.
            let _ = db_store.drop_db(&staged, &calm).await;
            stores::release(&clients, &replaced, &req.module, progress).await;
            let dropped = db_store.drop_db(&old, &calm).await;
            log(
                "drop-old",
                &format!(
                    "{old}: {}",
                    if dropped.is_ok() {
                        "dropped"
                    } else {
                        "left in place"
                    }
                ),
            );
            let method = match dropped {
                Ok(()) => format!("{method}, then dropped"),
                Err(e) => {
                    progress.warn(format!(
                        "the previous data is still in {old} ({e}); drop it when satisfied"
                    ));
                    format!("{method}; it could not be dropped and is still there")
                }
            };
            durable.done();
            Ok(RestoreOutcome {
                method,
                contents: verified.metadata.contents(),
                secrets_written: written,
                health,
                journal: journal.path().to_path_buf(),
            })
        }
        Err((e, previous)) => {
            // Undo: apps are stopped again by `finish` before it reports failure.
            log("rollback", &e.to_string());
            if let Err(u) = durable.at(Step::RollingBack) {
                progress.warn(format!("{u}; the rollback goes on without it"));
            }
            let undo = rollback(
                &*db_store,
                docker.as_ref(),
                &stopped,
                db,
                &staged,
                &old,
                &swapped,
                &plans,
                previous,
                &calm,
            )
            .await;
            let mut left = Vec::new();
            if let Err(u) = undo {
                left.push(format!("{u}; the previous data is in database {old}"));
            }
            if let Err(u) = stores::put_back(&clients, &replaced, &req.module, &mut durable).await {
                left.push(u);
            }
            log(
                "rollback-done",
                if left.is_empty() { "ok" } else { "incomplete" },
            );
            if left.is_empty() {
                durable.done();
                Err(e)
            } else {
                Err(Error::RollbackIncomplete {
                    message: e.to_string(),
                    left: left.join("; "),
                })
            }
        }
    }
}

/// The apps of `names` running now: those a restore stops, and the only ones it starts again.
pub(super) async fn running_apps(docker: Option<&DockerClient>, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = docker {
        for n in names {
            if d.state(n).await.is_ok_and(|s| s.running) {
                out.push(n.clone());
            }
        }
    }
    out
}

/// Start the stopped apps again on a failure path. A failure to start them is reported beside
/// the cause of the failure, never instead of it.
async fn restart_keeping_cause(guard: Option<AppsHeld>, progress: &Progress) {
    if let Some(g) = guard {
        let names = g.names().join(", ");
        if let Err(e) = g.release().await {
            progress.warn(format!(
                "could not start {names} again: {e}; start them by hand"
            ));
        }
    }
}

/// Secrets to write after the swap; fails before anything is touched when the target's key
/// differs and the user did not ask to restore it.
async fn plan_secrets<'a>(
    docker: Option<&DockerClient>,
    module: &'a ModuleConfig,
    verified: &Verified,
    req: &RestoreRequest,
    progress: &Progress,
) -> Result<Vec<SecretPlan<'a>>> {
    let mut plans = Vec::new();
    for check in super::secret_check::compare(docker, module, verified, progress).await? {
        if !check.differs {
            continue;
        }
        if !req.restore_secrets || !check.can_restore {
            return Err(Error::Secret {
                module: req.module.clone(),
                message: format!("{}. Nothing was changed", check.text),
            });
        }
        let spec = module
            .secrets
            .iter()
            .find(|s| s.name == check.name)
            .expect("checks come from the module's secrets");
        plans.push(SecretPlan {
            spec,
            value: check.archived.unwrap_or_default(),
        });
    }
    Ok(plans)
}

fn props_of(v: &Verified) -> DbProps {
    let m = &v.metadata.db;
    DbProps {
        charset: m.charset.clone(),
        collation: m.collation.clone(),
        ctype: m.ctype.clone(),
        owner: m.owner.clone(),
    }
}

/// Create the staged database, stream the dump into it and check what it holds.
#[allow(clippy::too_many_arguments)]
async fn stage(
    db_store: &dyn DatabaseStore,
    verified: &Verified,
    path: &Path,
    staged: &str,
    progress: &Progress,
    cancel: &Cancel,
    log: &(dyn Fn(&str, &str) + Sync),
) -> Result<()> {
    if db_store.exists(staged, cancel).await? {
        log("drop-leftover", staged);
        db_store.drop_db(staged, cancel).await?;
    }
    db_store.create(staged, &props_of(verified), cancel).await?;
    let prefix = verified.metadata.db.entry.clone();
    let total = verified.manifest.bytes_under(&prefix);
    progress.phase("load", Some(total));
    let mut reader = ArchiveReader::open(path).await?;
    super::pipe(
        async |tx| feed_parts(&mut reader, &prefix, verified, tx, progress, "load").await,
        async |rx| db_store.load(staged, rx, cancel).await,
        cancel,
    )
    .await?;
    progress.phase("check", None);
    let got = db_store.stats(staged, cancel).await?;
    let diffs = got.differences(&verified.metadata.db.stats);
    if !diffs.is_empty() {
        let message = format!(
            "the loaded data differs from the archive: {}",
            diffs.join("; ")
        );
        if verified.metadata.quiesced {
            return Err(Error::Verification {
                module: verified.metadata.module_id.clone(),
                message,
            });
        }
        progress.warn(format!(
            "{message} (the backup was taken with the apps running, so this may be expected)"
        ));
    }
    progress.info(format!(
        "{} tables, {} rows loaded and checked",
        got.tables.len(),
        got.total_rows()
    ));
    Ok(())
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

/// After the swap: write secrets, start the apps, check health. On failure, the apps are
/// stopped again and the error comes back with the secrets' previous contents.
#[allow(clippy::too_many_arguments)]
async fn finish(
    docker: Option<&DockerClient>,
    module: &ModuleConfig,
    plans: &[SecretPlan<'_>],
    req: &RestoreRequest,
    guard: Option<AppsHeld>,
    healthy_before: bool,
    progress: &Progress,
    calm: &Cancel,
) -> std::result::Result<(Option<HealthReport>, Vec<String>), (Error, Vec<secrets::Previous>)> {
    let mut previous = Vec::new();
    let mut written = Vec::new();
    for plan in plans {
        let d = docker.expect("secrets are planned only with Docker");
        match secrets::write(d, plan.spec, &plan.value, &req.module).await {
            Ok(p) => {
                previous.push(p);
                written.push(plan.spec.name.clone());
                progress.info(format!(
                    "put the archived {} in place in {}",
                    plan.spec.name, plan.spec.container
                ));
            }
            Err(e) => {
                // The apps stay stopped: the rollback starts them once the data is back.
                if let Some(g) = guard {
                    g.keep_stopped();
                }
                return Err((e, previous));
            }
        }
    }
    let Some(g) = guard else {
        return Ok((None, written));
    };
    progress.phase("start-apps", None);
    if let Err(e) = g.release().await {
        return Err((e, previous));
    }
    let Some(d) = docker else {
        return Ok((None, written));
    };
    if module.apps.is_empty() && module.health.url.is_none() {
        return Ok((None, written));
    }
    progress.phase("health", None);
    let report = health::check(d, module, calm).await;
    if report.healthy || !healthy_before {
        if !report.healthy {
            progress.warn(format!(
                "{} is not healthy after the restore ({}), as it was not before; the restore is kept",
                req.module,
                report.details.join("; ")
            ));
        }
        return Ok((Some(report), written));
    }
    // It was healthy before and is not now: undo.
    for name in &module.apps {
        let _ = d.stop(name).await;
    }
    Err((
        Error::Health {
            module: req.module.clone(),
            message: format!(
                "{}; the previous data was put back",
                report.details.join("; ")
            ),
        },
        previous,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn rollback(
    db_store: &dyn DatabaseStore,
    docker: Option<&DockerClient>,
    stopped: &[String],
    db: &str,
    staged: &str,
    old: &str,
    swapped: &Swapped,
    plans: &[SecretPlan<'_>],
    previous: Vec<secrets::Previous>,
    calm: &Cancel,
) -> Result<()> {
    let mut first_err = None;
    if let Some(d) = docker {
        for (plan, prev) in plans.iter().zip(previous.iter()) {
            if let Err(e) = secrets::put_back(d, plan.spec, prev).await {
                first_err.get_or_insert(e);
            }
        }
    }
    match db_store.unswap(db, staged, old, swapped, calm).await {
        Ok(()) => {
            let _ = db_store.drop_db(staged, calm).await;
            if swapped.live_existed {
                let _ = db_store.drop_db(old, calm).await;
            }
        }
        Err(e) => {
            first_err.get_or_insert(e);
        }
    }
    if let Some(d) = docker {
        for name in stopped {
            if let Err(e) = d.start(name).await {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

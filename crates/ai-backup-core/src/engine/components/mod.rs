//! The parts of a module's data — indices, objects, database, secrets — each behind one
//! protocol. A backup describes every part in the archive's metadata, then streams each into
//! the archive. A restore runs one sequence over them: preflight every part, stage every part
//! beside the live data, commit them in order, then release them, or undo in reverse through
//! one compensation stack. A part knows nothing of the sequences and the sequences know no
//! store, so a new kind of store is one new file here.

mod database;
mod indices;
mod objects;
mod secrets;

use std::path::Path;

use async_trait::async_trait;

use super::state::{Durable, Step};
use crate::archive::{ArchiveWriter, Metadata, Verified};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::progress::{Cancel, Progress};

pub use database::Database;
pub(crate) use database::{check_staged, db_props, refuse_previous_left};
pub use indices::Indices;
pub use objects::Objects;
pub use secrets::Secrets;

use super::{archive_scope, scope};
use crate::config::{Config, ModuleConfig, ServerConfig};

/// The archive a restore puts in place, for `open`.
pub struct RestoreOf<'a> {
    pub archive: &'a Path,
    pub verified: &'a Verified,
    /// Put the archived secrets in place when the module's differ.
    pub restore_secrets: bool,
}
use crate::docker::DockerClient;
use crate::store;

/// The parts of `module`'s data, in commit order: indices, objects, the database (whose swap
/// is a restore's commit point), secrets. For a restore (`archived`), only the parts the
/// archive holds; an archive with a part the module has no store for is refused.
///
/// # Errors
/// A store that cannot be opened, or that the archive needs and the module lacks.
pub async fn open(
    config: &Config,
    (module_id, module, server): (&str, &ModuleConfig, &ServerConfig),
    docker: Option<&DockerClient>,
    restore: Option<&RestoreOf<'_>>,
    (progress, cancel): (&Progress, &Cancel),
) -> Result<Parts> {
    let db = store::open(server, docker).await?;
    let clients = scope::clients(config, module, docker, progress).await?;
    let live = scope::resolve(module, &*db, &clients, cancel).await?;
    if let Some(r) = restore {
        let archive = (r.archive, r.verified);
        archive_scope::check(config, module_id, (&live, &clients), archive, cancel).await?;
    }
    let archived = restore.map(|r| &r.verified.metadata);
    let restore_secrets = restore.is_some_and(|r| r.restore_secrets);
    let wanted = |has: bool, client: bool, key: &str, what: &str| {
        match archived {
        None => Ok(client),
        Some(_) if !has => Ok(false),
        Some(_) if client => Ok(true),
        Some(_) => Err(Error::Usage(format!(
            "the archive holds {key} but module {module_id} has no {what} configured ([modules.{module_id}.{key}])"
        ))),
    }
    };
    let mut list: Vec<Box<dyn Component>> = Vec::new();
    let has_indices = archived.is_some_and(|m| m.indices.is_some());
    if wanted(
        has_indices,
        clients.es.is_some(),
        "indices",
        "a search server",
    )? {
        let es = clients.es.expect("checked");
        list.push(Box::new(Indices::new(es, live.indices)));
    }
    let has_objects = archived.is_some_and(|m| m.objects.is_some());
    if wanted(
        has_objects,
        clients.s3.is_some(),
        "objects",
        "an object store",
    )? {
        let s3 = clients.s3.expect("checked");
        list.push(Box::new(Objects::new(s3, live.objects)));
    }
    list.push(Box::new(Database::new(db, &module.database)));
    list.push(Box::new(Secrets::new(
        docker.cloned(),
        module,
        restore_secrets,
    )));
    Ok(Parts::new(list))
}

/// What is left where after an undo that did not finish, for `Error::RollbackIncomplete`.
pub type Left = String;

/// One part of a module's data.
#[async_trait]
pub trait Component: Send + Sync {
    /// Backup: whether reading this part needs the apps held still (data does; a key does not).
    fn needs_quiet(&self) -> bool {
        true
    }
    /// Backup: record what the part holds in the archive's metadata, before any data is read.
    async fn describe(&mut self, cx: &BackupCx<'_>, meta: &mut Metadata) -> Result<()>;
    /// Backup: stream the part's entries into the archive.
    async fn write(&mut self, cx: &BackupCx<'_>, writer: &mut ArchiveWriter) -> Result<()>;
    /// Restore: staged before the sequence starts (the database, during the archive's
    /// verifying read), so a failure of any part discards it too.
    fn staged_first(&self) -> bool {
        false
    }
    /// Reachable, and nothing left by an earlier restore in the way. Changes nothing.
    async fn preflight(&mut self, cx: &mut Cx<'_>) -> Result<()>;
    /// Prepare the archived data, or a copy of the live data, beside the live data, checked
    /// against the archive where it can be. The live data is untouched; a failure cleans up
    /// what this step made before returning.
    async fn stage(&mut self, cx: &mut Cx<'_>) -> Result<()>;
    /// Drop what `stage` prepared (the live data was never touched).
    async fn discard(&mut self, cx: &mut Cx<'_>) -> std::result::Result<(), Left>;
    /// Put the archived data in place and check it. A failure puts the live data back before
    /// returning, or says what is left where (`Error::RollbackIncomplete`).
    async fn commit(&mut self, cx: &mut Cx<'_>) -> Result<()>;
    /// Undo a commit.
    async fn rollback(&mut self, cx: &mut Cx<'_>) -> std::result::Result<(), Left>;
    /// The restore is complete: drop what was kept to undo it (failures are warnings).
    async fn release(&mut self, cx: &mut Cx<'_>);
    /// Add what this part did to the restore's outcome.
    fn report(&self, _report: &mut Report) {}
}

/// What a restore did, gathered from its parts for the outcome.
#[derive(Debug, Default)]
pub struct Report {
    /// How the database was replaced, for people.
    pub method: String,
    pub secrets_written: Vec<String>,
}

/// What every part of a backup is given.
pub struct BackupCx<'a> {
    pub module: &'a str,
    pub progress: &'a Progress,
    pub cancel: &'a Cancel,
}

/// What every part of a restore is given: the archive, progress, cancel, the journal and the
/// durable state.
pub struct Cx<'a> {
    pub module: &'a str,
    pub archive: &'a Path,
    pub verified: &'a Verified,
    pub progress: &'a Progress,
    pub cancel: &'a Cancel,
    pub state: Durable<'a>,
    pub journal: &'a Journal,
    pub confirmation: &'a str,
}

impl<'a> Cx<'a> {
    pub fn new(
        req: &'a crate::engine::RestoreRequest,
        verified: &'a Verified,
        journal: &'a Journal,
        state: Durable<'a>,
        progress: &'a Progress,
        cancel: &'a Cancel,
    ) -> Self {
        Self {
            module: &req.module,
            archive: &req.archive,
            verified,
            progress,
            cancel,
            state,
            journal,
            confirmation: &req.confirmation,
        }
    }

    /// A line in the journal; a journal that cannot be written is a warning.
    pub fn log(&self, step: &str, detail: &str) {
        let r = self
            .journal
            .record(self.module, self.archive, self.confirmation, step, detail);
        if let Err(e) = r {
            self.progress.warn(format!(
                "cannot write the journal {}: {e}",
                self.journal.path().display()
            ));
        }
    }

    /// Record durably that `step` begins.
    ///
    /// # Errors
    /// When the state cannot be written: the step must not start without it.
    pub fn at(&mut self, step: Step) -> Result<()> {
        self.state.at(step)
    }
}

/// How far each part got, so a failure undoes exactly that.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Untouched,
    Staged,
    Committed,
}

/// The parts of one restore, in commit order, and the compensation stack.
pub struct Parts {
    list: Vec<Box<dyn Component>>,
    marks: Vec<Mark>,
}

impl Parts {
    pub fn new(list: Vec<Box<dyn Component>>) -> Self {
        let marks = list
            .iter()
            .map(|c| {
                if c.staged_first() {
                    Mark::Staged
                } else {
                    Mark::Untouched
                }
            })
            .collect();
        Self { list, marks }
    }

    /// Backup: describe the parts that need the apps held still (`quiet`), or the others.
    ///
    /// # Errors
    /// The first part that cannot be read.
    pub async fn describe(
        &mut self,
        cx: &BackupCx<'_>,
        meta: &mut Metadata,
        quiet: bool,
    ) -> Result<()> {
        for c in self.list.iter_mut().filter(|c| c.needs_quiet() == quiet) {
            c.describe(cx, meta).await?;
        }
        meta.components
            .sort_by_key(|c| ["db", "minio", "es", "secrets"].iter().position(|k| k == c));
        Ok(())
    }

    /// Backup: write every part, in the archive's order (secrets, database, objects,
    /// indices: the reverse of the commit order).
    ///
    /// # Errors
    /// The first part that cannot be written.
    pub async fn write(&mut self, cx: &BackupCx<'_>, writer: &mut ArchiveWriter) -> Result<()> {
        for c in self.list.iter_mut().rev() {
            c.write(cx, writer).await?;
        }
        Ok(())
    }

    /// # Errors
    /// The first part that refuses; nothing was changed.
    pub async fn preflight(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        for c in &mut self.list {
            c.preflight(cx).await?;
        }
        Ok(())
    }

    /// Stage every part, then commit every part. On error the caller unwinds.
    ///
    /// # Errors
    /// The part's error, with that part already back as it was.
    pub async fn apply(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        for (c, m) in self.list.iter_mut().zip(&mut self.marks) {
            c.stage(cx).await?;
            *m = Mark::Staged;
        }
        for (c, m) in self.list.iter_mut().zip(&mut self.marks) {
            c.commit(cx).await?;
            *m = Mark::Committed;
        }
        Ok(())
    }

    /// Undo in reverse order what was staged or committed. The error keeps its cause; when
    /// something could not be undone it becomes `RollbackIncomplete`, saying what is left
    /// where, whether or not a cancel came first.
    pub async fn unwind(&mut self, cx: &mut Cx<'_>, cause: Error) -> Error {
        let mut left = Vec::new();
        let (message, cause) = match cause {
            Error::RollbackIncomplete { message, left: l } => {
                left.push(l);
                (message, None)
            }
            e => (e.to_string(), Some(e)),
        };
        if let Err(u) = cx.at(Step::RollingBack) {
            cx.progress
                .warn(format!("{u}; the undo goes on without it"));
        }
        for (c, m) in self.list.iter_mut().zip(&mut self.marks).rev() {
            let undone = match *m {
                Mark::Untouched => Ok(()),
                Mark::Staged => c.discard(cx).await,
                Mark::Committed => c.rollback(cx).await,
            };
            match undone {
                Ok(()) => *m = Mark::Untouched,
                Err(l) => left.push(l),
            }
        }
        cx.log(
            "rollback-done",
            if left.is_empty() { "ok" } else { "incomplete" },
        );
        match cause {
            Some(e) if left.is_empty() => e,
            _ => Error::RollbackIncomplete {
                message,
                left: left.join("; "),
            },
        }
    }

    /// Everything is in place: drop what was kept for an undo.
    pub async fn release(&mut self, cx: &mut Cx<'_>) {
        for c in &mut self.list {
            c.release(cx).await;
        }
    }

    pub fn report(&self) -> Report {
        let mut r = Report::default();
        for c in &self.list {
            c.report(&mut r);
        }
        r
    }
}

//! The parts of a module's data — indices, objects, database, secrets — each behind one
//! protocol, and the one sequence that restores them all: preflight every part, stage every
//! part beside the live data, commit them in order, then release them, or undo in reverse
//! through one compensation stack. A part knows nothing of the sequence and the sequence knows
//! no store, so a new kind of store is one new file here.

mod database;
mod indices;
mod objects;
mod secrets;

use std::path::Path;

use async_trait::async_trait;

use super::state::{Durable, Step};
use crate::archive::Verified;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::progress::{Cancel, Progress};

pub use database::Database;
pub use indices::Indices;
pub use objects::Objects;
pub use secrets::Secrets;

/// What is left where after an undo that did not finish, for `Error::RollbackIncomplete`.
pub type Left = String;

/// One part of a module's data, as a restore sees it.
#[async_trait]
pub trait Component: Send + Sync {
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
        let marks = vec![Mark::Untouched; list.len()];
        Self { list, marks }
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

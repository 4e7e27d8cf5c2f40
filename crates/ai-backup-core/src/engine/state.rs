//! The durable state of a restore in progress. Before each step that changes live data the
//! restore writes what it is about to do and what undoing it needs to a state file beside the
//! locks, flushed to disk and renamed into place; it is removed when the restore has ended
//! either way. A state file left behind means the process died midway: `ai-backup recover`
//! reads it, and every other job on the module refuses to start until that has run.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::BucketPrefix;
use crate::error::{Error, Result};

/// Where a restore was when it last wrote its state, in the order a restore goes through
/// them: every step before `IndicesReplacing` leaves the live data untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The archive is read once: verified while its dump loads into the staging database. The
    /// apps run. Live data untouched.
    Loading,
    /// The apps are being stopped. Live data untouched.
    Staging,
    /// Live indices are being cloned aside. Live data untouched.
    IndicesHolding,
    /// Live objects are being copied aside. Live data untouched.
    ObjectsHolding,
    /// Live indices held; they are being deleted and the archived ones loaded.
    IndicesReplacing,
    /// Live objects held; they are being deleted and the archived ones loaded.
    ObjectsReplacing,
    /// The staged database is being swapped in.
    Swapping,
    /// Swapped: secrets, apps, health. The new data is in place in every store.
    Swapped,
    /// After the swap, something failed: the previous data is being put back.
    RollingBack,
}

/// Indices held aside: (live name, hold name, its aliases), and the archived indices loaded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeldIndices {
    pub held: Vec<(String, String, serde_json::Value)>,
    pub restored: Vec<String>,
}

/// Objects held aside under the hold bucket's `<module>/` prefix: the scope the restore may
/// write to and the buckets it created.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeldObjects {
    pub scope: Vec<BucketPrefix>,
    pub created: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreState {
    pub module: String,
    pub archive: PathBuf,
    pub pid: u32,
    pub started_at: String,
    pub step: Step,
    /// The apps the restore stopped (started again by recovery, and only those).
    pub apps_stopped: Vec<String>,
    pub database: String,
    pub staged: String,
    pub old: String,
    /// Indices to clone aside (set before holding starts), then what was held.
    pub index_targets: Vec<String>,
    pub indices: Option<HeldIndices>,
    pub objects: Option<HeldObjects>,
    /// Whether the archived secrets are to be put in place (a roll forward does it again).
    pub restore_secrets: bool,
    /// What the swap did, once it is done.
    pub swap: Option<crate::store::Swapped>,
    /// Set by a recovery once the held objects are back (it then only drops the copies).
    #[serde(default)]
    pub objects_put_back: bool,
}

/// `<local data dir>/ai-backup/state`.
pub fn default_dir() -> PathBuf {
    crate::lock::default_dir()
        .parent()
        .map(|p| p.join("state"))
        .unwrap_or_else(|| PathBuf::from("state"))
}

fn path(dir: &Path, module: &str) -> PathBuf {
    dir.join(format!("{module}.restore.json"))
}

impl RestoreState {
    /// Write the state durably: a new file flushed to disk, then renamed over the old one.
    ///
    /// # Errors
    /// When the file cannot be written; the restore must not go on without it.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |e| {
            Error::io(
                format!("cannot write the restore state in {}", dir.display()),
                e,
            )
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let target = path(dir, &self.module);
        let tmp = target.with_extension("json.new");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&serde_json::to_vec_pretty(self).expect("state serialises"))
            .and_then(|()| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &target).map_err(io)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Move to `step` and save.
    ///
    /// # Errors
    /// As [`RestoreState::save`].
    pub fn at(&mut self, step: Step, dir: &Path) -> Result<()> {
        self.step = step;
        self.save(dir)
    }

    /// The state left by an interrupted restore of `module`, if any.
    ///
    /// # Errors
    /// When a state file exists but cannot be read: recovery needs it, so this is not ignored.
    pub fn load(dir: &Path, module: &str) -> Result<Option<Self>> {
        let p = path(dir, module);
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::Usage(format!(
                    "the restore state {} is unreadable: {e}",
                    p.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("cannot read {}", p.display()), e)),
        }
    }

    /// Remove the state: the restore has ended (or been recovered).
    pub fn clear(dir: &Path, module: &str) {
        let _ = std::fs::remove_file(path(dir, module));
    }
}

/// Refuse to start a job on `module` while an interrupted restore of it awaits recovery.
///
/// # Errors
/// `Error::Usage` naming the command to run.
pub fn refuse_if_interrupted(dir: &Path, module: &str) -> Result<()> {
    match RestoreState::load(dir, module)? {
        None => Ok(()),
        Some(s) => {
            let mut held = Vec::new();
            if s.objects.is_some() && !s.objects_put_back {
                held.push(format!(
                    "the previous objects are held in bucket {} under {module}/",
                    super::objects::HOLD_BUCKET
                ));
            }
            if let Some(i) = &s.indices {
                let names: Vec<&str> = i.held.iter().map(|(_, h, _)| h.as_str()).collect();
                if !names.is_empty() {
                    held.push(format!(
                        "the previous indices are held as {}",
                        names.join(", ")
                    ));
                }
            }
            Err(Error::Usage(format!(
                "a restore of {module} from {} (process {}, started {}) did not end at step {:?}: the module may be between its previous and its restored data{}{}. Run `ai-backup recover {module}` first. Nothing was changed",
                s.archive.display(),
                s.pid,
                s.started_at,
                s.step,
                if held.is_empty() { "" } else { "; " },
                held.join("; ")
            )))
        }
    }
}

/// A restore's state and where it is kept, for the steps that advance it. The file is removed
/// by `done` when the restore ends with every store consistent; a process that dies, a
/// rollback that could not finish or a panic leave it for `ai-backup recover`.
pub struct Durable<'a> {
    pub st: RestoreState,
    pub dir: &'a Path,
}

impl Durable<'_> {
    /// Write the state as it is now.
    ///
    /// # Errors
    /// As [`RestoreState::save`].
    pub fn save(&self) -> Result<()> {
        self.st.save(self.dir)
    }

    /// Record that `step` begins (flushed to disk before it changes anything).
    ///
    /// # Errors
    /// As [`RestoreState::save`].
    pub fn at(&mut self, step: Step) -> Result<()> {
        self.st.at(step, self.dir)?;
        pause_for_tests(step);
        Ok(())
    }
}

/// Tests of process death stop a restore at a named step boundary (`AI_BACKUP_TEST_PAUSE_AT`,
/// e.g. `objects-replacing`) and kill it there: the state is on disk, nothing of the step done.
fn pause_for_tests(step: Step) {
    if let Some(name) = serde_json::to_value(step)
        .ok()
        .as_ref()
        .and_then(|v| v.as_str())
    {
        pause_at(name);
    }
}

/// A named point inside a step where such a test may stop the restore (e.g. between the parts
/// of a swap).
pub(crate) fn pause_at(name: &str) {
    if std::env::var("AI_BACKUP_TEST_PAUSE_AT").is_ok_and(|at| at == name) {
        eprintln!("paused at {name} for a test");
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

impl Durable<'_> {
    /// The restore ended with every store consistent (done, or fully undone).
    pub fn done(self) {
        RestoreState::clear(self.dir, &self.st.module);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_is_read_back_and_blocks_other_jobs_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RestoreState::load(dir.path(), "dify").unwrap().is_none());
        refuse_if_interrupted(dir.path(), "dify").unwrap();
        let mut s = RestoreState {
            module: "dify".into(),
            archive: "/x/dify-backup.tar.gz".into(),
            pid: 7,
            started_at: "now".into(),
            step: Step::Staging,
            apps_stopped: vec!["ai-server-dify-api".into()],
            database: "dify_db".into(),
            staged: "dify_db__ab_new".into(),
            old: "dify_db__ab_old".into(),
            index_targets: vec![],
            indices: None,
            objects: None,
            restore_secrets: false,
            swap: None,
            objects_put_back: false,
        };
        s.save(dir.path()).unwrap();
        s.at(Step::ObjectsReplacing, dir.path()).unwrap();
        let back = RestoreState::load(dir.path(), "dify").unwrap().unwrap();
        assert_eq!(back.step, Step::ObjectsReplacing);
        assert_eq!(back.apps_stopped, s.apps_stopped);
        let said = refuse_if_interrupted(dir.path(), "dify")
            .unwrap_err()
            .to_string();
        assert!(said.contains("ai-backup recover dify"), "{said}");
        refuse_if_interrupted(dir.path(), "n8n").unwrap();
        RestoreState::clear(dir.path(), "dify");
        refuse_if_interrupted(dir.path(), "dify").unwrap();
    }
}

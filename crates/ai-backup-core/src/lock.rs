//! One job per module at a time, across processes: a backup or a restore holds its module's
//! lock file for its whole run, so the CLI, the page and the desktop app never run two jobs on
//! one module at once. The operating system drops the lock when the process ends, however it
//! ends, so a killed job never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Held while a job runs; dropping it releases the module.
#[derive(Debug)]
pub struct ModuleLock {
    _file: File,
}

/// Where the lock files live: `<local data dir>/ai-backup/locks` (`%LOCALAPPDATA%` on Windows).
pub fn default_dir() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ai-backup")
        .join("locks")
}

/// Take `module`'s lock for a job of `kind` ("backup", "restore"), or refuse at once.
///
/// # Errors
/// `Error::Busy` when another job holds it (with what it is and since when, where the system
/// lets us read that); `Error::Io` when the lock file cannot be created.
pub fn acquire(dir: &Path, module: &str, kind: &str) -> Result<ModuleLock> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let path = dir.join(format!("{module}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(Error::Busy {
                module: module.to_string(),
                holder: holder(&path),
            })
        }
        Err(TryLockError::Error(e)) => {
            return Err(Error::io(format!("cannot lock {}", path.display()), e))
        }
    }
    let note = format!(
        "{kind} by process {} since {}",
        std::process::id(),
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
    );
    // Best effort: the note only makes the refusal of another job more helpful.
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(note.as_bytes()));
    Ok(ModuleLock { _file: file })
}

/// What the holder wrote, when readable (Windows forbids reading a locked file).
fn holder(path: &Path) -> String {
    let mut note = String::new();
    match File::open(path).and_then(|mut f| f.read_to_string(&mut note)) {
        Ok(_) if !note.trim().is_empty() => format!(" ({})", note.trim()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_job_on_a_module_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "n8n", "backup").unwrap();
        let other = acquire(dir.path(), "dify", "restore").expect("other modules are free");
        match acquire(dir.path(), "n8n", "restore") {
            Err(e @ Error::Busy { .. }) => {
                let said = e.to_string();
                assert!(
                    said.contains("n8n") && said.contains("backup by process"),
                    "{said}"
                );
                assert!(e.is_bad_input(), "refused: nothing was changed");
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        acquire(dir.path(), "n8n", "restore").expect("free again once the first ended");
        drop(other);
    }
}

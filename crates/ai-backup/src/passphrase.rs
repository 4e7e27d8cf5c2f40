//! Where the passphrase of an encrypted archive comes from: `--passphrase-file`, else the
//! environment variable `AI_BACKUP_PASSPHRASE` (read once at start and removed, so no child
//! process inherits it), else a prompt on the terminal without echo (twice for a backup).
//! Never an argument, never printed; it lives in memory only, zeroed when dropped.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use ai_backup_core::archive::{self, ArchiveKey, Passphrase};
use ai_backup_core::engine::state::{self, RestoreState};
use ai_backup_core::Error;

/// The environment variable a caller (a script, the desktop app) passes the passphrase in.
pub const ENV_VAR: &str = "AI_BACKUP_PASSPHRASE";

/// The sources of a passphrase for this run.
pub struct Sources {
    pub file: Option<PathBuf>,
    /// The environment variable's value, taken at start.
    pub env: Option<Passphrase>,
    /// A terminal may be asked (not with `--json` or `--cancel-on-stdin`).
    pub may_prompt: bool,
}

impl Sources {
    /// Take `AI_BACKUP_PASSPHRASE` out of the environment. Call before any thread starts.
    pub fn take_env() -> Option<Passphrase> {
        let value = std::env::var(ENV_VAR).ok();
        if value.is_some() {
            std::env::remove_var(ENV_VAR);
        }
        value.and_then(|v| Passphrase::new(v).ok())
    }

    /// The passphrase to encrypt a new archive with.
    ///
    /// # Errors
    /// `Error::Usage` when there is none to be had, or the two typed ones differ.
    pub fn for_backup(&self) -> Result<ArchiveKey, Error> {
        if let Some(p) = self.given()? {
            return Ok(p.into());
        }
        let first = self.prompt("Passphrase to encrypt the archive with: ", None)?;
        let again = self.prompt("The same passphrase again: ", None)?;
        if !first.matches(&again) {
            return Err(Error::Usage(
                "the two passphrases differ; nothing was backed up".into(),
            ));
        }
        Ok(first.into())
    }

    /// The passphrase of `archive` when it is encrypted; none for a plain (or missing) one.
    ///
    /// # Errors
    /// `Error::Usage` when it is encrypted and there is no passphrase to be had.
    pub async fn for_archive(&self, archive: &Path) -> Result<ArchiveKey, Error> {
        if !archive::is_encrypted(archive).await.unwrap_or(false) {
            return Ok(ArchiveKey::NONE);
        }
        if let Some(p) = self.given()? {
            return Ok(p.into());
        }
        let prompt = format!("Passphrase of {}: ", archive.display());
        Ok(self.prompt(&prompt, Some(archive))?.into())
    }

    /// For `recover`: the passphrase of an interrupted restore's encrypted archive when it was
    /// to put the archived secrets in place; none otherwise, or when none can be had (recover
    /// then says to put the secrets in place by hand).
    pub async fn for_recover(&self, modules: &[String]) -> ArchiveKey {
        let dir = state::default_dir();
        for m in modules {
            let Ok(Some(st)) = RestoreState::load(&dir, m) else {
                continue;
            };
            if st.restore_secrets && archive::is_encrypted(&st.archive).await.unwrap_or(false) {
                return self
                    .for_archive(&st.archive)
                    .await
                    .unwrap_or(ArchiveKey::NONE);
            }
        }
        ArchiveKey::NONE
    }

    /// The passphrase of the file or the environment, if either is given.
    fn given(&self) -> Result<Option<Passphrase>, Error> {
        if let Some(path) = &self.file {
            return read_file(path).map(Some);
        }
        Ok(self.env.clone())
    }

    fn prompt(&self, prompt: &str, archive: Option<&Path>) -> Result<Passphrase, Error> {
        if !self.may_prompt || !std::io::stdin().is_terminal() {
            let what = archive.map_or("--encrypt".to_string(), |a| {
                format!("archive {} is encrypted", a.display())
            });
            return Err(Error::Usage(format!(
                "{what}: give the passphrase with --passphrase-file FILE or {ENV_VAR} (or run on a terminal to be asked)"
            )));
        }
        let text = tokio::task::block_in_place(|| rpassword::prompt_password(prompt))
            .map_err(|e| Error::io("reading the passphrase", e))?;
        Passphrase::new(text)
    }
}

/// The file's content without one trailing line break.
fn read_file(path: &Path) -> Result<Passphrase, Error> {
    let mut text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the passphrase file {}: {e}",
            path.display()
        ))
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Passphrase::new(text)
}

//! The archives of a backup folder, each read from its first entry only (`metadata.json`):
//! what the page lists to restore from, and each module's last backup, without reading whole
//! archives. Listing proves nothing; a restore verifies the whole archive first. An encrypted
//! archive (`*.tar.gz.age`) cannot be read without its passphrase: it is listed as encrypted,
//! with its size and date from the file, and the module its name gives.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{self, ArchiveKey};
use crate::error::{Error, Result};

/// One `*.tar.gz` or `*.tar.gz.age` of the folder: what its metadata says, or why it could not
/// be read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveInfo {
    pub path: PathBuf,
    pub file_name: String,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub components: Vec<String>,
    /// Encrypted with a passphrase: its metadata is unread, `module` comes from its name.
    pub encrypted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The folder the page offers by default: `<Documents>/ai-backup`, else `<home>/ai-backup`.
pub fn default_dir() -> PathBuf {
    dirs::document_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("ai-backup")
}

/// Every archive in `dir` (not its subfolders), newest first. A missing folder has none.
///
/// # Errors
/// `Error::Io` when the folder exists but cannot be read.
pub async fn list(dir: &Path) -> Result<Vec<ArchiveInfo>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("cannot read {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    while let Some(e) = entries
        .next_entry()
        .await
        .map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = e.metadata().await.ok();
        let listed = crate::archive::is_archive_name(&name);
        match meta {
            Some(m) if listed && m.is_file() => out.push(describe(e.path(), name, &m).await),
            _ => {}
        }
    }
    out.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then(b.file_name.cmp(&a.file_name))
    });
    Ok(out)
}

async fn describe(path: PathBuf, file_name: String, file: &std::fs::Metadata) -> ArchiveInfo {
    let mut info = ArchiveInfo {
        path,
        file_name,
        bytes: file.len(),
        module: None,
        created_at: None,
        summary: None,
        components: Vec::new(),
        encrypted: false,
        error: None,
    };
    if archive::is_encrypted(&info.path).await.unwrap_or(false) {
        info.encrypted = true;
        info.module = module_of(&info.file_name);
        info.created_at = file.modified().ok().map(|t| {
            let t: chrono::DateTime<chrono::Utc> = t.into();
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        info.summary = Some("encrypted".into());
        return info;
    }
    match archive::read_metadata(&info.path, &ArchiveKey::NONE).await {
        Ok(m) => {
            info.summary = Some(m.contents());
            info.module = Some(m.module_id);
            info.created_at = Some(m.created_at.to_string());
            info.components = m.components;
        }
        Err(e) => info.error = Some(e.to_string()),
    }
    info
}

/// The module a default archive name gives: `<module>-backup-…`.
fn module_of(file_name: &str) -> Option<String> {
    let (module, _) = file_name.split_once("-backup-")?;
    (!module.is_empty()).then(|| module.to_string())
}

/// The newest readable archive of `module` in a listing.
pub fn last_backup<'a>(list: &'a [ArchiveInfo], module: &str) -> Option<&'a ArchiveInfo> {
    list.iter()
        .find(|a| a.module.as_deref() == Some(module) && a.error.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn encrypted_archives_are_listed_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let age = dir.path().join("n8n-backup-20251130-023000.tar.gz.age");
        std::fs::write(&age, b"age-encryption.org/v1\n-> scrypt x 18\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not listed").unwrap();
        std::fs::write(dir.path().join("x.tar.gz"), b"not gzip").unwrap();
        let list = list(dir.path()).await.unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        let enc = list.iter().find(|a| a.encrypted).expect("the .age file");
        assert_eq!(enc.module.as_deref(), Some("n8n"));
        assert_eq!(enc.summary.as_deref(), Some("encrypted"));
        assert!(enc.created_at.is_some() && enc.error.is_none());
        assert_eq!(enc.bytes, std::fs::metadata(&age).unwrap().len());
        let plain = list.iter().find(|a| !a.encrypted).unwrap();
        assert!(plain.error.is_some());
        assert_eq!(last_backup(&list, "n8n").map(|a| a.encrypted), Some(true));
    }
}

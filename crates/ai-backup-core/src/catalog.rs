//! The archives of a backup folder, each read from its first entry only (`metadata.json`):
//! what the page lists to restore from, and each module's last backup, without reading whole
//! archives. Listing proves nothing; a restore verifies the whole archive first.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive;
use crate::error::{Error, Result};

/// One `*.tar.gz` of the folder: what its metadata says, or why it could not be read.
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
        if !name.ends_with(".tar.gz") || !meta.as_ref().is_some_and(|m| m.is_file()) {
            continue;
        }
        out.push(describe(e.path(), name, meta.map_or(0, |m| m.len())).await);
    }
    out.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then(b.file_name.cmp(&a.file_name))
    });
    Ok(out)
}

async fn describe(path: PathBuf, file_name: String, bytes: u64) -> ArchiveInfo {
    let mut info = ArchiveInfo {
        path,
        file_name,
        bytes,
        module: None,
        created_at: None,
        summary: None,
        components: Vec::new(),
        error: None,
    };
    match archive::read_metadata(&info.path).await {
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

/// The newest readable archive of `module` in a listing.
pub fn last_backup<'a>(list: &'a [ArchiveInfo], module: &str) -> Option<&'a ArchiveInfo> {
    list.iter()
        .find(|a| a.module.as_deref() == Some(module) && a.error.is_none())
}

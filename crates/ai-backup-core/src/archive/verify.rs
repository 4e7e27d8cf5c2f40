//! Proves an archive whole before anything trusts it: ours, of a known format version, every
//! entry present with the size and SHA-256 the manifest recorded, nothing extra, the gzip
//! stream intact to its last byte.

use std::collections::HashSet;
use std::path::Path;

use super::metadata::{Manifest, Metadata, FORMAT_NAME};
use super::reader::ArchiveReader;
use super::{FORMAT_VERSION, MANIFEST_ENTRY, METADATA_ENTRY};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};

/// A verified archive's description.
#[derive(Debug, Clone)]
pub struct Verified {
    pub metadata: Metadata,
    pub manifest: Manifest,
    /// Content of the small entries kept in memory, by entry path: `secrets/` (never printed),
    /// the objects index, the index definitions.
    pub secrets: std::collections::BTreeMap<String, Vec<u8>>,
}

const META_LIMIT: u64 = 16 << 20;
/// Entries under this directory hold secrets.
pub const SECRETS_DIR: &str = "secrets/";

/// Only the first entry, `metadata.json`: what the archive says it holds, unverified (for
/// listings; a restore always verifies the whole archive).
///
/// # Errors
/// `Error::ArchiveRefused` when it is not readable as one of our archives.
pub async fn read_metadata(path: &Path) -> Result<Metadata> {
    let mut r = ArchiveReader::open(path).await?;
    match r.next_entry().await? {
        Some(h) if h.path == METADATA_ENTRY => {}
        _ => return Err(r.refused("it is not an ai-backup archive")),
    }
    let bytes = r.read_entry(META_LIMIT).await?;
    parse_metadata(&bytes).map_err(|reason| r.refused(reason))
}

/// Read `path` whole and check it.
///
/// # Errors
/// `Error::ArchiveRefused` saying why: not ours, newer format, truncated, corrupt, tampered.
pub async fn verify(path: &Path, progress: &Progress, cancel: &Cancel) -> Result<Verified> {
    let refused = |reason: String| Error::ArchiveRefused {
        path: path.to_path_buf(),
        reason,
    };
    let total = match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Err(Error::Usage(format!("{} is not a file", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Usage(format!(
                "archive {} does not exist",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io(format!("cannot open {}", path.display()), e)),
    };
    progress.phase("verify", Some(total));
    let mut r = ArchiveReader::open(path).await?;
    let first = r
        .next_entry()
        .await?
        .ok_or_else(|| refused("it is empty".into()))?;
    if first.path != METADATA_ENTRY {
        return Err(refused(format!(
            "it is not an ai-backup archive (first entry is {}, not {METADATA_ENTRY})",
            first.path
        )));
    }
    let (meta_bytes, meta_sha) = r.read_entry_hashed(META_LIMIT).await?;
    let metadata = parse_metadata(&meta_bytes).map_err(refused)?;

    let mut seen = vec![(
        METADATA_ENTRY.to_string(),
        meta_bytes.len() as u64,
        meta_sha,
    )];
    let mut manifest: Option<Manifest> = None;
    let mut done = 0u64;
    let mut secrets = std::collections::BTreeMap::new();
    while let Some(h) = r.next_entry().await? {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if manifest.is_some() {
            return Err(refused(format!("entry {} follows the manifest", h.path)));
        }
        if h.path == MANIFEST_ENTRY {
            let bytes = r.read_entry(META_LIMIT).await?;
            manifest = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| refused(format!("its manifest is unreadable ({e})")))?,
            );
            continue;
        }
        let (sha, size) = if h.path.starts_with(SECRETS_DIR)
            || h.path == super::OBJECT_INDEX_ENTRY
            || h.path.ends_with("/definition.json")
        {
            let (bytes, sha) = r.read_entry_hashed(META_LIMIT * 16).await?;
            let n = bytes.len() as u64;
            secrets.insert(h.path.clone(), bytes);
            (sha, n)
        } else {
            r.copy_entry(&mut tokio::io::sink()).await?
        };
        done += size;
        progress.bytes("verify", done);
        seen.push((h.path, size, sha));
    }
    let manifest =
        manifest.ok_or_else(|| refused("it is truncated (no manifest at the end)".into()))?;
    if manifest.entries.len() != seen.len() {
        return Err(refused(format!(
            "the manifest lists {} entries but the archive holds {}",
            manifest.entries.len(),
            seen.len()
        )));
    }
    let mut names = HashSet::new();
    for (m, (path, size, sha)) in manifest.entries.iter().zip(&seen) {
        if &m.path != path {
            return Err(refused(format!(
                "entry {path} is not where the manifest says"
            )));
        }
        if !names.insert(path.as_str()) {
            return Err(refused(format!("entry {path} appears twice")));
        }
        if m.size != *size || &m.sha256 != sha {
            return Err(refused(format!(
                "entry {path} is corrupt (checksum mismatch)"
            )));
        }
    }
    let has_dump = manifest
        .entries
        .iter()
        .any(|e| super::is_part_of(&e.path, &metadata.db.entry));
    if !has_dump {
        return Err(refused(format!(
            "it holds no database dump ({})",
            metadata.db.entry
        )));
    }
    Ok(Verified {
        metadata,
        manifest,
        secrets,
    })
}

/// Parse `metadata.json`, refusing foreign archives and newer format versions.
pub(crate) fn parse_metadata(bytes: &[u8]) -> std::result::Result<Metadata, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("its metadata.json is not JSON ({e})"))?;
    if value.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
        return Err(
            "it is not an ai-backup archive (metadata.json has no \"format\": \"ai-backup\")"
                .into(),
        );
    }
    let version = value
        .get("formatVersion")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    if version > u64::from(FORMAT_VERSION) {
        return Err(format!(
            "it was written in format version {version}, newer than this ai-backup understands ({FORMAT_VERSION}); upgrade ai-backup"
        ));
    }
    if version == 0 {
        return Err("its metadata.json has no formatVersion".into());
    }
    serde_json::from_value(value).map_err(|e| format!("its metadata.json is incomplete ({e})"))
}

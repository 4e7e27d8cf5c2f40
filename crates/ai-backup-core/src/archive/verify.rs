//! Proves an archive whole before anything trusts it: ours, of a known format version, every
//! entry present with the size and SHA-256 the manifest recorded, nothing extra, the gzip
//! stream intact to its last byte. An encrypted archive is decrypted as it is read, and
//! authenticated to its last byte as well.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::crypt::ArchiveKey;
use super::metadata::{Manifest, ManifestEntry, Metadata, FORMAT_NAME};
use super::reader::{ArchiveReader, EntryHeader};
use super::rules::{self, MAX_KEPT_BYTES, MAX_MANIFEST, MAX_OBJECT_INDEX, MAX_SMALL_ENTRY};
use super::{FORMAT_VERSION, MANIFEST_ENTRY, METADATA_ENTRY, OBJECT_INDEX_ENTRY};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};

/// A verified archive's description.
#[derive(Debug, Clone)]
pub struct Verified {
    pub metadata: Metadata,
    pub manifest: Manifest,
    /// Content of the small entries kept in memory, by entry path: `secrets/` (never printed),
    /// the objects index, the index definitions.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// What the archive was read with; every later read of it uses the same.
    pub key: ArchiveKey,
    /// Time spent computing the entries' checksums: verification's own cost beyond the read.
    pub hashing: std::time::Duration,
}

/// Entries under this directory hold secrets.
pub const SECRETS_DIR: &str = "secrets/";

/// Only the first entry, `metadata.json`: what the archive says it holds, unverified (for
/// listings; a restore always verifies the whole archive).
///
/// # Errors
/// `Error::Usage` when it is missing or not a file, `Error::ArchiveRefused` when it is not
/// readable as one of our archives.
pub async fn read_metadata(path: &Path, key: &ArchiveKey) -> Result<Metadata> {
    archive_size(path).await?;
    let mut r = ArchiveReader::open(path, key).await?;
    match r.next_entry().await? {
        Some(h) if h.path == METADATA_ENTRY => {}
        _ => return Err(r.refused("it is not an ai-backup archive")),
    }
    let bytes = r.read_entry(MAX_SMALL_ENTRY).await?;
    parse_metadata(&bytes).map_err(|reason| r.refused(reason))
}

/// Read `path` whole and check it. Memory stays within the limits of `rules` whatever the
/// archive holds: the entries are compared with the manifest through one running digest, and
/// only the entries kept in `Verified::secrets` are held, within their budget.
///
/// # Errors
/// `Error::ArchiveRefused` saying why: not ours, newer format, truncated, corrupt, tampered,
/// an entry or a size beyond the limits.
pub async fn verify(
    path: &Path,
    key: &ArchiveKey,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Verified> {
    verify_feeding(path, key, None, progress, cancel).await
}

/// Where `verify_feeding` passes on the parts of one entry as it reads them (a restore's
/// database dump, for the staging database): their only read. Nothing passed on is trusted
/// until the whole archive is verified. An archive refused midway leaves `out` open: its owner
/// drops it to end the consumer's input.
pub struct Feed<'a> {
    /// The entry whose parts are passed on (`db/<name>.sql`).
    pub entry: &'a str,
    pub out: &'a mut (dyn AsyncWrite + Unpin + Send),
}

/// `verify`, passing the parts of `feed.entry` on to `feed.out` as they are read (phase
/// "load"), and closing it after the last one.
///
/// # Errors
/// As `verify`; an error passing data on is an I/O error.
pub async fn verify_feeding(
    path: &Path,
    key: &ArchiveKey,
    mut feed: Option<Feed<'_>>,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Verified> {
    let refused = |reason: String| Error::ArchiveRefused {
        path: path.to_path_buf(),
        reason,
    };
    let size = archive_size(path).await?;
    let phase = if feed.is_some() { "load" } else { "verify" };
    progress.phase(phase, Some(size));
    let mut r = ArchiveReader::open(path, key).await?;
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
    let (meta_bytes, meta_sha) = r.read_entry_hashed(MAX_SMALL_ENTRY).await?;
    let metadata = parse_metadata(&meta_bytes).map_err(refused)?;
    if metadata.compression != r.compression() {
        return Err(refused(format!(
            "its metadata says {} but it is {}-compressed",
            metadata.compression.name(),
            r.compression().name()
        )));
    }
    let mut seen = Tally::default();
    seen.add(METADATA_ENTRY, meta_bytes.len() as u64, &meta_sha);
    let mut manifest: Option<Manifest> = None;
    let mut done = 0u64;
    let mut kept = Kept::default();
    let mut fed_any = false;
    while let Some(h) = r.next_entry().await? {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if manifest.is_some() {
            return Err(refused(format!("entry {} follows the manifest", h.path)));
        }
        if h.path == MANIFEST_ENTRY {
            let bytes = r.read_entry(MAX_MANIFEST).await?;
            manifest = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| refused(format!("its manifest is unreadable ({e})")))?,
            );
            continue;
        }
        let fed = feed
            .as_ref()
            .is_some_and(|f| super::is_part_of(&h.path, f.entry));
        if fed {
            fed_any = true;
        } else if fed_any {
            close(&mut feed, progress, size).await?;
        }
        let (sha, n) = match (kept_limit(&h.path), feed.as_mut()) {
            (Some(limit), _) => kept.read(&mut r, &h, limit).await?,
            (None, Some(f)) if fed => r.copy_entry(f.out).await?,
            (None, _) => r.copy_entry(&mut tokio::io::sink()).await?,
        };
        done += n;
        progress.bytes(if fed { "load" } else { "verify" }, done);
        seen.add(&h.path, n, &sha);
    }
    close(&mut feed, progress, size).await?;
    let manifest =
        manifest.ok_or_else(|| refused("it is truncated (no manifest at the end)".into()))?;
    compare(path, key, &manifest, &seen, cancel)
        .await?
        .map_or(Ok(()), |reason| Err(refused(reason)))?;
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
    let index = kept.entries.get(OBJECT_INDEX_ENTRY).map(Vec::as_slice);
    let unaccounted = super::accounted::unaccounted(&metadata, &manifest, index);
    if !unaccounted.is_empty() {
        return Err(refused(format!(
            "it holds what its metadata does not describe: {}",
            unaccounted.join(", ")
        )));
    }
    Ok(Verified {
        metadata,
        manifest,
        secrets: kept.entries,
        key: key.clone(),
        hashing: r.hashing(),
    })
}

/// The fed entry has ended: close what it was passed on to, so its consumer finishes while the
/// rest of the archive is verified.
async fn close(feed: &mut Option<Feed<'_>>, progress: &Progress, size: u64) -> Result<()> {
    if let Some(f) = feed.take() {
        f.out
            .shutdown()
            .await
            .map_err(|e| Error::io("passing archive data on", e))?;
        progress.phase("verify", Some(size));
    }
    Ok(())
}

/// The archive's size, or why it cannot be read at all.
async fn archive_size(path: &Path) -> Result<u64> {
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => Ok(m.len()),
        Ok(_) => Err(Error::Usage(format!("{} is not a file", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Usage(format!(
            "archive {} does not exist",
            path.display()
        ))),
        Err(e) => Err(Error::io(format!("cannot open {}", path.display()), e)),
    }
}

/// The limit of an entry `verify` keeps in memory; `None` for the entries it only hashes.
fn kept_limit(path: &str) -> Option<u64> {
    if path == OBJECT_INDEX_ENTRY {
        Some(MAX_OBJECT_INDEX)
    } else if path.starts_with(SECRETS_DIR) || path.ends_with("/definition.json") {
        Some(MAX_SMALL_ENTRY)
    } else {
        None
    }
}

/// The entries kept in memory, and the bytes of the small ones together (the objects index
/// has a limit of its own, and there is only one).
#[derive(Default)]
struct Kept {
    entries: BTreeMap<String, Vec<u8>>,
    small: u64,
}

impl Kept {
    /// Read the current entry into memory; returns its SHA-256 (hex) and size.
    async fn read(
        &mut self,
        r: &mut ArchiveReader,
        h: &EntryHeader,
        limit: u64,
    ) -> Result<(String, u64)> {
        if h.path != OBJECT_INDEX_ENTRY && h.size <= limit {
            let total = self.small + h.size;
            if total > MAX_KEPT_BYTES {
                return Err(r.refused(format!(
                    "entry {} would bring the secrets and index definitions held in memory to {total} bytes, over the limit of {}",
                    h.path,
                    rules::size_text(MAX_KEPT_BYTES)
                )));
            }
            self.small = total;
        }
        let (bytes, sha) = r.read_entry_hashed(limit).await?;
        let size = bytes.len() as u64;
        self.entries.insert(h.path.clone(), bytes);
        Ok((sha, size))
    }
}

/// Every entry's path, size and SHA-256, in order, folded into one digest: comparing it with
/// the manifest's takes the same memory for ten entries or millions.
struct Tally {
    count: u64,
    digest: Sha256,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            count: 0,
            digest: Sha256::new(),
        }
    }
}

impl Tally {
    fn add(&mut self, path: &str, size: u64, sha: &str) {
        self.count += 1;
        for field in [path.as_bytes(), sha.as_bytes()] {
            self.digest.update((field.len() as u64).to_le_bytes());
            self.digest.update(field);
        }
        self.digest.update(size.to_le_bytes());
    }

    fn of(entries: &[ManifestEntry]) -> Self {
        let mut t = Self::default();
        for e in entries {
            t.add(&e.path, e.size, &e.sha256);
        }
        t
    }
}

/// Why the archive's entries differ from its manifest, if they do. Only when they differ is
/// the archive read a second time, beside the manifest, to name the first entry that differs.
async fn compare(
    path: &Path,
    key: &ArchiveKey,
    manifest: &Manifest,
    seen: &Tally,
    cancel: &Cancel,
) -> Result<Option<String>> {
    let listed = Tally::of(&manifest.entries);
    if listed.count != seen.count {
        return Ok(Some(format!(
            "the manifest lists {} entries but the archive holds {}",
            listed.count, seen.count
        )));
    }
    if listed.digest.finalize() == seen.digest.clone().finalize() {
        return Ok(None);
    }
    let mut r = ArchiveReader::open(path, key).await?;
    for m in &manifest.entries {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let Some(h) = r.next_entry().await? else {
            break;
        };
        if h.path != m.path {
            return Ok(Some(format!(
                "entry {} is not where the manifest says",
                h.path
            )));
        }
        let (sha, size) = r.copy_entry(&mut tokio::io::sink()).await?;
        if m.size != size || m.sha256 != sha {
            return Ok(Some(format!(
                "entry {} is corrupt (checksum mismatch)",
                h.path
            )));
        }
    }
    Ok(Some("it changed while it was being read".into()))
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

//! Writes an archive: under `<name>.partial`, readable by its owner only, renamed to its final
//! name only when complete. Dropped before `finish`, it removes the partial file, so a failed
//! or cancelled backup leaves nothing behind. The partial file is always a new file: one that
//! exists already (another backup's, or a symbolic link planted there) is refused and left
//! alone, so the archive's bytes never go anywhere else and it is private from the first byte.
//! Compression (and, with a passphrase, encryption) runs on its own thread (`pipe`), so
//! reading a store and compressing what it gave overlap.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::compression::{looks_incompressible, Compression};
use super::crypt::ArchiveKey;
use super::metadata::{Manifest, ManifestEntry, Metadata};
use super::pipe::Compressor;
use super::{part_name, tarfmt, DEFAULT_PART_SIZE, FORMAT_VERSION, MANIFEST_ENTRY, METADATA_ENTRY};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};

pub struct ArchiveWriter {
    out: Option<Compressor>,
    partial: PathBuf,
    target: PathBuf,
    manifest: Manifest,
    mtime: u64,
    part_size: usize,
    written: u64,
}

impl ArchiveWriter {
    /// Start an archive that will become `target`, beginning with `metadata`, compressed as
    /// the metadata says; encrypted when `key` holds a passphrase.
    ///
    /// # Errors
    /// When `target` exists already or the partial file cannot be created.
    pub async fn create(target: &Path, metadata: &Metadata, key: &ArchiveKey) -> Result<Self> {
        if target.exists() {
            return Err(Error::Usage(format!(
                "{} exists already; choose another name",
                target.display()
            )));
        }
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = create_partial(&partial).await?.into_std().await;
        let compression: Compression = metadata.compression;
        let mut w = Self {
            out: Some(Compressor::start(file, compression, key)),
            partial,
            target: target.to_path_buf(),
            manifest: Manifest {
                format_version: FORMAT_VERSION,
                entries: Vec::new(),
            },
            mtime: chrono::Utc::now().timestamp().max(0) as u64,
            part_size: DEFAULT_PART_SIZE,
            written: 0,
        };
        let json = serde_json::to_vec_pretty(metadata).expect("metadata serialises");
        w.add_bytes(METADATA_ENTRY, &json).await?;
        Ok(w)
    }

    /// Use smaller parts (tests).
    pub fn with_part_size(mut self, size: usize) -> Self {
        self.part_size = size.max(1);
        self
    }

    /// Compressed input bytes written so far (for progress).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(format!("writing {}", self.partial.display()), e)
    }

    /// Add one entry with known content.
    pub async fn add_bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let header =
            tarfmt::file_header(path, data.len() as u64, self.mtime).map_err(|e| self.io(e))?;
        let out = self.out.as_mut().expect("open");
        let r = async {
            out.incompressible(looks_incompressible(sample(data)))
                .await?;
            out.write(&header).await?;
            out.write(data).await?;
            out.write(&[0u8; tarfmt::BLOCK][..tarfmt::padding(data.len() as u64)])
                .await
        }
        .await;
        r.map_err(|e| self.io(e))?;
        self.written += data.len() as u64;
        self.manifest.entries.push(ManifestEntry {
            path: path.to_string(),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
        });
        Ok(())
    }

    /// Add an entry of known `size` read from `src` (an object whose size is listed). Fails if
    /// the source gives more or fewer bytes.
    pub async fn add_sized(
        &mut self,
        path: &str,
        size: u64,
        src: &mut (dyn AsyncRead + Unpin + Send),
        progress: &Progress,
        phase: &str,
    ) -> Result<()> {
        let header = tarfmt::file_header(path, size, self.mtime).map_err(|e| self.io(e))?;
        let mut hasher = Sha256::new();
        let mut left = size;
        let mut buf = vec![0u8; 256 << 10];
        let mut first = true;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = src.read(&mut buf[..want]).await.map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(Error::io(
                    format!("reading {path}"),
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{left} bytes short"),
                    ),
                ));
            }
            if std::mem::take(&mut first) {
                self.start_entry(&header, &buf[..n]).await?;
            }
            hasher.update(&buf[..n]);
            let out = self.out.as_mut().expect("open");
            let wrote = out.write(&buf[..n]).await;
            wrote.map_err(|e| self.io(e))?;
            left -= n as u64;
            self.written += n as u64;
            progress.bytes(phase, self.written);
        }
        if first {
            self.start_entry(&header, &[]).await?;
        }
        let pad = [0u8; tarfmt::BLOCK];
        self.out
            .as_mut()
            .expect("open")
            .write(&pad[..tarfmt::padding(size)])
            .await
            .map_err(|e| self.io(e))?;
        self.manifest.entries.push(ManifestEntry {
            path: path.to_string(),
            size,
            sha256: hex::encode(hasher.finalize()),
        });
        Ok(())
    }

    /// Write an entry's header, telling the compressor whether what follows (starting with
    /// `start`) looks incompressible.
    async fn start_entry(&mut self, header: &[u8], start: &[u8]) -> Result<()> {
        let out = self.out.as_mut().expect("open");
        let r = async {
            out.incompressible(looks_incompressible(sample(start)))
                .await?;
            out.write(header).await
        }
        .await;
        r.map_err(|e| self.io(e))
    }

    /// Add a stream of unknown length as parts `<prefix>.part-NNNN` of at most the part size.
    /// Returns (parts, bytes). Always writes at least one part, so an empty stream is visible.
    pub async fn add_stream(
        &mut self,
        prefix: &str,
        src: &mut (dyn AsyncRead + Unpin + Send),
        progress: &Progress,
        phase: &str,
        cancel: &Cancel,
    ) -> Result<(usize, u64)> {
        let mut buf = vec![0u8; self.part_size];
        let mut parts = 0;
        let mut total = 0u64;
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                let n = tokio::select! {
                    r = src.read(&mut buf[filled..]) => r.map_err(|e| self.io(e))?,
                    _ = cancel.cancelled() => return Err(Error::Cancelled),
                };
                if n == 0 {
                    break;
                }
                filled += n;
                progress.bytes(phase, total + filled as u64);
            }
            if filled == 0 && parts > 0 {
                break;
            }
            parts += 1;
            total += filled as u64;
            self.add_bytes(&part_name(prefix, parts), &buf[..filled])
                .await?;
            if filled < buf.len() {
                break;
            }
        }
        Ok((parts, total))
    }

    /// Write the manifest, close the compressed stream, flush to disk and rename to the final
    /// name.
    pub async fn finish(mut self) -> Result<(PathBuf, Manifest)> {
        // Compact: with an entry per object, the manifest can be most of what a backup holds.
        let json = serde_json::to_vec(&self.manifest).expect("manifest serialises");
        // The manifest lists every entry but itself.
        let header = tarfmt::file_header(MANIFEST_ENTRY, json.len() as u64, self.mtime)
            .map_err(|e| self.io(e))?;
        let mut out = self.out.take().expect("open");
        let r = async {
            out.write(&header).await?;
            out.write(&json).await?;
            out.write(&[0u8; tarfmt::BLOCK][..tarfmt::padding(json.len() as u64)])
                .await?;
            out.write(&[0u8; tarfmt::BLOCK * 2]).await?;
            out.finish().await
        }
        .await;
        r.map_err(|e| self.io(e))?;
        tokio::fs::rename(&self.partial, &self.target)
            .await
            .map_err(|e| Error::io(format!("renaming to {}", self.target.display()), e))?;
        self.partial = PathBuf::new();
        Ok((self.target.clone(), std::mem::take(&mut self.manifest)))
    }
}

/// The start of an entry, enough to tell whether it compresses.
fn sample(data: &[u8]) -> &[u8] {
    &data[..data.len().min(64 << 10)]
}

/// Create `partial` as a new file, mode 0600 from the start, never through a symbolic link.
async fn create_partial(partial: &Path) -> Result<tokio::fs::File> {
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    opts.open(partial).await.map_err(|e| {
        #[cfg(unix)]
        let is_link = e.raw_os_error() == Some(libc::ELOOP);
        #[cfg(not(unix))]
        let is_link = false;
        if e.kind() == std::io::ErrorKind::AlreadyExists || is_link {
            Error::Usage(format!(
                "{} exists already (a backup writing it now, one that was cut off, or \
                 something else); it was left as it is: remove it if no backup is running",
                partial.display()
            ))
        } else {
            Error::io(format!("cannot create {}", partial.display()), e)
        }
    })
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        if !self.partial.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

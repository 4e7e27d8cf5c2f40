//! Reads an archive entry by entry as a stream, hashing every entry as it goes, so a restore
//! can feed a dump straight from the file into a database tool without extracting anything.
//! Every header passes the rules of `rules` here, so every path that reads an archive refuses
//! links, devices, PAX headers, unsafe or repeated names and too many entries alike. An
//! encrypted archive (an age file, known by its first bytes) is decrypted here too, as it is
//! read, and gzip and zstd are told apart by their first bytes, so every reader of archives
//! reads them all alike. Decryption and decompression run on their own thread (`pipe`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::compression::Compression;
use super::crypt::{self, ArchiveKey};
use super::pipe::{self, Decompressed};

use super::rules::{self, Names, MAX_ENTRIES, MAX_NAME_BYTES};
use super::tarfmt::{self, Kind, Parsed, BLOCK};
use crate::error::{Error, Result};

/// One entry's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader {
    pub path: String,
    pub size: u64,
}

pub struct ArchiveReader {
    inner: Decompressed,
    path: PathBuf,
    compression: Compression,
    /// Bytes of the current entry not yet consumed, and its padding.
    remaining: u64,
    pad: usize,
    peeked: Option<EntryHeader>,
    done: bool,
    /// Names of the entries read so far, and the current one's (for messages).
    names: Names,
    current: String,
    max_entries: u64,
    /// Time spent computing checksums: what verifying costs beyond reading.
    hashing: Duration,
}

impl ArchiveReader {
    /// Open the archive at `path`; an encrypted one is decrypted with `key`'s passphrase.
    ///
    /// # Errors
    /// `Error::ArchiveRefused` for an encrypted archive without a passphrase, with a wrong
    /// one, or whose header was altered; `Error::Io` when the file cannot be read.
    pub async fn open(path: &Path, key: &ArchiveKey) -> Result<Self> {
        let (inner, _encrypted, compression) = pipe::open(path, key).await?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            compression,
            remaining: 0,
            pad: 0,
            peeked: None,
            done: false,
            names: Names::default(),
            current: String::new(),
            max_entries: MAX_ENTRIES,
            hashing: Duration::ZERO,
        })
    }

    /// The compression the archive's stream uses (told by its first bytes).
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Refuse beyond `n` entries instead of `MAX_ENTRIES` (tests).
    #[cfg(test)]
    pub(crate) fn with_max_entries(mut self, n: u64) -> Self {
        self.max_entries = n;
        self
    }

    pub(crate) fn refused(&self, reason: impl Into<String>) -> Error {
        Error::ArchiveRefused {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn read_err(&self, e: std::io::Error) -> Error {
        let why = match e.kind() {
            _ if crypt::is_altered(&e) => crypt::Altered.to_string(),
            std::io::ErrorKind::UnexpectedEof => "it is truncated".to_string(),
            _ => format!(
                "it is not a valid {}/tar archive ({e})",
                self.compression.name()
            ),
        };
        self.refused(why)
    }

    /// Look at the next entry without consuming it.
    pub async fn peek(&mut self) -> Result<Option<EntryHeader>> {
        if self.peeked.is_none() {
            self.peeked = self.read_header().await?;
        }
        Ok(self.peeked.clone())
    }

    /// The next entry's header; its content must be read (or is skipped) before the next call.
    pub async fn next_entry(&mut self) -> Result<Option<EntryHeader>> {
        if let Some(h) = self.peeked.take() {
            return Ok(Some(h));
        }
        self.read_header().await
    }

    async fn skip(&mut self, mut n: u64) -> Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        while n > 0 {
            let want = buf.len().min(n as usize);
            let got = self
                .inner
                .read(&mut buf[..want])
                .await
                .map_err(|e| self.read_err(e))?;
            if got == 0 {
                return Err(self.refused("it is truncated"));
            }
            n -= got as u64;
        }
        Ok(())
    }

    async fn read_header(&mut self) -> Result<Option<EntryHeader>> {
        if self.done {
            return Ok(None);
        }
        let leftover = self.remaining + self.pad as u64;
        self.skip(leftover).await?;
        self.remaining = 0;
        self.pad = 0;
        let mut long_name: Option<Vec<u8>> = None;
        loop {
            let mut block = [0u8; BLOCK];
            self.inner
                .read_exact(&mut block)
                .await
                .map_err(|e| self.read_err(e))?;
            let parsed = tarfmt::parse(&block)
                .map_err(|e| self.refused(format!("it is not a valid tar archive ({e})")))?;
            let Parsed::Entry { kind, name, size } = parsed else {
                if long_name.is_some() {
                    return Err(self.refused("it ends with a long-name entry naming nothing"));
                }
                self.read_to_end().await?;
                return Ok(None);
            };
            let name = match (kind, long_name.take()) {
                (Kind::LongName, Some(_)) => {
                    return Err(self.refused("it has two long-name entries in a row"))
                }
                (Kind::LongName, None) => {
                    long_name = Some(self.read_long_name(size).await?);
                    continue;
                }
                (_, long) => long.unwrap_or(name),
            };
            let path = self.accept(kind, name)?;
            if kind == Kind::Directory {
                if size > 0 {
                    return Err(self.refused(format!("directory entry {path} has content")));
                }
                continue;
            }
            self.remaining = size;
            self.pad = tarfmt::padding(size);
            self.current.clone_from(&path);
            return Ok(Some(EntryHeader { path, size }));
        }
    }

    /// At the end blocks: drain to the compressed stream's end so its checksum is checked
    /// (and an encrypted stream to its last chunk, so its end is authenticated too).
    async fn read_to_end(&mut self) -> Result<()> {
        self.done = true;
        tokio::io::copy(&mut self.inner, &mut tokio::io::sink())
            .await
            .map_err(|e| self.read_err(e))?;
        Ok(())
    }

    async fn read_long_name(&mut self, size: u64) -> Result<Vec<u8>> {
        if size > MAX_NAME_BYTES as u64 + 1 {
            return Err(self.refused(format!(
                "it has a long-name entry of {size} bytes (names are at most {MAX_NAME_BYTES})"
            )));
        }
        let mut name = vec![0u8; size as usize];
        self.inner
            .read_exact(&mut name)
            .await
            .map_err(|e| self.read_err(e))?;
        self.skip(tarfmt::padding(size) as u64).await?;
        while name.last() == Some(&0) {
            name.pop();
        }
        Ok(name)
    }

    /// The entry's name, once its kind, its name and the number of entries pass the rules.
    fn accept(&mut self, kind: Kind, name: Vec<u8>) -> Result<String> {
        let path = String::from_utf8(name).map_err(|e| {
            let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
            self.refused(format!("entry {shown:?} has a name that is not UTF-8"))
        })?;
        if let Kind::Refused(what) = kind {
            return Err(self.refused(format!(
                "entry {path:?} is {what}; an archive holds only files and directories"
            )));
        }
        if let Some(problem) = rules::name_problem(&path) {
            return Err(self.refused(format!("entry name {path:?} is refused: {problem}")));
        }
        if self.names.len() >= self.max_entries {
            return Err(self.refused(format!(
                "it holds more than {} entries (at {path:?})",
                self.max_entries
            )));
        }
        if !self.names.insert(&path) {
            return Err(self.refused(format!("entry {path} appears twice")));
        }
        Ok(path)
    }

    /// Time spent so far computing the entries' checksums.
    pub fn hashing(&self) -> Duration {
        self.hashing
    }

    /// Copy the rest of the current entry into `dst`; returns its SHA-256 (hex) and size.
    pub async fn copy_entry(
        &mut self,
        dst: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<(String, u64)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        while self.remaining > 0 {
            let want = buf.len().min(self.remaining as usize);
            let n = self
                .inner
                .read(&mut buf[..want])
                .await
                .map_err(|e| self.read_err(e))?;
            if n == 0 {
                return Err(self.refused("it is truncated"));
            }
            let t = Instant::now();
            hasher.update(&buf[..n]);
            self.hashing += t.elapsed();
            self.remaining -= n as u64;
            total += n as u64;
            dst.write_all(&buf[..n])
                .await
                .map_err(|e| Error::io("passing archive data on", e))?;
        }
        Ok((hex::encode(hasher.finalize()), total))
    }

    /// The current entry's content in memory (small entries only: metadata, secrets).
    pub async fn read_entry(&mut self, limit: u64) -> Result<Vec<u8>> {
        Ok(self.read_entry_hashed(limit).await?.0)
    }

    /// `read_entry`, with the SHA-256 of the bytes (hex) computed as they were read.
    pub async fn read_entry_hashed(&mut self, limit: u64) -> Result<(Vec<u8>, String)> {
        if self.remaining > limit {
            return Err(self.refused(format!(
                "entry {} is {} bytes, over the limit of {} for it",
                self.current,
                self.remaining,
                rules::size_text(limit)
            )));
        }
        let mut out = Vec::with_capacity(self.remaining as usize);
        let (sha, _) = self.copy_entry(&mut out).await?;
        Ok((out, sha))
    }

    /// A reader over the current entry only.
    pub fn entry_reader(&mut self) -> impl AsyncRead + Unpin + '_ {
        let n = self.remaining;
        self.remaining = 0;
        (&mut self.inner).take(n)
    }
}

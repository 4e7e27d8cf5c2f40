//! The archived objects put back into the object store: read once from the archive in its
//! order, each checked against the manifest as it is uploaded (so a second read of an archive
//! cannot differ from what was verified). Objects under the multipart threshold are read whole
//! and checked before their upload starts, then uploaded up to the store's `concurrency` at
//! once within `BUDGET` bytes, each in its own task (the archive is read on meanwhile) and
//! retried on a transient failure; large ones go multipart, several parts in flight. A
//! mismatch fails the upload, and the restore puts the held objects back.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::Future;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

use super::objects::{check, ensure_bucket, records, s3err};
use crate::archive::{self, ArchiveReader, ObjectRecord, ObjectsMeta, Verified};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::s3::{spawned, S3Client, S3Error, DEFAULT_MULTIPART_THRESHOLD};

/// Objects below this size are read whole into memory and uploaded from there.
const WHOLE: u64 = DEFAULT_MULTIPART_THRESHOLD;
/// Bytes of whole objects held for uploads in flight.
const BUDGET: u64 = 24 << 20;

/// Upload the archive's objects (buckets recreated when missing), then check counts and bytes.
/// The archive's entries, its manifest and its objects index are in one order (verified), so
/// they are walked side by side: nothing is looked up and no record is kept.
pub async fn load(
    s3: &S3Client,
    (path, verified): (&std::path::Path, &Verified),
    index: &[u8],
    meta: &ObjectsMeta,
    module: &str,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<()> {
    let total = meta
        .buckets
        .values()
        .fold(0u64, |t, c| t.saturating_add(c.bytes));
    progress.phase("objects-load", Some(total));
    for bucket in meta.bucket_names() {
        ensure_bucket(s3, &bucket, module, cancel).await?;
    }
    let mut reader = ArchiveReader::open(path, &verified.key).await?;
    let mut listed = verified.manifest.entries.iter();
    let mut records = records(index);
    let mut done = 0u64;
    let mut uploads = Uploads::new(s3.concurrency());
    while let Some(h) = reader.next_entry().await? {
        let want = match listed.next() {
            Some(m) if m.path == h.path => m.sha256.as_str(),
            None if h.path == archive::MANIFEST_ENTRY => break,
            _ => return Err(changed(&reader, &h.path)),
        };
        if !h.path.starts_with(archive::OBJECTS_DIR) {
            continue;
        }
        let rec = match records.next() {
            Some(Ok(r)) if archive::object_path(&r.bucket, &r.key) == h.path => r,
            _ => return Err(changed(&reader, &h.path)),
        };
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if h.size < WHOLE {
            uploads.make_room(h.size).await.map_err(s3err(module))?;
            let (data, sha) = reader.read_entry_hashed(WHOLE).await?;
            if sha != want {
                return Err(changed(&reader, &h.path));
            }
            uploads.push(h.size, put_whole(s3, rec, data.into(), cancel));
        } else {
            // Checked as its last byte is read, before the upload completes: a changed entry
            // never becomes a live object.
            let mut body = Hashing::new(reader.entry_reader(), want, h.size);
            let put = s3.put_object(&rec.bucket, &rec.key, h.size, &mut body, &rec.meta, cancel);
            let put = put.await;
            let mismatched = body.mismatched;
            drop(body);
            if mismatched {
                return Err(changed(&reader, &h.path));
            }
            put.map_err(s3err(module))?;
        }
        done += h.size;
        progress.bytes("objects-load", done);
    }
    if listed.next().is_some() || records.next().is_some() {
        return Err(reader.refused("it ended before the objects it was verified with".to_string()));
    }
    uploads.finish().await.map_err(s3err(module))?;
    check(s3, meta, module, cancel).await
}

/// Upload one object held in memory, in its own task.
fn put_whole(
    s3: &S3Client,
    rec: ObjectRecord,
    data: bytes::Bytes,
    cancel: &Cancel,
) -> impl Future<Output = std::result::Result<(), S3Error>> + Send {
    let (s3, cancel) = (s3.clone(), cancel.clone());
    spawned(async move {
        s3.put_object_bytes(&rec.bucket, &rec.key, data, &rec.meta, &cancel)
            .await
            .map(drop)
    })
}

/// Uploads in flight, bounded in number and in the bytes they hold.
struct Uploads {
    limit: usize,
    bytes: u64,
    running: FuturesUnordered<BoxFuture<'static, (u64, std::result::Result<(), S3Error>)>>,
}

impl Uploads {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            bytes: 0,
            running: FuturesUnordered::new(),
        }
    }

    /// Wait until one more upload of `size` bytes fits.
    async fn make_room(&mut self, size: u64) -> std::result::Result<(), S3Error> {
        while !self.running.is_empty()
            && (self.running.len() >= self.limit || self.bytes + size > BUDGET)
        {
            self.next().await?;
        }
        Ok(())
    }

    fn push(
        &mut self,
        size: u64,
        upload: impl Future<Output = std::result::Result<(), S3Error>> + Send + 'static,
    ) {
        self.bytes += size;
        self.running
            .push(Box::pin(async move { (size, upload.await) }));
    }

    async fn next(&mut self) -> std::result::Result<(), S3Error> {
        if let Some((size, r)) = self.running.next().await {
            self.bytes -= size;
            r?;
        }
        Ok(())
    }

    /// Wait for every upload; the first failure ends the wait (the rest are aborted).
    async fn finish(mut self) -> std::result::Result<(), S3Error> {
        while !self.running.is_empty() {
            self.next().await?;
        }
        Ok(())
    }
}

fn changed(reader: &ArchiveReader, path: &str) -> Error {
    reader.refused(format!("entry {path} changed since it was verified"))
}

/// A reader that hashes what passes through it and, at its last byte, fails unless the hash
/// is the one expected.
struct Hashing<'w, R> {
    inner: R,
    sha: Sha256,
    want: &'w str,
    left: u64,
    mismatched: bool,
}

impl<'w, R> Hashing<'w, R> {
    fn new(inner: R, want: &'w str, size: u64) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
            want,
            left: size,
            mismatched: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<'_, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let got = &buf.filled()[before..];
            this.sha.update(got);
            this.left = this.left.saturating_sub(got.len() as u64);
            if this.left == 0 && !got.is_empty() {
                let sha = hex::encode(this.sha.clone().finalize());
                if sha != this.want {
                    this.mismatched = true;
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the entry changed since it was verified",
                    )));
                }
            }
        }
        r
    }
}

//! The archived objects put back into the object store: read once from the archive in its
//! order, each checked against the manifest as it is uploaded (so a second read of an archive
//! cannot differ from what was verified), small ones several at a time, large ones streamed.
//! A mismatch fails the upload, and the restore puts the held objects back.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

use super::objects::{check, ensure_bucket, s3err, IN_FLIGHT, SMALL};
use crate::archive::{self, ArchiveReader, ObjectRecord, ObjectsMeta, Verified};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::s3::S3Client;

/// Upload the archive's objects (buckets recreated when missing), then check counts and bytes.
pub async fn load(
    s3: &S3Client,
    (path, verified): (&std::path::Path, &Verified),
    records: &[ObjectRecord],
    meta: &ObjectsMeta,
    module: &str,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<()> {
    let total: u64 = records.iter().map(|r| r.size).sum();
    progress.phase("objects-load", Some(total));
    for bucket in meta.bucket_names() {
        ensure_bucket(s3, &bucket, module, cancel).await?;
    }
    let by_path: HashMap<String, &ObjectRecord> = records
        .iter()
        .map(|r| (archive::object_path(&r.bucket, &r.key), r))
        .collect();
    let expected: HashMap<&str, &str> = verified
        .manifest
        .entries
        .iter()
        .filter(|e| by_path.contains_key(&e.path))
        .map(|e| (e.path.as_str(), e.sha256.as_str()))
        .collect();
    let mut reader = ArchiveReader::open(path, &verified.key).await?;
    let mut done = 0u64;
    let mut pending = futures_util::stream::FuturesUnordered::new();
    while let Some(h) = reader.next_entry().await? {
        let Some(rec) = by_path.get(&h.path) else {
            continue;
        };
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let want = expected.get(h.path.as_str()).copied().unwrap_or_default();
        if h.size <= SMALL {
            let (data, sha) = reader.read_entry_hashed(SMALL).await?;
            if sha != want {
                return Err(changed(&reader, &h.path));
            }
            pending.push(async move {
                let mut src = data.as_slice();
                let len = data.len() as u64;
                s3.put_object(&rec.bucket, &rec.key, len, &mut src, &rec.meta, cancel)
                    .await
            });
            while pending.len() >= IN_FLIGHT {
                pending.try_next().await.map_err(s3err(module))?;
            }
        } else {
            let mut body = Hashing::new(reader.entry_reader());
            s3.put_object(&rec.bucket, &rec.key, h.size, &mut body, &rec.meta, cancel)
                .await
                .map_err(s3err(module))?;
            let sha = body.hex();
            drop(body);
            if sha != want {
                return Err(changed(&reader, &h.path));
            }
        }
        done += h.size;
        progress.bytes("objects-load", done);
    }
    while pending.try_next().await.map_err(s3err(module))?.is_some() {}
    drop(pending);
    check(s3, meta, module, cancel).await
}

fn changed(reader: &ArchiveReader, path: &str) -> Error {
    reader.refused(format!("entry {path} changed since it was verified"))
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
        }
    }

    fn hex(&self) -> String {
        hex::encode(self.sha.clone().finalize())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            this.sha.update(&buf.filled()[before..]);
        }
        r
    }
}

//! The module's objects streamed into the archive, one after another, with their index (in
//! the archive's order) last. Fetching runs ahead of writing: up to the store's `concurrency`
//! small objects are fetched whole at once, each in its own task (downloads go on while the
//! archive compresses), and each is written as soon as it has arrived, so one slow answer
//! never holds up the rest; memory stays at that many small objects. A large one is streamed
//! into the archive by a single GET, resumed where a transfer broke. Every fetch is retried
//! on a transient failure and aborted when the backup stops.

use std::future::Future;

use bytes::Bytes;
use futures_util::future::Either;
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio_util::io::StreamReader;

use super::objects::{s3err, SMALL};
use crate::archive::{self, ArchiveWriter, ObjectRecord};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::s3::{spawned, Expect, ObjectInfo, S3Client, S3Error};

/// The most a small object may have grown to since it was listed.
const SMALL_LIMIT: usize = 4 << 20;

enum Fetched {
    Small(ObjectRecord, Bytes),
    Large(String, ObjectInfo),
}

/// Stream the listed objects into the archive, in the order they arrive, then their index.
pub async fn backup(
    s3: &S3Client,
    objects: Vec<(String, ObjectInfo)>,
    writer: &mut ArchiveWriter,
    module: &str,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<()> {
    let total: u64 = objects.iter().map(|(_, o)| o.size).sum();
    progress.phase("objects", Some(total));
    let mut index = Index::default();
    let mut fetches = stream::iter(objects)
        .map(|(bucket, o)| fetch_small(s3, bucket, o, cancel))
        .buffer_unordered(s3.concurrency());
    while let Some(f) = fetches.try_next().await.map_err(s3err(module))? {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let rec = match f {
            Fetched::Small(rec, data) => {
                let path = archive::object_path(&rec.bucket, &rec.key);
                writer.add_bytes(&path, &data).await?;
                rec
            }
            Fetched::Large(bucket, o) => {
                let large = (s3, bucket, o);
                write_large(large, writer, module, progress, cancel).await?
            }
        };
        index.push(&rec);
        progress.bytes("objects", writer.bytes_written());
    }
    let len = index.len;
    let mut lines = StreamReader::new(stream::iter(
        index.into_chunks().into_iter().map(Ok::<_, std::io::Error>),
    ));
    let entry = archive::OBJECT_INDEX_ENTRY;
    writer
        .add_sized(entry, len, &mut lines, progress, "objects")
        .await
}

/// The objects index as it is built: each object's record becomes its line as soon as the
/// object is archived, and that line is all that is kept of it. Lines are held in chunks of
/// `CHUNK` bytes, so the index grows without copies or spare room beyond one chunk.
#[derive(Default)]
struct Index {
    full: Vec<Bytes>,
    filling: Vec<u8>,
    len: u64,
}

const CHUNK: usize = 1 << 20;

impl Index {
    fn push(&mut self, rec: &ObjectRecord) {
        let mut line = serde_json::to_vec(rec).expect("json");
        line.push(b'\n');
        if self.filling.len() + line.len() > CHUNK && !self.filling.is_empty() {
            self.full.push(std::mem::take(&mut self.filling).into());
        }
        if self.filling.capacity() == 0 {
            self.filling.reserve_exact(CHUNK.max(line.len()));
        }
        self.filling.extend_from_slice(&line);
        self.len += line.len() as u64;
    }

    fn into_chunks(mut self) -> Vec<Bytes> {
        self.full.push(self.filling.into());
        self.full
    }
}

/// A small object fetched whole in its own task; a large one is passed on to be streamed.
fn fetch_small(
    s3: &S3Client,
    bucket: String,
    o: ObjectInfo,
    cancel: &Cancel,
) -> impl Future<Output = std::result::Result<Fetched, S3Error>> {
    if o.size > SMALL {
        return Either::Left(std::future::ready(Ok(Fetched::Large(bucket, o))));
    }
    let (s3, cancel) = (s3.clone(), cancel.clone());
    Either::Right(spawned(async move {
        // An object that grew since it was listed is still bounded.
        let got = s3.get_object_bytes(&bucket, &o.key, SMALL_LIMIT, &cancel);
        let (head, data) = got.await?;
        let rec = ObjectRecord {
            bucket,
            key: o.key,
            size: data.len() as u64,
            meta: head.meta,
        };
        Ok(Fetched::Small(rec, data))
    }))
}

/// A large object, streamed into the archive as it arrives (resumed where a transfer broke).
async fn write_large(
    (s3, bucket, o): (&S3Client, String, ObjectInfo),
    writer: &mut ArchiveWriter,
    module: &str,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ObjectRecord> {
    let expect = Expect {
        size: o.size,
        etag: o.etag.as_deref(),
    };
    let got = s3
        .get_object_resuming(&bucket, &o.key, expect, cancel)
        .await;
    let (head, mut body) = got.map_err(s3err(module))?;
    let path = archive::object_path(&bucket, &o.key);
    let wrote = writer
        .add_sized(&path, o.size, &mut body, progress, "objects")
        .await;
    if let Err(e) = wrote {
        // A failed read says what the store did, not what writing the archive saw.
        let store = match &e {
            Error::Io { source, .. } => S3Error::from_io(source).cloned(),
            _ => None,
        };
        return Err(store.map_or(e, s3err(module)));
    }
    Ok(ObjectRecord {
        bucket,
        key: o.key,
        size: o.size,
        meta: head.meta,
    })
}

//! The module's objects streamed into the archive. The archive holds them in listing order,
//! one after another, but fetching runs ahead of writing: up to the store's `concurrency`
//! small objects are fetched whole at once (memory stays at that many small objects), and a
//! large one is fetched as ranges of `RANGE` bytes, `RANGES_IN_FLIGHT` at once, written in
//! order as they arrive. Each fetch runs in its own task (downloads go on while the archive
//! compresses), is retried on a transient failure, and is aborted when the backup stops.

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::Either;
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio_util::io::StreamReader;

use super::objects::{s3err, SMALL};
use crate::archive::{self, ArchiveWriter, ObjectRecord};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::s3::{spawned, Expect, ObjectInfo, S3Client, S3Error};

/// One ranged read of a large object.
const RANGE: u64 = 4 << 20;
/// Ranged reads of one large object in flight (memory: this many ranges).
const RANGES_IN_FLIGHT: usize = 4;

enum Fetched {
    Small(ObjectRecord, Bytes),
    Large(String, ObjectInfo),
}

/// Stream the listed objects into the archive, in the listed order, then their index.
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
    let mut records = Vec::with_capacity(objects.len());
    let mut fetches = stream::iter(objects)
        .map(|(bucket, o)| fetch_small(s3, bucket, o, cancel))
        .buffered(s3.concurrency());
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
        records.push(rec);
        progress.bytes("objects", writer.bytes_written());
    }
    let mut index = Vec::new();
    for r in &records {
        serde_json::to_writer(&mut index, r).expect("json");
        index.push(b'\n');
    }
    writer.add_bytes(archive::OBJECT_INDEX_ENTRY, &index).await
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
        let limit = RANGE as usize;
        let (head, data) = s3.get_object_bytes(&bucket, &o.key, limit, &cancel).await?;
        let rec = ObjectRecord {
            bucket,
            key: o.key,
            size: data.len() as u64,
            meta: head.meta,
        };
        Ok(Fetched::Small(rec, data))
    }))
}

/// A large object, fetched as ranges in parallel and written in order.
async fn write_large(
    (s3, bucket, o): (&S3Client, String, ObjectInfo),
    writer: &mut ArchiveWriter,
    module: &str,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<ObjectRecord> {
    let failed: Arc<Mutex<Option<S3Error>>> = Arc::default();
    let mut ranges = stream::iter(ranges(o.size))
        .map(|r| {
            let (s3, cancel) = (s3.clone(), cancel.clone());
            let (bucket, key, etag) = (bucket.clone(), o.key.clone(), o.etag.clone());
            let size = o.size;
            spawned(async move {
                let expect = Expect {
                    size,
                    etag: etag.as_deref(),
                };
                s3.get_object_range(&bucket, &key, r, expect, &cancel).await
            })
        })
        .buffered(RANGES_IN_FLIGHT);
    let (head, first) = match ranges.next().await.expect("a large object has a range") {
        Ok(got) => got,
        Err(e) => return Err(e.into_error(module)),
    };
    let seen = failed.clone();
    let rest = ranges.map(move |r| {
        r.map(|(_, data)| data).map_err(|e| {
            *seen.lock().expect("not poisoned") = Some(e.clone());
            std::io::Error::other(e)
        })
    });
    let body = stream::once(std::future::ready(Ok(first))).chain(rest);
    let mut reader = StreamReader::new(Box::pin(body));
    let path = archive::object_path(&bucket, &o.key);
    let wrote = writer
        .add_sized(&path, o.size, &mut reader, progress, "objects")
        .await;
    drop(reader);
    if let Err(e) = wrote {
        return Err(match failed.lock().expect("not poisoned").take() {
            Some(s3e) => s3err(module)(s3e),
            None => e,
        });
    }
    Ok(ObjectRecord {
        bucket,
        key: o.key,
        size: o.size,
        meta: head.meta,
    })
}

/// The byte ranges of an object of `size` bytes, `RANGE` each but the last.
fn ranges(size: u64) -> Vec<std::ops::Range<u64>> {
    (0..size.div_ceil(RANGE))
        .map(|i| i * RANGE..((i + 1) * RANGE).min(size))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_object_in_order() {
        assert_eq!(ranges(1), vec![0..1]);
        assert_eq!(ranges(RANGE), vec![0..RANGE]);
        assert_eq!(
            ranges(2 * RANGE + 5),
            vec![0..RANGE, RANGE..2 * RANGE, 2 * RANGE..2 * RANGE + 5]
        );
    }
}

//! The object-store part of a module's backup and restore: listing the scope, the archive's
//! objects index, and the hold. Backup streams every object of the module's buckets and
//! prefixes into `minio/<bucket>/<key>` (`object_backup`) and records content type and
//! metadata. Restore first copies the live objects aside (server-side, several at a time) into
//! a hold bucket, so that any later failure can put them back.

use std::collections::BTreeMap;

use futures_util::{stream, StreamExt, TryStreamExt};

use crate::archive::{self, ObjectCount, ObjectRecord, ObjectsMeta};
use crate::config::BucketPrefix;
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::s3::{ObjectInfo, S3Client, S3Error};

/// Objects up to this size are fetched whole, several at once, ahead of the archive.
pub(super) const SMALL: u64 = 1 << 20;
/// Bucket that holds the live objects while a restore runs.
pub const HOLD_BUCKET: &str = "ai-backup-hold";

pub(super) fn s3err(module: &str) -> impl Fn(S3Error) -> Error + '_ {
    move |e| e.into_error(module)
}

/// Every object in scope, listed.
pub async fn list_scope(
    s3: &S3Client,
    scope: &[BucketPrefix],
    module: &str,
    cancel: &Cancel,
) -> Result<Vec<(String, ObjectInfo)>> {
    let mut all = Vec::new();
    for p in scope {
        s3.list_objects_each(&p.bucket, &p.prefix, cancel, |o| {
            all.push((p.bucket.clone(), o))
        })
        .await
        .map_err(s3err(module))?;
    }
    Ok(all)
}

/// Counts per bucket of every object in scope, counted as the listing goes (nothing kept).
async fn count_scope(
    s3: &S3Client,
    scope: &[BucketPrefix],
    module: &str,
    cancel: &Cancel,
) -> Result<BTreeMap<String, ObjectCount>> {
    let mut out: BTreeMap<String, ObjectCount> = BTreeMap::new();
    for p in scope {
        let c = count_prefix(s3, p, module, cancel).await?;
        out.entry(p.bucket.clone())
            .or_default()
            .add(c.objects, c.bytes);
    }
    Ok(out)
}

/// How many objects, and how many bytes, lie under one bucket and prefix (nothing kept).
pub async fn count_prefix(
    s3: &S3Client,
    p: &BucketPrefix,
    module: &str,
    cancel: &Cancel,
) -> Result<ObjectCount> {
    let mut c = ObjectCount::default();
    s3.list_objects_each(&p.bucket, &p.prefix, cancel, |o| c.add(1, o.size))
        .await
        .map_err(s3err(module))?;
    Ok(c)
}

/// The names of every bucket of the store.
pub async fn bucket_names(s3: &S3Client, module: &str, cancel: &Cancel) -> Result<Vec<String>> {
    Ok(s3
        .list_buckets(cancel)
        .await
        .map_err(s3err(module))?
        .into_iter()
        .map(|b| b.name)
        .collect())
}

/// The parts of `scope` whose bucket exists.
pub fn present(scope: &[BucketPrefix], buckets: &[String]) -> Vec<BucketPrefix> {
    scope
        .iter()
        .filter(|p| buckets.contains(&p.bucket))
        .cloned()
        .collect()
}

/// Counts per bucket, as the archive records them.
pub fn counts(objects: &[(String, ObjectInfo)]) -> BTreeMap<String, ObjectCount> {
    let mut out: BTreeMap<String, ObjectCount> = BTreeMap::new();
    for (b, o) in objects {
        out.entry(b.clone()).or_default().add(1, o.size);
    }
    out
}

pub fn meta_for(scope: &[BucketPrefix], objects: &[(String, ObjectInfo)]) -> ObjectsMeta {
    ObjectsMeta {
        scope: scope
            .iter()
            .map(|p| (p.bucket.clone(), p.prefix.clone()))
            .collect(),
        buckets: counts(objects),
        index_entry: archive::OBJECT_INDEX_ENTRY.into(),
    }
}

/// The archive's objects index, parsed a record at a time (only the index's bytes are held).
pub fn records(
    index: &[u8],
) -> impl Iterator<Item = std::result::Result<ObjectRecord, String>> + Send + '_ {
    index
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(|e| format!("objects index unreadable ({e})")))
}

fn hold_key(module: &str, bucket: &str, key: &str) -> String {
    format!("{module}/{bucket}/{key}")
}

/// The live objects, copied aside so that `put_back` can restore them.
pub struct Held {
    pub objects: Vec<(String, ObjectInfo)>,
}

/// Copy every live object in scope into the hold bucket (server-side). A failure or a cancel
/// midway removes the copies already made before returning.
pub async fn hold(
    s3: &S3Client,
    live: Vec<(String, ObjectInfo)>,
    module: &str,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Held> {
    progress.phase("objects-hold", None);
    ensure_bucket(s3, HOLD_BUCKET, module, cancel).await?;
    let held = Held { objects: live };
    if let Err(e) = copy_aside(s3, &held, module, cancel).await {
        if let Err(u) = release(s3, &held, module, &Cancel::new()).await {
            progress.warn(format!(
                "copies of the live objects remain in bucket {HOLD_BUCKET} under {module}/: {u}"
            ));
        }
        return Err(e);
    }
    Ok(held)
}

/// The copies themselves. Each copy runs to its end (a copy cut off may still complete on the
/// server, after the clean-up); a cancel stops new ones from starting.
async fn copy_aside(s3: &S3Client, held: &Held, module: &str, cancel: &Cancel) -> Result<()> {
    let calm = Cancel::new();
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut first: Option<Error> = None;
    let mut todo = held.objects.iter();
    loop {
        while first.is_none() && pending.len() < s3.concurrency() {
            if cancel.is_cancelled() {
                first = Some(Error::Cancelled);
                break;
            }
            let Some((bucket, o)) = todo.next() else {
                break;
            };
            let calm = &calm;
            pending.push(async move {
                s3.copy_object(
                    bucket,
                    &o.key,
                    HOLD_BUCKET,
                    &hold_key(module, bucket, &o.key),
                    None,
                    calm,
                )
                .await
            });
        }
        match pending.next().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                first.get_or_insert(e.into_error(module));
            }
            None => break,
        }
    }
    first.map_or(Ok(()), Err)
}

pub(super) async fn ensure_bucket(
    s3: &S3Client,
    bucket: &str,
    module: &str,
    cancel: &Cancel,
) -> Result<()> {
    if s3
        .bucket_exists(bucket, cancel)
        .await
        .map_err(s3err(module))?
    {
        return Ok(());
    }
    match s3.create_bucket(bucket, cancel).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind == crate::store::s3::S3ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into_error(module)),
    }
}

/// Delete every object in scope (and only those).
pub async fn empty_scope(
    s3: &S3Client,
    scope: &[BucketPrefix],
    module: &str,
    cancel: &Cancel,
) -> Result<()> {
    delete_listed(
        s3,
        &list_scope(s3, scope, module, cancel).await?,
        module,
        cancel,
    )
    .await
}

/// Delete exactly the listed objects.
pub async fn delete_listed(
    s3: &S3Client,
    objects: &[(String, ObjectInfo)],
    module: &str,
    cancel: &Cancel,
) -> Result<()> {
    let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (b, o) in objects {
        by.entry(b).or_default().push(o.key.clone());
    }
    for (bucket, keys) in by {
        s3.delete_objects(bucket, &keys, cancel)
            .await
            .map_err(s3err(module))?;
    }
    Ok(())
}

/// The objects in scope now match what the archive recorded.
pub async fn check(s3: &S3Client, meta: &ObjectsMeta, module: &str, cancel: &Cancel) -> Result<()> {
    let now = count_scope(s3, &meta.prefixes(), module, cancel).await?;
    let want: BTreeMap<String, ObjectCount> = meta
        .buckets
        .iter()
        .filter(|(_, c)| c.objects > 0)
        .map(|(b, c)| (b.clone(), *c))
        .collect();
    let got: BTreeMap<String, ObjectCount> =
        now.into_iter().filter(|(_, c)| c.objects > 0).collect();
    if got != want {
        return Err(Error::Verification {
            module: module.into(),
            message: format!("objects after the restore {got:?} differ from the archive {want:?}"),
        });
    }
    Ok(())
}

/// Put the held objects back in place of whatever is in scope now and remove the buckets the
/// restore created. The held copies stay: the caller records that they are back, then
/// `release`s them.
pub async fn put_back(
    s3: &S3Client,
    held: &Held,
    scope: &[BucketPrefix],
    created: &[String],
    module: &str,
    cancel: &Cancel,
) -> Result<()> {
    let buckets = bucket_names(s3, module, cancel).await?;
    let present = present(scope, &buckets);
    empty_scope(s3, &present, module, cancel).await?;
    abort_uploads(s3, &present, module, cancel).await?;
    for b in created.iter().filter(|b| buckets.contains(b)) {
        s3.delete_bucket(b, cancel).await.map_err(s3err(module))?;
    }
    stream::iter(held.objects.iter().map(Ok::<_, S3Error>))
        .try_for_each_concurrent(s3.concurrency(), |(bucket, o)| async move {
            s3.copy_object(
                HOLD_BUCKET,
                &hold_key(module, bucket, &o.key),
                bucket,
                &o.key,
                None,
                cancel,
            )
            .await
            .map(|_| ())
        })
        .await
        .map_err(s3err(module))?;
    Ok(())
}

/// Abort the multipart uploads left in scope by an upload that was cut off.
async fn abort_uploads(
    s3: &S3Client,
    scope: &[BucketPrefix],
    module: &str,
    cancel: &Cancel,
) -> Result<()> {
    for p in scope {
        for u in s3
            .list_multipart_uploads(&p.bucket, &p.prefix, cancel)
            .await
            .map_err(s3err(module))?
        {
            s3.abort_multipart_upload(&p.bucket, &u.key, &u.upload_id, cancel)
                .await
                .map_err(s3err(module))?;
        }
    }
    Ok(())
}

/// Drop the held copies.
pub async fn release(s3: &S3Client, held: &Held, module: &str, cancel: &Cancel) -> Result<()> {
    let keys: Vec<String> = held
        .objects
        .iter()
        .map(|(b, o)| hold_key(module, b, &o.key))
        .collect();
    s3.delete_objects(HOLD_BUCKET, &keys, cancel)
        .await
        .map_err(s3err(module))
}

/// Recovery after a death: the held copies under `<module>/` of the hold bucket, as
/// (bucket, key, hold key). The hold is the record of what was live.
async fn held_copies(
    s3: &S3Client,
    module: &str,
    cancel: &Cancel,
) -> Result<Vec<(String, String, String)>> {
    if !s3
        .bucket_exists(HOLD_BUCKET, cancel)
        .await
        .map_err(s3err(module))?
    {
        return Ok(Vec::new());
    }
    let list = s3
        .list_objects(HOLD_BUCKET, &format!("{module}/"), cancel)
        .await
        .map_err(s3err(module))?;
    Ok(list
        .into_iter()
        .filter_map(|o| {
            let rest = o.key.strip_prefix(&format!("{module}/"))?.to_string();
            let (bucket, key) = rest.split_once('/')?;
            Some((bucket.to_string(), key.to_string(), o.key.clone()))
        })
        .collect())
}

/// Recovery: drop whatever copies a hold that died midway made (the live objects were not
/// touched yet).
pub async fn drop_hold(s3: &S3Client, module: &str, cancel: &Cancel) -> Result<usize> {
    let keys: Vec<String> = held_copies(s3, module, cancel)
        .await?
        .into_iter()
        .map(|c| c.2)
        .collect();
    s3.delete_objects(HOLD_BUCKET, &keys, cancel)
        .await
        .map_err(s3err(module))?;
    Ok(keys.len())
}

/// Recovery: put the held objects back in place of whatever is in scope now, as `put_back`
/// does, but from the hold bucket's listing. The copies stay (`drop_hold` removes them once
/// the caller has recorded that this is done), so a recovery killed midway starts over.
pub async fn put_back_from_hold(
    s3: &S3Client,
    scope: &[BucketPrefix],
    created: &[String],
    module: &str,
    cancel: &Cancel,
) -> Result<usize> {
    let copies = held_copies(s3, module, cancel).await?;
    let buckets = bucket_names(s3, module, cancel).await?;
    let present = present(scope, &buckets);
    empty_scope(s3, &present, module, cancel).await?;
    abort_uploads(s3, &present, module, cancel).await?;
    let held_in: std::collections::BTreeSet<&str> = copies.iter().map(|c| c.0.as_str()).collect();
    for b in created
        .iter()
        .filter(|b| buckets.contains(b) && !held_in.contains(b.as_str()))
    {
        s3.delete_bucket(b, cancel).await.map_err(s3err(module))?;
    }
    stream::iter(copies.iter().map(Ok::<_, S3Error>))
        .try_for_each_concurrent(s3.concurrency(), |(bucket, key, hold)| async move {
            s3.copy_object(HOLD_BUCKET, hold, bucket, key, None, cancel)
                .await
                .map(|_| ())
        })
        .await
        .map_err(s3err(module))?;
    Ok(copies.len())
}

//! The stack's S3 server (garage as `ai-server-minio`), through the library's own S3 client
//! with the keys from the stack's env file (never printed, never in argv). Every call is
//! synchronous for the tests; objects are streamed both ways, never held whole.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ai_backup_core::store::s3::{
    MultipartUpload, ObjectInfo, ObjectMeta, S3Client, S3Config, S3Credentials,
};
use ai_backup_core::Cancel;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::rt;
use crate::common::docker::stack_secret;

pub const ENDPOINT: &str = "http://127.0.0.1:9000";
/// Where the tool keeps the live objects while a restore runs.
pub const HOLD_BUCKET: &str = "ai-backup-hold";

pub fn client() -> S3Client {
    let config = S3Config {
        endpoint: ENDPOINT.into(),
        region: "us-east-1".into(),
        access_key: None,
        secret_key: None,
        path_style: true,
        container: None,
        concurrency: 16,
    };
    let creds = S3Credentials {
        access_key: stack_secret("MINIO_ROOT_USER"),
        secret_key: stack_secret("MINIO_ROOT_PASSWORD"),
    };
    S3Client::new(&config, Some(creds)).expect("S3 client")
}

fn c() -> &'static S3Client {
    static CLIENT: std::sync::OnceLock<S3Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(client)
}

fn cancel() -> Cancel {
    Cancel::new()
}

/// True when the S3 API answers a signed ListBuckets.
pub fn is_up() -> bool {
    // A fresh client: the shared one may hold connections to a server that went away.
    let fresh = client().with_retries(0);
    rt().block_on(fresh.list_buckets(&cancel())).is_ok()
}

pub fn wait_up(timeout: Duration) -> bool {
    crate::common::poll_until(timeout, Duration::from_millis(500), is_up)
}

pub fn buckets() -> Vec<String> {
    let mut v: Vec<String> = rt()
        .block_on(c().list_buckets(&cancel()))
        .expect("ListBuckets")
        .into_iter()
        .map(|b| b.name)
        .collect();
    v.sort();
    v
}

pub fn bucket_exists(bucket: &str) -> bool {
    rt().block_on(c().bucket_exists(bucket, &cancel()))
        .unwrap_or_else(|e| panic!("HeadBucket {bucket}: {e}"))
}

pub fn ensure_bucket(bucket: &str) {
    if !bucket_exists(bucket) {
        rt().block_on(c().create_bucket(bucket, &cancel()))
            .unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e}"));
    }
}

pub fn list(bucket: &str, prefix: &str) -> Vec<ObjectInfo> {
    rt().block_on(c().list_objects(bucket, prefix, &cancel()))
        .unwrap_or_else(|e| panic!("ListObjectsV2 {bucket}/{prefix}: {e}"))
}

pub fn put(bucket: &str, key: &str, data: &[u8], meta: &ObjectMeta) {
    let mut src = data;
    rt().block_on(c().put_object(bucket, key, data.len() as u64, &mut src, meta, &cancel()))
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e}"));
}

/// Upload `size` bytes of the deterministic stream `seed` (multipart when large).
pub fn put_generated(bucket: &str, key: &str, size: u64, seed: u64, meta: &ObjectMeta) {
    let mut src = Generated::new(size, seed);
    rt().block_on(c().put_object(bucket, key, size, &mut src, meta, &cancel()))
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key} ({size} bytes): {e}"));
}

pub fn delete(bucket: &str, keys: &[String]) {
    rt().block_on(c().delete_objects(bucket, keys, &cancel()))
        .unwrap_or_else(|e| panic!("DeleteObjects {bucket}: {e}"));
}

/// Delete every object under `prefix` ("" for all) of `bucket`, if it exists.
pub fn empty(bucket: &str, prefix: &str) {
    if !bucket_exists(bucket) {
        return;
    }
    let keys: Vec<String> = list(bucket, prefix).into_iter().map(|o| o.key).collect();
    delete(bucket, &keys);
}

/// Empty and delete `bucket`, if it exists.
pub fn remove_bucket(bucket: &str) {
    if !bucket_exists(bucket) {
        return;
    }
    empty(bucket, "");
    for u in multipart_uploads(bucket) {
        let _ = rt().block_on(c().abort_multipart_upload(bucket, &u.key, &u.upload_id, &cancel()));
    }
    rt().block_on(c().delete_bucket(bucket, &cancel()))
        .unwrap_or_else(|e| panic!("DeleteBucket {bucket}: {e}"));
}

pub fn multipart_uploads(bucket: &str) -> Vec<MultipartUpload> {
    rt().block_on(c().list_multipart_uploads(bucket, "", &cancel()))
        .unwrap_or_else(|e| panic!("ListMultipartUploads {bucket}: {e}"))
}

/// An object to upload: key, content, metadata.
pub type NewObject = (String, Vec<u8>, ObjectMeta);

/// Upload many small objects, several at a time.
pub fn put_many(bucket: &str, objects: Vec<NewObject>) {
    use futures_util::{stream, TryStreamExt};
    let cl = c();
    rt().block_on(
        stream::iter(objects.into_iter().map(Ok)).try_for_each_concurrent(
            16,
            |(key, data, meta)| async move {
                let mut src = data.as_slice();
                cl.put_object(bucket, &key, data.len() as u64, &mut src, &meta, &cancel())
                    .await
                    .map(drop)
                    .map_err(|e| format!("PutObject {bucket}/{key}: {e}"))
            },
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// `object` for many, several at a time, in the order given.
pub fn objects(which: Vec<(String, String)>) -> Vec<ObjectPrint> {
    use futures_util::{stream, StreamExt};
    rt().block_on(
        stream::iter(which)
            .map(|(b, k)| async move { object_async(&b, &k).await })
            .buffered(16)
            .collect(),
    )
}

/// An object as the tests compare it: size, SHA-256 of the bytes (streamed), and what it
/// carries besides (content type, stored system headers, user metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPrint {
    pub size: u64,
    pub sha256: String,
    pub meta: ObjectMeta,
}

pub fn object(bucket: &str, key: &str) -> ObjectPrint {
    rt().block_on(object_async(bucket, key))
}

async fn object_async(bucket: &str, key: &str) -> ObjectPrint {
    {
        let mut got = c()
            .get_object(bucket, key, &cancel())
            .await
            .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e}"));
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut size = 0u64;
        loop {
            let n = got
                .body
                .read(&mut buf)
                .await
                .unwrap_or_else(|e| panic!("reading {bucket}/{key}: {e}"));
            if n == 0 {
                break;
            }
            size += n as u64;
            h.update(&buf[..n]);
        }
        ObjectPrint {
            size,
            sha256: hex::encode(h.finalize()),
            meta: got.head.meta,
        }
    }
}

/// Metadata with a content type and user metadata.
pub fn meta(content_type: &str, user: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        content_type: Some(content_type.into()),
        headers: Default::default(),
        metadata: user
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// `size` deterministic pseudo-random bytes (xorshift of the position and a seed), produced
/// as they are read: any size, constant memory.
pub struct Generated {
    pos: u64,
    size: u64,
    seed: u64,
}

impl Generated {
    pub fn new(size: u64, seed: u64) -> Self {
        Generated { pos: 0, size, seed }
    }

    fn word(&self, i: u64) -> u64 {
        let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.seed.wrapping_add(0x632B_E59B);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }

    /// Fill `out` with the bytes at the current position.
    pub fn fill(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min((self.size - self.pos) as usize);
        let mut j = 0;
        while j < n {
            let p = self.pos + j as u64;
            let word = self.word(p / 8).to_le_bytes();
            let off = (p % 8) as usize;
            let take = (8 - off).min(n - j);
            out[j..j + take].copy_from_slice(&word[off..off + take]);
            j += take;
        }
        self.pos += n as u64;
        n
    }

    /// The SHA-256 of the whole stream.
    pub fn sha256(size: u64, seed: u64) -> String {
        let mut g = Generated::new(size, seed);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = g.fill(&mut buf);
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        hex::encode(h.finalize())
    }

    pub fn bytes(size: u64, seed: u64) -> Vec<u8> {
        let mut v = vec![0u8; size as usize];
        Generated::new(size, seed).fill(&mut v);
        v
    }
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let want = buf.remaining().min(256 << 10);
        let mut chunk = vec![0u8; want];
        let n = self.fill(&mut chunk);
        buf.put_slice(&chunk[..n]);
        Poll::Ready(Ok(()))
    }
}

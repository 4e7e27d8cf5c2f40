//! S3-compatible object storage (MinIO, garage, RustFS, AWS) spoken directly over HTTP with
//! SigV4 signing, so the tool backs up and restores buckets without an SDK or a CLI in the
//! container. Objects stream both ways with bounded memory whatever their size; large uploads
//! go multipart and are aborted on failure or cancel; every call honours `Cancel` and fails
//! with a typed `S3Error` naming the bucket and key, never a secret.
//!
//! Not supported (not needed for the AI-Server stack): server-side copies of objects over
//! 5 GiB (that needs UploadPartCopy), object versions, SSE-C, and keys with a `.` or `..` path
//! segment (URL normalisation would rewrite them; such keys are refused, not mangled). Keys
//! with control characters cannot be batch-deleted (XML 1.0 cannot carry them).
//!
//! reqwest must stay without its `gzip`/`brotli` features: with them it would silently
//! decompress objects stored with a `Content-Encoding`, and the backup would differ.

mod body;
mod concurrent;
mod error;
mod fetch;
mod multipart;
mod ops;
mod request;
mod resume;
mod retry;
mod sign;
mod xml;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use body::ObjectBody;
pub use concurrent::{spawned, try_for_each_concurrent, try_map_unordered};
pub use error::{S3Error, S3ErrorKind};
pub use fetch::Expect;
pub use resume::ResumingBody;
use sign::Signer;

use crate::progress::Progress;

/// Requests in flight at once when handling many objects (`concurrency` in the store's config).
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Retries of a request that failed transiently (5xx, SlowDown, a broken connection).
pub const DEFAULT_RETRIES: u32 = 4;
/// Objects of this size and above are uploaded multipart.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Size of one multipart part (grown for objects that would need more than `MAX_PARTS`).
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// Parts of one multipart upload held in memory and sent at once (so memory stays at
/// `PARTS_IN_FLIGHT` parts whatever the object's size).
pub const PARTS_IN_FLIGHT: usize = 4;
/// S3's limits on multipart uploads.
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PARTS: u64 = 10_000;
/// Keys per DeleteObjects request (S3's maximum).
pub const DELETE_BATCH: usize = 1000;

/// Where the object store is and how to sign for it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct S3Config {
    /// `http://127.0.0.1:9000`; a path after the host is kept as a prefix.
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub access_key: Option<String>,
    #[serde(default)]
    pub secret_key: Option<String>,
    /// `http://host/bucket/key` (true) or `http://bucket.host/key` (false).
    #[serde(default = "default_path_style")]
    pub path_style: bool,
    /// The MinIO container whose environment holds the keys when the config has none.
    #[serde(default)]
    pub container: Option<String>,
    /// Object transfers (and server-side copies) in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_path_style() -> bool {
    true
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("path_style", &self.path_style)
            .field("container", &self.container)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// A key pair; Debug shows the access key only.
#[derive(Clone, PartialEq)]
pub struct S3Credentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Credentials({}, <redacted>)", self.access_key)
    }
}

impl S3Config {
    /// Keys from the config first, then from the container's environment (`MINIO_ROOT_USER`,
    /// `MINIO_ROOT_PASSWORD`); `None` means anonymous requests.
    pub fn resolve(&self, env: Option<&HashMap<String, String>>) -> Option<S3Credentials> {
        let get = |k: &str| {
            env.and_then(|e| e.get(k))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let access_key = self.access_key.clone().or_else(|| get("MINIO_ROOT_USER"))?;
        let secret_key = self
            .secret_key
            .clone()
            .or_else(|| get("MINIO_ROOT_PASSWORD"))?;
        Some(S3Credentials {
            access_key,
            secret_key,
        })
    }

    /// A copy fit to show: the secret key replaced.
    pub fn redacted(&self) -> Self {
        let mut c = self.clone();
        if c.secret_key.is_some() {
            c.secret_key = Some("<redacted>".into());
        }
        c
    }
}

/// One bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub name: String,
    pub creation_date: Option<String>,
}

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Without quotes. For multipart uploads it is not an MD5 of the content.
    pub etag: Option<String>,
}

/// One page of ListObjectsV2; `next` is the continuation token when there is more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub next: Option<String>,
}

/// What an object carries besides its bytes, as preserved by backup and restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Other stored system headers (`SYSTEM_HEADERS`), by lower-case name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// User metadata (`x-amz-meta-<name>`), by lower-case name without the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Standard headers S3 stores with an object and returns on GET and HEAD.
pub const SYSTEM_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// HeadObject's answer (also returned with GetObject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub meta: ObjectMeta,
}

/// A multipart upload that was started and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub key: String,
    pub upload_id: String,
}

/// GetObject's answer: the head and the content as a stream.
#[derive(Debug)]
pub struct GetObject {
    pub head: ObjectHead,
    pub body: ObjectBody,
}

/// A client for one S3 endpoint. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct S3Client {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    path_style: bool,
    region: String,
    signer: Option<Signer>,
    multipart_threshold: u64,
    part_size: u64,
    retries: u32,
    concurrency: usize,
    /// Where retried transient errors are counted and told.
    progress: Option<Progress>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Client({})", self.endpoint)
    }
}

impl S3Client {
    /// A client for `config`, signing with `creds` (anonymous when `None`).
    ///
    /// # Errors
    /// When the endpoint is not an http(s) URL.
    pub fn new(config: &S3Config, creds: Option<S3Credentials>) -> Result<Self, S3Error> {
        let bad = |m: String| S3Error::new("Connect", None, None, S3ErrorKind::InvalidRequest, m);
        let endpoint = reqwest::Url::parse(&config.endpoint)
            .map_err(|e| bad(format!("bad S3 endpoint {:?}: {e}", config.endpoint)))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(bad(format!(
                "bad S3 endpoint {:?}: not an http(s) URL",
                config.endpoint
            )));
        }
        // No redirects (a signature is for one host), no overall timeout (objects may be
        // large), but no waiting forever on a silent server either.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(300))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| bad(format!("HTTP client: {e}")))?;
        let region = if config.region.is_empty() {
            default_region()
        } else {
            config.region.clone()
        };
        Ok(Self {
            http,
            endpoint,
            path_style: config.path_style,
            signer: creds.map(|c| Signer::new(&c.access_key, &c.secret_key, &region)),
            region,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            retries: DEFAULT_RETRIES,
            concurrency: config.concurrency.max(1),
            progress: None,
        })
    }

    /// `new` with the keys resolved from the config and the container environment.
    ///
    /// # Errors
    /// As `new`.
    pub fn from_config(
        config: &S3Config,
        env: Option<&HashMap<String, String>>,
    ) -> Result<Self, S3Error> {
        Self::new(config, config.resolve(env))
    }

    /// Upload objects of at least `bytes` multipart (at least `MIN_PART_SIZE`).
    pub fn with_multipart_threshold(mut self, bytes: u64) -> Self {
        self.multipart_threshold = bytes.max(MIN_PART_SIZE);
        self
    }

    /// Use parts of `bytes` (at least `MIN_PART_SIZE`).
    pub fn with_part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes.max(MIN_PART_SIZE);
        self
    }

    /// How often a request without a streamed body is retried on a 5xx or a broken
    /// connection (default `DEFAULT_RETRIES`), waiting longer each time.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Count and tell every retry through `progress`.
    pub fn with_progress(mut self, progress: &Progress) -> Self {
        self.progress = Some(progress.clone());
        self
    }

    /// Keep up to `n` object transfers in flight (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Object transfers to keep in flight at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_resolve_and_redaction() {
        let c: S3Config = toml::from_str(
            "endpoint = \"http://127.0.0.1:9000\"\ncontainer = \"ai-server-minio\"\n",
        )
        .unwrap();
        assert_eq!((c.region.as_str(), c.path_style), ("us-east-1", true));
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        assert!(toml::from_str::<S3Config>("endpoint = \"x\"\nbogus = 1\n").is_err());
        let env: HashMap<String, String> = [
            ("MINIO_ROOT_USER".to_string(), "minio".to_string()),
            ("MINIO_ROOT_PASSWORD".to_string(), "hunter22".to_string()),
        ]
        .into();
        let k = c.resolve(Some(&env)).unwrap();
        assert_eq!(
            (k.access_key.as_str(), k.secret_key.as_str()),
            ("minio", "hunter22")
        );
        assert!(!format!("{k:?}").contains("hunter22"));
        assert!(c.resolve(None).is_none());
        let mut c2 = c.clone();
        c2.secret_key = Some("own".into());
        c2.access_key = Some("me".into());
        assert_eq!(c2.resolve(Some(&env)).unwrap().secret_key, "own");
        assert!(!format!("{c2:?}").contains("own"));
        assert!(!toml::to_string(&c2.redacted()).unwrap().contains("own"));
        assert!(S3Client::new(&c, None).is_ok());
        let bad = S3Config {
            endpoint: "ftp://x".into(),
            ..c
        };
        assert!(S3Client::new(&bad, None).is_err());
    }
}

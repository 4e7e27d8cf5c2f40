//! The Elasticsearch store: a small REST client that does what a backup and a restore of a
//! module's indices need, and handles the ways real Elasticsearch surprises clients
//! (`shared/docs/elasticsearch.md`): private settings, wildcard and hidden-index rules, the
//! 10,000-hit window, `_bulk` answering 200 with failed items, 429 and 413. Documents travel
//! as NDJSON lines `{"_id":..,"_routing":..,"_source":{..}}`, streamed page by page so memory
//! stays bounded whatever the index size. Whole indices are copied aside with the clone API
//! (`clone_index`), which costs next to nothing.

mod bulk;
mod bulk_send;
mod clone;
mod config;
mod dump;
mod error;
mod http;
mod page;
mod retry;
pub mod settings;
mod slice;
mod source;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub use config::{EsConfig, DEFAULT_PARALLEL, DEFAULT_URL, DEFAULT_USER, PASSWORD_ENV};
pub use error::{EsError, EsResult, ItemError};
use http::{op_name, parse, server_error, Body};

use crate::progress::Cancel;

/// Documents per search page of a dump (each slice holds one page in memory, and one more may
/// wait to be written: 500 chunks with 768-dimension vectors are about 3.5 MB).
pub const DEFAULT_PAGE_SIZE: usize = 250;
/// Upper bound of one `_bulk` request body.
pub const DEFAULT_BULK_BYTES: usize = 4 << 20;
/// Upper bound of documents in one `_bulk` request.
pub const DEFAULT_BULK_DOCS: usize = 1000;
/// Tries of a request that failed with a transient error (429, a dropped connection where
/// repeating is safe), and the first wait (doubling each time).
pub const DEFAULT_RETRY_TRIES: u32 = 8;
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Progress phases in which `dump_docs` and `bulk_load` report bytes.
pub const DUMP_PHASE: &str = "es-dump";
pub const LOAD_PHASE: &str = "es-load";

/// What an index is, minus its documents: flat settings (`"index.number_of_shards": "1"`)
/// without the private ones, mappings and aliases, as `PUT /<index>` takes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexDef {
    pub settings: Map<String, Value>,
    pub mappings: Value,
    pub aliases: Map<String, Value>,
}

#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: Url,
    user: Option<String>,
    password: Option<String>,
    bulk_bytes: usize,
    bulk_docs: usize,
    page_size: usize,
    /// Document transfers at once: slices of a dump, `_bulk` requests of a load.
    parallel: usize,
    retry_tries: u32,
    retry_delay: Duration,
}

impl std::fmt::Debug for EsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EsClient({}, user {:?})", self.base, self.user)
    }
}

impl EsClient {
    /// A client for the (resolved, see `EsConfig::resolve`) config. Credentials written into
    /// the URL (`http://user:pw@host`) are moved out of it, so no message ever shows them.
    pub fn new(config: &EsConfig) -> EsResult<Self> {
        let mut base = Url::parse(config.url.trim())
            .map_err(|e| EsError::Usage(format!("Elasticsearch URL {:?}: {e}", config.url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(EsError::Usage(format!(
                "Elasticsearch URL {:?} is not an http(s) URL",
                base.as_str()
            )));
        }
        let mut user = config.user.clone();
        let mut password = config.password.clone();
        if !base.username().is_empty() {
            user = user.or_else(|| Some(base.username().to_string()));
            password = password.or_else(|| base.password().map(str::to_string));
            let _ = base.set_username("");
            let _ = base.set_password(None);
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| EsError::Usage(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            user,
            password,
            bulk_bytes: DEFAULT_BULK_BYTES,
            bulk_docs: DEFAULT_BULK_DOCS,
            page_size: DEFAULT_PAGE_SIZE,
            parallel: config.concurrency.unwrap_or(DEFAULT_PARALLEL).max(1),
            retry_tries: DEFAULT_RETRY_TRIES,
            retry_delay: DEFAULT_RETRY_DELAY,
        })
    }

    /// Bounds of one `_bulk` request (defaults 5 MiB and 1000 documents).
    pub fn with_bulk_limits(mut self, bytes: usize, docs: usize) -> Self {
        self.bulk_bytes = bytes.max(1);
        self.bulk_docs = docs.max(1);
        self
    }

    /// Documents per search page of a dump (default `DEFAULT_PAGE_SIZE`).
    pub fn with_page_size(mut self, docs: usize) -> Self {
        self.page_size = docs.max(1);
        self
    }

    /// Document transfers at once (slices read by a dump, `_bulk` requests sent by a load).
    pub fn with_parallel(mut self, transfers: usize) -> Self {
        self.parallel = transfers.max(1);
        self
    }

    /// Retries of transient errors: `tries` in all, waiting `first_delay`, doubling each time.
    pub fn with_retry(mut self, tries: u32, first_delay: Duration) -> Self {
        self.retry_tries = tries.max(1);
        self.retry_delay = first_delay;
        self
    }

    /// The server URL (without credentials), for messages.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// The server's version: `"8.11.0"`, or `"opensearch 2.11.0"` for OpenSearch.
    pub async fn version(&self, cancel: &Cancel) -> EsResult<String> {
        let v: Value = self.get_json(&[], &[], cancel).await?;
        let number = v["version"]["number"]
            .as_str()
            .ok_or_else(|| EsError::Protocol {
                op: "GET /".into(),
                message: "no version.number (is this Elasticsearch?)".into(),
            })?;
        Ok(match v["version"]["distribution"].as_str() {
            Some(d) if d != "elasticsearch" => format!("{d} {number}"),
            _ => number.to_string(),
        })
    }

    /// Concrete names of the open indices matched by `patterns` (ES wildcards: `*` only),
    /// sorted. Hidden and dot indices are never included, nor indices that only an alias of
    /// them matches: a module's patterns reach only indices whose own name they match. A
    /// pattern that matches nothing adds nothing.
    pub async fn resolve(&self, patterns: &[String], cancel: &Cancel) -> EsResult<Vec<String>> {
        let mut out = BTreeSet::new();
        for pattern in patterns {
            settings::check_pattern(pattern).map_err(EsError::Usage)?;
            let q = [("expand_wildcards", "open"), ("flat_settings", "true")];
            let found: Map<String, Value> = match self.get_json(&[pattern], &q, cancel).await {
                Ok(v) => v,
                Err(e) if e.status() == Some(404) => continue,
                Err(e) => return Err(e),
            };
            for (name, def) in found {
                let hidden = def["settings"]["index.hidden"].as_str() == Some("true")
                    || def["settings"]["index.hidden"].as_bool() == Some(true);
                if !name.starts_with('.') && !hidden && settings::wildcard_match(pattern, &name) {
                    out.insert(name);
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Settings (minus the private ones, and minus the defaults a clone adds, so that a copy's
    /// definition equals its source's), mappings and aliases of the index `name`.
    pub async fn index_def(&self, name: &str, cancel: &Cancel) -> EsResult<IndexDef> {
        settings::check_name(name).map_err(EsError::Usage)?;
        let q = [("flat_settings", "true")];
        let mut all: Map<String, Value> = self.get_json(&[name], &q, cancel).await?;
        let Some(mut def) = all.remove(name) else {
            return Err(not_an_index(name));
        };
        let mut flat = match def["settings"].take() {
            Value::Object(m) => settings::flatten(&m),
            _ => Map::new(),
        };
        settings::strip_private(&mut flat);
        settings::strip_resize_defaults(&mut flat);
        Ok(IndexDef {
            settings: flat,
            mappings: match def["mappings"].take() {
                Value::Null => json!({}),
                m => m,
            },
            aliases: match def["aliases"].take() {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        })
    }

    /// Create the index `name` from `def` (private settings are stripped again, so a
    /// definition from anywhere is accepted).
    pub async fn create_index(&self, name: &str, def: &IndexDef, cancel: &Cancel) -> EsResult<()> {
        settings::check_name(name).map_err(EsError::Usage)?;
        let mut s = settings::flatten(&def.settings);
        settings::strip_private(&mut s);
        let body = json!({"settings": s, "mappings": def.mappings, "aliases": def.aliases});
        self.call(Method::PUT, &[name], &[], Body::Json(body), cancel)
            .await?;
        Ok(())
    }

    /// Delete the index `name` (a concrete name; aliases and patterns are refused). An index
    /// that does not exist counts as deleted.
    pub async fn delete_index(&self, name: &str, cancel: &Cancel) -> EsResult<()> {
        settings::check_name(name).map_err(EsError::Usage)?;
        match self
            .call(Method::DELETE, &[name], &[], Body::None, cancel)
            .await
        {
            Err(e) if e.status() == Some(404) && e.kind() == Some("index_not_found_exception") => {
                Ok(())
            }
            r => r.map(drop),
        }
    }

    /// Exact number of searchable documents in `name` (`_count`; refresh first to see recent
    /// writes).
    pub async fn count(&self, name: &str, cancel: &Cancel) -> EsResult<u64> {
        settings::check_name(name).map_err(EsError::Usage)?;
        let v: Value = self.get_json(&[name, "_count"], &[], cancel).await?;
        v["count"].as_u64().ok_or_else(|| EsError::Protocol {
            op: format!("GET /{name}/_count"),
            message: "no count".into(),
        })
    }

    /// The mappings of the index `name`, which must be an index, not an alias.
    async fn mappings(&self, name: &str, cancel: &Cancel) -> EsResult<Value> {
        settings::check_name(name).map_err(EsError::Usage)?;
        let mut all: Map<String, Value> = self.get_json(&[name, "_mapping"], &[], cancel).await?;
        match all.remove(name) {
            Some(mut m) => Ok(m["mappings"].take()),
            None => Err(not_an_index(name)),
        }
    }

    /// Make everything written to `name` visible to search and `_count`.
    pub async fn refresh(&self, name: &str, cancel: &Cancel) -> EsResult<()> {
        settings::check_name(name).map_err(EsError::Usage)?;
        self.call(Method::POST, &[name, "_refresh"], &[], Body::None, cancel)
            .await
            .map(drop)
    }
}

/// The error for a name that is not a concrete index (Elasticsearch answered for the indices
/// behind an alias).
fn not_an_index(name: &str) -> EsError {
    EsError::Usage(format!(
        "{name:?} is not an index (an alias?); give the concrete index name"
    ))
}

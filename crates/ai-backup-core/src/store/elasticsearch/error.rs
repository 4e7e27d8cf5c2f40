//! Typed errors of the Elasticsearch store. Each one carries what Elasticsearch said (its error
//! `type` and `reason`) or what the store found wrong, so a caller can tell a refused mapping
//! from a lost document from an unreachable server; none of them ever holds a password. They
//! turn into the crate's `Error` with `?`.

use crate::error::Error;

pub type EsResult<T> = std::result::Result<T, EsError>;

/// One `_bulk` item that Elasticsearch refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub id: String,
    pub status: u16,
    /// Elasticsearch's error `type`, e.g. `document_parsing_exception`.
    pub kind: String,
    pub reason: String,
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "_id {:?}: {} {}: {}",
            self.id, self.status, self.kind, self.reason
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// Bad input from the caller (a pattern or index name that is not allowed).
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or the connection broke.
    #[error("Elasticsearch at {url} unreachable: {message}")]
    Unreachable { url: String, message: String },
    /// Elasticsearch answered with an error. `kind` is its error `type` (empty when the error
    /// was a bare string), `reason` its `reason` plus the root cause when that says more.
    #[error("{op}: HTTP {status} {kind}: {reason}")]
    Server {
        op: String,
        status: u16,
        kind: String,
        reason: String,
    },
    /// The server answered 2xx with something that is not what Elasticsearch answers.
    #[error("{op}: unexpected answer: {message}")]
    Protocol { op: String, message: String },
    /// Documents cannot be rebuilt from `_source` (disabled or filtered in the mapping, or a
    /// hit came back without it): a dump would be incomplete, so none is written.
    #[error("index {index}: documents cannot be copied: {why}")]
    SourceUnavailable { index: String, why: String },
    /// Some search shards failed or timed out: the page is incomplete.
    #[error("index {index}: incomplete search results: {why}")]
    Partial { index: String, why: String },
    /// The dump did not write as many documents as the point in time (or scroll) counted.
    #[error("index {index}: {written} documents written but {expected} counted")]
    CountMismatch {
        index: String,
        expected: u64,
        written: u64,
    },
    /// `_bulk` refused documents (HTTP 200 with `errors: true`).
    #[error("bulk load into {index}: {failed} document(s) refused; first: {}", list(.first))]
    BulkItems {
        index: String,
        failed: usize,
        first: Vec<ItemError>,
    },
    /// Still HTTP 429 (or item status 429) after every retry.
    #[error("bulk load into {index}: still rejected (429, server overloaded) after {tries} tries: {reason}")]
    Rejected {
        index: String,
        tries: u32,
        reason: String,
    },
    /// A request still failed with a transient error (429, a dropped connection) after every
    /// try; `last` is the last error.
    #[error("{op}: still failing after {tries} tries: {last}")]
    GaveUp {
        op: String,
        tries: u32,
        last: String,
    },
    /// One document alone is larger than the server accepts (HTTP 413).
    #[error("bulk load into {index}: document _id {id:?} alone is larger than the server accepts (HTTP 413, http.max_content_length)")]
    TooLarge { index: String, id: String },
    /// A line of the NDJSON input is not a document as written by `dump_docs`.
    #[error("bulk load into {index}: input line {line} is not a dumped document: {message}")]
    BadInput {
        index: String,
        line: u64,
        message: String,
    },
    /// The index to create (a clone's target) already exists, as an index or an alias.
    #[error("index {index} already exists (as an index or an alias)")]
    Exists { index: String },
    /// A clone blocked writes to its source and could not remove the block again: writes to
    /// `index` fail until `PUT /<index>/_settings {"index.blocks.write": null}`.
    #[error("index {index} is left with its writes blocked: {message}")]
    LeftBlocked { index: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

fn list(items: &[ItemError]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl EsError {
    /// The index the error is about, when there is one.
    pub fn index(&self) -> Option<&str> {
        match self {
            EsError::SourceUnavailable { index, .. }
            | EsError::Partial { index, .. }
            | EsError::CountMismatch { index, .. }
            | EsError::BulkItems { index, .. }
            | EsError::Rejected { index, .. }
            | EsError::TooLarge { index, .. }
            | EsError::BadInput { index, .. }
            | EsError::Exists { index }
            | EsError::LeftBlocked { index, .. } => Some(index),
            _ => None,
        }
    }

    /// Elasticsearch's HTTP status, for `Server` errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            EsError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Elasticsearch's error `type`, for `Server` errors.
    pub fn kind(&self) -> Option<&str> {
        match self {
            EsError::Server { kind, .. } => Some(kind),
            _ => None,
        }
    }

    pub fn is_cancelled(&self) -> bool {
        matches!(self, EsError::Cancelled)
    }
}

impl From<EsError> for Error {
    fn from(e: EsError) -> Self {
        match e {
            EsError::Cancelled => Error::Cancelled,
            EsError::Usage(m) => Error::Usage(m),
            EsError::Io { context, source } => Error::Io { context, source },
            other => Error::Store {
                module: other.index().unwrap_or("cluster").to_string(),
                store: "Elasticsearch".into(),
                message: other.to_string(),
            },
        }
    }
}

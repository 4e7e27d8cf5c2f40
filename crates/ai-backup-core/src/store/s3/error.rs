//! The typed error of every S3 call: which operation on which bucket and key, what kind of
//! failure (so callers can tell "not found" from "wrong key" from "server down"), and the
//! server's own `<Code>` and `<Message>`. It never carries credentials.

use std::fmt;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorKind {
    /// No such bucket, key or multipart upload (HTTP 404).
    NotFound,
    /// Bad or unknown key, bad signature, access denied (HTTP 401/403).
    Auth,
    /// The bucket exists already.
    AlreadyExists,
    /// Another 409, e.g. deleting a bucket that is not empty.
    Conflict,
    /// The server refused the request as malformed or unsupported (other 4xx).
    InvalidRequest,
    /// The server failed (5xx, throttling).
    Server,
    /// No answer: connection refused or reset, timeout, TLS.
    Transport,
    /// An answer we could not make sense of.
    BadResponse,
    /// Reading the local data to upload failed or gave the wrong number of bytes.
    Source,
    Cancelled,
}

/// A failed S3 call.
#[derive(Debug, Clone, thiserror::Error)]
pub struct S3Error {
    /// The S3 operation, e.g. `PutObject`.
    pub op: &'static str,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub kind: S3ErrorKind,
    /// HTTP status, when the server answered.
    pub status: Option<u16>,
    /// The S3 error code (`NoSuchBucket`, `SignatureDoesNotMatch`, ...), when there was one.
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3 {}", self.op)?;
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => write!(f, " s3://{b}/{k}")?,
            (Some(b), None) => write!(f, " s3://{b}")?,
            _ => {}
        }
        f.write_str(" failed: ")?;
        if self.kind == S3ErrorKind::Cancelled {
            return f.write_str("cancelled");
        }
        match (&self.code, self.status) {
            (Some(c), Some(s)) => write!(f, "{c} (HTTP {s})")?,
            (None, Some(s)) => write!(f, "HTTP {s}")?,
            (Some(c), None) => f.write_str(c)?,
            (None, None) => {}
        }
        if !self.message.is_empty() {
            if self.code.is_some() || self.status.is_some() {
                f.write_str(": ")?;
            }
            f.write_str(&self.message)?;
        }
        Ok(())
    }
}

impl S3Error {
    pub(crate) fn new(
        op: &'static str,
        bucket: Option<&str>,
        key: Option<&str>,
        kind: S3ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            op,
            bucket: bucket.map(str::to_string),
            key: key.map(str::to_string),
            kind,
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// An error answer from the server, classified by status and S3 code.
    pub(super) fn from_response(
        op: &'static str,
        bucket: Option<&str>,
        key: Option<&str>,
        status: u16,
        code: Option<String>,
        message: String,
    ) -> Self {
        let kind = classify(status, code.as_deref());
        Self {
            status: Some(status),
            code,
            ..Self::new(op, bucket, key, kind, message)
        }
    }

    pub(super) fn cancelled(op: &'static str, bucket: Option<&str>, key: Option<&str>) -> Self {
        Self::new(op, bucket, key, S3ErrorKind::Cancelled, "")
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == S3ErrorKind::NotFound
    }
    pub fn is_auth(&self) -> bool {
        self.kind == S3ErrorKind::Auth
    }
    pub fn is_cancelled(&self) -> bool {
        self.kind == S3ErrorKind::Cancelled
    }

    /// The S3 error inside an `io::Error` from reading an `ObjectBody`, if it is one.
    pub fn from_io(e: &std::io::Error) -> Option<&S3Error> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<S3Error>())
    }

    /// Worth trying again as is: the server was busy or failing, or the connection broke.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, S3ErrorKind::Server | S3ErrorKind::Transport)
    }

    /// Replace every occurrence of `secret` in the texts (defence in depth: servers do not
    /// echo secret keys, but nothing that reaches a log may contain one).
    pub(super) fn scrub(mut self, secret: Option<&str>) -> Self {
        if let Some(s) = secret.filter(|s| !s.is_empty()) {
            self.message = self.message.replace(s, "<redacted>");
            self.code = self.code.map(|c| c.replace(s, "<redacted>"));
        }
        self
    }

    /// The library error for a module's S3 store (cancellation stays `Error::Cancelled`).
    pub fn into_error(self, module: &str) -> Error {
        if self.is_cancelled() {
            return Error::Cancelled;
        }
        Error::Store {
            module: module.to_string(),
            store: "S3".into(),
            message: self.to_string(),
        }
    }
}

fn classify(status: u16, code: Option<&str>) -> S3ErrorKind {
    match code {
        Some("NoSuchBucket" | "NoSuchKey" | "NoSuchUpload" | "NotFound") => {
            return S3ErrorKind::NotFound
        }
        Some(
            "AccessDenied"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidToken"
            | "ExpiredToken"
            | "AuthorizationHeaderMalformed"
            | "InvalidSignature",
        ) => return S3ErrorKind::Auth,
        Some("BucketAlreadyExists" | "BucketAlreadyOwnedByYou") => {
            return S3ErrorKind::AlreadyExists
        }
        Some("SlowDown" | "InternalError" | "ServiceUnavailable") => return S3ErrorKind::Server,
        _ => {}
    }
    match status {
        404 => S3ErrorKind::NotFound,
        401 | 403 => S3ErrorKind::Auth,
        409 => S3ErrorKind::Conflict,
        429 | 500..=599 => S3ErrorKind::Server,
        _ => S3ErrorKind::InvalidRequest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_kinds() {
        let e = S3Error::from_response(
            "GetObject",
            Some("b"),
            Some("a b"),
            404,
            Some("NoSuchKey".into()),
            "The specified key does not exist.".into(),
        );
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            "S3 GetObject s3://b/a b failed: NoSuchKey (HTTP 404): The specified key does not exist."
        );
        let e = S3Error::from_response("ListBuckets", None, None, 403, None, String::new());
        assert!(e.is_auth());
        assert_eq!(e.to_string(), "S3 ListBuckets failed: HTTP 403");
        let e = S3Error::new("X", None, None, S3ErrorKind::Transport, "key s3cr3t!")
            .scrub(Some("s3cr3t"));
        assert_eq!(e.message, "key <redacted>!");
        assert!(S3Error::cancelled("PutObject", Some("b"), None)
            .into_error("dify")
            .is_cancelled());
    }
}

//! One signed S3 request, start to finish: build the URL (path or virtual-host style, keys
//! encoded per SigV4), sign, send while watching `Cancel`, retry what is safe to retry, and
//! turn any non-2xx answer into a typed `S3Error` from its XML `<Code>` and `<Message>`.

use bytes::{Bytes, BytesMut};
use reqwest::{Method, Response};
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

use super::body::{channel_body, pump, PumpError};
use super::sign::{canonical_query, uri_encode, ToSign, EMPTY_SHA256, UNSIGNED_PAYLOAD};
use super::{xml, S3Client, S3Error, S3ErrorKind};
use crate::progress::Cancel;

/// Error bodies are short; read no more than this of one.
const MAX_ERROR_BODY: usize = 64 << 10;
/// A page of 1,000 listed keys of 1 KiB each stays well below this.
const MAX_XML_BODY: usize = 16 << 20;

pub(super) enum Payload {
    Empty,
    Bytes(Bytes),
    /// Object content held in memory, sent as `UNSIGNED-PAYLOAD` (no second hash over it);
    /// retried like any other request.
    Unsigned(Bytes),
    /// Streamed with a known length; sent once, never retried.
    Stream(reqwest::Body, u64),
}

pub(super) struct Req<'a> {
    pub op: &'static str,
    pub method: Method,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    pub query: Vec<(String, String)>,
    /// Lower-case names; all are signed.
    pub headers: Vec<(String, String)>,
    pub payload: Payload,
}

impl<'a> Req<'a> {
    pub fn new(
        op: &'static str,
        method: Method,
        bucket: Option<&'a str>,
        key: Option<&'a str>,
    ) -> Self {
        Self {
            op,
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
        }
    }
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_string(), v.into()));
        self
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_ascii_lowercase(), v.into()));
        self
    }
    pub fn bytes(mut self, b: impl Into<Bytes>) -> Self {
        self.payload = Payload::Bytes(b.into());
        self
    }
    pub fn unsigned(mut self, b: Bytes) -> Self {
        self.payload = Payload::Unsigned(b);
        self
    }
    pub fn err(&self, kind: S3ErrorKind, message: impl Into<String>) -> S3Error {
        S3Error::new(self.op, self.bucket, self.key, kind, message)
    }
}

/// The text of an error and all its causes (reqwest hides the useful part in the sources).
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

impl S3Client {
    /// The URL for a request; its path is the encoded path that is signed.
    pub(super) fn url(&self, r: &Req<'_>) -> Result<reqwest::Url, S3Error> {
        if let Some(k) = r.key {
            if k.is_empty() || k.split('/').any(|s| s == "." || s == "..") {
                return Err(r.err(
                    S3ErrorKind::InvalidRequest,
                    "empty keys and keys with a '.' or '..' path segment are not supported",
                ));
            }
        }
        let ep = &self.endpoint;
        let base = ep.path().trim_end_matches('/');
        let key = r.key.map(|k| uri_encode(k, true));
        let mut host = ep.host_str().unwrap_or_default().to_string();
        let path = match (r.bucket, self.path_style) {
            (Some(b), true) => match &key {
                Some(k) => format!("{base}/{}/{k}", uri_encode(b, false)),
                None => format!("{base}/{}", uri_encode(b, false)),
            },
            (Some(b), false) => {
                host = format!("{b}.{host}");
                format!("{base}/{}", key.unwrap_or_default())
            }
            (None, _) => format!("{base}/"),
        };
        let port = ep.port().map(|p| format!(":{p}")).unwrap_or_default();
        let query = canonical_query(&r.query);
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let s = format!("{}://{host}{port}{path}{q}", ep.scheme());
        let url = reqwest::Url::parse(&s).map_err(|e| {
            r.err(
                S3ErrorKind::InvalidRequest,
                format!("cannot build a URL: {e}"),
            )
        })?;
        if url.path() != path {
            return Err(r.err(
                S3ErrorKind::InvalidRequest,
                "the key does not survive URL parsing",
            ));
        }
        Ok(url)
    }

    fn build(&self, r: &Req<'_>, body: Option<reqwest::Body>) -> Result<reqwest::Request, S3Error> {
        let url = self.url(r)?;
        let payload_hash = match &r.payload {
            Payload::Empty => EMPTY_SHA256.to_string(),
            Payload::Bytes(b) => hex::encode(Sha256::digest(b)),
            Payload::Stream(..) | Payload::Unsigned(_) => UNSIGNED_PAYLOAD.to_string(),
        };
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut headers = r.headers.clone();
        headers.push(("x-amz-date".into(), amz_date.clone()));
        headers.push(("x-amz-content-sha256".into(), payload_hash.clone()));
        let mut b = self.http.request(r.method.clone(), url.clone());
        for (k, v) in &headers {
            // Byte values let user metadata carry UTF-8 (servers that accept it keep it).
            b = b.header(k.as_str(), v.as_bytes());
        }
        if let Some(signer) = &self.signer {
            let mut signed = headers.clone();
            signed.push(("host".into(), host));
            let auth = signer.authorization(&ToSign {
                method: r.method.as_str(),
                path: url.path(),
                query: url.query().unwrap_or_default(),
                headers: &signed,
                payload_sha256: &payload_hash,
                amz_date: &amz_date,
            });
            b = b.header("authorization", auth);
        }
        match &r.payload {
            Payload::Empty => {}
            Payload::Bytes(bytes) | Payload::Unsigned(bytes) => b = b.body(bytes.clone()),
            Payload::Stream(_, len) => b = b.header("content-length", len.to_string()),
        }
        if let Some(body) = body {
            b = b.body(body);
        }
        b.build().map_err(|e| {
            r.err(
                S3ErrorKind::InvalidRequest,
                format!("cannot build the request: {}", chain(&e)),
            )
        })
    }

    fn secret(&self) -> Option<&str> {
        self.signer.as_ref().map(|s| s.secret())
    }

    /// Send `r`; a 2xx answer is returned as is, anything else becomes an `S3Error`. A
    /// transient failure is retried unless the body is a stream (it cannot be sent twice).
    pub(super) async fn send(&self, mut r: Req<'_>, cancel: &Cancel) -> Result<Response, S3Error> {
        if let Payload::Stream(body, _) = &mut r.payload {
            let body = std::mem::replace(body, reqwest::Body::from(Bytes::new()));
            return self.send_once(&r, Some(body), cancel).await;
        }
        self.retrying(cancel, || self.send_once(&r, None, cancel))
            .await
    }

    /// One attempt at `r`, with `body` as its streamed body when it has one.
    pub(super) async fn send_once(
        &self,
        r: &Req<'_>,
        body: Option<reqwest::Body>,
        cancel: &Cancel,
    ) -> Result<Response, S3Error> {
        let req = self.build(r, body)?;
        let res = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(S3Error::cancelled(r.op, r.bucket, r.key)),
            res = self.http.execute(req) => res,
        };
        let err = match res {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => self.error_answer(r, resp, cancel).await?,
            Err(e) => r.err(S3ErrorKind::Transport, chain(&e)),
        };
        Err(err.scrub(self.secret()))
    }

    /// The `S3Error` for a non-2xx answer (`Err` only when cancelled while reading it).
    async fn error_answer(
        &self,
        r: &Req<'_>,
        resp: Response,
        cancel: &Cancel,
    ) -> Result<S3Error, S3Error> {
        let status = resp.status().as_u16();
        let text = match self.read_text(r, resp, MAX_ERROR_BODY, cancel).await {
            Ok(t) => t,
            Err(e) if e.is_cancelled() => return Err(e),
            Err(_) => String::new(),
        };
        let doc: xml::ErrorDoc = xml::parse(&text).unwrap_or_default();
        let message = doc.message.unwrap_or_else(|| {
            let t = text.trim();
            if t.starts_with('<') {
                String::new()
            } else {
                t.chars().take(300).collect()
            }
        });
        Ok(S3Error::from_response(
            r.op, r.bucket, r.key, status, doc.code, message,
        ))
    }

    /// The body of an answer as text, at most `limit` bytes of it.
    pub(super) async fn read_text(
        &self,
        r: &Req<'_>,
        resp: Response,
        limit: usize,
        cancel: &Cancel,
    ) -> Result<String, S3Error> {
        let buf = self.read_body(r, resp, limit, cancel).await?;
        String::from_utf8(buf.to_vec())
            .map_err(|_| r.err(S3ErrorKind::BadResponse, "answer is not UTF-8"))
    }

    /// The whole body of an answer, at most `limit` bytes; a body cut short is a `Transport`
    /// error (so it is retried).
    pub(super) async fn read_body(
        &self,
        r: &Req<'_>,
        mut resp: Response,
        limit: usize,
        cancel: &Cancel,
    ) -> Result<Bytes, S3Error> {
        let expected = resp.content_length();
        let mut buf = BytesMut::with_capacity(expected.unwrap_or(0).min(limit as u64) as usize);
        loop {
            let chunk = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(S3Error::cancelled(r.op, r.bucket, r.key)),
                c = resp.chunk() => c.map_err(|e| r.err(S3ErrorKind::Transport, chain(&e)).scrub(self.secret()))?,
            };
            match chunk {
                Some(c) if buf.len() + c.len() <= limit => buf.extend_from_slice(&c),
                Some(_) => {
                    return Err(r.err(
                        S3ErrorKind::BadResponse,
                        format!("answer larger than {limit} bytes"),
                    ))
                }
                None => break,
            }
        }
        match expected {
            Some(n) if n != buf.len() as u64 => Err(r.err(
                S3ErrorKind::Transport,
                format!("the answer ended after {} of {n} bytes", buf.len()),
            )),
            _ => Ok(buf.freeze()),
        }
    }

    /// Send `r` and parse its XML answer; an `<Error>` document sent with 200 OK (S3 does
    /// that for CompleteMultipartUpload and CopyObject) is an error too. An answer cut off is
    /// retried with the request.
    pub(super) async fn send_xml<T: serde::de::DeserializeOwned>(
        &self,
        r: Req<'_>,
        cancel: &Cancel,
    ) -> Result<T, S3Error> {
        self.retrying(cancel, || self.xml_once(&r, cancel)).await
    }

    async fn xml_once<T: serde::de::DeserializeOwned>(
        &self,
        r: &Req<'_>,
        cancel: &Cancel,
    ) -> Result<T, S3Error> {
        let (op, bucket, key) = (r.op, r.bucket, r.key);
        let resp = self.send_once(r, None, cancel).await?;
        let status = resp.status().as_u16();
        let probe = Req::new(op, Method::GET, bucket, key);
        let text = self.read_text(&probe, resp, MAX_XML_BODY, cancel).await?;
        if xml::root_name(&text).as_deref() == Some("Error") {
            let doc: xml::ErrorDoc = xml::parse(&text).unwrap_or_default();
            let code = doc.code.or_else(|| Some("InternalError".into()));
            let e = S3Error::from_response(
                op,
                bucket,
                key,
                status,
                code,
                doc.message.unwrap_or_default(),
            );
            return Err(e.scrub(self.secret()));
        }
        xml::parse(&text).map_err(|m| probe.err(S3ErrorKind::BadResponse, m))
    }

    /// Send `r` with exactly `len` bytes of `src` as its body, streamed.
    pub(super) async fn send_stream<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        mut r: Req<'_>,
        src: &mut R,
        len: u64,
        cancel: &Cancel,
    ) -> Result<Response, S3Error> {
        if len == 0 {
            return self.send(r.bytes(Bytes::new()), cancel).await;
        }
        let (op, bucket, key) = (r.op, r.bucket, r.key);
        let (tx, body) = channel_body();
        r.payload = Payload::Stream(body, len);
        let (res, pumped) = tokio::join!(self.send(r, cancel), pump(src, len, tx, cancel));
        match pumped {
            Ok(()) => res,
            Err(PumpError::Cancelled) => Err(S3Error::cancelled(op, bucket, key)),
            Err(PumpError::Source(m)) => Err(S3Error::new(op, bucket, key, S3ErrorKind::Source, m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::s3::S3Config;

    fn client(endpoint: &str, path_style: bool) -> S3Client {
        let cfg = S3Config {
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            access_key: None,
            secret_key: None,
            path_style,
            container: None,
            concurrency: 4,
        };
        S3Client::new(&cfg, None).unwrap()
    }

    #[test]
    fn urls_in_both_styles() {
        let key = Req::new(
            "GetObject",
            Method::GET,
            Some("bkt"),
            Some("报告 2024/a+b (1).pdf"),
        );
        let c = client("http://127.0.0.1:9000", true);
        assert_eq!(
            c.url(&key).unwrap().as_str(),
            "http://127.0.0.1:9000/bkt/%E6%8A%A5%E5%91%8A%202024/a%2Bb%20%281%29.pdf"
        );
        let list = Req::new("ListObjectsV2", Method::GET, Some("bkt"), None)
            .query("prefix", "a b/")
            .query("list-type", "2");
        assert_eq!(
            c.url(&list).unwrap().as_str(),
            "http://127.0.0.1:9000/bkt?list-type=2&prefix=a%20b%2F"
        );
        let v = client("https://s3.example.com/base/", false);
        assert_eq!(
            v.url(&key).unwrap().as_str(),
            "https://bkt.s3.example.com/base/%E6%8A%A5%E5%91%8A%202024/a%2Bb%20%281%29.pdf"
        );
        assert_eq!(
            v.url(&Req::new("ListBuckets", Method::GET, None, None))
                .unwrap()
                .as_str(),
            "https://s3.example.com/base/"
        );
        for bad in ["a/../b", "./x", "x/.", ""] {
            let r = Req::new("PutObject", Method::PUT, Some("bkt"), Some(bad));
            assert_eq!(
                c.url(&r).unwrap_err().kind,
                S3ErrorKind::InvalidRequest,
                "{bad}"
            );
        }
    }
}

//! Objects moved through memory one retryable request at a time: a small object is read whole
//! (an answer cut off is fetched again), and content held in memory is uploaded with a body
//! that can be sent again. Callers bound the memory by the sizes they ask for and the number
//! they keep in flight.

use bytes::Bytes;
use reqwest::Method;

use super::ops::{header_str, meta_headers, parse_head};
use super::request::Req;
use super::{xml, ObjectHead, ObjectMeta, S3Client, S3Error};
use crate::progress::Cancel;

/// What a read expects of the object as listed: its size and, when known, its ETag.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub size: u64,
    pub etag: Option<&'a str>,
}

impl S3Client {
    /// The whole object in memory with its head; fails on more than `limit` bytes.
    ///
    /// # Errors
    /// As `get_object`, after the retries; `BadResponse` when the object is over `limit`.
    pub async fn get_object_bytes(
        &self,
        bucket: &str,
        key: &str,
        limit: usize,
        cancel: &Cancel,
    ) -> Result<(ObjectHead, Bytes), S3Error> {
        let r = Req::new("GetObject", Method::GET, Some(bucket), Some(key));
        self.retrying(cancel, || async {
            let resp = self.send_once(&r, None, cancel).await?;
            let head = parse_head(resp.headers());
            let data = self.read_body(&r, resp, limit, cancel).await?;
            Ok((head, data))
        })
        .await
    }

    /// Upload `data` as `bucket/key` with `meta`; multipart from the client's threshold on.
    /// Every request is retried on a transient failure. Returns the new object's ETag.
    ///
    /// # Errors
    /// As `put_object`, after the retries.
    pub async fn put_object_bytes(
        &self,
        bucket: &str,
        key: &str,
        data: Bytes,
        meta: &ObjectMeta,
        cancel: &Cancel,
    ) -> Result<String, S3Error> {
        let size = data.len() as u64;
        if size >= self.multipart_threshold {
            let mut src = &data[..];
            return self
                .put_multipart(bucket, key, size, &mut src, meta, cancel)
                .await;
        }
        let r = meta_headers(
            Req::new("PutObject", Method::PUT, Some(bucket), Some(key)),
            meta,
        )
        .unsigned(data);
        let resp = self.send(r, cancel).await?;
        Ok(header_str(resp.headers(), "etag")
            .map(|e| xml::unquote(&e))
            .unwrap_or_default())
    }
}

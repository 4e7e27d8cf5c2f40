//! Multipart upload of large objects from one `AsyncRead`: each part is read into memory and
//! sent while the next ones are read, up to `PARTS_IN_FLIGHT` at once (so memory stays at a
//! few parts whatever the size, and a part that fails transiently is sent again). A failed or
//! cancelled upload is aborted, so no incomplete upload is left to hold storage;
//! `list_multipart_uploads` finds any that an earlier crash left behind.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, StreamExt};
use reqwest::Method;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::ops::meta_headers;
use super::request::Req;
use super::{
    xml, MultipartUpload, ObjectMeta, S3Client, S3Error, S3ErrorKind, MAX_PARTS, MIN_PART_SIZE,
    PARTS_IN_FLIGHT,
};
use crate::progress::Cancel;

/// How long the abort of a failed upload may take (it runs even after a cancel).
const ABORT_TIMEOUT: Duration = Duration::from_secs(30);

/// The part size for an object of `size` bytes: `preferred`, grown (to whole MiB) when the
/// object would otherwise need more than `MAX_PARTS` parts.
pub fn part_size_for(size: u64, preferred: u64) -> u64 {
    let min = size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
    preferred.max(min).max(MIN_PART_SIZE)
}

impl S3Client {
    pub(super) async fn put_multipart<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        src: &mut R,
        meta: &ObjectMeta,
        cancel: &Cancel,
    ) -> Result<String, S3Error> {
        let r = meta_headers(
            Req::new(
                "CreateMultipartUpload",
                Method::POST,
                Some(bucket),
                Some(key),
            )
            .query("uploads", ""),
            meta,
        );
        let init: xml::InitiateMultipartUpload = self.send_xml(r, cancel).await?;
        let upload_id = init.upload_id;
        let res = self
            .upload_parts(bucket, key, &upload_id, size, src, cancel)
            .await;
        let Err(e) = res else { return res };
        // The abort must run even though `cancel` may have fired: give it its own token
        // and a time limit instead.
        let fresh = Cancel::new();
        let abort = self.abort_multipart_upload(bucket, key, &upload_id, &fresh);
        match tokio::time::timeout(ABORT_TIMEOUT, abort).await {
            Ok(Ok(())) => Err(e),
            Ok(Err(ae)) if ae.is_not_found() => Err(e),
            Ok(Err(ae)) => Err(left_behind(e, &upload_id, &ae.to_string())),
            Err(_) => Err(left_behind(e, &upload_id, "timed out")),
        }
    }

    async fn upload_parts<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        size: u64,
        src: &mut R,
        cancel: &Cancel,
    ) -> Result<String, S3Error> {
        let part_size = part_size_for(size, self.part_size);
        let mut parts: Vec<(u32, String)> = Vec::new();
        let mut sending = FuturesUnordered::new();
        let mut done = 0u64;
        let mut number = 0u32;
        while done < size || number == 0 {
            while sending.len() >= PARTS_IN_FLIGHT {
                parts.push(next_part(&mut sending).await?);
            }
            number += 1;
            let len = part_size.min(size - done);
            let data = self.read_part(bucket, key, src, len, done, cancel).await?;
            sending.push(self.upload_part(bucket, key, upload_id, number, data, cancel));
            done += len;
        }
        while !sending.is_empty() {
            parts.push(next_part(&mut sending).await?);
        }
        parts.sort_by_key(|p| p.0);
        let r = Req::new(
            "CompleteMultipartUpload",
            Method::POST,
            Some(bucket),
            Some(key),
        )
        .query("uploadId", upload_id)
        .header("content-type", "application/xml")
        .bytes(xml::complete_body(&parts));
        let res: xml::EtagResult = self.send_xml(r, cancel).await?;
        Ok(res.etag.map(|e| xml::unquote(&e)).unwrap_or_default())
    }

    /// The next `len` bytes of `src` (which has given `at` bytes so far) in memory.
    async fn read_part<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        bucket: &str,
        key: &str,
        src: &mut R,
        len: u64,
        at: u64,
        cancel: &Cancel,
    ) -> Result<Bytes, S3Error> {
        let fail = |m: String| {
            S3Error::new(
                "UploadPart",
                Some(bucket),
                Some(key),
                S3ErrorKind::Source,
                m,
            )
        };
        let mut buf = BytesMut::with_capacity(len as usize);
        let mut limited = (&mut *src).take(len);
        while (buf.len() as u64) < len {
            let n = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(S3Error::cancelled("UploadPart", Some(bucket), Some(key))),
                r = limited.read_buf(&mut buf) => r,
            };
            match n {
                Ok(0) => {
                    let got = at + buf.len() as u64;
                    return Err(fail(format!("the source ended after {got} bytes")));
                }
                Ok(_) => {}
                Err(e) => {
                    let got = at + buf.len() as u64;
                    return Err(fail(format!(
                        "reading the source failed after {got} bytes: {e}"
                    )));
                }
            }
        }
        Ok(buf.freeze())
    }

    /// Send one part (retried on a transient failure); its number and ETag.
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        data: Bytes,
        cancel: &Cancel,
    ) -> Result<(u32, String), S3Error> {
        let r = Req::new("UploadPart", Method::PUT, Some(bucket), Some(key))
            .query("partNumber", number.to_string())
            .query("uploadId", upload_id)
            .unsigned(data);
        let resp = self.send(r, cancel).await?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                S3Error::new(
                    "UploadPart",
                    Some(bucket),
                    Some(key),
                    S3ErrorKind::BadResponse,
                    format!("no ETag for part {number}"),
                )
            })?;
        Ok((number, etag))
    }

    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        cancel: &Cancel,
    ) -> Result<(), S3Error> {
        let r = Req::new(
            "AbortMultipartUpload",
            Method::DELETE,
            Some(bucket),
            Some(key),
        )
        .query("uploadId", upload_id);
        self.send(r, cancel).await.map(drop)
    }

    /// Multipart uploads under `prefix` that were started and neither completed nor aborted.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        cancel: &Cancel,
    ) -> Result<Vec<MultipartUpload>, S3Error> {
        let mut all = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut r = Req::new("ListMultipartUploads", Method::GET, Some(bucket), None)
                .query("uploads", "")
                .query("encoding-type", "url");
            if !prefix.is_empty() {
                r = r.query("prefix", prefix);
            }
            if let Some((k, u)) = &marker {
                r = r
                    .query("key-marker", k.as_str())
                    .query("upload-id-marker", u.as_str());
            }
            let l: xml::ListMultipartUploads = self.send_xml(r, cancel).await?;
            let enc = l.encoding_type.as_deref();
            let bad = |m| {
                S3Error::new(
                    "ListMultipartUploads",
                    Some(bucket),
                    None,
                    S3ErrorKind::BadResponse,
                    m,
                )
            };
            for u in l.uploads {
                all.push(MultipartUpload {
                    key: xml::decode_key(&u.key, enc).map_err(bad)?,
                    upload_id: u.upload_id,
                });
            }
            match (l.is_truncated, l.next_key_marker) {
                (true, Some(k)) if !k.is_empty() => {
                    let k = xml::decode_key(&k, enc).map_err(bad)?;
                    let next = (k, l.next_upload_id_marker.unwrap_or_default());
                    if marker.as_ref() == Some(&next) {
                        return Err(bad("the listing does not advance".into()));
                    }
                    marker = Some(next);
                }
                _ => return Ok(all),
            }
        }
    }
}

/// The next part to finish sending.
async fn next_part<F>(sending: &mut FuturesUnordered<F>) -> Result<(u32, String), S3Error>
where
    F: std::future::Future<Output = Result<(u32, String), S3Error>>,
{
    sending.next().await.expect("a part is in flight")
}

fn left_behind(mut e: S3Error, upload_id: &str, why: &str) -> S3Error {
    e.message = format!(
        "{}; the incomplete multipart upload {upload_id} could not be aborted ({why}) and still \
         holds storage: abort it or let a lifecycle rule expire it",
        e.message
    );
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        assert_eq!(part_size_for(64 << 20, 16 << 20), 16 << 20);
        assert_eq!(part_size_for(0, 1), MIN_PART_SIZE);
        let huge = 500u64 << 30;
        let p = part_size_for(huge, 16 << 20);
        assert!(huge.div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % (1 << 20), 0);
    }
}

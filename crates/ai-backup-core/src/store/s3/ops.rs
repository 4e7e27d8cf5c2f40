//! The bucket and object operations a backup and a restore need: list, head, get (streamed),
//! put (streamed, multipart when large), batch delete and server-side copy.

use base64::Engine as _;
use md5::{Digest, Md5};
use reqwest::header::HeaderMap;
use reqwest::Method;
use tokio::io::AsyncRead;

use super::request::Req;
use super::{
    xml, BucketInfo, GetObject, ListPage, ObjectBody, ObjectHead, ObjectInfo, ObjectMeta, S3Client,
    S3Error, S3ErrorKind, DELETE_BATCH, SYSTEM_HEADERS,
};
use crate::progress::Cancel;

pub(super) fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .map(|v| match std::str::from_utf8(v.as_bytes()) {
            Ok(s) => s.to_string(),
            Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
}

/// The head of an object from the headers of a HEAD or GET answer.
pub(super) fn parse_head(h: &HeaderMap) -> ObjectHead {
    let mut meta = ObjectMeta {
        content_type: header_str(h, "content-type"),
        ..ObjectMeta::default()
    };
    for name in SYSTEM_HEADERS {
        if let Some(v) = header_str(h, name) {
            meta.headers.insert((*name).to_string(), v);
        }
    }
    for (name, _) in h.iter() {
        if let Some(user) = name.as_str().strip_prefix("x-amz-meta-") {
            if let Some(v) = header_str(h, name.as_str()) {
                meta.metadata.insert(user.to_string(), v);
            }
        }
    }
    ObjectHead {
        size: header_str(h, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        etag: header_str(h, "etag").map(|e| xml::unquote(&e)),
        last_modified: header_str(h, "last-modified"),
        meta,
    }
}

/// Request headers that store `meta` with an object.
pub(super) fn meta_headers<'a>(mut r: Req<'a>, meta: &ObjectMeta) -> Req<'a> {
    if let Some(ct) = &meta.content_type {
        r = r.header("content-type", ct.as_str());
    }
    for (k, v) in &meta.headers {
        r = r.header(k, v.as_str());
    }
    for (k, v) in &meta.metadata {
        r = r.header(&format!("x-amz-meta-{k}"), v.as_str());
    }
    r
}

impl S3Client {
    pub async fn list_buckets(&self, cancel: &Cancel) -> Result<Vec<BucketInfo>, S3Error> {
        let l: xml::ListAllMyBuckets = self
            .send_xml(Req::new("ListBuckets", Method::GET, None, None), cancel)
            .await?;
        Ok(l.buckets
            .map(|b| b.bucket)
            .unwrap_or_default()
            .into_iter()
            .map(|b| BucketInfo {
                name: b.name,
                creation_date: b.creation_date,
            })
            .collect())
    }

    /// True when the bucket exists and the key may use it (false on 404).
    pub async fn bucket_exists(&self, bucket: &str, cancel: &Cancel) -> Result<bool, S3Error> {
        match self
            .send(
                Req::new("HeadBucket", Method::HEAD, Some(bucket), None),
                cancel,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Create a bucket in the client's region (fails with `AlreadyExists` if it exists).
    pub async fn create_bucket(&self, bucket: &str, cancel: &Cancel) -> Result<(), S3Error> {
        let mut r = Req::new("CreateBucket", Method::PUT, Some(bucket), None);
        if self.region() != "us-east-1" {
            r = r.header("content-type", "application/xml").bytes(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                quick_xml::escape::escape(self.region())
            ));
        }
        self.send(r, cancel).await.map(drop)
    }

    /// Delete an empty bucket.
    pub async fn delete_bucket(&self, bucket: &str, cancel: &Cancel) -> Result<(), S3Error> {
        self.send(
            Req::new("DeleteBucket", Method::DELETE, Some(bucket), None),
            cancel,
        )
        .await
        .map(drop)
    }

    /// One page of ListObjectsV2 under `prefix`, continuing from `token`.
    pub async fn list_objects_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<&str>,
        max_keys: Option<u32>,
        cancel: &Cancel,
    ) -> Result<ListPage, S3Error> {
        let mut r = Req::new("ListObjectsV2", Method::GET, Some(bucket), None)
            .query("list-type", "2")
            .query("encoding-type", "url");
        if !prefix.is_empty() {
            r = r.query("prefix", prefix);
        }
        if let Some(t) = token {
            r = r.query("continuation-token", t);
        }
        if let Some(n) = max_keys {
            r = r.query("max-keys", n.to_string());
        }
        let l: xml::ListBucketV2 = self.send_xml(r, cancel).await?;
        let mut objects = Vec::with_capacity(l.contents.len());
        for c in l.contents {
            let key = xml::decode_key(&c.key, l.encoding_type.as_deref()).map_err(|m| {
                S3Error::new(
                    "ListObjectsV2",
                    Some(bucket),
                    None,
                    S3ErrorKind::BadResponse,
                    m,
                )
            })?;
            objects.push(ObjectInfo {
                key,
                size: c.size,
                etag: c.etag.map(|e| xml::unquote(&e)),
            });
        }
        let next = l
            .next_continuation_token
            .filter(|t| l.is_truncated && !t.is_empty());
        if l.is_truncated && next.is_none() {
            return Err(S3Error::new(
                "ListObjectsV2",
                Some(bucket),
                None,
                S3ErrorKind::BadResponse,
                "truncated listing without a continuation token",
            ));
        }
        Ok(ListPage { objects, next })
    }

    /// Every object under `prefix`, all pages, in key order.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        cancel: &Cancel,
    ) -> Result<Vec<ObjectInfo>, S3Error> {
        let mut all = Vec::new();
        self.list_objects_each(bucket, prefix, cancel, |o| all.push(o))
            .await?;
        Ok(all)
    }

    /// Every object under `prefix`, passed to `each` page by page: only one page is held.
    pub async fn list_objects_each(
        &self,
        bucket: &str,
        prefix: &str,
        cancel: &Cancel,
        mut each: impl FnMut(ObjectInfo) + Send,
    ) -> Result<(), S3Error> {
        let mut token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self
                .list_objects_page(bucket, prefix, token.as_deref(), None, cancel)
                .await?;
            page.objects.into_iter().for_each(&mut each);
            match page.next {
                // A server that hands out a token twice would keep us listing forever.
                Some(t) if !seen.insert(t.clone()) => {
                    return Err(S3Error::new(
                        "ListObjectsV2",
                        Some(bucket),
                        None,
                        S3ErrorKind::BadResponse,
                        "the listing repeats a continuation token",
                    ))
                }
                Some(t) => token = Some(t),
                None => return Ok(()),
            }
        }
    }

    pub async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        cancel: &Cancel,
    ) -> Result<ObjectHead, S3Error> {
        let resp = self
            .send(
                Req::new("HeadObject", Method::HEAD, Some(bucket), Some(key)),
                cancel,
            )
            .await?;
        Ok(parse_head(resp.headers()))
    }

    /// The object's head and its content as a stream (nothing is buffered beyond a chunk).
    /// The stream fails if `cancel` fires or the content ends short of its length.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        cancel: &Cancel,
    ) -> Result<GetObject, S3Error> {
        let resp = self
            .send(
                Req::new("GetObject", Method::GET, Some(bucket), Some(key)),
                cancel,
            )
            .await?;
        let head = parse_head(resp.headers());
        let expected = resp.content_length().or(Some(head.size));
        let body = ObjectBody::new(resp, expected, cancel.clone(), bucket, key);
        Ok(GetObject { head, body })
    }

    /// Upload exactly `size` bytes read from `src` as `bucket/key` with `meta`, streamed;
    /// multipart from the client's threshold on (aborted on any failure or on cancel).
    /// Returns the new object's ETag. Cancel through `cancel`: a future that is merely
    /// dropped cannot abort, and leaves its multipart upload for `list_multipart_uploads`.
    pub async fn put_object<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        src: &mut R,
        meta: &ObjectMeta,
        cancel: &Cancel,
    ) -> Result<String, S3Error> {
        if size >= self.multipart_threshold {
            return self
                .put_multipart(bucket, key, size, src, meta, cancel)
                .await;
        }
        let r = meta_headers(
            Req::new("PutObject", Method::PUT, Some(bucket), Some(key)),
            meta,
        );
        let resp = self.send_stream(r, src, size, cancel).await?;
        Ok(header_str(resp.headers(), "etag")
            .map(|e| xml::unquote(&e))
            .unwrap_or_default())
    }

    /// Delete `keys` (any number, sent in batches of 1,000, a few at once). Keys that do not
    /// exist count as deleted; any other per-key failure fails the call, naming the keys.
    pub async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
        cancel: &Cancel,
    ) -> Result<(), S3Error> {
        // Batches by index: a closure over borrowed slices would not be `Send` for every
        // lifetime, which the callers' boxed futures need.
        let batches = 0..keys.len().div_ceil(DELETE_BATCH);
        let in_flight = self.concurrency().min(4);
        super::try_for_each_concurrent(batches, in_flight, |i| {
            let end = ((i + 1) * DELETE_BATCH).min(keys.len());
            self.delete_batch(bucket, &keys[i * DELETE_BATCH..end], cancel)
        })
        .await
    }

    async fn delete_batch(
        &self,
        bucket: &str,
        batch: &[String],
        cancel: &Cancel,
    ) -> Result<(), S3Error> {
        {
            let body = xml::delete_body(batch);
            let md5 =
                base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
            let r = Req::new("DeleteObjects", Method::POST, Some(bucket), None)
                .query("delete", "")
                .header("content-type", "application/xml")
                .header("content-md5", md5)
                .bytes(body);
            let res: xml::DeleteResult = self.send_xml(r, cancel).await?;
            let failed: Vec<_> = res
                .errors
                .iter()
                .filter(|e| e.code.as_deref() != Some("NoSuchKey"))
                .collect();
            if let Some(first) = failed.first() {
                let shown: Vec<String> = failed
                    .iter()
                    .take(5)
                    .map(|e| {
                        let code = e.code.as_deref().unwrap_or("error");
                        format!("{:?}: {code} {}", e.key, e.message.as_deref().unwrap_or(""))
                    })
                    .collect();
                let mut err = S3Error::new(
                    "DeleteObjects",
                    Some(bucket),
                    None,
                    S3ErrorKind::Server,
                    format!(
                        "{} of {} keys not deleted: {}",
                        failed.len(),
                        batch.len(),
                        shown.join("; ")
                    ),
                );
                err.code = first.code.clone();
                if first.code.as_deref() == Some("AccessDenied") {
                    err.kind = S3ErrorKind::Auth;
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// Server-side copy of `src_bucket/src_key` to `bucket/key`, keeping the source's
    /// metadata, or replacing it with `meta` when given. Objects over 5 GiB would need
    /// UploadPartCopy, which is not implemented (S3 refuses such a copy with an error).
    /// Returns the new object's ETag.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        bucket: &str,
        key: &str,
        meta: Option<&ObjectMeta>,
        cancel: &Cancel,
    ) -> Result<String, S3Error> {
        let mut r = Req::new("CopyObject", Method::PUT, Some(bucket), Some(key)).header(
            "x-amz-copy-source",
            format!(
                "/{}/{}",
                super::sign::uri_encode(src_bucket, false),
                super::sign::uri_encode(src_key, true)
            ),
        );
        if let Some(m) = meta {
            r = meta_headers(r.header("x-amz-metadata-directive", "REPLACE"), m);
        }
        let res: xml::EtagResult = self.send_xml(r, cancel).await?;
        Ok(res.etag.map(|e| xml::unquote(&e)).unwrap_or_default())
    }
}

//! A large object read as one stream, at the speed of a single GET and with one chunk in
//! memory, that survives a broken connection: when the answer breaks off, the rest is asked
//! for again from the byte where it stopped (a ranged GET, itself retried), and every answer
//! must show the object's listed size and ETag, so a resumed read never splices two versions
//! of an object. Resumes are bounded by the client's retries and counted like them.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use reqwest::Method;
use tokio::io::{AsyncRead, ReadBuf};

use super::ops::{header_str, parse_head};
use super::request::Req;
use super::retry::retry_delay;
use super::{Expect, ObjectBody, ObjectHead, S3Client, S3Error, S3ErrorKind};
use crate::progress::Cancel;

/// The object's content from its first byte to its last, resumed where a transfer broke.
pub struct ResumingBody {
    s3: S3Client,
    /// Bucket and key.
    name: (String, String),
    /// Size and ETag every answer must show.
    want: (u64, Option<String>),
    cancel: Cancel,
    /// Bytes delivered so far.
    pos: u64,
    resumes: u32,
    state: State,
}

enum State {
    Reading(ObjectBody),
    Opening(BoxFuture<'static, Result<(ObjectHead, ObjectBody), S3Error>>),
    Failed,
}

impl S3Client {
    /// Open `bucket/key`, which must be as `expect` says, for reading as one resumable stream.
    /// Returns the object's head (its metadata) and its content.
    ///
    /// # Errors
    /// As `get_object`, after the retries; `BadResponse` when the object is not what
    /// `expect` says (it changed since it was listed).
    pub async fn get_object_resuming(
        &self,
        bucket: &str,
        key: &str,
        expect: Expect<'_>,
        cancel: &Cancel,
    ) -> Result<(ObjectHead, ResumingBody), S3Error> {
        let name = (bucket.to_string(), key.to_string());
        let want = (expect.size, expect.etag.map(str::to_string));
        let (head, body) = open_from(self.clone(), name.clone(), want.clone(), 0, cancel).await?;
        let body = ResumingBody {
            s3: self.clone(),
            name,
            want: (want.0, want.1.or_else(|| head.etag.clone())),
            cancel: cancel.clone(),
            pos: 0,
            resumes: 0,
            state: State::Reading(body),
        };
        Ok((head, body))
    }
}

/// The object from byte `from` on (retried like any request), checked against `size` and
/// `etag`.
async fn open_from(
    s3: S3Client,
    (bucket, key): (String, String),
    (size, etag): (u64, Option<String>),
    from: u64,
    cancel: &Cancel,
) -> Result<(ObjectHead, ObjectBody), S3Error> {
    let mut r = Req::new("GetObject", Method::GET, Some(&bucket), Some(&key));
    if from > 0 {
        r = r.header("range", format!("bytes={from}-"));
    }
    s3.retrying(cancel, || async {
        let resp = s3.send_once(&r, None, cancel).await?;
        let mut head = parse_head(resp.headers());
        let changed = |why: &str| r.err(S3ErrorKind::BadResponse, why.to_string());
        if from > 0 {
            let total = header_str(resp.headers(), "content-range")
                .and_then(|v| v.rsplit_once('/').and_then(|(_, t)| t.parse::<u64>().ok()));
            match total {
                Some(t) if resp.status().as_u16() == 206 => head.size = t,
                _ => return Err(changed("the server ignored the byte range asked for")),
            }
        }
        let etag_differs = matches!((&etag, &head.etag), (Some(a), Some(b)) if a != b);
        if head.size != size || etag_differs {
            return Err(changed("the object changed while it was read"));
        }
        let body = ObjectBody::new(resp, Some(size - from), cancel.clone(), &bucket, &key);
        Ok((head, body))
    })
    .await
}

impl ResumingBody {
    /// After a broken transfer: ask for the rest, or give up with `e` when it is not
    /// transient, the object is cancelled, or the resumes are used up.
    fn resume_or_fail(&mut self, e: io::Error) -> Option<io::Error> {
        let transient = S3Error::from_io(&e).is_some_and(S3Error::is_transient);
        if !transient || self.resumes >= self.s3.retries || self.cancel.is_cancelled() {
            self.state = State::Failed;
            return Some(e);
        }
        if let Some(s3e) = S3Error::from_io(&e) {
            self.s3.tell_retry(s3e);
        }
        let delay = retry_delay(self.resumes);
        self.resumes += 1;
        let (s3, cancel) = (self.s3.clone(), self.cancel.clone());
        let (name, want, from) = (self.name.clone(), self.want.clone(), self.pos);
        self.state = State::Opening(Box::pin(async move {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(S3Error::cancelled("GetObject", Some(&name.0), Some(&name.1))),
                _ = tokio::time::sleep(delay) => {}
            }
            open_from(s3, name, want, from, &cancel).await
        }));
        None
    }
}

impl AsyncRead for ResumingBody {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Failed => return Poll::Ready(Err(io::Error::other("the read failed"))),
                State::Opening(fut) => match Pin::new(fut).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok((_, body))) => this.state = State::Reading(body),
                    Poll::Ready(Err(e)) => {
                        this.state = State::Failed;
                        return Poll::Ready(Err(io::Error::other(e)));
                    }
                },
                State::Reading(body) => {
                    let before = buf.filled().len();
                    match Pin::new(body).poll_read(cx, buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {
                            this.pos += (buf.filled().len() - before) as u64;
                            return Poll::Ready(Ok(()));
                        }
                        Poll::Ready(Err(e)) => {
                            if let Some(e) = this.resume_or_fail(e) {
                                return Poll::Ready(Err(e));
                            }
                        }
                    }
                }
            }
        }
    }
}

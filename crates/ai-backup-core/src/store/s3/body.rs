//! Object bytes in motion, never held whole: downloads are the response's chunk stream behind
//! an `AsyncRead` that fails on cancel or on a short body; uploads are fed from any
//! (borrowed) `AsyncRead` through a small channel into the request body, a few chunks at a time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use super::request::chain;
use super::{S3Error, S3ErrorKind};
use crate::progress::Cancel;

/// Upload chunk size, and how many chunks may wait in the channel.
const CHUNK: usize = 64 << 10;
const QUEUED_CHUNKS: usize = 4;

/// An object's content as it arrives. Fails with an `io::Error` when the transfer breaks,
/// ends short of the announced length, or `cancel` fires; `S3Error::from_io` recovers the
/// typed error (kind `Cancelled` for a cancel) from it.
pub struct ObjectBody {
    inner: StreamReader<BoxStream<'static, io::Result<Bytes>>, Bytes>,
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectBody")
    }
}

struct Download {
    chunks: BoxStream<'static, reqwest::Result<Bytes>>,
    cancel: Cancel,
    seen: u64,
    expected: Option<u64>,
    bucket: String,
    key: String,
    /// Once failed, every later read fails the same way (never a false end of file).
    failed: Option<(io::ErrorKind, S3Error)>,
}

impl Download {
    fn fail(&mut self, io_kind: io::ErrorKind, kind: S3ErrorKind, message: String) {
        let e = S3Error::new(
            "GetObject",
            Some(&self.bucket),
            Some(&self.key),
            kind,
            message,
        );
        self.failed = Some((io_kind, e));
    }
}

impl ObjectBody {
    pub(super) fn new(
        resp: reqwest::Response,
        expected: Option<u64>,
        cancel: Cancel,
        bucket: &str,
        key: &str,
    ) -> Self {
        let state = Download {
            chunks: resp.bytes_stream().boxed(),
            cancel,
            seen: 0,
            expected,
            bucket: bucket.to_string(),
            key: key.to_string(),
            failed: None,
        };
        let s = stream::unfold(state, |mut st| async move {
            if st.failed.is_none() {
                tokio::select! {
                    biased;
                    _ = st.cancel.cancelled() => st.fail(io::ErrorKind::Other, S3ErrorKind::Cancelled, String::new()),
                    c = st.chunks.next() => match c {
                        Some(Ok(b)) => {
                            st.seen += b.len() as u64;
                            return Some((Ok(b), st));
                        }
                        Some(Err(e)) => {
                            let m = format!("the transfer broke after {} bytes: {}", st.seen, chain(&e));
                            st.fail(io::ErrorKind::Other, S3ErrorKind::Transport, m);
                        }
                        None => match st.expected {
                            Some(n) if n != st.seen => {
                                let m = format!("the content ended after {} of {n} bytes", st.seen);
                                st.fail(io::ErrorKind::UnexpectedEof, S3ErrorKind::Transport, m);
                            }
                            _ => return None,
                        },
                    },
                }
            }
            let (kind, e) = st.failed.clone().expect("set above");
            Some((Err(io::Error::new(kind, e)), st))
        });
        Self {
            inner: StreamReader::new(s.boxed()),
        }
    }
}

impl AsyncRead for ObjectBody {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

pub(super) type ChunkSender = mpsc::Sender<io::Result<Bytes>>;

/// A request body fed through the returned sender; it ends when the sender is dropped.
pub(super) fn channel_body() -> (ChunkSender, reqwest::Body) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUED_CHUNKS);
    let s = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (tx, reqwest::Body::wrap_stream(s))
}

/// Why feeding a body stopped.
pub(super) enum PumpError {
    Cancelled,
    Source(String),
}

/// Copy exactly `len` bytes of `src` into `tx`. A short or failing source also fails the
/// request (an error item ends the body), so the server never stores a truncated object.
/// Returns `Ok` when the request went away first: its own error tells why.
pub(super) async fn pump<R: AsyncRead + Unpin + ?Sized>(
    src: &mut R,
    len: u64,
    tx: ChunkSender,
    cancel: &Cancel,
) -> Result<(), PumpError> {
    let mut left = len;
    while left > 0 {
        let want = left.min(CHUNK as u64) as usize;
        let mut buf = BytesMut::with_capacity(want);
        let mut limited = (&mut *src).take(want as u64);
        let read = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                let _ = tx.try_send(Err(io::Error::other("cancelled")));
                return Err(PumpError::Cancelled);
            }
            r = limited.read_buf(&mut buf) => r,
        };
        let msg = match read {
            Ok(0) => format!("the source ended after {} of {len} bytes", len - left),
            Ok(n) => {
                left -= n as u64;
                if tx.send(Ok(buf.freeze())).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            Err(e) => format!("reading the source failed after {} bytes: {e}", len - left),
        };
        let _ = tx.send(Err(io::Error::other(msg.clone()))).await;
        return Err(PumpError::Source(msg));
    }
    Ok(())
}

//! Reading one slice of an index's snapshot, page by page, and handing each page's dump lines
//! to the writer. Under a point in time a page is a `search_after` search, safe to repeat: a
//! dropped connection or a 429 is retried. A scroll continuation moves the scroll on the
//! server, so only a 429 (refused before it ran) is retried; a dropped connection fails the
//! dump. A slice never writes more documents than its snapshot counted.

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::dump::KEEP_ALIVE;
use super::page::{read_page, PageInfo};
use super::retry::Repeat;
use super::{Body, EsClient, EsError, EsResult};
use crate::progress::{Cancel, Progress};
use reqwest::Method;

/// What one slice reads.
#[derive(Clone)]
pub(super) struct SliceJob {
    pub(super) name: String,
    pub(super) size: usize,
    /// The point in time shared by the slices; `None` reads with a scroll.
    pub(super) pit: Option<String>,
    /// (id, max) of this slice, `None` when the index is read in one piece.
    pub(super) slice: Option<(usize, usize)>,
}

/// The dump lines of one page.
pub(super) struct Chunk {
    pub(super) lines: Vec<u8>,
    pub(super) docs: u64,
}

/// Where a slice is.
enum Cursor {
    Pit {
        id: String,
        after: Option<Vec<Value>>,
    },
    Scroll(Option<String>),
}

impl EsClient {
    /// Read every page of the slice and send its lines to `tx`; returns the number of
    /// documents the slice's snapshot counted.
    pub(super) async fn read_slice(
        &self,
        job: SliceJob,
        tx: mpsc::Sender<Chunk>,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<u64> {
        let mut cursor = match &job.pit {
            Some(id) => Cursor::Pit {
                id: id.clone(),
                after: None,
            },
            None => Cursor::Scroll(None),
        };
        let result = self
            .slice_pages(&job, &mut cursor, &tx, progress, cancel)
            .await;
        if let Cursor::Scroll(Some(id)) = &cursor {
            let path = ["_search", "scroll"];
            self.close(&path, json!({"scroll_id": [id]}), progress)
                .await;
        }
        result
    }

    async fn slice_pages(
        &self,
        job: &SliceJob,
        cursor: &mut Cursor,
        tx: &mpsc::Sender<Chunk>,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<u64> {
        let (mut expected, mut written) = (None, 0u64);
        loop {
            let (op, info, lines) = self
                .next_page(job, cursor, expected.is_none(), progress, cancel)
                .await?;
            if expected.is_none() {
                expected = Some(info.total.ok_or_else(|| EsError::Protocol {
                    op: op.clone(),
                    message: "no exact hits.total with track_total_hits=true".into(),
                })?);
            }
            let n = info.docs;
            written += n as u64;
            if let Some(expected) = expected.filter(|&e| written > e) {
                // A server handing out the same page again would otherwise never stop.
                return Err(EsError::CountMismatch {
                    index: job.name.clone(),
                    expected,
                    written,
                });
            }
            if n > 0
                && tx
                    .send(Chunk {
                        lines,
                        docs: n as u64,
                    })
                    .await
                    .is_err()
            {
                return Err(EsError::Cancelled); // the writer stopped
            }
            let done = match cursor {
                Cursor::Pit { .. } => n < job.size,
                Cursor::Scroll(_) => n == 0,
            };
            match (done, &mut *cursor, info) {
                (true, _, _) => break,
                (false, Cursor::Pit { id, after }, info) => {
                    if let Some(new) = info.pit_id {
                        *id = new;
                    }
                    *after = Some(info.after.ok_or_else(|| EsError::Protocol {
                        op,
                        message: "hits without sort values under a point in time".into(),
                    })?);
                }
                (false, Cursor::Scroll(_), _) => {}
            }
        }
        Ok(expected.unwrap_or(0))
    }

    /// Fetch the next page of the slice; returns its operation name, what it says and its
    /// dump lines.
    async fn next_page(
        &self,
        job: &SliceJob,
        cursor: &mut Cursor,
        first: bool,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<(String, PageInfo, Vec<u8>)> {
        let (op, path, query, body, repeat) = request(job, cursor, first);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = self
            .retrying(&op, repeat, progress, cancel, || {
                let body = Body::Json(body.clone());
                self.call(Method::POST, &path, &q, body, cancel)
            })
            .await?;
        let mut lines = Vec::with_capacity(reply.len());
        let info = read_page(&op, &job.name, &reply, &mut lines)?;
        drop(reply);
        if let Cursor::Scroll(id) = cursor {
            let new = info.scroll_id.clone().ok_or_else(|| EsError::Protocol {
                op: op.clone(),
                message: "no _scroll_id".into(),
            })?;
            *id = Some(new);
        }
        Ok((op, info, lines))
    }
}

type Request = (
    String,
    Vec<String>,
    Vec<(&'static str, String)>,
    Value,
    Repeat,
);

/// The request for the next page: operation name, path, query, body and whether it may be
/// repeated after a dropped connection.
fn request(job: &SliceJob, cursor: &Cursor, first: bool) -> Request {
    let slice = job.slice.map(|(id, max)| json!({"id": id, "max": max}));
    match cursor {
        Cursor::Pit { id, after } => {
            let mut body = json!({
                "size": job.size,
                "pit": {"id": id, "keep_alive": KEEP_ALIVE},
                "sort": [{"_shard_doc": "asc"}],
                "track_total_hits": first,
            });
            if let Some(a) = after {
                body["search_after"] = Value::Array(a.clone());
            }
            if let Some(s) = slice {
                body["slice"] = s;
            }
            let op = "POST /_search (point in time)".to_string();
            (op, vec!["_search".into()], vec![], body, Repeat::Safe)
        }
        Cursor::Scroll(None) => {
            let mut body = json!({"size": job.size, "sort": ["_doc"], "track_total_hits": true});
            if let Some(s) = slice {
                body["slice"] = s;
            }
            let op = format!("POST /{}/_search?scroll", job.name);
            let path = vec![job.name.clone(), "_search".into()];
            // Repeating the opening search only opens another scroll (it expires unused).
            let query = vec![("scroll", KEEP_ALIVE.to_string())];
            (op, path, query, body, Repeat::Safe)
        }
        Cursor::Scroll(Some(id)) => {
            let body = json!({"scroll": KEEP_ALIVE, "scroll_id": id});
            let op = "POST /_search/scroll".to_string();
            let path = vec!["_search".into(), "scroll".into()];
            (op, path, vec![], body, Repeat::Unsafe)
        }
    }
}

//! Reading every document of an index, whatever its size. A plain search stops at the
//! 10,000-hit window, so pages are read under a point in time with `search_after` sorted by
//! `_shard_doc` (ES 7.12+), or with a scroll on servers without point in time. Either way the
//! snapshot is counted exactly, the count is checked against what was written, and the
//! context is closed on every path. Documents whose `_source` is missing cannot be rebuilt, so
//! the dump fails rather than write an incomplete copy.

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::source::{check_source, write_line, Hit};
use super::{parse, Body, EsClient, EsError, EsResult, DEFAULT_PAGE_SIZE, DUMP_PHASE};
use crate::progress::{Cancel, Progress};
use reqwest::Method;

const KEEP_ALIVE: &str = "2m";
/// Elasticsearch's `index.max_result_window` when the index does not set it.
const DEFAULT_WINDOW: usize = 10_000;

#[derive(Deserialize)]
struct SearchResp {
    #[serde(default)]
    pit_id: Option<String>,
    #[serde(default, rename = "_scroll_id")]
    scroll_id: Option<String>,
    #[serde(default)]
    timed_out: bool,
    #[serde(default, rename = "_shards")]
    shards: Option<Shards>,
    hits: Hits,
}

#[derive(Deserialize)]
struct Shards {
    #[serde(default)]
    failed: u64,
}

#[derive(Deserialize)]
struct Hits {
    #[serde(default)]
    total: Option<Total>,
    #[serde(default)]
    hits: Vec<Hit>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Total {
    Plain(u64),
    Tracked { value: u64, relation: String },
}

/// The largest page the index serves: a search (and a scroll's batch) of more than
/// `index.max_result_window` hits is refused, and the window may be set below the page size.
fn result_window(settings: &serde_json::Map<String, Value>) -> usize {
    let window = match settings.get("index.max_result_window") {
        Some(Value::String(s)) => s.parse().ok(),
        Some(v) => v.as_u64().and_then(|n| usize::try_from(n).ok()),
        None => None,
    };
    window.unwrap_or(DEFAULT_WINDOW).max(1)
}

/// How the pages are read.
enum Cursor {
    Pit(String),
    Scroll(Option<String>),
}

type Out<'a> = &'a mut (dyn AsyncWrite + Unpin + Send);

impl EsClient {
    /// Write every document of the index `name` to `out` as NDJSON lines
    /// `{"_id":..,"_routing":..,"_source":{..}}` (`_routing` only when set), after a refresh
    /// so that recent writes are included. Returns the number of documents written, which is
    /// checked against the exact count of the snapshot read.
    ///
    /// # Errors
    /// `SourceUnavailable` when the mapping disables or filters `_source` or a hit comes back
    /// without it; `CountMismatch` when fewer or more documents were read than counted;
    /// `Partial` when shards failed. On error, what was written to `out` is incomplete and
    /// must be discarded.
    pub async fn dump_docs(
        &self,
        name: &str,
        out: Out<'_>,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<u64> {
        let def = self.index_def(name, cancel).await?;
        check_source(name, &def.mappings, progress)?;
        self.refresh(name, cancel).await?;
        let size = DEFAULT_PAGE_SIZE.min(result_window(&def.settings));
        let mut cursor = Cursor::Scroll(None);
        if pit_expected(&self.version(cancel).await?) {
            match self.open_pit(name, cancel).await {
                Ok(id) => cursor = Cursor::Pit(id),
                Err(e) if pit_unavailable(&e) => progress.info(format!(
                    "point in time not available ({e}); reading {name} with a scroll"
                )),
                Err(e) => return Err(e),
            }
        }
        let result = self
            .read_all(name, size, &mut cursor, out, progress, cancel)
            .await;
        self.close(&cursor, progress).await;
        let (expected, written) = result?;
        if expected != written {
            return Err(EsError::CountMismatch {
                index: name.into(),
                expected,
                written,
            });
        }
        out.flush().await.map_err(|e| io(name, e)).map(|()| written)
    }

    async fn open_pit(&self, name: &str, cancel: &Cancel) -> EsResult<String> {
        let op = format!("POST /{name}/_pit");
        let q = [("keep_alive", KEEP_ALIVE)];
        let reply = self
            .call(Method::POST, &[name, "_pit"], &q, Body::None, cancel)
            .await?;
        let v: Value = parse(&op, &reply)?;
        v["id"]
            .as_str()
            .map(str::to_string)
            .ok_or(EsError::Protocol {
                op,
                message: "no point-in-time id".into(),
            })
    }

    /// Read every page; returns (documents counted in the snapshot, documents written).
    async fn read_all(
        &self,
        name: &str,
        size: usize,
        cursor: &mut Cursor,
        out: Out<'_>,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<(u64, u64)> {
        let (mut expected, mut written, mut bytes) = (None, 0u64, 0u64);
        let mut after: Option<Vec<Value>> = None;
        let mut buf = Vec::new();
        loop {
            let (op, reply) = match cursor {
                Cursor::Pit(id) => {
                    let mut body = json!({
                        "size": size,
                        "pit": {"id": id, "keep_alive": KEEP_ALIVE},
                        "sort": [{"_shard_doc": "asc"}],
                        "track_total_hits": expected.is_none(),
                    });
                    if let Some(a) = after.take() {
                        body["search_after"] = Value::Array(a);
                    }
                    let path = ["_search"];
                    let r = self.call(Method::POST, &path, &[], Body::Json(body), cancel);
                    ("POST /_search (point in time)".to_string(), r.await?)
                }
                Cursor::Scroll(None) => {
                    let body = json!({"size": size, "sort": ["_doc"], "track_total_hits": true});
                    let q = [("scroll", KEEP_ALIVE)];
                    let path = [name, "_search"];
                    let r = self.call(Method::POST, &path, &q, Body::Json(body), cancel);
                    (format!("POST /{name}/_search?scroll"), r.await?)
                }
                Cursor::Scroll(Some(id)) => {
                    let body = json!({"scroll": KEEP_ALIVE, "scroll_id": id});
                    let path = ["_search", "scroll"];
                    let r = self.call(Method::POST, &path, &[], Body::Json(body), cancel);
                    ("POST /_search/scroll".to_string(), r.await?)
                }
            };
            let page: SearchResp = parse(&op, &reply)?;
            drop(reply);
            match cursor {
                Cursor::Pit(id) => {
                    if let Some(new) = page.pit_id.clone() {
                        *id = new;
                    }
                }
                Cursor::Scroll(id) => {
                    let new = page.scroll_id.clone().ok_or_else(|| EsError::Protocol {
                        op: op.clone(),
                        message: "no _scroll_id".into(),
                    })?;
                    *id = Some(new);
                }
            }
            let failed = page.shards.as_ref().map_or(0, |s| s.failed);
            if page.timed_out || failed > 0 {
                return Err(EsError::Partial {
                    index: name.into(),
                    why: format!("{failed} shard(s) failed, timed out: {}", page.timed_out),
                });
            }
            if expected.is_none() {
                expected = Some(match &page.hits.total {
                    Some(Total::Plain(n)) => *n,
                    Some(Total::Tracked { value, relation }) if relation == "eq" => *value,
                    _ => {
                        return Err(EsError::Protocol {
                            op,
                            message: "no exact hits.total with track_total_hits=true".into(),
                        })
                    }
                });
            }
            let n = page.hits.hits.len();
            buf.clear();
            for hit in &page.hits.hits {
                write_line(name, hit, &mut buf)?;
            }
            if let Some(last) = page.hits.hits.last() {
                after = last.sort.clone();
            }
            drop(page);
            out.write_all(&buf).await.map_err(|e| io(name, e))?;
            written += n as u64;
            if let Some(expected) = expected.filter(|&e| written > e) {
                // A server handing out the same page again would otherwise never stop.
                return Err(EsError::CountMismatch {
                    index: name.into(),
                    expected,
                    written,
                });
            }
            bytes += buf.len() as u64;
            progress.bytes(DUMP_PHASE, bytes);
            let done = match cursor {
                Cursor::Pit(_) => n < size,
                Cursor::Scroll(_) => n == 0,
            };
            if done {
                break;
            }
            if matches!(cursor, Cursor::Pit(_)) && after.is_none() {
                return Err(EsError::Protocol {
                    op,
                    message: "hits without sort values under a point in time".into(),
                });
            }
        }
        Ok((expected.unwrap_or(0), written))
    }

    /// Close the point in time or scroll, whatever happened (not cancellable: it frees
    /// resources on the server). A failure is only worth a warning: the context expires.
    async fn close(&self, cursor: &Cursor, progress: &Progress) {
        let (path, body): (&[&str], Value) = match cursor {
            Cursor::Pit(id) => (&["_pit"], json!({"id": id})),
            Cursor::Scroll(Some(id)) => (&["_search", "scroll"], json!({"scroll_id": [id]})),
            Cursor::Scroll(None) => return,
        };
        let never = Cancel::new();
        let call = self.call(Method::DELETE, path, &[], Body::Json(body), &never);
        match tokio::time::timeout(std::time::Duration::from_secs(15), call).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => progress.warn(format!("could not close the search context: {e}")),
            Err(_) => progress.warn("closing the search context timed out"),
        }
    }
}

fn io(name: &str, e: std::io::Error) -> EsError {
    EsError::Io {
        context: format!("writing the dump of index {name}"),
        source: e,
    }
}

/// Point in time with `_shard_doc` exists from Elasticsearch 7.12 (OpenSearch has another API).
fn pit_expected(version: &str) -> bool {
    if version.contains(' ') {
        return false; // another distribution
    }
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .unwrap_or(0)
    });
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (7, 12)
}

/// The server has no point-in-time API (no handler, method not allowed).
fn pit_unavailable(e: &EsError) -> bool {
    matches!(e, EsError::Server { status: 400 | 405, kind, .. }
        if kind.is_empty() || kind == "illegal_argument_exception" || kind == "parsing_exception")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pit_needs_7_12() {
        assert!(pit_expected("8.11.0"));
        assert!(pit_expected("7.12.1"));
        assert!(!pit_expected("7.10.2"));
        assert!(!pit_expected("6.8.23"));
        assert!(!pit_expected("opensearch 2.11.0"));
    }
}

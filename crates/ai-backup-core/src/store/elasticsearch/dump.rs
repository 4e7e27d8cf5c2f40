//! Reading every document of an index, whatever its size. A plain search stops at the
//! 10,000-hit window, so pages are read under a point in time with `search_after` sorted by
//! `_shard_doc` (ES 7.12+), or with a scroll on servers without point in time. Several slices
//! of one point in time (`slice`) are read at once, each by its own task (a scroll reads in one
//! piece: sliced scrolls would each be a snapshot of their own), and their pages are
//! written whole, one after another, so the order of documents in the dump is not the index's
//! (a restore does not depend on it). Either way the snapshot is counted exactly, the count is
//! checked against what was written, and every context is closed on every path. Documents
//! whose `_source` is missing cannot be rebuilt, so the dump fails rather than write an
//! incomplete copy. Memory stays bounded: each slice holds one page, and one page at most
//! waits to be written.

use serde_json::{json, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::slice::{Chunk, SliceJob};
use super::source::check_source;
use super::{parse, Body, EsClient, EsError, EsResult, DUMP_PHASE};
use crate::progress::{Cancel, Progress};
use reqwest::Method;

pub(super) const KEEP_ALIVE: &str = "2m";
/// Elasticsearch's `index.max_result_window` when the index does not set it.
const DEFAULT_WINDOW: usize = 10_000;

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

type Out<'a> = &'a mut (dyn AsyncWrite + Unpin + Send);

impl EsClient {
    /// Write every document of the index `name` to `out` as NDJSON lines
    /// `{"_id":..,"_routing":..,"_source":{..}}` (`_routing` only when set), after a refresh
    /// so that recent writes are included, reading up to `parallel` slices at once. Returns
    /// the number of documents written, which is checked against the exact count of the
    /// snapshot read.
    ///
    /// # Errors
    /// `SourceUnavailable` when the mapping disables or filters `_source` or a hit comes back
    /// without it; `CountMismatch` when fewer or more documents were read than counted;
    /// `Partial` when shards failed; `GaveUp` when a page still failed with a transient error
    /// after every retry. On error, what was written to `out` is incomplete and must be
    /// discarded.
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
        let size = self.page_size.min(result_window(&def.settings));
        let mut pit = None;
        if pit_expected(&self.version(cancel).await?) {
            match self.open_pit(name, cancel).await {
                Ok(id) => pit = Some(id),
                Err(e) if pit_unavailable(&e) => progress.info(format!(
                    "point in time not available ({e}); reading {name} with a scroll"
                )),
                Err(e) => return Err(e),
            }
        }
        let job = SliceJob {
            name: name.to_string(),
            size,
            pit: pit.clone(),
            slice: None,
        };
        let result = self.read_slices(job, out, progress, cancel).await;
        if let Some(id) = &pit {
            self.close(&["_pit"], json!({"id": id}), progress).await;
        }
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

    /// Read the slices of `job` in tasks of their own and write their pages to `out` as they
    /// come; returns (documents counted in the snapshot, documents written). The first error
    /// stops the other slices (their tasks are aborted).
    async fn read_slices(
        &self,
        job: SliceJob,
        out: Out<'_>,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<(u64, u64)> {
        // Slices of one point in time read one snapshot; sliced scrolls would each open their
        // own, at different moments, so without a point in time the index is read in one piece.
        let slices = if job.pit.is_some() {
            self.parallel.max(1)
        } else {
            1
        };
        let (tx, mut rx) = mpsc::channel::<Chunk>(1);
        let mut tasks = JoinSet::new();
        for id in 0..slices {
            let job = SliceJob {
                slice: (slices > 1).then_some((id, slices)),
                ..job.clone()
            };
            let (es, tx, p, c) = (self.clone(), tx.clone(), progress.clone(), cancel.clone());
            tasks.spawn(async move { es.read_slice(job, tx, &p, &c).await });
        }
        drop(tx);
        let name = job.name.as_str();
        let (mut expected, mut written, mut bytes) = (0u64, 0u64, 0u64);
        loop {
            tokio::select! {
                chunk = rx.recv() => {
                    let Some(chunk) = chunk else { break };
                    out.write_all(&chunk.lines).await.map_err(|e| io(name, e))?;
                    written += chunk.docs;
                    bytes += chunk.lines.len() as u64;
                    progress.bytes(DUMP_PHASE, bytes);
                }
                Some(done) = tasks.join_next() => expected += joined(done)?,
            }
        }
        while let Some(done) = tasks.join_next().await {
            expected += joined(done)?;
        }
        Ok((expected, written))
    }

    /// Close a point in time or scroll, whatever happened (not cancellable: it frees
    /// resources on the server). A failure is only worth a warning: the context expires.
    pub(super) async fn close(&self, path: &[&str], body: Value, progress: &Progress) {
        let never = Cancel::new();
        let call = self.call(Method::DELETE, path, &[], Body::Json(body), &never);
        match tokio::time::timeout(std::time::Duration::from_secs(15), call).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => progress.warn(format!("could not close the search context: {e}")),
            Err(_) => progress.warn("closing the search context timed out"),
        }
    }
}

/// The count of a finished slice task, or its error.
fn joined(done: Result<EsResult<u64>, tokio::task::JoinError>) -> EsResult<u64> {
    match done {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => Err(EsError::Cancelled),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

pub(super) fn io(name: &str, e: std::io::Error) -> EsError {
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

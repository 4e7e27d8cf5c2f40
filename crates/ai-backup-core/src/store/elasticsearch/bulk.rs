//! Loading a dump back with `_bulk`. The input is read line by line into requests bounded in
//! bytes and documents, and up to `parallel` requests are sent at once, each by its own task
//! (`bulk_send` checks every item and retries what is transient), so memory stays bounded:
//! a few requests in flight and the one being filled.

use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinSet;

use super::LOAD_PHASE;
use super::{EsClient, EsError, EsResult};
use crate::progress::{Cancel, Progress};

/// One line of a dump, as `dump_docs` writes it.
#[derive(Deserialize)]
struct DocLine<'a> {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default, rename = "_routing")]
    routing: Option<String>,
    #[serde(borrow, rename = "_source")]
    source: &'a RawValue,
}

/// Documents being gathered: action and source lines in one buffer, sized once for a whole
/// request (it never grows past it but for one document larger than a request).
#[derive(Default)]
struct Filling {
    buf: Vec<u8>,
    docs: Vec<(String, Range<usize>)>,
}

/// Documents on their way: the whole request's body is the buffer itself, shared, not copied.
pub(super) struct Batch {
    buf: Bytes,
    pub(super) docs: Vec<(String, Range<usize>)>,
}

impl Filling {
    fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            docs: Vec::new(),
        }
    }

    /// The documents gathered, as a batch; gathering goes on in a fresh buffer.
    fn take(&mut self, capacity: usize) -> Batch {
        std::mem::replace(self, Self::with_capacity(capacity)).seal()
    }

    fn seal(self) -> Batch {
        Batch {
            buf: Bytes::from(self.buf),
            docs: self.docs,
        }
    }

    fn push(&mut self, doc: &DocLine<'_>) {
        let start = self.buf.len();
        let mut meta = json!({"_id": doc.id});
        if let Some(r) = &doc.routing {
            meta["routing"] = Value::String(r.clone());
        }
        serde_json::to_writer(&mut self.buf, &json!({ "index": meta })).expect("JSON serialises");
        self.buf.push(b'\n');
        self.buf.extend_from_slice(doc.source.get().as_bytes());
        self.buf.push(b'\n');
        self.docs.push((doc.id.clone(), start..self.buf.len()));
    }
}

impl Batch {
    /// The request body for the documents at `idx`.
    pub(super) fn body(&self, idx: &[usize]) -> Bytes {
        if idx.len() == self.docs.len() {
            return self.buf.clone();
        }
        let mut out = Vec::new();
        for &i in idx {
            out.extend_from_slice(&self.buf[self.docs[i].1.clone()]);
        }
        Bytes::from(out)
    }
}

impl EsClient {
    /// Load the NDJSON written by `dump_docs` from `input` into the index `name`, in `_bulk`
    /// requests of at most the configured bytes and documents, up to `parallel` at once.
    /// Returns the number of documents loaded. Refresh afterwards to make them visible.
    ///
    /// # Errors
    /// `BulkItems` when Elasticsearch refused documents (listing the first ones with their
    /// `_id`), `Rejected` when it still answered 429 after every retry, `GaveUp` when
    /// connections still dropped, `TooLarge` when one document alone exceeds the request size
    /// limit, `BadInput` for a malformed line. On error, some documents may be loaded.
    pub async fn bulk_load(
        &self,
        name: &str,
        input: &mut (dyn AsyncRead + Unpin + Send),
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<u64> {
        // The index must exist: `_bulk` would otherwise create it with guessed mappings.
        self.mappings(name, cancel).await?;
        let mut reader = BufReader::with_capacity(1 << 16, input);
        let request = self.bulk_bytes.min(64 << 20);
        let (mut line, mut batch) = (Vec::new(), Filling::with_capacity(request));
        let (mut lineno, mut read) = (0u64, 0u64);
        let mut sending = Sending::new(self, name, progress, cancel);
        loop {
            if cancel.is_cancelled() {
                return Err(EsError::Cancelled);
            }
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| EsError::Io {
                    context: format!("reading the documents for index {name}"),
                    source: e,
                })?;
            if n == 0 {
                break;
            }
            lineno += 1;
            read += n as u64;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let doc = doc_line(name, lineno, &line)?;
            let size = doc.id.len() + doc.source.get().len() + 64;
            if !batch.docs.is_empty() && batch.buf.len() + size > self.bulk_bytes {
                sending.send(batch.take(request)).await?;
                progress.bytes(LOAD_PHASE, read);
            }
            batch.push(&doc);
            if batch.docs.len() >= self.bulk_docs || batch.buf.len() >= self.bulk_bytes {
                sending.send(batch.take(request)).await?;
                progress.bytes(LOAD_PHASE, read);
            }
        }
        if !batch.docs.is_empty() {
            sending.send(batch.seal()).await?;
        }
        let loaded = sending.finish().await?;
        progress.bytes(LOAD_PHASE, read);
        Ok(loaded)
    }
}

/// Parse one input line.
fn doc_line<'a>(name: &str, lineno: u64, line: &'a [u8]) -> EsResult<DocLine<'a>> {
    let bad = |message: String| EsError::BadInput {
        index: name.into(),
        line: lineno,
        message,
    };
    let doc: DocLine = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    if !doc.source.get().trim_start().starts_with('{') {
        return Err(bad("_source is not a JSON object".into()));
    }
    Ok(doc)
}

/// The `_bulk` requests in flight, each in a task of its own; dropping it aborts them.
struct Sending<'a> {
    es: &'a EsClient,
    name: &'a str,
    progress: &'a Progress,
    cancel: &'a Cancel,
    tasks: JoinSet<EsResult<u64>>,
    loaded: u64,
}

impl<'a> Sending<'a> {
    fn new(es: &'a EsClient, name: &'a str, progress: &'a Progress, cancel: &'a Cancel) -> Self {
        Self {
            es,
            name,
            progress,
            cancel,
            tasks: JoinSet::new(),
            loaded: 0,
        }
    }

    /// Start sending `batch` once fewer than `parallel` requests are in flight.
    async fn send(&mut self, batch: Batch) -> EsResult<()> {
        while self.tasks.len() >= self.es.parallel {
            self.join_one().await?;
        }
        let (es, name) = (self.es.clone(), self.name.to_string());
        let (p, c) = (self.progress.clone(), self.cancel.clone());
        self.tasks
            .spawn(async move { es.send_batch(&name, &batch, &p, &c).await });
        Ok(())
    }

    async fn join_one(&mut self) -> EsResult<()> {
        match self.tasks.join_next().await {
            Some(Ok(r)) => self.loaded += r?,
            Some(Err(e)) if e.is_cancelled() => return Err(EsError::Cancelled),
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => {}
        }
        Ok(())
    }

    /// Wait for every request; the documents loaded.
    async fn finish(mut self) -> EsResult<u64> {
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok(self.loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_builds_bulk_lines() {
        let mut b = Filling::default();
        for l in [
            r#"{"_id":"a","_source":{"x":1}}"#,
            r#"{"_id":"b","_routing":"r1","_source":{"y":[1,2]}}"#,
        ] {
            b.push(&serde_json::from_str::<DocLine>(l).unwrap());
        }
        let b = b.seal();
        let all = String::from_utf8(b.body(&[0, 1]).to_vec()).unwrap();
        assert_eq!(
            all,
            "{\"index\":{\"_id\":\"a\"}}\n{\"x\":1}\n{\"index\":{\"_id\":\"b\",\"routing\":\"r1\"}}\n{\"y\":[1,2]}\n"
        );
        let second = String::from_utf8(b.body(&[1]).to_vec()).unwrap();
        assert!(second.starts_with("{\"index\":{\"_id\":\"b\"") && all.ends_with(&second));
    }
}

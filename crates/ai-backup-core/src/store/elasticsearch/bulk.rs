//! Loading a dump back with `_bulk`. Elasticsearch answers HTTP 200 even when documents were
//! refused, so every item's status is checked; 429 (whole request or single items) means
//! "later", so those are sent again with a bounded exponential backoff; 413 means the request
//! was too large, so the batch is split. Requests are bounded in bytes and documents, and the
//! input is read line by line, so memory stays bounded.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::LOAD_PHASE;
use super::{op_name, parse, server_error, Body, EsClient, EsError, EsResult, ItemError};
use crate::progress::{Cancel, Progress};

/// Item errors listed in `EsError::BulkItems`.
const LISTED_ERRORS: usize = 5;

/// One line of a dump, as `dump_docs` writes it.
#[derive(Deserialize)]
struct DocLine {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default, rename = "_routing")]
    routing: Option<String>,
    #[serde(rename = "_source")]
    source: Box<RawValue>,
}

/// Documents waiting to be sent: action and source lines in one buffer.
#[derive(Default)]
struct Batch {
    buf: Vec<u8>,
    docs: Vec<(String, Range<usize>)>,
}

impl Batch {
    fn push(&mut self, doc: &DocLine) {
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

    fn clear(&mut self) {
        self.buf.clear();
        self.docs.clear();
    }

    /// The request body for the documents at `idx`.
    fn body(&self, idx: &[usize]) -> Bytes {
        if idx.len() == self.docs.len() {
            return Bytes::copy_from_slice(&self.buf);
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
    /// requests of at most the configured bytes and documents. Returns the number of
    /// documents loaded. Refresh afterwards to make them visible.
    ///
    /// # Errors
    /// `BulkItems` when Elasticsearch refused documents (listing the first ones with their
    /// `_id`), `Rejected` when it still answered 429 after every retry, `TooLarge` when one
    /// document alone exceeds the request size limit, `BadInput` for a malformed line.
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
        let (mut line, mut batch) = (Vec::new(), Batch::default());
        let (mut lineno, mut read, mut loaded) = (0u64, 0u64, 0u64);
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
            let bad = |message: String| EsError::BadInput {
                index: name.into(),
                line: lineno,
                message,
            };
            let doc: DocLine = serde_json::from_slice(&line).map_err(|e| bad(e.to_string()))?;
            if !doc.source.get().trim_start().starts_with('{') {
                return Err(bad("_source is not a JSON object".into()));
            }
            let size = doc.id.len() + doc.source.get().len() + 64;
            if !batch.docs.is_empty() && batch.buf.len() + size > self.bulk_bytes {
                loaded += self.send_batch(name, &batch, cancel).await?;
                batch.clear();
                progress.bytes(LOAD_PHASE, read);
            }
            batch.push(&doc);
            if batch.docs.len() >= self.bulk_docs || batch.buf.len() >= self.bulk_bytes {
                loaded += self.send_batch(name, &batch, cancel).await?;
                batch.clear();
                progress.bytes(LOAD_PHASE, read);
            }
        }
        if !batch.docs.is_empty() {
            loaded += self.send_batch(name, &batch, cancel).await?;
        }
        progress.bytes(LOAD_PHASE, read);
        Ok(loaded)
    }

    /// Send one batch until every document is in, splitting on 413 and retrying on 429.
    async fn send_batch(&self, name: &str, batch: &Batch, cancel: &Cancel) -> EsResult<u64> {
        let path = [name, "_bulk"];
        let op = op_name(&Method::POST, &path);
        let mut work: Vec<(Vec<usize>, u32)> = vec![((0..batch.docs.len()).collect(), 0)];
        let mut loaded = 0u64;
        while let Some((idx, attempt)) = work.pop() {
            let body = Body::Ndjson(batch.body(&idx));
            let (status, reply) = self.send(Method::POST, &path, &[], body, cancel).await?;
            match status {
                200..=299 => {
                    let v: Value = parse(&op, &reply)?;
                    let items = v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                    if items.len() != idx.len() {
                        return Err(EsError::Protocol {
                            op,
                            message: format!("{} items for {} documents", items.len(), idx.len()),
                        });
                    }
                    let (mut retry, mut failed, mut last_429) = (Vec::new(), Vec::new(), None);
                    for (k, item) in items.iter().enumerate() {
                        let r = item.as_object().and_then(|o| o.values().next());
                        let r = r.unwrap_or(&Value::Null);
                        let st = r["status"].as_u64().unwrap_or(0) as u16;
                        match st {
                            200..=299 => loaded += 1,
                            429 => {
                                retry.push(idx[k]);
                                last_429 = Some(item_error(&batch.docs[idx[k]].0, st, r));
                            }
                            _ => failed.push(item_error(&batch.docs[idx[k]].0, st, r)),
                        }
                    }
                    if !failed.is_empty() {
                        let count = failed.len();
                        failed.truncate(LISTED_ERRORS);
                        return Err(EsError::BulkItems {
                            index: name.into(),
                            failed: count,
                            first: failed,
                        });
                    }
                    if let Some(e) = last_429 {
                        self.backoff(name, attempt, &e.to_string(), cancel).await?;
                        work.push((retry, attempt + 1));
                    }
                }
                429 => {
                    let e = server_error(op.clone(), status, &reply);
                    self.backoff(name, attempt, &e.to_string(), cancel).await?;
                    work.push((idx, attempt + 1));
                }
                413 if idx.len() > 1 => {
                    let (a, b) = idx.split_at(idx.len() / 2);
                    work.push((b.to_vec(), attempt));
                    work.push((a.to_vec(), attempt));
                }
                413 => {
                    return Err(EsError::TooLarge {
                        index: name.into(),
                        id: batch.docs[idx[0]].0.clone(),
                    })
                }
                _ => return Err(server_error(op, status, &reply)),
            }
        }
        Ok(loaded)
    }

    /// Wait before try `attempt + 2`, or fail when the tries are used up.
    async fn backoff(
        &self,
        name: &str,
        attempt: u32,
        reason: &str,
        cancel: &Cancel,
    ) -> EsResult<()> {
        if attempt + 1 >= self.retry_tries {
            return Err(EsError::Rejected {
                index: name.into(),
                tries: self.retry_tries,
                reason: reason.into(),
            });
        }
        let wait = self.retry_delay.saturating_mul(1 << attempt.min(16));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(EsError::Cancelled),
            _ = tokio::time::sleep(wait.min(Duration::from_secs(60))) => Ok(()),
        }
    }
}

fn item_error(id: &str, status: u16, r: &Value) -> ItemError {
    let (kind, reason) = match &r["error"] {
        Value::Object(e) => {
            let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
            let mut reason = e
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(c) = e.get("caused_by").and_then(Value::as_object) {
                if let Some(cr) = c.get("reason").and_then(Value::as_str) {
                    reason = format!("{reason} (caused by {cr})");
                }
            }
            (kind.to_string(), reason)
        }
        Value::String(s) => (String::new(), s.clone()),
        _ => (String::new(), "no error details".into()),
    };
    ItemError {
        id: id.to_string(),
        status,
        kind,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_builds_bulk_lines() {
        let mut b = Batch::default();
        for l in [
            r#"{"_id":"a","_source":{"x":1}}"#,
            r#"{"_id":"b","_routing":"r1","_source":{"y":[1,2]}}"#,
        ] {
            b.push(&serde_json::from_str::<DocLine>(l).unwrap());
        }
        let all = String::from_utf8(b.body(&[0, 1]).to_vec()).unwrap();
        assert_eq!(
            all,
            "{\"index\":{\"_id\":\"a\"}}\n{\"x\":1}\n{\"index\":{\"_id\":\"b\",\"routing\":\"r1\"}}\n{\"y\":[1,2]}\n"
        );
        let second = String::from_utf8(b.body(&[1]).to_vec()).unwrap();
        assert!(second.starts_with("{\"index\":{\"_id\":\"b\"") && all.ends_with(&second));
    }

    #[test]
    fn item_errors_keep_type_and_reason() {
        let r = json!({"_id": "x", "status": 400, "error": {"type": "document_parsing_exception",
            "reason": "bad", "caused_by": {"type": "e", "reason": "why"}}});
        let e = item_error("x", 400, &r);
        assert_eq!(e.kind, "document_parsing_exception");
        assert_eq!(e.reason, "bad (caused by why)");
        assert!(e.to_string().contains("\"x\""));
    }
}

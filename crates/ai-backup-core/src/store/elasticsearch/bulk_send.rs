//! One `_bulk` request, sent until every document in it is in. Elasticsearch answers HTTP 200
//! even when documents were refused, so every item's status is checked; 429 (whole request or
//! single items) means "later", so those are sent again with a bounded exponential backoff; a
//! dropped connection is retried too, which is safe because every action indexes an explicit
//! `_id` (sending it twice leaves the same document); 413 means the request was too large, so
//! it is split. Every retry is counted by `Progress::retrying`.

use reqwest::Method;
use serde_json::Value;

use super::bulk::Batch;
use super::retry::{transient, Repeat};
use super::{op_name, parse, server_error, Body, EsClient, EsError, EsResult, ItemError};
use crate::progress::{Cancel, Progress};

/// Item errors listed in `EsError::BulkItems`.
const LISTED_ERRORS: usize = 5;

/// What the items of one answer say.
#[derive(Default)]
struct Outcome {
    loaded: u64,
    /// Documents (indices into the batch) refused with 429, to send again.
    retry: Vec<usize>,
    last_429: Option<ItemError>,
    failed: Vec<ItemError>,
}

impl EsClient {
    /// Send one batch until every document is in, splitting on 413 and retrying what is
    /// transient; returns the documents loaded.
    pub(super) async fn send_batch(
        &self,
        name: &str,
        batch: &Batch,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<u64> {
        let path = [name, "_bulk"];
        let op = op_name(&Method::POST, &path);
        let mut work: Vec<(Vec<usize>, u32)> = vec![((0..batch.docs.len()).collect(), 0)];
        let mut loaded = 0u64;
        while let Some((idx, attempt)) = work.pop() {
            let body = Body::Ndjson(batch.body(&idx));
            let (status, reply) = match self.send(Method::POST, &path, &[], body, cancel).await {
                Ok(answer) => answer,
                Err(e) if transient(&e, Repeat::Safe) => {
                    self.backoff(name, attempt, &e, progress, cancel).await?;
                    work.push((idx, attempt + 1));
                    continue;
                }
                Err(e) => return Err(e),
            };
            match status {
                200..=299 => {
                    let out = items(&op, batch, &idx, &reply)?;
                    loaded += out.loaded;
                    if !out.failed.is_empty() {
                        return Err(refused(name, out.failed));
                    }
                    if let Some(e) = out.last_429 {
                        let e = EsError::Server {
                            op: op.clone(),
                            status: 429,
                            kind: e.kind.clone(),
                            reason: e.to_string(),
                        };
                        self.backoff(name, attempt, &e, progress, cancel).await?;
                        work.push((out.retry, attempt + 1));
                    }
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
                _ => {
                    let e = server_error(op.clone(), status, &reply);
                    if !transient(&e, Repeat::Safe) {
                        return Err(e);
                    }
                    self.backoff(name, attempt, &e, progress, cancel).await?;
                    work.push((idx, attempt + 1));
                }
            }
        }
        Ok(loaded)
    }

    /// Count the retry of `e` and wait before try `attempt + 2`, or fail when the tries are
    /// used up: `Rejected` after 429s, `GaveUp` after other transient errors.
    async fn backoff(
        &self,
        name: &str,
        attempt: u32,
        e: &EsError,
        progress: &Progress,
        cancel: &Cancel,
    ) -> EsResult<()> {
        if attempt + 1 >= self.retry_tries {
            return Err(match e.status() {
                Some(429) => EsError::Rejected {
                    index: name.into(),
                    tries: self.retry_tries,
                    reason: e.to_string(),
                },
                _ => EsError::GaveUp {
                    op: format!("bulk load into {name}"),
                    tries: self.retry_tries,
                    last: e.to_string(),
                },
            });
        }
        progress.retrying(&format!("bulk load into {name}"), &e.to_string());
        self.wait(attempt, cancel).await
    }
}

/// Read the items of a `_bulk` answer for the documents `idx` of `batch`.
fn items(op: &str, batch: &Batch, idx: &[usize], reply: &[u8]) -> EsResult<Outcome> {
    let v: Value = parse(op, reply)?;
    let items = v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if items.len() != idx.len() {
        return Err(EsError::Protocol {
            op: op.to_string(),
            message: format!("{} items for {} documents", items.len(), idx.len()),
        });
    }
    let mut out = Outcome::default();
    for (k, item) in items.iter().enumerate() {
        let r = item.as_object().and_then(|o| o.values().next());
        let r = r.unwrap_or(&Value::Null);
        let st = r["status"].as_u64().unwrap_or(0) as u16;
        let id = &batch.docs[idx[k]].0;
        match st {
            200..=299 => out.loaded += 1,
            429 => {
                out.retry.push(idx[k]);
                out.last_429 = Some(item_error(id, st, r));
            }
            _ => out.failed.push(item_error(id, st, r)),
        }
    }
    Ok(out)
}

fn refused(name: &str, mut failed: Vec<ItemError>) -> EsError {
    let count = failed.len();
    failed.truncate(LISTED_ERRORS);
    EsError::BulkItems {
        index: name.into(),
        failed: count,
        first: failed,
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
    use serde_json::json;

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

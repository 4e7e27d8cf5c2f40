//! Whole-index copies with the clone API (`POST /<source>/_clone/<target>`). Elasticsearch
//! hard-links the source's segments, so a copy costs next to nothing whatever the index size,
//! which makes it the way to keep an index aside while a restore replaces it. Real ES only
//! clones an index whose writes are blocked (else 500 `illegal_state_exception`), copies the
//! source's settings including that block but not `number_of_replicas` (the node default
//! instead) nor the aliases, and adds settings of its own (`index.resize.source.*`,
//! `index.routing_partition_size`, `index.routing.allocation.initial_recovery._id`).
//! `clone_index` hides all that: the copy's definition is the source's as it was before the
//! call, and the source's write block is put back as it was on every path.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::{not_an_index, op_name, parse, server_error, settings, Body, EsClient};
use super::{EsError, EsResult};
use crate::progress::Cancel;

const WRITE_BLOCK: &str = "index.blocks.write";
/// The blocks that stop writes; any of them lets Elasticsearch clone the index.
const WRITE_LEVEL_BLOCKS: &[&str] = &[
    "index.blocks.write",
    "index.blocks.read_only",
    "index.blocks.read_only_allow_delete",
];
/// Settings a clone does not copy (it takes the node's defaults), so `clone_index` passes them.
const NOT_COPIED: &[&str] = &["index.number_of_replicas", "index.auto_expand_replicas"];
/// How long to wait for the copy's primaries when the clone answer came before them.
const START_TIMEOUT: &str = "60s";

impl EsClient {
    /// Block writes to the index `name` (`PUT /<name>/_block/write`). Once this returns, writes
    /// in flight have finished and new ones fail with 403 `cluster_block_exception` (as `_bulk`
    /// items: `bulk_load` reports them as `BulkItems`); reads, refreshes and deleting the index
    /// still work. Returns whether this call added the block (false: it was there already).
    /// `name` must be a concrete index: an alias is refused, as it would block every index
    /// behind it.
    pub async fn block_writes(&self, name: &str, cancel: &Cancel) -> EsResult<bool> {
        self.flat_settings(name, cancel).await?;
        self.add_write_block(name, cancel).await
    }

    /// Remove the write block of the index `name` (`index.blocks.write: null`, so its settings
    /// are as if it had never been blocked). Removing a block that is not there is fine.
    pub async fn unblock_writes(&self, name: &str, cancel: &Cancel) -> EsResult<()> {
        self.flat_settings(name, cancel).await?;
        self.put_write_block(name, Value::Null, cancel).await
    }

    /// The aliases of the index `name`, as `IndexDef::aliases`, `PUT /<index>` and
    /// `clone_index` take them. `name` must be a concrete index, not an alias.
    pub async fn aliases_of(&self, name: &str, cancel: &Cancel) -> EsResult<Map<String, Value>> {
        settings::check_name(name).map_err(EsError::Usage)?;
        let mut all: Map<String, Value> = self.get_json(&[name, "_alias"], &[], cancel).await?;
        let mut entry = all.remove(name).ok_or_else(|| not_an_index(name))?;
        Ok(match entry["aliases"].take() {
            Value::Object(m) => m,
            _ => Map::new(),
        })
    }

    /// Copy the index `source` to the new index `target` with the clone API: the same mappings
    /// and settings (as they were before this call, `index.blocks.write` and
    /// `number_of_replicas` included), every document with its `_id`, `_routing`, `_source` and
    /// version, all searchable at once. The copy's aliases are `aliases` (an object like
    /// `IndexDef::aliases`; `{}` or null for none), never the source's. Elasticsearch clones
    /// only an index whose writes are blocked: when `source` was writable, writes to it are
    /// blocked for the time of the copy and the block is removed again afterwards, also when
    /// the clone fails or is cancelled. A `source` that was blocked before stays blocked, and
    /// so is its copy.
    ///
    /// # Errors
    /// `Exists` when `target` is already an index or an alias (nothing is changed then);
    /// `Usage` for a pattern, an alias as `source` or `aliases` that are not an object;
    /// `Server` for what Elasticsearch refuses, e.g. 500 `illegal_state_exception` "alias [a]
    /// has more than one write index" when an alias in `aliases` is the write index of another
    /// index too; `LeftBlocked` when the source's write block could not be removed again.
    pub async fn clone_index(
        &self,
        source: &str,
        target: &str,
        aliases: &Value,
        cancel: &Cancel,
    ) -> EsResult<()> {
        settings::check_name(target).map_err(EsError::Usage)?;
        let aliases = match aliases {
            Value::Null => json!({}),
            Value::Object(_) => aliases.clone(),
            other => {
                return Err(EsError::Usage(format!(
                    "aliases for {target}: expected a JSON object, got {other}"
                )))
            }
        };
        let src = self.flat_settings(source, cancel).await?;
        if self.exists(target, cancel).await? {
            return Err(EsError::Exists {
                index: target.into(),
            });
        }
        let was = src.get(WRITE_BLOCK).cloned().unwrap_or(Value::Null);
        let mut copy_settings = Map::new();
        copy_settings.insert(WRITE_BLOCK.into(), was.clone());
        for key in NOT_COPIED {
            if let Some(v) = src.get(*key) {
                copy_settings.insert((*key).into(), v.clone());
            }
        }
        let body = json!({"settings": copy_settings, "aliases": aliases});
        let blocked = WRITE_LEVEL_BLOCKS.iter().any(|k| is_true(src.get(*k)));
        if blocked {
            return self.clone_call(source, target, body, cancel).await;
        }
        let result = match self.add_write_block(source, cancel).await {
            Ok(true) => self.clone_call(source, target, body, cancel).await,
            // Blocked meanwhile by someone else, whose block this must not remove.
            Ok(false) => return self.clone_call(source, target, body, cancel).await,
            // Refused: nothing was blocked.
            Err(e @ EsError::Server { .. }) => return Err(e),
            // Cancelled or connection lost: the block may be in place.
            Err(e) => Err(e),
        };
        // The source as it was, whatever happened (a cancelled token would stop this too).
        let restore = self.put_write_block(source, was, &Cancel::new()).await;
        match (result, restore) {
            (result, Ok(())) => result,
            (result, Err(e)) => Err(EsError::LeftBlocked {
                index: source.into(),
                message: match result {
                    Ok(()) => format!("the copy {target} was made, but unblocking failed: {e}"),
                    Err(c) => format!("copying to {target} failed ({c}), and unblocking too: {e}"),
                },
            }),
        }
    }

    /// Flat settings of the concrete index `name` (an alias is refused).
    async fn flat_settings(&self, name: &str, cancel: &Cancel) -> EsResult<Map<String, Value>> {
        settings::check_name(name).map_err(EsError::Usage)?;
        let q = [("flat_settings", "true")];
        let mut all: Map<String, Value> = self.get_json(&[name, "_settings"], &q, cancel).await?;
        let mut entry = all.remove(name).ok_or_else(|| not_an_index(name))?;
        Ok(match entry["settings"].take() {
            Value::Object(m) => settings::flatten(&m),
            _ => Map::new(),
        })
    }

    /// Whether `name` is an index or an alias.
    async fn exists(&self, name: &str, cancel: &Cancel) -> EsResult<bool> {
        let (status, reply) = self
            .send(Method::HEAD, &[name], &[], Body::None, cancel)
            .await?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(server_error(
                op_name(&Method::HEAD, &[name]),
                status,
                &reply,
            )),
        }
    }

    async fn add_write_block(&self, name: &str, cancel: &Cancel) -> EsResult<bool> {
        let path = [name, "_block", "write"];
        let op = op_name(&Method::PUT, &path);
        let reply = self
            .call(Method::PUT, &path, &[], Body::None, cancel)
            .await?;
        let v: Value = parse(&op, &reply)?;
        if v["acknowledged"] != Value::Bool(true) {
            return Err(EsError::Protocol {
                op,
                message: format!("the block was not acknowledged: {v}"),
            });
        }
        let mine = v["indices"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == name));
        match mine {
            None => Ok(false), // already blocked: ES answers with no indices
            Some(i) if i["blocked"] == Value::Bool(true) => Ok(true),
            Some(i) => Err(EsError::Protocol {
                op,
                message: format!("the block was not applied: {i}"),
            }),
        }
    }

    /// Set `index.blocks.write` to `value` (null removes it).
    async fn put_write_block(&self, name: &str, value: Value, cancel: &Cancel) -> EsResult<()> {
        let body = json!({ WRITE_BLOCK: value });
        self.call(
            Method::PUT,
            &[name, "_settings"],
            &[],
            Body::Json(body),
            cancel,
        )
        .await
        .map(drop)
    }

    async fn clone_call(
        &self,
        source: &str,
        target: &str,
        body: Value,
        cancel: &Cancel,
    ) -> EsResult<()> {
        let path = [source, "_clone", target];
        let op = op_name(&Method::POST, &path);
        let reply = match self
            .call(Method::POST, &path, &[], Body::Json(body), cancel)
            .await
        {
            Err(e) if is_exists(&e) => {
                return Err(EsError::Exists {
                    index: target.into(),
                })
            }
            r => r?,
        };
        let v: Value = parse(&op, &reply)?;
        if v["acknowledged"] != Value::Bool(true) {
            return Err(EsError::Protocol {
                op,
                message: format!("the clone was not acknowledged: {v}"),
            });
        }
        if v["shards_acknowledged"] == Value::Bool(true) {
            return Ok(());
        }
        // Created, but the answer came before the copy's primaries started: wait for them.
        let q = [("wait_for_status", "yellow"), ("timeout", START_TIMEOUT)];
        let path = ["_cluster", "health", target];
        let (status, reply) = self
            .send(Method::GET, &path, &q, Body::None, cancel)
            .await?;
        let health: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        if (200..300).contains(&status) && health["timed_out"] == Value::Bool(false) {
            return Ok(());
        }
        Err(EsError::Protocol {
            op,
            message: format!(
                "the copy {target} was created but its shards did not start within {START_TIMEOUT} \
                 (cluster health: HTTP {status} {health})"
            ),
        })
    }
}

fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if s == "true") || matches!(v, Some(Value::Bool(true)))
}

/// The target of a clone already exists, as an index or an alias.
fn is_exists(e: &EsError) -> bool {
    match e {
        EsError::Server { kind, reason, .. } => {
            kind == "resource_already_exists_exception"
                || (kind == "invalid_index_name_exception" && reason.contains("already exists"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_values_and_exists_errors() {
        assert!(is_true(Some(&json!("true"))) && is_true(Some(&json!(true))));
        assert!(!is_true(Some(&json!("false"))) && !is_true(None));
        let server = |kind: &str, reason: &str| EsError::Server {
            op: "POST /a/_clone/b".into(),
            status: 400,
            kind: kind.into(),
            reason: reason.into(),
        };
        assert!(is_exists(&server(
            "resource_already_exists_exception",
            "index [b/u] already exists"
        )));
        assert!(is_exists(&server(
            "invalid_index_name_exception",
            "Invalid index name [b], already exists as alias"
        )));
        assert!(!is_exists(&server(
            "invalid_index_name_exception",
            "must be lowercase"
        )));
    }
}

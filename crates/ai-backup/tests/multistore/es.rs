//! The stack's Elasticsearch (the repo's ES test server as `ai-server-es`, no auth), spoken to
//! over plain HTTP, independently of the library's client: to seed indices, to read back
//! everything a round trip must keep, and to inject faults (`/_test/faults`).

use std::time::Duration;

use serde_json::{json, Value};

use super::rt;

pub const URL: &str = "http://127.0.0.1:9200";
/// Suffix of the clone that holds a live index while a restore runs.
pub const HOLD_SUFFIX: &str = "__ab_old";

fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .expect("HTTP client")
    })
}

/// One request; `(status, body as JSON or Null)`, or `None` when the server does not answer.
pub fn try_req(method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    rt().block_on(async {
        let mut r = http().request(m, format!("{URL}{path}"));
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).expect("JSON"));
        }
        let resp = r.send().await.ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.ok()?;
        Some((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    })
}

pub fn req(method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    try_req(method, path, body).unwrap_or_else(|| panic!("{method} {path}: no answer from {URL}"))
}

/// A request that must succeed (2xx); its answer.
#[track_caller]
pub fn ok(method: &str, path: &str, body: Option<&Value>) -> Value {
    let (status, v) = req(method, path, body);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

pub fn is_up() -> bool {
    matches!(try_req("GET", "/", None), Some((200, _)))
}

pub fn wait_up(timeout: Duration) -> bool {
    crate::common::poll_until(timeout, Duration::from_millis(300), is_up)
}

pub fn set_faults(faults: Value) {
    ok("POST", "/_test/faults", Some(&faults));
}

pub fn clear_faults() {
    ok("DELETE", "/_test/faults", None);
}

/// Every index of the server, hidden and dot indices included, sorted.
pub fn all_indices() -> Vec<String> {
    let v = ok(
        "GET",
        "/_cat/indices?format=json&h=index&expand_wildcards=all",
        None,
    );
    let mut names: Vec<String> = v
        .as_array()
        .expect("_cat/indices array")
        .iter()
        .map(|r| r["index"].as_str().expect("index name").to_string())
        .collect();
    names.sort();
    names
}

pub fn delete_index(name: &str) {
    let (status, v) = req("DELETE", &format!("/{name}"), None);
    assert!(
        status == 200 || status == 404,
        "DELETE /{name}: {status} {v}"
    );
}

pub fn create_index(name: &str, body: &Value) {
    ok("PUT", &format!("/{name}"), Some(body));
}

pub fn refresh(name: &str) {
    ok("POST", &format!("/{name}/_refresh"), None);
}

pub fn count(name: &str) -> u64 {
    ok("GET", &format!("/{name}/_count"), None)["count"]
        .as_u64()
        .expect("count")
}

/// A document to index: `_id`, optional routing, `_source`.
pub struct Doc {
    pub id: String,
    pub routing: Option<String>,
    pub source: Value,
}

/// Index `docs` into `index` with `_bulk`, `batch` documents per request, asserting that no
/// item failed; refreshes at the end.
pub fn bulk(index: &str, docs: impl IntoIterator<Item = Doc>, batch: usize) {
    let mut body = String::new();
    let mut n = 0;
    let send = |body: &mut String| {
        let text = std::mem::take(body);
        let reply = rt().block_on(async {
            let resp = http()
                .post(format!("{URL}/{index}/_bulk"))
                .header("content-type", "application/x-ndjson")
                .body(text)
                .send()
                .await
                .expect("_bulk request");
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.expect("_bulk answer");
            (
                status,
                serde_json::from_slice::<Value>(&bytes).expect("_bulk JSON"),
            )
        });
        assert_eq!(reply.0, 200, "_bulk into {index}: {}", reply.1);
        assert_eq!(
            reply.1["errors"],
            false,
            "_bulk into {index}: item errors: {}",
            first_error(&reply.1)
        );
    };
    for d in docs {
        let mut meta = json!({"_id": d.id});
        if let Some(r) = d.routing {
            meta["routing"] = Value::String(r);
        }
        body += &json!({ "index": meta }).to_string();
        body.push('\n');
        body += &d.source.to_string();
        body.push('\n');
        n += 1;
        if n % batch == 0 {
            send(&mut body);
        }
    }
    if !body.is_empty() {
        send(&mut body);
    }
    refresh(index);
}

fn first_error(v: &Value) -> String {
    v["items"]
        .as_array()
        .and_then(|items| {
            items.iter().find(|i| {
                i.as_object()
                    .and_then(|o| o.values().next())
                    .is_some_and(|x| x.get("error").is_some())
            })
        })
        .map(Value::to_string)
        .unwrap_or_default()
}

/// Delete documents by id (with their routing) in one `_bulk`, asserting each was found.
pub fn delete_docs(index: &str, ids: &[(&str, Option<&str>)]) {
    let mut body = String::new();
    for (id, routing) in ids {
        let mut meta = json!({"_id": id});
        if let Some(r) = routing {
            meta["routing"] = json!(r);
        }
        body += &json!({ "delete": meta }).to_string();
        body.push('\n');
    }
    let reply = rt().block_on(async {
        let resp = http()
            .post(format!("{URL}/{index}/_bulk?refresh=true"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("_bulk request");
        let bytes = resp.bytes().await.expect("_bulk answer");
        serde_json::from_slice::<Value>(&bytes).expect("_bulk JSON")
    });
    for item in reply["items"].as_array().expect("items") {
        assert_eq!(
            item["delete"]["result"], "deleted",
            "deleting from {index}: {item}"
        );
    }
}

/// Settings (flat, as strings), mappings and aliases of `index`, without what the server
/// sets by itself on every new index or copy (uuid, creation date, provided name, version,
/// the resize/clone bookkeeping, and the routing partition size a clone writes with its
/// default value).
pub fn definition(index: &str) -> Value {
    let mut all = ok("GET", &format!("/{index}?flat_settings=true"), None);
    let mut def = all[index].take();
    assert!(def.is_object(), "GET /{index}: no such index");
    if let Some(s) = def["settings"].as_object_mut() {
        s.retain(|k, v| {
            !(k == "index.uuid"
                || k == "index.creation_date"
                || k == "index.provided_name"
                || k == "index.history.uuid"
                || k.starts_with("index.version.")
                || k.starts_with("index.resize.")
                || k.starts_with("index.routing.allocation.initial_recovery.")
                || (k == "index.routing_partition_size" && v == "1"))
        });
    }
    def
}

/// A document as read back: `_id`, `_routing`, `_source`.
pub type DocRow = (String, Option<String>, Value);

/// Every document of `index` (refreshed first): `(_id, _routing, _source)`, sorted by `_id`.
/// Read with a scroll, so the 10,000-hit window does not cut it short.
pub fn documents(index: &str) -> Vec<DocRow> {
    refresh(index);
    let window: u64 = definition(index)["settings"]["index.max_result_window"]
        .as_str()
        .map_or(10_000, |w| w.parse().expect("max_result_window"));
    let mut out = Vec::new();
    let mut page = ok(
        "POST",
        &format!("/{index}/_search?scroll=2m"),
        Some(&json!({"size": window.min(5000), "sort": ["_doc"], "track_total_hits": true})),
    );
    let total = page["hits"]["total"]["value"].as_u64().expect("total");
    loop {
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for mut h in hits {
            out.push((
                h["_id"].as_str().expect("_id").to_string(),
                h["_routing"].as_str().map(str::to_string),
                h["_source"].take(),
            ));
        }
        let sid = page["_scroll_id"].as_str().expect("scroll id").to_string();
        page = ok(
            "POST",
            "/_search/scroll",
            Some(&json!({"scroll": "2m", "scroll_id": sid})),
        );
    }
    if let Some(sid) = page["_scroll_id"].as_str() {
        let _ = try_req(
            "DELETE",
            "/_search/scroll",
            Some(&json!({"scroll_id": sid})),
        );
    }
    assert_eq!(
        out.len() as u64,
        total,
        "documents of {index} read by scroll"
    );
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

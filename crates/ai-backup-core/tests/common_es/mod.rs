//! Shared by the Elasticsearch integration tests (`es_roundtrip`, `es_clone`): the repository's
//! ES test server (tools/es-test-server) started as a child process, raw requests to it, the
//! RAGFlow-like test index and dump helpers. Each test binary uses a part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ai_backup_core::progress::{Event, Progress, Reporter};
use ai_backup_core::store::elasticsearch::{EsClient, EsConfig};
use ai_backup_core::Cancel;
use serde_json::{json, Value};

/// The test server as a child process, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub async fn start(args: &[&str]) -> Server {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tools/es-test-server/es_test_server.py"
        );
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("python3")
                .arg(script)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stdin(Stdio::null())
                .spawn()
                .expect("python3 runs");
            let url = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if child.try_wait().unwrap().is_some() {
                    break; // port taken meanwhile: try another
                }
                if let Ok(r) = http.get(&url).send().await {
                    if r.status().as_u16() == 200 || r.status().as_u16() == 401 {
                        return Server {
                            child,
                            url,
                            http,
                            _dir: dir,
                        };
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the ES test server did not start");
    }

    pub fn client(&self) -> EsClient {
        EsClient::new(&EsConfig::with_url(&self.url)).unwrap()
    }

    /// A raw request: (status, JSON body).
    pub async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.raw(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    pub async fn bulk(
        &self,
        index: &str,
        docs: impl Iterator<Item = (String, Option<String>, Value)>,
    ) {
        let mut body = String::new();
        for (id, routing, src) in docs {
            let mut meta = json!({"_id": id});
            if let Some(r) = routing {
                meta["routing"] = json!(r);
            }
            body.push_str(&format!("{}\n{src}\n", json!({ "index": meta })));
        }
        let resp = self
            .http
            .post(format!("{}/{index}/_bulk?refresh=true", self.url))
            .header("Content-Type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(v["errors"], json!(false), "seeding {index}");
    }

    pub async fn faults(&self, f: Value) {
        self.ok("POST", "/_test/faults", Some(f)).await;
    }
}

pub fn doc(i: usize) -> (String, Option<String>, Value) {
    let vec: Vec<f64> = (0..8)
        .map(|k| ((i * 7 + k * 13) % 97) as f64 / 97.0 + 0.01)
        .collect();
    let routing = match i % 3 {
        0 => Some(format!("r{}", i % 5)),
        _ => None,
    };
    let tag = ["a", "b", "c"][i % 3];
    let src = json!({
        "title": format!("Dokument {i} über Größe — chunk"),
        "tag": tag,
        "n": i,
        "vec": vec,
    });
    (format!("doc-{i:05}"), routing, src)
}

/// The RAGFlow-like index: custom analyzer, dense_vector, aliases, routing, `n` documents.
pub async fn seed(s: &Server, index: &str, n: usize) {
    s.ok(
        "PUT",
        &format!("/{index}"),
        Some(json!({
            "settings": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": "1s",
                "analysis": {"analyzer": {"my_analyzer": {"type": "custom", "tokenizer": "standard",
                    "filter": ["lowercase", "asciifolding"]}}}},
            "mappings": {"properties": {
                "title": {"type": "text", "analyzer": "my_analyzer"},
                "tag": {"type": "keyword"}, "n": {"type": "integer"},
                "vec": {"type": "dense_vector", "dims": 8, "index": true, "similarity": "cosine"}}},
            "aliases": {format!("{index}_all"): {}, format!("{index}_a"): {"filter": {"term": {"tag": "a"}}}}
        })),
    )
    .await;
    for chunk in (0..n).collect::<Vec<_>>().chunks(3000) {
        s.bulk(index, chunk.iter().map(|&i| doc(i))).await;
    }
}

/// Keeps the events reported.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Event>>);
impl Reporter for Recorder {
    fn report(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

/// Dump `index`; also says whether the dump fell back to a scroll.
pub async fn dump(c: &EsClient, index: &str) -> (u64, Vec<u8>, bool) {
    let rec = Arc::new(Recorder::default());
    let mut out = Vec::new();
    // One slice: the documents come in the index's order, which some tests compare.
    let n = c
        .clone()
        .with_parallel(1)
        .dump_docs(index, &mut out, &Progress::new(rec.clone()), &Cancel::new())
        .await
        .unwrap();
    let events = rec.0.lock().unwrap();
    let scrolled = events
        .iter()
        .any(|e| matches!(e, Event::Info { message } if message.contains("with a scroll")));
    let last_bytes = events.iter().rev().find_map(|e| match e {
        Event::Progress { phase, bytes } if phase == "es-dump" => Some(*bytes),
        _ => None,
    });
    assert_eq!(
        last_bytes,
        Some(out.len() as u64),
        "progress reports the bytes written"
    );
    (n, out, scrolled)
}

pub fn sorted_lines(ndjson: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

pub const PRIVATE: &[&str] = &[
    "index.uuid",
    "index.creation_date",
    "index.provided_name",
    "index.version.created",
];

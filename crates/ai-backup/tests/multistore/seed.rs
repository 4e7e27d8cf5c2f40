//! Realistic Dify and RAGFlow data in all three stores, and the changes the tests make after a
//! backup.
//!
//! Dify (design patterns `dify-*`, plus the prefix `dify/` of the bucket `difyai-shared` that
//! it shares with other apps): Dify's upload_files/ and privkeys/ layout, 0-byte objects, keys
//! with spaces and non-ASCII characters, content types, stored headers and user metadata, an
//! object over 64 MiB, a bucket of more than 1,000 objects; indices with more than 10,000
//! documents, a dense_vector field (dims 8), aliases (one filtered), a custom analyzer and
//! normalizer, routing on some documents, and an empty index.
//!
//! RAGFlow in its real layout: a bucket per knowledge base (named by `knowledgebase.id` of the
//! fixture) and one per file-manager folder, indices `ragflow_<tenant id>`.

use std::collections::BTreeMap;

use ai_backup_core::store::s3::ObjectMeta;
use serde_json::{json, Value};

use super::es::{self, Doc};
use super::s3::{self, Generated};
use super::Module;
use crate::common::{db, Engine};

pub const T1: &str = "3f6c2a9e-8b1d-4c7a-9e2f-5d1b7a4c8e01";
pub const T2: &str = "9d4e7b21-6a3f-4f8c-b5d2-1e8a9c7f3b02";

pub const DIFY_FILES: &str = "dify-files";
pub const DIFY_MANY: &str = "dify-many";
pub const DIFY_BIG: &str = "dify-big";
/// A bucket matching `dify-*` that only appears after the backup.
pub const DIFY_NEW_BUCKET: &str = "dify-new-after-backup";
pub const SHARED: &str = "difyai-shared";
pub const SHARED_PREFIX: &str = "dify/";
pub const DIFY_CHUNKS: &str = "dify-chunks";
pub const DIFY_KEYWORDS: &str = "dify-keywords";
pub const DIFY_EMPTY: &str = "dify-empty";
pub const DIFY_NEW_INDEX: &str = "dify-new-after-backup";

/// The object over 64 MiB, and its seed.
pub const BIG_KEY: &str = "upload_files/3f6c2a9e-8b1d-4c7a-9e2f-5d1b7a4c8e01/video big 🎬.mp4";
pub const BIG_SIZE: u64 = (64 << 20) + 4099;
const BIG_SEED: u64 = 64;
/// Objects in the bucket with more than 1,000 of them.
pub const MANY: usize = 1100;
/// Documents of the big indices (more than the 10,000-hit window).
pub const DIFY_DOCS: usize = 10_500;
/// Documents of `dify-chunks` in the failure tests, where the size of the index matters less
/// than the runtime (still several pages and several `_bulk` requests).
pub const DIFY_DOCS_SMALL: usize = 3_000;
/// Ids from here on are added after the backup.
const DIFY_NEW_IDS: usize = 20_000;
pub const RAGFLOW_DOCS: usize = 10_200;

pub const KB_HANDBOOK: &str = "kb1ff640f88214d67bbaa75445eec183";
pub const KB_NOTES: &str = "kb08b86cdc88a3f239a808037a125e57";
pub const KB_RECIPES: &str = "kb9f9856797105a8239d5e9894f5cc71";
/// The file manager's root folder of tenant 9ec3…: a bucket of its own.
pub const FOLDER_ROOT: &str = "37a41a3d5c2ade3c693f720333e2cc3b";
/// A knowledge base (and tenant) added after the backup.
pub const KB_NEW: &str = "kb5e1ec7ed00000000000000000000a1";
pub const TENANT_NEW: &str = "77777777777777777777777777777777";
pub const TENANT_A: &str = "9ec34eab240f76baad73ef88ff6191ac";
pub const TENANT_B: &str = "bc139a01088531837b78515756dcd7c7";
pub const RF_BIG: &str = "ragflow_9ec34eab240f76baad73ef88ff6191ac";
pub const RF_SMALL: &str = "ragflow_bc139a01088531837b78515756dcd7c7";
/// RAGFlow's per-tenant document metadata index.
pub const RF_META: &str = "ragflow_doc_meta_9ec34eab240f76baad73ef88ff6191ac";
pub const RF_NEW: &str = "ragflow_77777777777777777777777777777777";
/// Every bucket RAGFlow's scope can name (those of the fixture and the one added later).
pub const RAGFLOW_BUCKETS: &[&str] = &[KB_HANDBOOK, KB_NOTES, KB_RECIPES, FOLDER_ROOT, KB_NEW];

/// `*` wildcards, as the module patterns use them.
pub fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
    }
}

/// Which data belongs to the module, as its config says (used to split fingerprints).
pub fn owns_db(m: Module, db: &str) -> bool {
    db == m.db()
}

pub fn owns_object(m: Module, bucket: &str, key: &str) -> bool {
    match m {
        Module::Dify => {
            glob("dify-*", bucket) || (bucket == SHARED && key.starts_with(SHARED_PREFIX))
        }
        Module::Ragflow => RAGFLOW_BUCKETS.contains(&bucket),
    }
}

pub fn owns_index(m: Module, name: &str) -> bool {
    match m {
        Module::Dify => glob("dify-*", name),
        Module::Ragflow => name.starts_with("ragflow_"),
    }
}

/// One object of the seed.
pub struct Obj {
    pub bucket: &'static str,
    pub key: String,
    pub data: Data,
    pub meta: ObjectMeta,
}

pub enum Data {
    Bytes(Vec<u8>),
    /// `Generated` bytes: (size, seed).
    Generated(u64, u64),
}

impl Obj {
    pub fn size(&self) -> u64 {
        match &self.data {
            Data::Bytes(b) => b.len() as u64,
            Data::Generated(size, _) => *size,
        }
    }

    pub fn sha256(&self) -> String {
        match &self.data {
            Data::Bytes(b) => crate::common::archive::sha256_hex(b),
            Data::Generated(size, seed) => Generated::sha256(*size, *seed),
        }
    }
}

fn obj(bucket: &'static str, key: &str, data: Vec<u8>, meta: ObjectMeta) -> Obj {
    Obj {
        bucket,
        key: key.to_string(),
        data: Data::Bytes(data),
        meta,
    }
}

fn gen(bucket: &'static str, key: &str, size: u64, seed: u64, meta: ObjectMeta) -> Obj {
    Obj {
        bucket,
        key: key.to_string(),
        data: Data::Generated(size, seed),
        meta,
    }
}

fn pem(tenant: &str) -> Vec<u8> {
    let tenant_sum: u128 = tenant.bytes().map(u128::from).sum();
    let mut s = String::from("-----BEGIN RSA PRIVATE KEY-----\n");
    for i in 0..25 {
        s += &format!(
            "{:064x}\n",
            ((i as u128 + 1) * 0x9E37_79B9_7F4A_7C15) ^ (tenant_sum << 7)
        )[..64];
    }
    s += "-----END RSA PRIVATE KEY-----\n";
    s.into_bytes()
}

/// Dify's objects: the buckets `dify-files`, `dify-many`, `dify-big`, and `difyai-shared`
/// (the prefix `dify/` is Dify's, the rest belongs to other apps).
pub fn dify_objects(big: bool) -> Vec<Obj> {
    let pdf = |ext| s3::meta(ext, &[("uploaded-by", "dify"), ("tenant", T1)]);
    let mut website = s3::meta("text/html; charset=utf-8", &[("origin", "site builder")]);
    website
        .headers
        .insert("cache-control".into(), "max-age=3600, public".into());
    website.headers.insert(
        "content-disposition".into(),
        "inline; filename=\"index.html\"".into(),
    );
    website
        .headers
        .insert("content-language".into(), "de-DE".into());
    let mut gz = s3::meta("application/javascript", &[]);
    gz.headers.insert("content-encoding".into(), "gzip".into());
    let mut v = vec![
        gen(
            DIFY_FILES,
            &format!("upload_files/{T1}/d8e2a4f6-1b3c-4d5e-8f7a-9b0c1d2e3f61.pdf"),
            2_487_316,
            1,
            pdf("application/pdf"),
        ),
        gen(
            DIFY_FILES,
            &format!("upload_files/{T1}/e9f3b5a7-2c4d-4e6f-9a8b-0c1d2e3f4a62.pdf"),
            183_920,
            2,
            pdf("application/pdf"),
        ),
        gen(
            DIFY_FILES,
            &format!("upload_files/{T2}/fa04c6b8-3d5e-4f7a-8b9c-1d2e3f4a5b63.pdf"),
            56_012,
            3,
            s3::meta("application/pdf", &[]),
        ),
        obj(
            DIFY_FILES,
            &format!("upload_files/{T1}/0b15d7c9-4e6f-4a8b-9c0d-2e3f4a5b6c64.png"),
            Vec::new(),
            s3::meta("image/png", &[("note", "zero bytes")]),
        ),
        obj(
            DIFY_FILES,
            &format!("upload_files/{T2}/空 文件 – leer.txt"),
            Vec::new(),
            s3::meta("text/plain; charset=utf-8", &[]),
        ),
        obj(
            DIFY_FILES,
            &format!("privkeys/{T1}/private.pem"),
            pem(T1),
            s3::meta("application/x-pem-file", &[]),
        ),
        obj(
            DIFY_FILES,
            &format!("privkeys/{T2}/private.pem"),
            pem(T2),
            s3::meta("application/x-pem-file", &[]),
        ),
        obj(
            DIFY_FILES,
            "tools/Überblick – notes 🥐.md",
            "# Überblick\n\nRezepte & Backtipps — «maison» 🥐\n"
                .as_bytes()
                .to_vec(),
            s3::meta(
                "text/markdown; charset=utf-8",
                &[("author", "ai-backup tests"), ("lang", "de")],
            ),
        ),
        obj(
            DIFY_FILES,
            "image_files/a b/c  d (1).png",
            Generated::bytes(4096, 5),
            s3::meta("image/png", &[]),
        ),
        obj(
            DIFY_FILES,
            "website/index.html",
            b"<!doctype html><title>Dify</title>".to_vec(),
            website,
        ),
        obj(DIFY_FILES, "static/app.js.gz", Generated::bytes(777, 6), gz),
    ];
    if big {
        v.push(gen(
            DIFY_BIG,
            BIG_KEY,
            BIG_SIZE,
            BIG_SEED,
            s3::meta("video/mp4", &[("duration", "3600"), ("codec", "h264")]),
        ));
    }
    for i in 0..MANY {
        let body = json!({"segment": i, "text": format!("Abschnitt {i} – 段落 {i}")});
        v.push(obj(
            DIFY_MANY,
            &format!("documents/batch {:02}/segment-{i:04}.json", i / 100),
            body.to_string().into_bytes(),
            s3::meta("application/json", &[]),
        ));
    }
    // The shared bucket: Dify's prefix, and other apps' objects around it.
    v.push(obj(
        SHARED,
        &format!("dify/upload_files/{T1}/shared notes é.txt"),
        b"inside the prefix".to_vec(),
        s3::meta("text/plain", &[("owner", "dify")]),
    ));
    v.push(obj(
        SHARED,
        &format!("dify/privkeys/{T2}/private.pem"),
        pem("shared"),
        s3::meta("application/x-pem-file", &[]),
    ));
    v.push(obj(
        SHARED,
        "dify/zero",
        Vec::new(),
        s3::meta("application/octet-stream", &[]),
    ));
    v.push(obj(
        SHARED,
        "dify",
        b"a key equal to the prefix without its slash: outside".to_vec(),
        s3::meta("text/plain", &[("owner", "other")]),
    ));
    v.push(obj(
        SHARED,
        "dify-other/a.txt",
        b"another app's".to_vec(),
        s3::meta("text/plain", &[("owner", "other")]),
    ));
    v.push(obj(
        SHARED,
        "other-app/report 2025 – Q1.csv",
        "quarter;revenue\nQ1;42 €\n".as_bytes().to_vec(),
        s3::meta("text/csv", &[("owner", "other")]),
    ));
    v.push(obj(
        SHARED,
        "zz/outside.bin",
        Vec::new(),
        s3::meta("application/octet-stream", &[]),
    ));
    v
}

/// RAGFlow's objects: a bucket per knowledge base of the fixture (documents at
/// `document.location`, chunk images named by chunk id) and the file manager's root folder.
pub fn ragflow_objects() -> Vec<Obj> {
    let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    let mut v = vec![
        gen(
            KB_HANDBOOK,
            "Handbuch v2 (产品手册).pdf",
            2_487_316,
            11,
            s3::meta(
                "application/pdf",
                &[("doc-id", "7ab5a4126266781e909a29d1c1f3edc7")],
            ),
        ),
        gen(
            KB_HANDBOOK,
            "Quick start guide.pdf",
            48_211,
            12,
            s3::meta("application/pdf", &[]),
        ),
        gen(
            KB_NOTES,
            "design notes – Überblick.md",
            7_320,
            13,
            s3::meta("text/markdown; charset=utf-8", &[]),
        ),
        obj(
            KB_RECIPES,
            "tarte tatin.docx",
            Vec::new(),
            s3::meta(docx, &[("note", "empty file")]),
        ),
        gen(
            KB_RECIPES,
            "tarte tatin(1).docx",
            31_544,
            14,
            s3::meta(docx, &[("saison", "automne")]),
        ),
        gen(
            FOLDER_ROOT,
            "Rechnung März 2025.pdf",
            91_022,
            15,
            s3::meta("application/pdf", &[]),
        ),
    ];
    for i in 0..1050u64 {
        v.push(obj(
            KB_NOTES,
            &format!("{:016x}{:016x}", i * 2654435761 + 7, i),
            Generated::bytes(200 + i % 300, 100 + i),
            s3::meta("image/jpeg", &[]),
        ));
    }
    v
}

pub fn objects_of(m: Module, big: bool) -> Vec<Obj> {
    match m {
        Module::Dify => dify_objects(big),
        Module::Ragflow => ragflow_objects(),
    }
}

/// Upload `objects`: small ones several at a time, generated ones streamed.
pub fn upload(objects: &[Obj]) {
    let mut small: BTreeMap<&str, Vec<s3::NewObject>> = BTreeMap::new();
    for o in objects {
        s3::ensure_bucket(o.bucket);
        match &o.data {
            Data::Bytes(b) => {
                small
                    .entry(o.bucket)
                    .or_default()
                    .push((o.key.clone(), b.clone(), o.meta.clone()))
            }
            Data::Generated(size, seed) => {
                s3::put_generated(o.bucket, &o.key, *size, *seed, &o.meta)
            }
        }
    }
    for (bucket, list) in small {
        s3::put_many(bucket, list);
    }
}

/// The index definitions and documents of the module: (name, create body, documents).
pub fn indices_of(m: Module, chunk_docs: usize) -> Vec<(&'static str, Value, Vec<Doc>)> {
    match m {
        Module::Dify => vec![
            (
                DIFY_CHUNKS,
                dify_chunks_def(),
                dify_chunk_docs(0..chunk_docs),
            ),
            (DIFY_KEYWORDS, dify_keywords_def(), dify_keyword_docs()),
            (
                DIFY_EMPTY,
                json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                       "mappings": {"properties": {"text": {"type": "text"}}}}),
                Vec::new(),
            ),
        ],
        Module::Ragflow => vec![
            (
                RF_BIG,
                ragflow_def(true),
                ragflow_docs(0..RAGFLOW_DOCS, KB_HANDBOOK),
            ),
            (
                RF_SMALL,
                ragflow_def(false),
                ragflow_docs(0..60, KB_RECIPES),
            ),
            (
                RF_META,
                json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                       "mappings": {"properties": {"id": {"type": "keyword"}, "kb_id": {"type": "keyword"},
                                                   "meta_fields": {"type": "flattened"}}}}),
                (0..12)
                    .map(|i| Doc {
                        id: format!("meta-{i}"),
                        routing: None,
                        source: json!({"id": format!("doc-{i}"), "kb_id": KB_HANDBOOK,
                                       "meta_fields": {"saison": "automne 🍂", "n": i}}),
                    })
                    .collect(),
            ),
        ],
    }
}

pub fn dify_chunks_def() -> Value {
    json!({
        "settings": {"index": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "refresh_interval": "1s",
            "analysis": {
                "analyzer": {"folding": {"type": "custom", "tokenizer": "standard",
                                         "filter": ["lowercase", "asciifolding"]}},
                "normalizer": {"lower": {"type": "custom", "filter": ["lowercase"]}}
            }
        }},
        "mappings": {
            "_meta": {"created_by": "dify", "version": 3},
            "properties": {
                "content": {"type": "text", "analyzer": "folding"},
                "dataset_id": {"type": "keyword", "normalizer": "lower"},
                "doc_id": {"type": "keyword"},
                "n": {"type": "integer"},
                "enabled": {"type": "boolean"},
                "vector": {"type": "dense_vector", "dims": 8, "index": true, "similarity": "cosine"},
                "metadata": {"properties": {"page": {"type": "integer"}, "source": {"type": "keyword"}}}
            }
        },
        "aliases": {
            "dify-chunks-read": {},
            "dataset-a-chunks": {"filter": {"term": {"dataset_id": "ds-a"}}, "routing": "ds-a"},
            "dify-write": {"is_write_index": true}
        }
    })
}

fn vector(i: usize, salt: usize) -> Value {
    // Exact binary fractions, never the zero vector (cosine refuses it).
    let v: Vec<f64> = (0..8)
        .map(|j| (((i * 7 + j * 13 + salt) % 64) as f64 - 32.0) / 32.0)
        .collect();
    json!(v)
}

pub fn dify_chunk_docs(range: std::ops::Range<usize>) -> Vec<Doc> {
    const WORDS: [&str; 6] = [
        "Wartung der Pumpe",
        "安装说明 第一章",
        "Garantie & Rückgabe",
        "crème brûlée ✓",
        "emoji 🥐🚀",
        "line\nbreak\ttab \"quoted\"",
    ];
    range
        .map(|i| {
            let ds = ["ds-a", "ds-b", "ds-c"][i % 3];
            Doc {
                id: format!("seg-{i:05}"),
                routing: (i % 10 == 0).then(|| ds.to_string()),
                source: json!({
                    "content": format!("{} #{i}", WORDS[i % WORDS.len()]),
                    "dataset_id": ds,
                    "doc_id": format!("doc-{}", i % 37),
                    "n": i,
                    "enabled": i % 5 != 0,
                    "vector": vector(i, 0),
                    "metadata": {"page": i % 50, "source": format!("upload_files/{T1}/{}.pdf", i % 4)}
                }),
            }
        })
        .collect()
}

fn dify_keywords_def() -> Value {
    json!({
        "settings": {"number_of_shards": 1, "number_of_replicas": 0, "max_result_window": 5000},
        "mappings": {"dynamic": "strict", "properties": {
            "keywords": {"type": "keyword"},
            "node_id": {"type": "keyword"},
            "weight": {"type": "float"}
        }},
        "aliases": {"dify-keyword-table": {}}
    })
}

fn dify_keyword_docs() -> Vec<Doc> {
    (0..40)
        .map(|i| Doc {
            id: format!("kw-{i}"),
            routing: None,
            source: json!({"keywords": ["Pumpe", "泵", format!("k{i}")], "node_id": format!("node-{i}"), "weight": 0.25 * i as f64}),
        })
        .collect()
}

pub fn ragflow_def(big: bool) -> Value {
    let mut def = json!({
        "settings": {"index": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "refresh_interval": "1000ms",
            "analysis": {"analyzer": {"whitespace_lower": {
                "type": "custom", "tokenizer": "whitespace", "filter": ["lowercase"]}}}
        }},
        "mappings": {
            "dynamic_templates": [
                {"kwd": {"match": "*_kwd", "mapping": {"type": "keyword"}}},
                {"ltks": {"match": "*_ltks", "mapping": {"type": "text", "analyzer": "whitespace_lower"}}}
            ],
            "properties": {
                "doc_id": {"type": "keyword"},
                "kb_id": {"type": "keyword"},
                "docnm_kwd": {"type": "keyword"},
                "content_with_weight": {"type": "text"},
                "content_ltks": {"type": "text", "analyzer": "whitespace_lower"},
                "q_8_vec": {"type": "dense_vector", "dims": 8, "index": true, "similarity": "cosine"},
                "available_int": {"type": "integer"},
                "create_timestamp_flt": {"type": "float"}
            }
        }
    });
    if big {
        def["aliases"] = json!({
            "kb-handbook": {"filter": {"term": {"kb_id": KB_HANDBOOK}}},
            "tenant-9ec3-search": {},
            // An alias that Dify's pattern matches: Dify must still not touch this index.
            "dify-visible-ragflow": {}
        });
    }
    def
}

pub fn ragflow_docs(range: std::ops::Range<usize>, kb: &str) -> Vec<Doc> {
    range
        .map(|i| Doc {
            id: format!("{:016x}{:016x}", (i as u64) * 0x9E37_79B9 + 1, i),
            routing: (i % 13 == 0).then(|| kb.to_string()),
            source: json!({
                "doc_id": format!("7ab5a4126266781e909a29d1c1f3e{:03x}", i % 9),
                "kb_id": kb,
                "docnm_kwd": "Handbuch v2 (产品手册).pdf",
                "content_with_weight": format!("第{i}段 Kapitel {i}: Wartung ✓"),
                "content_ltks": format!("wartung kapitel {i}"),
                "q_8_vec": vector(i, 5),
                "available_int": 1,
                "create_timestamp_flt": 1740906700.5 + i as f64
            }),
        })
        .collect()
}

/// The module's buckets and indices, emptied: its whole buckets deleted, its prefix emptied
/// (the shared bucket is test data: reset whole), its indices deleted.
pub fn clear_stores(m: Module) {
    for b in s3::buckets() {
        let whole = match m {
            Module::Dify => glob("dify-*", &b) || b == SHARED,
            Module::Ragflow => RAGFLOW_BUCKETS.contains(&b.as_str()),
        };
        if whole {
            s3::remove_bucket(&b);
        }
    }
    for i in es::all_indices() {
        if owns_index(m, &i) {
            es::delete_index(&i);
        }
    }
}

/// What `seed` put in the object store and the indices, as the archive must count it.
#[derive(Debug, Default)]
pub struct Seeded {
    /// bucket -> (objects, bytes), for the module's scope only.
    pub buckets: BTreeMap<String, (u64, u64)>,
    /// index -> documents.
    pub indices: BTreeMap<String, u64>,
    /// (bucket, key) -> (size, sha256), for the module's scope only.
    pub objects: BTreeMap<(String, String), (u64, String)>,
    /// table -> rows.
    pub tables: BTreeMap<String, u64>,
}

/// The module's database, reset and loaded from its fixture.
pub fn seed_db(m: Module) {
    let text = std::fs::read_to_string(m.fixture()).expect("fixture");
    db::reset(Engine::My, m.db());
    db::my(Some(m.db()), &text);
}

/// Reset the module in all three stores and load its seed.
pub fn seed(m: Module) -> Seeded {
    seed_with(m, true, DIFY_DOCS)
}

/// `seed`, with or without Dify's object over 64 MiB, with `chunk_docs` documents in
/// `dify-chunks`.
pub fn seed_with(m: Module, big_object: bool, chunk_docs: usize) -> Seeded {
    seed_db(m);
    clear_stores(m);
    let objects = objects_of(m, big_object);
    upload(&objects);
    let mut seeded = Seeded::default();
    for o in &objects {
        if !owns_object(m, o.bucket, &o.key) {
            continue;
        }
        let c = seeded.buckets.entry(o.bucket.to_string()).or_default();
        c.0 += 1;
        c.1 += o.size();
        seeded.objects.insert(
            (o.bucket.to_string(), o.key.clone()),
            (o.size(), o.sha256()),
        );
    }
    for (name, def, docs) in indices_of(m, chunk_docs) {
        es::create_index(name, &def);
        let n = docs.len() as u64;
        es::bulk(name, docs, 2000);
        assert_eq!(es::count(name), n, "documents seeded into {name}");
        seeded.indices.insert(name.to_string(), n);
    }
    for row in db::my_rows(
        None,
        &format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_TYPE = 'BASE TABLE';",
            m.db()
        ),
    ) {
        let n = db::count(Engine::My, m.db(), &format!("`{row}`"));
        seeded.tables.insert(row, n);
    }
    seeded
}

/// A table of `rows` rows of ~100 bytes in the module's database, so that loading its dump
/// takes several seconds.
pub fn add_big_table(m: Module, rows: u64) {
    db::my(
        Some(m.db()),
        &format!(
            "CREATE TABLE ab_big (id bigint PRIMARY KEY, payload varchar(200) NOT NULL) ENGINE=InnoDB;\n\
             INSERT INTO ab_big SELECT seq, CONCAT(MD5(seq), MD5(seq * 7), MD5(seq * 13)) FROM seq_1_to_{rows};"
        ),
    );
}

/// Change the module in all three stores after a backup: rows deleted, added and modified;
/// objects deleted, added and modified (content, type, metadata), a whole bucket deleted and
/// a new one matching the module's scope added; documents deleted, added and modified (and
/// re-routed), a mapping, an alias and a setting changed, an index deleted and a new one in
/// scope added. For Dify, objects outside its prefix in the shared bucket change too: a
/// restore must keep those changes.
pub fn change(m: Module) {
    match m {
        Module::Dify => change_dify(true),
        Module::Ragflow => change_ragflow(),
    }
}

/// `change(Dify)`, with or without deleting the bucket `dify-many` (which the restore must
/// then recreate).
pub fn change_dify(delete_a_bucket: bool) {
    db::my(
        Some("dify_db"),
        "DELETE FROM document_segments WHERE position = 1;
UPDATE apps SET name = CONCAT(name, ' (changed after the backup)');
UPDATE accounts SET interface_language = 'fr-FR';
INSERT INTO alembic_version VALUES ('zz_after_backup');
CREATE TABLE ab_after_backup (id int PRIMARY KEY, note text);
INSERT INTO ab_after_backup VALUES (1, 'new');",
    );
    // Objects.
    s3::delete(DIFY_FILES, &[format!("privkeys/{T1}/private.pem")]);
    s3::put(
        DIFY_FILES,
        "tools/Überblick – notes 🥐.md",
        b"rewritten after the backup",
        &s3::meta("text/plain", &[("author", "someone else")]),
    );
    s3::put(
        DIFY_FILES,
        &format!("upload_files/{T1}/0b15d7c9-4e6f-4a8b-9c0d-2e3f4a5b6c64.png"),
        b"not empty any more",
        &s3::meta("image/png", &[("note", "zero bytes")]),
    );
    s3::put(
        DIFY_FILES,
        &format!("upload_files/{T1}/new after backup.txt"),
        b"new",
        &s3::meta("text/plain", &[]),
    );
    s3::ensure_bucket(DIFY_BIG);
    s3::put(
        DIFY_BIG,
        BIG_KEY,
        b"the big video, replaced by a small file",
        &s3::meta("text/plain", &[]),
    );
    if delete_a_bucket {
        s3::remove_bucket(DIFY_MANY);
    } else {
        let some: Vec<String> = (0..20)
            .map(|i| format!("documents/batch 00/segment-{i:04}.json"))
            .collect();
        s3::delete(DIFY_MANY, &some);
    }
    s3::ensure_bucket(DIFY_NEW_BUCKET);
    s3::put(
        DIFY_NEW_BUCKET,
        "a.txt",
        b"in a new bucket",
        &s3::meta("text/plain", &[]),
    );
    s3::put(
        DIFY_NEW_BUCKET,
        "b/c.txt",
        b"",
        &s3::meta("text/plain", &[]),
    );
    s3::delete(SHARED, &[format!("dify/privkeys/{T2}/private.pem")]);
    s3::put(
        SHARED,
        "dify/added.txt",
        b"added in the prefix",
        &s3::meta("text/plain", &[]),
    );
    change_outside_prefix();
    // Indices.
    let gone: Vec<(String, Option<String>)> = (0..100)
        .flat_map(|i| dify_chunk_docs(i * 7 + 1..i * 7 + 2))
        .map(|d| (d.id, d.routing))
        .collect();
    let gone: Vec<(&str, Option<&str>)> = gone
        .iter()
        .map(|(i, r)| (i.as_str(), r.as_deref()))
        .collect();
    es::delete_docs(DIFY_CHUNKS, &gone);
    let mut modified = dify_chunk_docs(200..250);
    for d in &mut modified {
        d.source["content"] = json!("modified after the backup");
        d.source["extra_field"] = json!("a new mapping field");
    }
    // seg-00300 had routing ds-a: it comes back without it (the old copy is deleted first).
    es::delete_docs(DIFY_CHUNKS, &[("seg-00300", Some("ds-a"))]);
    let mut rerouted = dify_chunk_docs(300..301);
    rerouted[0].routing = None;
    modified.extend(rerouted);
    modified.extend(dify_chunk_docs(DIFY_NEW_IDS..DIFY_NEW_IDS + 30));
    es::bulk(DIFY_CHUNKS, modified, 1000);
    es::ok(
        "POST",
        "/_aliases",
        Some(&json!({"actions": [
            {"remove": {"index": DIFY_CHUNKS, "alias": "dify-chunks-read"}},
            {"add": {"index": DIFY_CHUNKS, "alias": "dify-added-alias"}}
        ]})),
    );
    es::ok(
        "PUT",
        &format!("/{DIFY_CHUNKS}/_settings"),
        Some(&json!({"index": {"refresh_interval": "5s", "max_result_window": 20000}})),
    );
    es::delete_index(DIFY_KEYWORDS);
    es::bulk(
        DIFY_EMPTY,
        vec![Doc {
            id: "x".into(),
            routing: None,
            source: json!({"text": "no longer empty"}),
        }],
        10,
    );
    es::create_index(
        DIFY_NEW_INDEX,
        &json!({"settings": {"number_of_replicas": 0}, "mappings": {"properties": {"t": {"type": "keyword"}}}}),
    );
    es::bulk(
        DIFY_NEW_INDEX,
        (0..5).map(|i| Doc {
            id: i.to_string(),
            routing: None,
            source: json!({"t": i.to_string()}),
        }),
        10,
    );
}

/// Other apps' objects in Dify's shared bucket change: a restore of Dify must keep this.
pub fn change_outside_prefix() {
    s3::put(
        SHARED,
        "other-app/report 2025 – Q1.csv",
        b"quarter;revenue\nQ1;43\n",
        &s3::meta("text/csv", &[("owner", "other"), ("rev", "2")]),
    );
    s3::put(
        SHARED,
        "other-app/new.txt",
        b"new, outside",
        &s3::meta("text/plain", &[]),
    );
    s3::delete(SHARED, &["zz/outside.bin".to_string()]);
}

fn change_ragflow() {
    db::my(
        Some("ragflow_db"),
        &format!(
            "DELETE FROM document WHERE kb_id = '{KB_RECIPES}';
UPDATE knowledgebase SET name = CONCAT(name, ' (changed)'), doc_num = doc_num + 1;
UPDATE tenant_llm SET api_key = 'sk-changed-after-backup';
DROP TABLE api_token;
CREATE TEMPORARY TABLE kb_copy AS SELECT * FROM knowledgebase WHERE id = '{KB_NOTES}';
UPDATE kb_copy SET id = '{KB_NEW}', tenant_id = '{TENANT_NEW}', name = 'added after the backup';
INSERT INTO knowledgebase SELECT * FROM kb_copy;"
        ),
    );
    s3::delete(KB_HANDBOOK, &["Quick start guide.pdf".to_string()]);
    s3::put(
        KB_HANDBOOK,
        "Handbuch v2 (产品手册).pdf",
        b"%PDF-1.7 replaced",
        &s3::meta("application/pdf", &[("doc-id", "changed")]),
    );
    s3::put(
        KB_RECIPES,
        "tarte tatin.docx",
        b"now with content",
        &s3::meta("text/plain", &[]),
    );
    s3::remove_bucket(FOLDER_ROOT);
    let some: Vec<String> = s3::list(KB_NOTES, "")
        .into_iter()
        .take(500)
        .map(|o| o.key)
        .collect();
    s3::delete(KB_NOTES, &some);
    s3::put(
        KB_NOTES,
        "added chunk image",
        b"jpeg?",
        &s3::meta("image/jpeg", &[]),
    );
    s3::ensure_bucket(KB_NEW);
    s3::put(
        KB_NEW,
        "new doc – neu.pdf",
        b"%PDF new",
        &s3::meta("application/pdf", &[]),
    );
    // Indices.
    let gone: Vec<Doc> = ragflow_docs(0..200, KB_HANDBOOK);
    let gone: Vec<(String, Option<String>)> = gone.into_iter().map(|d| (d.id, d.routing)).collect();
    let gone: Vec<(&str, Option<&str>)> = gone
        .iter()
        .map(|(i, r)| (i.as_str(), r.as_deref()))
        .collect();
    es::delete_docs(RF_BIG, &gone);
    let mut modified = ragflow_docs(500..560, KB_HANDBOOK);
    for d in &mut modified {
        d.source["available_int"] = json!(0);
        d.source["new_kwd"] = json!("added field");
    }
    modified.extend(ragflow_docs(RAGFLOW_DOCS..RAGFLOW_DOCS + 25, KB_HANDBOOK));
    es::bulk(RF_BIG, modified, 1000);
    es::ok(
        "POST",
        "/_aliases",
        Some(&json!({"actions": [{"remove": {"index": RF_BIG, "alias": "kb-handbook"}}]})),
    );
    es::delete_index(RF_SMALL);
    es::create_index(RF_NEW, &ragflow_def(false));
    es::bulk(RF_NEW, ragflow_docs(0..7, KB_NEW), 10);
}

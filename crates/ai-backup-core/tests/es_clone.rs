//! Whole-index copies with the clone API, against the repository's ES test server: a copy is
//! the source's documents byte for byte and its definition, both indices are writable
//! afterwards, a copy cloned back puts an index back exactly as it was, and a clone that cannot
//! be made changes nothing.

mod common_es;

use ai_backup_core::progress::Progress;
use ai_backup_core::store::elasticsearch::{EsClient, EsError};
use ai_backup_core::{Cancel, Error};
use common_es::{doc, dump, seed, Server, PRIVATE};
use serde_json::{json, Value};

const DOCS: usize = 3000;

/// `GET /<index>?flat_settings=true`, the whole answer for the index.
async fn raw_def(s: &Server, index: &str) -> Value {
    s.ok("GET", &format!("/{index}?flat_settings=true"), None)
        .await[index]
        .take()
}

/// A write of one document: (HTTP status, error type).
async fn write_one(s: &Server, index: &str, id: &str) -> (u16, Value) {
    let (status, v) = s
        .raw(
            "PUT",
            &format!("/{index}/_doc/{id}"),
            Some(json!({"title": "new", "tag": "a", "n": 1, "vec": vec![0.5; 8]})),
        )
        .await;
    (status, v["error"]["type"].clone())
}

async fn load_one(c: &EsClient, index: &str, id: &str) -> Result<u64, EsError> {
    let line = format!(
        "{}\n",
        json!({"_id": id, "_routing": "rz", "_source": doc(1).2})
    );
    c.bulk_load(
        index,
        &mut line.as_bytes(),
        &Progress::silent(),
        &Cancel::new(),
    )
    .await
}

#[tokio::test]
async fn clone_copies_documents_and_definition_and_leaves_both_writable() {
    let s = Server::start(&[]).await;
    seed(&s, "ragflow_src", DOCS).await;
    // One more document, not refreshed yet: it is in the copy too.
    s.ok(
        "PUT",
        "/ragflow_src/_doc/late?routing=r9",
        Some(doc(DOCS).2),
    )
    .await;
    let (c, cancel) = (s.client(), Cancel::new());
    let def0 = c.index_def("ragflow_src", &cancel).await.unwrap();
    assert_eq!(
        c.aliases_of("ragflow_src", &cancel).await.unwrap(),
        def0.aliases
    );
    let raw0 = raw_def(&s, "ragflow_src").await;

    c.clone_index(
        "ragflow_src",
        "ragflow_copy",
        &json!({"ragflow_copy_alias": {}, "ragflow_copy_a": {"filter": {"term": {"tag": "a"}}}}),
        &cancel,
    )
    .await
    .unwrap();

    // Every document, the unrefreshed one too, searchable at once.
    assert_eq!(
        c.count("ragflow_copy", &cancel).await.unwrap(),
        DOCS as u64 + 1
    );
    // Byte for byte and in the same order (the same segments), routing and vectors included.
    let (n0, dump0, _) = dump(&c, "ragflow_src").await;
    let (n1, dump1, _) = dump(&c, "ragflow_copy").await;
    assert_eq!((n0, n1), (DOCS as u64 + 1, DOCS as u64 + 1));
    assert!(dump1 == dump0, "the copy's documents differ");
    let routed = dump1
        .split(|&b| b == b'\n')
        .filter(|l| l.windows(10).any(|w| w == b"\"_routing\""))
        .count();
    assert_eq!(routed, DOCS / 3 + 1);
    assert!(dump1.windows(7).any(|w| w == b"\"vec\":["));
    // The definition: mappings and settings equal, aliases only those asked for.
    let def1 = c.index_def("ragflow_copy", &cancel).await.unwrap();
    assert_eq!(def1.mappings, def0.mappings);
    assert_eq!(def1.settings, def0.settings);
    assert_eq!(
        serde_json::Value::Object(def1.aliases.clone()),
        json!({"ragflow_copy_alias": {}, "ragflow_copy_a": {"filter": {"term": {"tag": "a"}}}})
    );
    // What Elasticsearch sets on a copy itself, all stripped from the definitions above.
    let (st0, st1) = (
        &raw0["settings"],
        &raw_def(&s, "ragflow_copy").await["settings"],
    );
    for k in PRIVATE {
        assert!(st1[*k].is_string(), "{k} missing");
    }
    assert_ne!(st1["index.uuid"], st0["index.uuid"]);
    assert_eq!(st1["index.provided_name"], "ragflow_copy");
    assert_eq!(st1["index.resize.source.name"], "ragflow_src");
    assert_eq!(st1["index.resize.source.uuid"], st0["index.uuid"]);
    assert_eq!(st1["index.routing_partition_size"], "1");
    assert_eq!(st1["index.number_of_replicas"], "0"); // not the node default 1
    assert!(st1.get("index.blocks.write").is_none());
    // The source is exactly as before (its write block is gone again) and keeps its aliases.
    assert_eq!(raw_def(&s, "ragflow_src").await, raw0);
    // Both take writes, through the client too.
    for index in ["ragflow_src", "ragflow_copy"] {
        assert_eq!(write_one(&s, index, "w1").await.0, 201, "{index}");
        assert_eq!(load_one(&c, index, "w2").await.unwrap(), 1, "{index}");
        c.refresh(index, &cancel).await.unwrap();
        assert_eq!(c.count(index, &cancel).await.unwrap(), n0 + 2, "{index}");
    }
    // The copy is independent of the source.
    c.delete_index("ragflow_src", &cancel).await.unwrap();
    assert_eq!(c.count("ragflow_copy", &cancel).await.unwrap(), n0 + 2);
}

#[tokio::test]
async fn cloning_back_puts_an_index_back_exactly_as_it_was() {
    // What a restore does: hold the live index aside, replace it, and on failure put it back.
    let s = Server::start(&[]).await;
    seed(&s, "dify-live", 500).await;
    s.ok(
        "POST",
        "/_aliases",
        Some(
            json!({"actions": [{"add": {"index": "dify-live", "alias": "dify-write",
            "is_write_index": true, "routing": "r1"}}]}),
        ),
    )
    .await;
    let (c, cancel) = (s.client(), Cancel::new());
    let def0 = c.index_def("dify-live", &cancel).await.unwrap();
    let (_, dump0, _) = dump(&c, "dify-live").await;

    c.clone_index("dify-live", "dify-live-hold", &json!({}), &cancel)
        .await
        .unwrap();
    assert!(c
        .aliases_of("dify-live-hold", &cancel)
        .await
        .unwrap()
        .is_empty());
    c.delete_index("dify-live", &cancel).await.unwrap();
    seed(&s, "dify-live", 7).await; // the failed restore's half-loaded index
    c.delete_index("dify-live", &cancel).await.unwrap();
    let aliases = serde_json::Value::Object(def0.aliases.clone());
    c.clone_index("dify-live-hold", "dify-live", &aliases, &cancel)
        .await
        .unwrap();
    c.delete_index("dify-live-hold", &cancel).await.unwrap();

    assert_eq!(c.index_def("dify-live", &cancel).await.unwrap(), def0);
    let (_, dump1, _) = dump(&c, "dify-live").await;
    assert!(dump1 == dump0, "the documents differ after putting back");
    // Written through its write alias, as before.
    let (status, v) = s
        .raw("PUT", "/dify-write/_doc/after", Some(json!({"n": 1})))
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        s.ok("GET", "/dify-live/_doc/after", None).await["_routing"],
        "r1"
    );
}

#[tokio::test]
async fn write_blocks_stop_writes_until_removed() {
    let s = Server::start(&[]).await;
    seed(&s, "ragflow_b", 20).await;
    let (c, cancel) = (s.client(), Cancel::new());
    let raw0 = raw_def(&s, "ragflow_b").await;
    assert!(c.block_writes("ragflow_b", &cancel).await.unwrap());
    assert!(!c.block_writes("ragflow_b", &cancel).await.unwrap()); // already blocked
    assert_eq!(
        raw_def(&s, "ragflow_b").await["settings"]["index.blocks.write"],
        "true"
    );
    assert_eq!(
        write_one(&s, "ragflow_b", "x").await,
        (403, json!("cluster_block_exception"))
    );
    match load_one(&c, "ragflow_b", "x").await.unwrap_err() {
        EsError::BulkItems { failed, first, .. } => {
            assert_eq!(failed, 1);
            assert_eq!(
                (first[0].status, first[0].kind.as_str()),
                (403, "cluster_block_exception")
            );
            assert!(first[0].reason.contains("index write (api)"), "{first:?}");
        }
        other => panic!("expected BulkItems, got {other}"),
    }
    // Reads still work.
    assert_eq!(c.count("ragflow_b", &cancel).await.unwrap(), 20);
    let (n, _, _) = dump(&c, "ragflow_b").await;
    assert_eq!(n, 20);
    c.unblock_writes("ragflow_b", &cancel).await.unwrap();
    c.unblock_writes("ragflow_b", &cancel).await.unwrap(); // not blocked: fine
    assert_eq!(raw_def(&s, "ragflow_b").await, raw0);
    assert_eq!(load_one(&c, "ragflow_b", "x").await.unwrap(), 1);

    // Concrete names only: an alias would block every index behind it.
    for bad in ["ragflow_b_all", "ragflow_*"] {
        let e = c.block_writes(bad, &cancel).await.unwrap_err();
        assert!(matches!(e, EsError::Usage(_)), "{bad}: {e}");
        let e = c.aliases_of(bad, &cancel).await.unwrap_err();
        assert!(matches!(e, EsError::Usage(_)), "{bad}: {e}");
    }
    let e = c.block_writes("missing", &cancel).await.unwrap_err();
    assert_eq!(e.kind(), Some("index_not_found_exception"), "{e}");
    assert_eq!(raw_def(&s, "ragflow_b").await, raw0);
}

#[tokio::test]
async fn a_blocked_source_stays_blocked_and_so_does_its_copy() {
    let s = Server::start(&[]).await;
    seed(&s, "ragflow_ro", 10).await;
    let (c, cancel) = (s.client(), Cancel::new());
    c.block_writes("ragflow_ro", &cancel).await.unwrap();
    c.clone_index("ragflow_ro", "ragflow_ro2", &Value::Null, &cancel)
        .await
        .unwrap();
    for index in ["ragflow_ro", "ragflow_ro2"] {
        assert_eq!(write_one(&s, index, "x").await.0, 403, "{index}");
    }
    assert_eq!(
        c.index_def("ragflow_ro2", &cancel).await.unwrap().settings,
        c.index_def("ragflow_ro", &cancel).await.unwrap().settings
    );
    c.unblock_writes("ragflow_ro2", &cancel).await.unwrap();
    assert_eq!(write_one(&s, "ragflow_ro2", "x").await.0, 201);
}

#[tokio::test]
async fn a_clone_that_cannot_be_made_changes_nothing() {
    let s = Server::start(&[]).await;
    seed(&s, "ragflow_e", 50).await;
    seed(&s, "ragflow_taken", 3).await;
    s.ok(
        "POST",
        "/_aliases",
        Some(
            json!({"actions": [{"add": {"index": "ragflow_e", "alias": "ragflow_e_w",
            "is_write_index": true}}]}),
        ),
    )
    .await;
    let (c, cancel) = (s.client(), Cancel::new());
    let before = s.ok("GET", "/_all?flat_settings=true", None).await;
    let counts = |c: EsClient| async move {
        let cancel = Cancel::new();
        (
            c.count("ragflow_e", &cancel).await.unwrap(),
            c.count("ragflow_taken", &cancel).await.unwrap(),
        )
    };
    let counts0 = counts(c.clone()).await;

    // Onto an existing index or alias: a typed error.
    for taken in ["ragflow_taken", "ragflow_taken_all", "ragflow_e_w"] {
        let e = c
            .clone_index("ragflow_e", taken, &json!({}), &cancel)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, EsError::Exists { index } if index == taken),
            "{taken}: {e}"
        );
        assert_eq!(e.index(), Some(taken));
        assert!(matches!(Error::from(e), Error::Store { .. }));
    }
    // Bad input.
    for (source, target, aliases) in [
        ("ragflow_e_all", "ragflow_n1", json!({})),
        ("ragflow_*", "ragflow_n1", json!({})),
        ("ragflow_e", "ragflow_n*", json!({})),
        ("ragflow_e", "ragflow_n1", json!(["a"])),
    ] {
        let e = c
            .clone_index(source, target, &aliases, &cancel)
            .await
            .unwrap_err();
        assert!(matches!(e, EsError::Usage(_)), "{source} {target}: {e}");
    }
    let e = c
        .clone_index("missing", "ragflow_n1", &json!({}), &cancel)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Some("index_not_found_exception"), "{e}");
    // Refused by Elasticsearch after the source was blocked: the block is removed again.
    let e = c
        .clone_index(
            "ragflow_e",
            "ragflow_n1",
            &json!({"ragflow_e_w": {"is_write_index": true}}),
            &cancel,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.kind()),
        (Some(500), Some("illegal_state_exception")),
        "{e}"
    );
    assert!(e.to_string().contains("more than one write index"), "{e}");
    let e = c
        .clone_index(
            "ragflow_e",
            "ragflow_n1",
            &json!({"ragflow_e": {}}),
            &cancel,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Some("invalid_alias_name_exception"), "{e}");
    // A cancelled clone does nothing.
    let stop = Cancel::new();
    stop.cancel();
    let e = c
        .clone_index("ragflow_e", "ragflow_n1", &json!({}), &stop)
        .await
        .unwrap_err();
    assert!(e.is_cancelled(), "{e}");

    assert_eq!(s.ok("GET", "/_all?flat_settings=true", None).await, before);
    assert_eq!(counts(c.clone()).await, counts0);
    assert_eq!(write_one(&s, "ragflow_e", "x").await.0, 201);
}

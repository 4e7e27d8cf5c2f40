//! The Elasticsearch store against the repository's ES test server (tools/es-test-server),
//! started as a child process per test: a full dump → delete → create → bulk load round trip
//! of an index past the 10,000-hit window, and each real-ES behaviour the store must handle.

mod common_es;

use std::time::{Duration, Instant};

use ai_backup_core::progress::Progress;
use ai_backup_core::store::elasticsearch::{settings, EsClient, EsConfig, EsError, IndexDef};
use ai_backup_core::{Cancel, Error};
use common_es::{doc, dump, seed, sorted_lines, Server, PRIVATE};
use serde_json::{json, Value};

const BIG: usize = 12_000;

#[tokio::test]
async fn round_trip_keeps_documents_mappings_settings_and_aliases() {
    let t0 = Instant::now();
    let s = Server::start(&[]).await;
    seed(&s, "ragflow_t1", BIG).await;
    let seeded = t0.elapsed();
    let (c, cancel) = (s.client(), Cancel::new());
    assert_eq!(c.version(&cancel).await.unwrap(), "8.11.0");

    let def0 = c.index_def("ragflow_t1", &cancel).await.unwrap();
    for k in PRIVATE {
        assert!(!def0.settings.contains_key(*k), "{k} kept");
    }
    assert_eq!(def0.settings["index.number_of_shards"], json!("2"));
    assert_eq!(
        def0.settings["index.analysis.analyzer.my_analyzer.filter"],
        json!(["lowercase", "asciifolding"])
    );
    assert_eq!(def0.mappings["properties"]["vec"]["dims"], json!(8));
    assert_eq!(def0.aliases.len(), 2);
    assert_eq!(c.count("ragflow_t1", &cancel).await.unwrap(), BIG as u64);

    let t = Instant::now();
    let (n0, dump0, scrolled) = dump(&c, "ragflow_t1").await;
    let dumped = t.elapsed();
    assert_eq!(n0, BIG as u64);
    assert!(!scrolled, "ES 8 has point in time");
    let lines0 = sorted_lines(&dump0);
    assert_eq!(lines0.len(), BIG);
    let routed = lines0
        .iter()
        .filter(|l| l.windows(10).any(|w| w == b"\"_routing\""))
        .count();
    assert_eq!(routed, BIG / 3);

    c.delete_index("ragflow_t1", &cancel).await.unwrap();
    let gone = c.count("ragflow_t1", &cancel).await.unwrap_err();
    assert_eq!(gone.kind(), Some("index_not_found_exception"), "{gone}");
    c.delete_index("ragflow_t1", &cancel).await.unwrap(); // gone already: fine

    // The definition goes through JSON, as it does through an archive.
    let def_json = serde_json::to_string(&def0).unwrap();
    let def_back: IndexDef = serde_json::from_str(&def_json).unwrap();
    c.create_index("ragflow_t1", &def_back, &cancel)
        .await
        .unwrap();
    let t = Instant::now();
    let loaded = c
        .bulk_load(
            "ragflow_t1",
            &mut dump0.as_slice(),
            &Progress::silent(),
            &cancel,
        )
        .await
        .unwrap();
    let load_time = t.elapsed();
    assert_eq!(loaded, BIG as u64);
    c.refresh("ragflow_t1", &cancel).await.unwrap();
    assert_eq!(c.count("ragflow_t1", &cancel).await.unwrap(), BIG as u64);

    let def1 = c.index_def("ragflow_t1", &cancel).await.unwrap();
    assert_eq!(def1.mappings, def0.mappings);
    assert_eq!(def1.settings, def0.settings);
    assert_eq!(def1.aliases, def0.aliases);
    let (n1, dump1, _) = dump(&c, "ragflow_t1").await;
    assert_eq!(n1, BIG as u64);
    assert!(
        sorted_lines(&dump1) == lines0,
        "documents differ after the round trip"
    );
    eprintln!(
        "round trip of {BIG} docs: seed {seeded:?}, dump {dumped:?}, load {load_time:?}, total {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn private_settings_are_stripped_so_real_es_accepts_the_definition() {
    let s = Server::start(&[]).await;
    seed(&s, "dify-a", 10).await;
    let raw = s.ok("GET", "/dify-a?flat_settings=true", None).await;
    let raw_settings = raw["dify-a"]["settings"].clone();
    for k in PRIVATE {
        assert!(
            raw_settings.get(*k).is_some(),
            "the server should report {k}"
        );
    }
    // Copied as is, the definition is refused (private / unknown setting).
    let (status, err) = s
        .raw("PUT", "/dify-copy", Some(json!({"settings": raw_settings})))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["type"], json!("illegal_argument_exception"));
    let nested = s.ok("GET", "/dify-a", None).await;
    let (status, _) = s
        .raw(
            "PUT",
            "/dify-copy",
            Some(json!({"settings": nested["dify-a"]["settings"]})),
        )
        .await;
    assert_eq!(status, 400);
    // Stripped, it is accepted, whether it comes flat or nested.
    let mut stripped = raw_settings.as_object().unwrap().clone();
    let gone = settings::strip_private(&mut stripped);
    assert!(gone.len() >= PRIVATE.len(), "{gone:?}");
    let (c, cancel) = (s.client(), Cancel::new());
    let def = c.index_def("dify-a", &cancel).await.unwrap();
    assert_eq!(def.settings, stripped);
    c.create_index("dify-copy", &def, &cancel).await.unwrap();
    let mut nested_def = def.clone();
    nested_def.settings = nested["dify-a"]["settings"].as_object().unwrap().clone();
    nested_def.aliases.clear();
    c.create_index("dify-copy2", &nested_def, &cancel)
        .await
        .unwrap();
    let copy = c.index_def("dify-copy2", &cancel).await.unwrap();
    assert_eq!(copy.settings, def.settings);
    // A refused definition is a typed error with ES's type and reason.
    let mut bad = def.clone();
    bad.aliases.clear();
    bad.mappings = json!({"properties": {"v": {"type": "dense_vector", "dims": 5000}}});
    let e = c.create_index("dify-bad", &bad, &cancel).await.unwrap_err();
    assert_eq!(
        (e.status(), e.kind()),
        (Some(400), Some("mapper_parsing_exception"))
    );
    assert!(e.to_string().contains("dimensions"), "{e}");
}

#[tokio::test]
async fn resolve_respects_patterns_hidden_indices_and_aliases() {
    let s = Server::start(&[]).await;
    for (name, body) in [
        ("ragflow_a", json!({})),
        ("ragflow_b", json!({})),
        ("ragflowx", json!({})),
        ("ragflow", json!({})),
        ("other", json!({"aliases": {"ragflow_alias": {}}})),
        (".ragflow_sys", json!({})),
        (
            "ragflow_hidden",
            json!({"settings": {"index.hidden": true}}),
        ),
        ("vector_index_1_node", json!({})),
        ("vector_index_2_node", json!({})),
        ("vector_index_2_node_old", json!({})),
    ] {
        s.ok("PUT", &format!("/{name}"), Some(body)).await;
    }
    let (c, cancel) = (s.client(), Cancel::new());
    let r = |p: &[&str]| {
        let p: Vec<String> = p.iter().map(|x| x.to_string()).collect();
        let c = c.clone();
        let cancel = cancel.clone();
        async move { c.resolve(&p, &cancel).await }
    };
    assert_eq!(r(&["ragflow_*"]).await.unwrap(), ["ragflow_a", "ragflow_b"]);
    assert_eq!(r(&["nomatch_*"]).await.unwrap(), Vec::<String>::new());
    assert_eq!(r(&["ragflow_a"]).await.unwrap(), ["ragflow_a"]);
    assert_eq!(r(&["missing"]).await.unwrap(), Vec::<String>::new());
    assert_eq!(r(&["ragflow_alias"]).await.unwrap(), Vec::<String>::new());
    assert_eq!(r(&[".ragflow*"]).await.unwrap(), Vec::<String>::new());
    assert_eq!(r(&["ragflow_hidden"]).await.unwrap(), Vec::<String>::new());
    assert_eq!(
        r(&["vector_index_*_node", "ragflow_b", "ragflow_*"])
            .await
            .unwrap(),
        [
            "ragflow_a",
            "ragflow_b",
            "vector_index_1_node",
            "vector_index_2_node"
        ]
    );
    for bad in ["*", "ragflow_*,other", "-other", "_all"] {
        let e = r(&[bad]).await.unwrap_err();
        assert!(matches!(e, EsError::Usage(_)), "{bad}: {e}");
        assert!(Error::from(e).is_bad_input());
    }
}

#[tokio::test]
async fn dump_fails_clearly_when_source_is_disabled_or_filtered() {
    let s = Server::start(&[]).await;
    for (name, source) in [
        ("nosrc", json!({"enabled": false})),
        ("filtered", json!({"excludes": ["vec"]})),
    ] {
        s.ok(
            "PUT",
            &format!("/{name}"),
            Some(json!({"mappings": {"_source": source, "properties": {
                "vec": {"type": "dense_vector", "dims": 8}}}})),
        )
        .await;
        s.bulk(name, (0..5).map(doc)).await;
        let mut out = Vec::new();
        let e = s
            .client()
            .dump_docs(name, &mut out, &Progress::silent(), &Cancel::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, EsError::SourceUnavailable { index, .. } if index == name),
            "{e}"
        );
        assert!(e.to_string().contains("_source"), "{e}");
        assert!(out.is_empty());
    }
}

#[tokio::test]
async fn bulk_load_retries_429_and_fails_on_refused_items() {
    let s = Server::start(&[]).await;
    let (c, cancel, p) = (
        s.client().with_bulk_limits(5 << 20, 500),
        Cancel::new(),
        Progress::silent(),
    );
    let input: String = (0..3000)
        .map(|i| {
            let (id, routing, src) = doc(i);
            let mut l = json!({"_id": id, "_source": src});
            if let Some(r) = routing {
                l["_routing"] = json!(r);
            }
            format!("{l}\n")
        })
        .collect();
    let def = IndexDef {
        mappings: json!({"properties": {"vec": {"type": "dense_vector", "dims": 8}}}),
        ..IndexDef::default()
    };

    // Three requests answered 429: retried with backoff, everything loads. One request at a
    // time, so that the three 429s hit the same one and its waits add up.
    c.create_index("load429", &def, &cancel).await.unwrap();
    s.faults(json!({"bulk_429": 3})).await;
    let t = Instant::now();
    let n = c
        .clone()
        .with_parallel(1)
        .bulk_load("load429", &mut input.as_bytes(), &p, &cancel)
        .await
        .unwrap();
    assert_eq!(n, 3000);
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "backoff 100+200+400 ms"
    );
    c.refresh("load429", &cancel).await.unwrap();
    assert_eq!(c.count("load429", &cancel).await.unwrap(), 3000);
    assert_eq!(
        s.ok("GET", "/_test/faults", None).await["bulk_429"],
        json!(0)
    );

    // More 429s than tries: a typed error, not a silent loss.
    c.create_index("load429b", &def, &cancel).await.unwrap();
    s.faults(json!({"bulk_429": 5})).await;
    // One request at a time, so that the 429s all fall on the same one.
    let quick = c
        .clone()
        .with_parallel(1)
        .with_retry(3, Duration::from_millis(10));
    let e = quick
        .bulk_load("load429b", &mut input.as_bytes(), &p, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, EsError::Rejected { tries: 3, .. }), "{e}");
    assert!(
        e.to_string().contains("es_rejected_execution_exception"),
        "{e}"
    );
    s.ok("DELETE", "/_test/faults", None).await;

    // HTTP 200 with per-item errors: the failing _ids are named (one request at a time, so
    // that the first request sent is the one the server sees first).
    c.create_index("loaditems", &def, &cancel).await.unwrap();
    s.faults(json!({"bulk_item_errors": 2})).await;
    let e = c
        .clone()
        .with_parallel(1)
        .bulk_load("loaditems", &mut input.as_bytes(), &p, &cancel)
        .await
        .unwrap_err();
    match &e {
        EsError::BulkItems {
            index,
            failed,
            first,
        } => {
            assert_eq!((index.as_str(), *failed), ("loaditems", 2));
            assert_eq!(first[0].id, "doc-00000");
            assert_eq!(first[1].id, "doc-00001");
            assert_eq!(first[0].kind, "document_parsing_exception");
        }
        other => panic!("expected BulkItems, got {other}"),
    }
    assert!(e.to_string().contains("doc-00000"), "{e}");
    let as_crate = Error::from(e);
    assert!(matches!(&as_crate, Error::Store { .. }), "{as_crate}");

    // A document the mapping refuses (wrong dims) is an item error too.
    c.create_index("loaddims", &def, &cancel).await.unwrap();
    let bad = "{\"_id\":\"ok\",\"_source\":{\"vec\":[1,2,3,4,5,6,7,8]}}\n{\"_id\":\"short\",\"_source\":{\"vec\":[1,2]}}\n";
    let e = c
        .bulk_load("loaddims", &mut bad.as_bytes(), &p, &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, EsError::BulkItems { first, .. } if first[0].id == "short"),
        "{e}"
    );
    // No index (it would be auto-created with guessed mappings) or an alias: refused.
    let e = c
        .bulk_load("nosuch", &mut input.as_bytes(), &p, &cancel)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Some("index_not_found_exception"), "{e}");
    assert!(
        s.raw("GET", "/nosuch", None).await.0 == 404,
        "nosuch was created"
    );
    s.ok(
        "POST",
        "/_aliases",
        Some(json!({"actions": [{"add": {"index": "loaddims", "alias": "dims_alias"}}]})),
    )
    .await;
    let e = c
        .bulk_load("dims_alias", &mut input.as_bytes(), &p, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, EsError::Usage(_)), "{e}");
    // Malformed input is refused with its line number.
    let e = c
        .bulk_load("loaddims", &mut "{\"_id\":\"x\"}\n".as_bytes(), &p, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, EsError::BadInput { line: 1, .. }), "{e}");
}

#[tokio::test]
async fn bulk_load_splits_batches_the_server_finds_too_large() {
    let s = Server::start(&["--max-body-bytes", "20000"]).await;
    let (c, cancel, p) = (s.client(), Cancel::new(), Progress::silent());
    c.create_index("small", &IndexDef::default(), &cancel)
        .await
        .unwrap();
    let input: String = (0..1000)
        .map(|i| {
            format!(
                "{}\n",
                json!({"_id": format!("d{i}"), "_source": {"text": "x".repeat(200)}})
            )
        })
        .collect();
    let n = c
        .bulk_load("small", &mut input.as_bytes(), &p, &cancel)
        .await
        .unwrap();
    assert_eq!(n, 1000);
    c.refresh("small", &cancel).await.unwrap();
    assert_eq!(c.count("small", &cancel).await.unwrap(), 1000);
    let huge = format!(
        "{}\n",
        json!({"_id": "huge", "_source": {"text": "y".repeat(30000)}})
    );
    let e = c
        .bulk_load("small", &mut huge.as_bytes(), &p, &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, EsError::TooLarge { id, .. } if id == "huge"),
        "{e}"
    );
}

#[tokio::test]
async fn scroll_fallback_reads_everything_without_point_in_time() {
    let s = Server::start(&["--no-pit"]).await;
    seed(&s, "dify-scroll", BIG).await;
    let c = s.client();
    let t = Instant::now();
    let (n, out, scrolled) = dump(&c, "dify-scroll").await;
    eprintln!("scroll dump of {BIG} docs: {:?}", t.elapsed());
    assert_eq!(n, BIG as u64);
    assert!(scrolled, "the fallback was announced");
    let lines = sorted_lines(&out);
    assert_eq!(lines.len(), BIG);
    let mut ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), BIG);
    // The scroll was closed.
    let freed = s
        .ok(
            "DELETE",
            "/_search/scroll",
            Some(json!({"scroll_id": "_all"})),
        )
        .await;
    assert_eq!(freed["num_freed"], json!(0));
}

#[tokio::test]
async fn credentials_errors_and_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, "Sup3r-s3cret\n").unwrap();
    let s = Server::start(&[
        "--user",
        "elastic",
        "--password-file",
        pwfile.to_str().unwrap(),
    ])
    .await;
    let cancel = Cancel::new();
    // No password: 401, typed, and no secret anywhere.
    let e = s.client().version(&cancel).await.unwrap_err();
    assert_eq!(
        (e.status(), e.kind()),
        (Some(401), Some("security_exception")),
        "{e}"
    );
    // The password from the container's environment.
    let env = [("ELASTIC_PASSWORD".to_string(), "Sup3r-s3cret".to_string())].into();
    let cfg = EsConfig::with_url(&s.url).resolve(Some(&env));
    let c = EsClient::new(&cfg).unwrap();
    assert_eq!(c.version(&cancel).await.unwrap(), "8.11.0");
    assert!(!format!("{cfg:?} {c:?}").contains("Sup3r"));
    // A wrong password in the URL: refused, and neither message nor URL shows it.
    let url = s.url.replace("http://", "http://elastic:wr0ng-pw@");
    let c2 = EsClient::new(&EsConfig::with_url(url)).unwrap();
    let e = c2.version(&cancel).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(
        !e.to_string().contains("wr0ng") && !c2.url().contains("wr0ng"),
        "{e}"
    );
    // Delete by concrete name only.
    s.http
        .put(format!("{}/keep", s.url))
        .basic_auth("elastic", Some("Sup3r-s3cret"))
        .header("Content-Type", "application/json")
        .body(json!({"aliases": {"keep_alias": {}}}).to_string())
        .send()
        .await
        .unwrap();
    c.delete_index("never_existed", &cancel).await.unwrap();
    assert!(matches!(
        c.delete_index("keep*", &cancel).await,
        Err(EsError::Usage(_))
    ));
    let e = c.delete_index("keep_alias", &cancel).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert_eq!(
        c.resolve(&["keep".into()], &cancel).await.unwrap(),
        ["keep"]
    );
    // Unreachable server: typed, names the URL.
    let dead = EsClient::new(&EsConfig::with_url("http://127.0.0.1:9")).unwrap();
    let e = dead.version(&cancel).await.unwrap_err();
    assert!(matches!(e, EsError::Unreachable { .. }), "{e}");
    // Cancelled: stops at once with Cancelled.
    let stop = Cancel::new();
    stop.cancel();
    let e = c
        .dump_docs("keep", &mut Vec::new(), &Progress::silent(), &stop)
        .await
        .unwrap_err();
    assert!(e.is_cancelled() && Error::from(e).is_cancelled());
}

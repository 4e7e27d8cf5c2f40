//! Parallel transfers and transient errors of the Elasticsearch store, against the
//! repository's ES test server: a sliced dump and a concurrent load give back every document
//! exactly; 429 storms and dropped connections are retried and counted where repeating is
//! safe; a failure that does not pass gives a clear, typed error.

mod common_es;

use std::time::Duration;

use ai_backup_core::progress::Progress;
use ai_backup_core::store::elasticsearch::{EsClient, EsError, IndexDef};
use ai_backup_core::Cancel;
use common_es::{dump, seed, sorted_lines, Server};
use serde_json::json;

const DOCS: usize = 4_000;

/// A dump with `slices` slices of small pages; (documents, output, retries counted).
async fn dump_with(c: &EsClient, index: &str, slices: usize) -> (u64, Vec<u8>, u64) {
    let p = Progress::silent();
    let mut out = Vec::new();
    let n = c
        .clone()
        .with_parallel(slices)
        .with_page_size(97)
        .dump_docs(index, &mut out, &p, &Cancel::new())
        .await
        .unwrap();
    (n, out, p.retries())
}

/// Load `input` into a new index `name` defined as `from`; the retries counted.
async fn load_with(c: &EsClient, from: &str, name: &str, input: &[u8], transfers: usize) -> u64 {
    let cancel = Cancel::new();
    let def: IndexDef = c.index_def(from, &cancel).await.unwrap();
    let def = IndexDef {
        aliases: Default::default(),
        ..def
    };
    c.create_index(name, &def, &cancel).await.unwrap();
    let p = Progress::silent();
    let n = c
        .clone()
        .with_parallel(transfers)
        .with_bulk_limits(5 << 20, 150)
        .bulk_load(name, &mut &input[..], &p, &cancel)
        .await
        .unwrap();
    assert_eq!(n, DOCS as u64);
    c.refresh(name, &cancel).await.unwrap();
    p.retries()
}

#[tokio::test]
async fn parallel_dump_and_load_round_trip_every_document_exactly() {
    let s = Server::start(&[]).await;
    seed(&s, "par_src", DOCS).await;
    let c = s.client();
    let (_, one, _) = dump(&c, "par_src").await;
    let (n, four, retries) = dump_with(&c, "par_src", 4).await;
    assert_eq!((n, retries), (DOCS as u64, 0));
    assert_eq!(
        sorted_lines(&four),
        sorted_lines(&one),
        "document by document"
    );
    assert_ne!(four, one, "slices interleave their pages");

    assert_eq!(load_with(&c, "par_src", "par_copy", &four, 4).await, 0);
    let (_, back, _) = dump(&c, "par_copy").await;
    assert_eq!(sorted_lines(&back), sorted_lines(&one));
}

#[tokio::test]
async fn a_429_storm_and_dropped_connections_are_retried_and_counted() {
    let s = Server::start(&[]).await;
    seed(&s, "storm", DOCS).await;
    let c = s.client().with_retry(8, Duration::from_millis(5));
    let (_, clean, _) = dump(&c, "storm").await;

    // Export: point-in-time pages refused or cut off are asked again.
    s.faults(json!({"search_429": 6, "drop_connections": 3}))
        .await;
    let (n, out, retries) = dump_with(&c, "storm", 3).await;
    assert_eq!((n, retries), (DOCS as u64, 9));
    assert_eq!(sorted_lines(&out), sorted_lines(&clean));

    // Import: whole requests refused or cut off after they were carried out.
    s.faults(json!({"bulk_429": 4, "drop_connections": 3}))
        .await;
    assert_eq!(load_with(&c, "storm", "storm_copy", &out, 3).await, 7);
    let (_, back, _) = dump(&c, "storm_copy").await;
    assert_eq!(sorted_lines(&back), sorted_lines(&clean));
    assert_eq!(
        s.ok("GET", "/_test/faults", None).await,
        json!({"search_429": 0, "drop_connections": 0, "bulk_429": 0})
    );
}

#[tokio::test]
async fn a_dropped_scroll_continuation_fails_instead_of_losing_a_page() {
    let s = Server::start(&["--no-pit"]).await;
    seed(&s, "scrolled", DOCS).await;
    let c = s.client().with_retry(8, Duration::from_millis(5));
    // The opening searches are safe to repeat; the continuations they lead to are not.
    s.faults(json!({"search_429": 2})).await;
    let (n, _, retries) = dump_with(&c, "scrolled", 2).await;
    assert_eq!((n, retries), (DOCS as u64, 2), "429s are retried");
    // A continuation cut off after the server moved the scroll: not asked again, the dump
    // fails rather than skip a page.
    let p = Progress::silent();
    s.faults(json!({"drop_scrolls": 1})).await;
    let e = c
        .clone()
        .with_parallel(1)
        .with_page_size(97)
        .dump_docs("scrolled", &mut Vec::new(), &p, &Cancel::new())
        .await
        .unwrap_err();
    assert!(matches!(e, EsError::Unreachable { .. }), "{e}");
    assert_eq!(p.retries(), 0, "{e}");
}

#[tokio::test]
async fn persistent_failures_give_a_clear_error() {
    let s = Server::start(&[]).await;
    seed(&s, "stuck", 500).await;
    let c = s.client().with_retry(3, Duration::from_millis(5));
    let (_, out, _) = dump(&c, "stuck").await;

    s.faults(json!({"search_429": 1000})).await;
    let e = c
        .dump_docs(
            "stuck",
            &mut Vec::new(),
            &Progress::silent(),
            &Cancel::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, EsError::GaveUp { tries: 3, .. }), "{e}");
    assert!(
        e.to_string().contains("es_rejected_execution_exception"),
        "{e}"
    );
    s.ok("DELETE", "/_test/faults", None).await;

    let cancel = Cancel::new();
    let def = c.index_def("stuck", &cancel).await.unwrap();
    c.create_index(
        "stuck_copy",
        &IndexDef {
            aliases: Default::default(),
            ..def
        },
        &cancel,
    )
    .await
    .unwrap();
    s.faults(json!({"drop_connections": 1000})).await;
    let e = c
        .bulk_load("stuck_copy", &mut &out[..], &Progress::silent(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, EsError::GaveUp { tries: 3, .. }), "{e}");
    assert!(e.to_string().contains("bulk load into stuck_copy"), "{e}");
    s.ok("DELETE", "/_test/faults", None).await;
    // The source is as it was.
    assert_eq!(c.count("stuck", &cancel).await.unwrap(), 500);
}

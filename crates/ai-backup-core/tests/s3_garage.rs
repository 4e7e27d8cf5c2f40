//! The S3 store against a real S3 server (garage, see `s3_support`): round trips of keys,
//! content types and metadata, multipart, pagination and concurrency, batch delete, copy,
//! typed errors and cancellation.

mod s3_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ai_backup_core::store::s3::{
    try_for_each_concurrent, try_map_unordered, ObjectMeta, S3Client, S3Config, S3Credentials,
    S3Error, S3ErrorKind, DEFAULT_CONCURRENCY,
};
use ai_backup_core::Cancel;
use s3_support::{free_port, get_bytes, meta, sha256_of, Garage, Gen};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_keys_content_type_and_metadata() {
    let g = Garage::start().await;
    let c = g.client();
    let cx = Cancel::new();
    assert!(!c.bucket_exists("docs", &cx).await.unwrap());
    c.create_bucket("docs", &cx).await.unwrap();
    assert!(c.bucket_exists("docs", &cx).await.unwrap());
    let names: Vec<String> = c
        .list_buckets(&cx)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["docs"]);

    let mut m = meta(
        "application/pdf",
        &[("uploaded-by", "alice"), ("tenant-id", "t-42")],
    );
    m.headers.insert(
        "content-disposition".into(),
        "attachment; filename=\"r.pdf\"".into(),
    );
    m.headers
        .insert("cache-control".into(), "max-age=60".into());
    let cases: Vec<(&str, Vec<u8>, ObjectMeta)> = vec![
        ("empty", Vec::new(), ObjectMeta::default()),
        (
            "报告 2024/年度 file (1).pdf",
            b"%PDF-1.4 not really".to_vec(),
            m,
        ),
        (
            "odd/a+b%20c&d=e?f#g;h,i@j$k!l'm~.txt",
            vec![7u8; 1000],
            meta("text/plain", &[]),
        ),
        (
            "upload_files/tenant/über größe.bin",
            (0..=255u8).collect(),
            meta("application/octet-stream", &[("n", "1")]),
        ),
    ];
    for (key, data, m) in &cases {
        c.put_object("docs", key, data.len() as u64, &mut data.as_slice(), m, &cx)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    for (key, data, m) in &cases {
        let head = c.head_object("docs", key, &cx).await.unwrap();
        assert_eq!(head.size, data.len() as u64, "{key}");
        let (got_meta, got) = get_bytes(&c, "docs", key).await;
        assert_eq!(&got, data, "{key}");
        if m.content_type.is_some() {
            assert_eq!(head.meta.content_type, m.content_type, "{key}");
        }
        assert_eq!(head.meta.metadata, m.metadata, "{key}");
        for (h, v) in &m.headers {
            assert_eq!(head.meta.headers.get(h), Some(v), "{key} {h}");
        }
        assert_eq!(got_meta, head.meta, "{key}: GET and HEAD agree");
    }
    let listed = c.list_objects("docs", "", &cx).await.unwrap();
    let mut want: Vec<&str> = cases.iter().map(|c| c.0).collect();
    want.sort();
    assert_eq!(
        listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        want
    );
    assert_eq!(listed.iter().find(|o| o.key == "empty").unwrap().size, 0);
    let under = c.list_objects("docs", "报告 2024/", &cx).await.unwrap();
    assert_eq!(under.len(), 1);
    assert_eq!(under[0].key, "报告 2024/年度 file (1).pdf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_object_goes_multipart_and_streams() {
    let g = Garage::start().await;
    let c = g.client();
    let cx = Cancel::new();
    c.create_bucket("big", &cx).await.unwrap();
    let size = (64 << 20) + 12_345;
    let key = "models/大 file.bin";
    let m = meta("application/x-tar", &[("kb-id", "kb1")]);
    let mut src = Gen::new(1, size);
    let t = Instant::now();
    c.put_object("big", key, size, &mut src, &m, &cx)
        .await
        .unwrap();
    let up = t.elapsed();
    assert_eq!(src.pos, size);
    assert!(c
        .list_multipart_uploads("big", "", &cx)
        .await
        .unwrap()
        .is_empty());
    let head = c.head_object("big", key, &cx).await.unwrap();
    assert_eq!(head.size, size);
    assert_eq!(head.meta.content_type, m.content_type);
    assert_eq!(head.meta.metadata, m.metadata);
    let etag = head.etag.unwrap();
    assert!(
        etag.ends_with("-9"),
        "9 parts of at most 8 MiB expected, ETag {etag}"
    );
    let t = Instant::now();
    let got = c.get_object("big", key, &cx).await.unwrap();
    assert_eq!(sha256_of(got.body).await, (size, src.sha256()));
    eprintln!("64 MiB: upload {up:?}, download+hash {:?}", t.elapsed());

    // Server-side copy, keeping and then replacing the metadata.
    c.copy_object("big", key, "big", "copy/same meta", None, &cx)
        .await
        .unwrap();
    let h2 = c.head_object("big", "copy/same meta", &cx).await.unwrap();
    assert_eq!((h2.size, &h2.meta), (size, &head.meta));
    let m2 = meta("text/csv", &[("x", "y")]);
    c.copy_object("big", key, "big", "copy/新", Some(&m2), &cx)
        .await
        .unwrap();
    let h3 = c.head_object("big", "copy/新", &cx).await.unwrap();
    assert_eq!(
        (h3.size, h3.meta.content_type, h3.meta.metadata),
        (size, m2.content_type, m2.metadata)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_objects_paginated_concurrent_and_batch_deleted() {
    let g = Garage::start().await;
    let c = g.client();
    let cx = Cancel::new();
    c.create_bucket("many", &cx).await.unwrap();
    c.create_bucket("other", &cx).await.unwrap();
    let body = |i: usize| format!("object {i} ").repeat(i % 50 + 1).into_bytes();
    let keys: Vec<String> = (0..1200)
        .map(|i| format!("kb/{:04} doc №{i}.txt", i))
        .collect();
    let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let t = Instant::now();
    try_for_each_concurrent(keys.iter().enumerate(), DEFAULT_CONCURRENCY, |(i, k)| {
        let (c, cx, now, peak) = (&c, &cx, &now, &peak);
        async move {
            peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            let data = body(i);
            let r = c
                .put_object(
                    "many",
                    k,
                    data.len() as u64,
                    &mut data.as_slice(),
                    &meta("text/plain", &[]),
                    cx,
                )
                .await;
            now.fetch_sub(1, Ordering::SeqCst);
            r.map(drop)
        }
    })
    .await
    .unwrap();
    let up = t.elapsed();
    assert_eq!(peak.load(Ordering::SeqCst), DEFAULT_CONCURRENCY);
    c.put_object(
        "other",
        "kb/keep",
        1,
        &mut &b"x"[..],
        &ObjectMeta::default(),
        &cx,
    )
    .await
    .unwrap();

    let first = c
        .list_objects_page("many", "kb/", None, None, &cx)
        .await
        .unwrap();
    assert_eq!(first.objects.len(), 1000);
    assert!(first.next.is_some(), "1,200 keys need a second page");
    let small = c
        .list_objects_page("many", "kb/", None, Some(100), &cx)
        .await
        .unwrap();
    assert_eq!(small.objects.len(), 100);
    let listed = c.list_objects("many", "", &cx).await.unwrap();
    assert_eq!(
        listed.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
        keys
    );
    for (i, o) in listed.iter().enumerate() {
        assert_eq!(o.size, body(i).len() as u64);
    }

    let t = Instant::now();
    let got = try_map_unordered(keys.iter().enumerate(), DEFAULT_CONCURRENCY, |(i, k)| {
        let c = &c;
        async move {
            let mut o = c.get_object("many", k, &Cancel::new()).await?;
            let mut v = Vec::new();
            o.body.read_to_end(&mut v).await.unwrap();
            Ok::<_, ai_backup_core::store::s3::S3Error>((i, v == body(i)))
        }
    })
    .await
    .unwrap();
    let down = t.elapsed();
    assert_eq!(got.len(), 1200);
    assert!(got.iter().all(|(_, same)| *same));

    let t = Instant::now();
    let mut to_delete = keys.clone();
    to_delete.push("never existed".into());
    c.delete_objects("many", &to_delete, &cx).await.unwrap();
    eprintln!(
        "1,200 objects: upload {up:?}, download {down:?}, delete {:?}",
        t.elapsed()
    );
    assert!(c.list_objects("many", "", &cx).await.unwrap().is_empty());
    assert_eq!(c.list_objects("other", "", &cx).await.unwrap().len(), 1);
    c.delete_bucket("many", &cx).await.unwrap();
    assert!(!c.bucket_exists("many", &cx).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_typed_and_never_show_the_secret() {
    let g = Garage::start().await;
    let c = g.client();
    let cx = Cancel::new();
    let e = c.get_object("nope", "k", &cx).await.unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::NotFound, "{e}");
    assert_eq!(
        (e.bucket.as_deref(), e.key.as_deref()),
        (Some("nope"), Some("k"))
    );
    let e = c.list_objects("nope", "", &cx).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.code.as_deref(), Some("NoSuchBucket"), "{e}");
    c.create_bucket("bkt", &cx).await.unwrap();
    let e = c.head_object("bkt", "missing key", &cx).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = c.create_bucket("bkt", &cx).await.unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::AlreadyExists, "{e}");
    c.put_object("bkt", "k", 1, &mut &b"x"[..], &ObjectMeta::default(), &cx)
        .await
        .unwrap();
    let e = c.delete_bucket("bkt", &cx).await.unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::Conflict, "{e}");
    let e = c
        .put_object(
            "bkt",
            "a/../b",
            1,
            &mut &b"x"[..],
            &ObjectMeta::default(),
            &cx,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::InvalidRequest, "{e}");

    let bad_secret = format!("{}ff", &g.secret_key[..62]);
    let cfg = S3Config {
        secret_key: Some(bad_secret.clone()),
        ..g.config()
    };
    let bad = S3Client::from_config(&cfg, None).unwrap();
    for e in [
        bad.list_buckets(&cx).await.unwrap_err(),
        bad.get_object("bkt", "k", &cx).await.unwrap_err(),
        bad.put_object(
            "bkt",
            "k2",
            3,
            &mut &b"abc"[..],
            &ObjectMeta::default(),
            &cx,
        )
        .await
        .unwrap_err(),
    ] {
        assert!(e.is_auth(), "{e}");
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(&bad_secret) && !text.contains(&g.secret_key),
            "{text}"
        );
    }
    assert!(!format!("{cfg:?} {bad:?}").contains(&bad_secret));
    let creds = S3Credentials {
        access_key: "GK000000000000000000000000".into(),
        secret_key: g.secret_key.clone(),
    };
    let e = S3Client::new(&g.config(), Some(creds))
        .unwrap()
        .list_buckets(&cx)
        .await
        .unwrap_err();
    assert!(e.is_auth(), "{e}");

    let down = S3Config {
        endpoint: format!("http://127.0.0.1:{}", free_port()),
        ..g.config()
    };
    let e = S3Client::from_config(&down, None)
        .unwrap()
        .with_retries(0)
        .list_buckets(&cx)
        .await
        .unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::Transport, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_short_source_abort_the_multipart_upload() {
    let g = Garage::start().await;
    let c = g
        .client()
        .with_part_size(5 << 20)
        .with_multipart_threshold(5 << 20);
    let cx = Cancel::new();
    c.create_bucket("bkt", &cx).await.unwrap();
    let size = 40 << 20;

    // Cancel once 12 MiB were read: two parts are stored, the third is in flight.
    let cancel = Cancel::new();
    let mut src = Gen::new(2, size);
    let trigger = cancel.clone();
    src.on_read = Some(Box::new(move |pos| {
        if pos >= 12 << 20 {
            trigger.cancel();
        }
    }));
    let e = c
        .put_object(
            "bkt",
            "big",
            size,
            &mut src,
            &ObjectMeta::default(),
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(e.is_cancelled(), "{e}");
    assert!(e.clone().into_error("dify").is_cancelled());
    assert!(src.pos < size);
    assert!(c
        .list_multipart_uploads("bkt", "", &cx)
        .await
        .unwrap()
        .is_empty());
    assert!(c
        .head_object("bkt", "big", &cx)
        .await
        .unwrap_err()
        .is_not_found());

    // A source that ends early fails the upload (typed) and aborts it too.
    let mut short = Gen::new(3, 7 << 20);
    let e = c
        .put_object(
            "bkt",
            "short",
            size,
            &mut short,
            &ObjectMeta::default(),
            &cx,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::Source, "{e}");
    assert!(c
        .list_multipart_uploads("bkt", "", &cx)
        .await
        .unwrap()
        .is_empty());
    let mut short = Gen::new(3, 10);
    let e = c
        .put_object("bkt", "short", 11, &mut short, &ObjectMeta::default(), &cx)
        .await
        .unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::Source, "{e}");
    assert!(c
        .head_object("bkt", "short", &cx)
        .await
        .unwrap_err()
        .is_not_found());

    // An upload whose future is dropped mid-way (as in a crash) is left behind: it is
    // listed, and can be aborted.
    let mut stalls = Gen::new(4, size);
    stalls.stall_at = Some(6 << 20);
    let none = ObjectMeta::default();
    let put = c.put_object("bkt", "left behind", size, &mut stalls, &none, &cx);
    assert!(tokio::time::timeout(Duration::from_secs(1), put)
        .await
        .is_err());
    let left = c.list_multipart_uploads("bkt", "", &cx).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, "left behind");
    c.abort_multipart_upload("bkt", &left[0].key, &left[0].upload_id, &cx)
        .await
        .unwrap();
    assert!(c
        .list_multipart_uploads("bkt", "", &cx)
        .await
        .unwrap()
        .is_empty());
    c.put_object(
        "bkt",
        "done",
        6 << 20,
        &mut Gen::new(5, 6 << 20),
        &ObjectMeta::default(),
        &cx,
    )
    .await
    .unwrap();

    // Cancelling a download mid-stream fails the read.
    let dl = Cancel::new();
    let mut o = c.get_object("bkt", "done", &dl).await.unwrap();
    let mut buf = vec![0u8; 1 << 20];
    o.body.read_exact(&mut buf).await.unwrap();
    dl.cancel();
    let mut rest = Vec::new();
    let err = o.body.read_to_end(&mut rest).await.unwrap_err();
    let typed = S3Error::from_io(&err).expect("typed error inside");
    assert!(typed.is_cancelled(), "{err}");
    assert_eq!(typed.key.as_deref(), Some("done"));
    let again = o.body.read(&mut buf).await.unwrap_err();
    assert!(
        S3Error::from_io(&again).unwrap().is_cancelled(),
        "never a false end of file"
    );
}

//! Transient S3 faults (503 SlowDown, a connection cut mid-answer) injected by a proxy in
//! front of a real garage: whole reads, resumed streams and in-memory uploads (single and
//! multipart, parts in parallel) still move every byte exactly, each retry is counted, the
//! count is bounded, and a store that keeps answering 503 fails clearly and changes nothing.

mod fault_proxy;
#[allow(dead_code)]
mod s3_support;

use ai_backup_core::progress::Progress;
use ai_backup_core::store::s3::{
    try_map_unordered, Expect, ObjectMeta, S3Client, S3Config, S3Error, S3ErrorKind,
    DEFAULT_RETRIES,
};
use ai_backup_core::Cancel;
use fault_proxy::FaultProxy;
use s3_support::{get_bytes, Garage};
use tokio::io::AsyncReadExt;

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn via(g: &Garage, proxy: &FaultProxy, progress: &Progress) -> S3Client {
    let cfg = S3Config {
        endpoint: proxy.endpoint.clone(),
        ..g.config()
    };
    S3Client::from_config(&cfg, None)
        .unwrap()
        .with_progress(progress)
}

fn upstream(g: &Garage) -> String {
    g.endpoint.trim_start_matches("http://").to_string()
}

const LARGE: usize = (20 << 20) + 12_345;
const SMALL_COUNT: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_counted_and_bounded() {
    let g = Garage::start().await;
    let direct = g.client();
    let cx = Cancel::new();
    direct.create_bucket("src", &cx).await.unwrap();
    direct.create_bucket("dst", &cx).await.unwrap();
    let m = ObjectMeta::default();
    for i in 0..SMALL_COUNT {
        let data = content(i, 4096 + (i as usize) * 997);
        let key = format!("small/{i:03}");
        direct
            .put_object_bytes("src", &key, data.into(), &m, &cx)
            .await
            .unwrap();
    }
    let large = content(999, LARGE);
    direct
        .put_object_bytes("src", "large.bin", large.clone().into(), &m, &cx)
        .await
        .unwrap();

    // Reads: whole small objects, many at once, and a large one by ranges.
    let proxy = FaultProxy::start(&upstream(&g), 3, 2).await;
    let progress = Progress::silent();
    let c = via(&g, &proxy, &progress);
    let got = try_map_unordered(0..SMALL_COUNT, 8, |i| {
        let c = &c;
        let cx = &cx;
        async move {
            let key = format!("small/{i:03}");
            let (_, data) = c.get_object_bytes("src", &key, 1 << 20, cx).await?;
            Ok::<_, ai_backup_core::store::s3::S3Error>((i, data))
        }
    })
    .await
    .unwrap();
    for (i, data) in got {
        assert_eq!(data[..], content(i, 4096 + (i as usize) * 997)[..], "{i}");
    }
    let read_retries = progress.retries();
    assert!(
        proxy.injected() >= 4,
        "faults injected: {}",
        proxy.injected()
    );
    assert!(
        read_retries > 0 && read_retries <= proxy.injected() as u64,
        "retries {read_retries}, faults {}",
        proxy.injected()
    );

    resumed_reads_of_a_large_object(&g, &large).await;

    // Writes: small objects from memory, and a large one multipart with parts in parallel.
    let proxy = FaultProxy::start(&upstream(&g), 4, 0).await;
    let progress = Progress::silent();
    let c = via(&g, &proxy, &progress);
    for i in 0..10u64 {
        let key = format!("small/{i:03}");
        let data = content(i, 4096 + (i as usize) * 997);
        c.put_object_bytes("dst", &key, data.into(), &m, &cx)
            .await
            .unwrap();
    }
    c.put_object_bytes("dst", "large.bin", large.clone().into(), &m, &cx)
        .await
        .unwrap();
    for i in 0..10u64 {
        let (_, data) = get_bytes(&direct, "dst", &format!("small/{i:03}")).await;
        assert_eq!(data, content(i, 4096 + (i as usize) * 997), "{i}");
    }
    assert!(get_bytes(&direct, "dst", "large.bin").await.1 == large);
    let n = progress.retries();
    assert!(
        n > 0 && n <= proxy.injected() as u64,
        "retries {n}, faults {}",
        proxy.injected()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_keeps_answering_slowdown_fails_clearly_and_changes_nothing() {
    let g = Garage::start().await;
    let direct = g.client();
    let cx = Cancel::new();
    direct.create_bucket("dst", &cx).await.unwrap();
    let proxy = FaultProxy::start(&upstream(&g), usize::MAX, 0).await;
    let progress = Progress::silent();
    let c = via(&g, &proxy, &progress).with_retries(2);
    let e = c
        .put_object_bytes(
            "dst",
            "k",
            vec![1u8; 1000].into(),
            &ObjectMeta::default(),
            &cx,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, S3ErrorKind::Server, "{e}");
    assert_eq!(e.code.as_deref(), Some("SlowDown"), "{e}");
    assert!(e.to_string().contains("SlowDown (HTTP 503)"), "{e}");
    assert_eq!(progress.retries(), 2);
    let e = c
        .get_object_bytes("dst", "k", 1 << 20, &cx)
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("SlowDown"), "{e}");
    assert_eq!(progress.retries(), 4);
    assert!(direct
        .list_objects("dst", "", &cx)
        .await
        .unwrap()
        .is_empty());
    // The default is bounded too.
    let progress = Progress::silent();
    let c = via(&g, &proxy, &progress);
    c.list_buckets(&cx).await.unwrap_err();
    assert_eq!(progress.retries(), u64::from(DEFAULT_RETRIES));
}

/// A large object read as one stream: resumed where the answer broke off, each resume counted,
/// bounded by the retries, and refused when the object is not the one listed.
async fn resumed_reads_of_a_large_object(g: &Garage, large: &[u8]) {
    let cx = Cancel::new();
    let expect = Expect {
        size: LARGE as u64,
        etag: None,
    };
    let proxy = FaultProxy::start(&upstream(g), 0, 2).await;
    let progress = Progress::silent();
    let c = via(g, &proxy, &progress);
    let (head, mut body) = c
        .get_object_resuming("src", "large.bin", expect, &cx)
        .await
        .unwrap();
    let mut whole = Vec::new();
    body.read_to_end(&mut whole).await.unwrap();
    assert_eq!(head.size, LARGE as u64);
    assert!(
        whole == large,
        "the large object read as a resumed stream differs"
    );
    assert_eq!(proxy.injected(), 2);
    assert_eq!(progress.retries(), 2);

    // A connection that breaks every time: the resumes stop at the retries.
    let proxy = FaultProxy::start(&upstream(g), 0, usize::MAX).await;
    let progress = Progress::silent();
    let c = via(g, &proxy, &progress).with_retries(2);
    let (_, mut body) = c
        .get_object_resuming("src", "large.bin", expect, &cx)
        .await
        .unwrap();
    let e = body.read_to_end(&mut Vec::new()).await.unwrap_err();
    let e = S3Error::from_io(&e).expect("an S3 error");
    assert_eq!(e.kind, S3ErrorKind::Transport, "{e}");
    assert_eq!(progress.retries(), 2);

    // Not the object that was listed: refused before a byte of it is read.
    let other = Expect {
        size: LARGE as u64,
        etag: Some("0123456789abcdef"),
    };
    let e = c
        .get_object_resuming("src", "large.bin", other, &cx)
        .await
        .err()
        .expect("a changed object is refused");
    assert_eq!(e.kind, S3ErrorKind::BadResponse, "{e}");
    assert!(e.to_string().contains("changed"), "{e}");
}

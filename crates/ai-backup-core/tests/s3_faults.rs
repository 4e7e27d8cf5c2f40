//! Transient S3 faults (503 SlowDown, a connection cut mid-answer) injected by a proxy in
//! front of a real garage: whole and ranged reads and in-memory uploads (single and
//! multipart, parts in parallel) still move every byte exactly, each retry is counted, the
//! count is bounded, and a store that keeps answering 503 fails clearly and changes nothing.

mod fault_proxy;
#[allow(dead_code)]
mod s3_support;

use ai_backup_core::progress::Progress;
use ai_backup_core::store::s3::{
    try_map_unordered, Expect, ObjectMeta, S3Client, S3Config, S3ErrorKind, DEFAULT_RETRIES,
};
use ai_backup_core::Cancel;
use fault_proxy::FaultProxy;
use s3_support::{get_bytes, Garage};

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
    let expect = Expect {
        size: LARGE as u64,
        etag: None,
    };
    let mut whole = Vec::new();
    for start in (0..LARGE as u64).step_by(8 << 20) {
        let end = (start + (8 << 20)).min(LARGE as u64);
        let (head, data) = c
            .get_object_range("src", "large.bin", start..end, expect, &cx)
            .await
            .unwrap();
        assert_eq!(head.size, LARGE as u64);
        whole.extend_from_slice(&data);
    }
    assert!(whole == large, "the large object read by ranges differs");
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

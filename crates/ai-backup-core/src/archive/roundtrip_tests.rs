//! Round trips and refusals of the archive format, on files in a temporary directory.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::*;
use crate::progress::{Cancel, Progress};

pub(super) fn meta(module: &str) -> Metadata {
    Metadata {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        module_id: module.into(),
        engine: "postgres".into(),
        db_name: "n8n_db".into(),
        created_at: "2025-11-30T02:30:00.000Z".into(),
        ai_server_version: "0.1.0".into(),
        tool_version: "0.1.0".into(),
        components: vec!["db".into()],
        notes: None,
        source_servers: Default::default(),
        quiesced: true,
        compression: Default::default(),
        db: DbMeta {
            entry: "db/n8n_db.sql".into(),
            dump_format: "pg_dump-plain".into(),
            charset: None,
            collation: None,
            ctype: None,
            owner: None,
            stats: DbStats::default(),
        },
        secrets: vec![SecretMeta {
            name: "key".into(),
            source: "env:KEY".into(),
            entry: "secrets/key".into(),
        }],
        objects: Some(ObjectsMeta {
            scope: vec![("bucket".into(), String::new())],
            buckets: Default::default(),
            index_entry: OBJECT_INDEX_ENTRY.into(),
        }),
        indices: None,
    }
}

/// The objects index recording the object at `minio/bucket/<key>`.
fn index_of(key: &str) -> Vec<u8> {
    let r = ObjectRecord {
        bucket: "bucket".into(),
        key: key.into(),
        size: 9,
        meta: Default::default(),
    };
    let mut line = serde_json::to_vec(&r).unwrap();
    line.push(b'\n');
    line
}

/// `n` bytes that do not compress (xorshift), the same in every run.
pub(super) fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A dump-like stream: deterministic, not compressible to nothing.
fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7919) % 251) as u8).collect()
}

async fn write(dir: &Path, m: &Metadata, data: &[u8], part: usize) -> PathBuf {
    let path = dir.join(format!("a{}", m.compression.extension()));
    let mut w = ArchiveWriter::create(&path, m, &ArchiveKey::NONE)
        .await
        .unwrap()
        .with_part_size(part);
    w.add_bytes("secrets/key", b"k3y").await.unwrap();
    let key = format!("{}/file with spaces é.bin", "d".repeat(120));
    w.add_bytes(&object_path("bucket", &key), b"long name")
        .await
        .unwrap();
    w.add_bytes(OBJECT_INDEX_ENTRY, &index_of(&key))
        .await
        .unwrap();
    let mut src = data;
    w.add_stream(
        "db/n8n_db.sql",
        &mut src,
        &Progress::silent(),
        "dump",
        &Cancel::new(),
    )
    .await
    .unwrap();
    w.finish().await.unwrap();
    path
}

pub(super) async fn verify_path(p: &Path) -> crate::Result<Verified> {
    verify(p, &ArchiveKey::NONE, &Progress::silent(), &Cancel::new()).await
}

#[tokio::test]
async fn streams_split_into_parts_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload(10_000);
    let path = write(dir.path(), &meta("n8n"), &data, 4096).await;
    let v = verify_path(&path).await.unwrap();
    let parts: Vec<_> = v
        .manifest
        .entries
        .iter()
        .filter(|e| is_part_of(&e.path, "db/n8n_db.sql"))
        .collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(v.manifest.bytes_under("db/n8n_db.sql"), 10_000);
    assert_eq!(
        v.secrets.get("secrets/key").map(Vec::as_slice),
        Some(&b"k3y"[..])
    );

    let mut r = ArchiveReader::open(&path, &ArchiveKey::NONE).await.unwrap();
    let mut back = Vec::new();
    let mut names = Vec::new();
    while let Some(h) = r.next_entry().await.unwrap() {
        names.push(h.path.clone());
        if is_part_of(&h.path, "db/n8n_db.sql") {
            r.entry_reader().read_to_end(&mut back).await.unwrap();
        }
    }
    assert_eq!(back, data);
    assert_eq!(names.first().map(String::as_str), Some(METADATA_ENTRY));
    assert_eq!(names.last().map(String::as_str), Some(MANIFEST_ENTRY));
    assert!(names
        .iter()
        .any(|n| n.len() > 100 && n.ends_with("file with spaces é.bin")));
}

#[tokio::test]
async fn plain_tar_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &meta("n8n"), &payload(5000), 2048).await;
    let gz = flate2_free_gunzip(&path);
    let mut ar = tar::Archive::new(gz.as_slice());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names[0], "metadata.json");
    assert_eq!(names.len(), 2 + 1 + 3 + 2);
}

/// Decompress with the async decoder into memory (tests only).
fn flate2_free_gunzip(path: &Path) -> Vec<u8> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let f = std::fs::File::open(path).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(f), &mut out).unwrap();
        out
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn empty_stream_still_has_a_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &meta("n8n"), b"", 4096).await;
    let v = verify_path(&path).await.unwrap();
    assert_eq!(
        v.manifest
            .entries
            .iter()
            .filter(|e| is_part_of(&e.path, "db/n8n_db.sql"))
            .count(),
        1
    );
}

pub(super) fn refused_reason(r: crate::Result<Verified>) -> String {
    match r {
        Err(crate::Error::ArchiveRefused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn corrupt_truncated_foreign_and_newer_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), &meta("n8n"), &payload(200_000), 1 << 16).await;
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("t.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(refused_reason(verify_path(&truncated).await).contains("truncated"));

    let corrupt = dir.path().join("c.tar.gz");
    let mut c = bytes.clone();
    let mid = c.len() / 2;
    c[mid] ^= 0x55;
    std::fs::write(&corrupt, &c).unwrap();
    let _ = refused_reason(verify_path(&corrupt).await);

    let foreign = dir.path().join("f.tar.gz");
    std::fs::write(&foreign, b"this is not an archive at all").unwrap();
    let _ = refused_reason(verify_path(&foreign).await);

    let sub = dir.path().join("newer");
    std::fs::create_dir(&sub).unwrap();
    let mut m = meta("n8n");
    m.format_version = FORMAT_VERSION + 1;
    let newer = write(&sub, &m, b"x", 4096).await;
    assert!(refused_reason(verify_path(&newer).await).contains("newer"));

    let sub = dir.path().join("other");
    std::fs::create_dir(&sub).unwrap();
    let mut m = meta("n8n");
    m.format = "something-else".into();
    let other = write(&sub, &m, b"x", 4096).await;
    assert!(refused_reason(verify_path(&other).await).contains("not an ai-backup archive"));
}

#[tokio::test]
async fn a_dropped_writer_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar.gz");
    {
        let mut w = ArchiveWriter::create(&path, &meta("n8n"), &ArchiveKey::NONE)
            .await
            .unwrap();
        w.add_bytes("db/n8n_db.sql.part-0001", b"partial")
            .await
            .unwrap();
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // An existing file is never overwritten.
    std::fs::write(&path, b"keep").unwrap();
    assert!(
        ArchiveWriter::create(&path, &meta("n8n"), &ArchiveKey::NONE)
            .await
            .is_err()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"keep");
}

#[cfg(unix)]
#[tokio::test]
async fn archive_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &meta("n8n"), b"data", 4096).await;
    assert_eq!(
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// The error `ArchiveWriter::create` gives for `target`.
async fn create_error(target: &Path) -> String {
    match ArchiveWriter::create(target, &meta("n8n"), &ArchiveKey::NONE).await {
        Ok(_) => panic!("{} was created", target.display()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn an_existing_partial_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar.gz");
    let partial = dir.path().join("x.tar.gz.partial");
    std::fs::write(&partial, b"someone else's").unwrap();
    let err = create_error(&path).await;
    assert!(err.contains("x.tar.gz.partial exists already"), "{err}");
    assert_eq!(std::fs::read(&partial).unwrap(), b"someone else's");
    assert!(!path.exists());
}

#[cfg(unix)]
#[tokio::test]
async fn a_link_at_the_partial_path_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar.gz");
    let partial = dir.path().join("x.tar.gz.partial");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    for target in [victim.clone(), dir.path().join("nowhere")] {
        std::os::unix::fs::symlink(&target, &partial).unwrap();
        let err = create_error(&path).await;
        assert!(err.contains("x.tar.gz.partial exists already"), "{err}");
        assert_eq!(std::fs::read_link(&partial).unwrap(), target);
        std::fs::remove_file(&partial).unwrap();
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    assert!(!dir.path().join("nowhere").exists());
}

#[tokio::test]
async fn the_writer_refuses_names_its_reader_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ArchiveWriter::create(
        &dir.path().join("x.tar.gz"),
        &meta("n8n"),
        &ArchiveKey::NONE,
    )
    .await
    .unwrap();
    for name in ["minio/b/../../x", "/abs", "a\\b", ""] {
        match w.add_bytes(name, b"x").await {
            Ok(()) => panic!("{name:?} was written"),
            Err(e) => assert!(e.to_string().contains("refused"), "{e}"),
        }
    }
}

#[tokio::test]
async fn zstd_archives_read_back_whole_and_zstd_itself_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload(3 << 20);
    let m = Metadata {
        compression: Compression::Zstd,
        ..meta("n8n")
    };
    let path = write(dir.path(), &m, &data, 1 << 20).await;
    assert!(path.to_string_lossy().ends_with(".tar.zst"));
    let v = verify_path(&path).await.unwrap();
    assert_eq!(v.metadata.compression, Compression::Zstd);
    assert_eq!(v.manifest.bytes_under("db/n8n_db.sql"), data.len() as u64);
    let r = ArchiveReader::open(&path, &ArchiveKey::NONE).await.unwrap();
    assert_eq!(r.compression(), Compression::Zstd);
    // zstd's own decoder and a tar reader, independently of the library's reader.
    let file = std::fs::File::open(&path).unwrap();
    let mut ar = tar::Archive::new(zstd::stream::read::Decoder::new(file).unwrap());
    let mut dump = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path()
            .unwrap()
            .to_string_lossy()
            .starts_with("db/n8n_db.sql.part-")
        {
            std::io::Read::read_to_end(&mut e, &mut dump).unwrap();
        }
    }
    assert_eq!(dump, data);
}

#[tokio::test]
async fn an_archive_whose_metadata_names_the_other_compression_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = Metadata {
        compression: Compression::Zstd,
        ..meta("n8n")
    };
    let zst = write(dir.path(), &m, b"dump", 4096).await;
    // The same tar stream, gzip-compressed: its metadata still says zstd.
    let mut tar = Vec::new();
    let f = std::fs::File::open(&zst).unwrap();
    std::io::Read::read_to_end(&mut zstd::stream::read::Decoder::new(f).unwrap(), &mut tar)
        .unwrap();
    let gz = dir.path().join("b.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &tar).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let why = refused_reason(verify_path(&gz).await);
    assert!(
        why.contains("metadata says zstd but it is gzip-compressed"),
        "{why}"
    );
}

/// The dump's parts reach the feed whole and in order during the verifying read, and the feed
/// is closed after them; a refused archive leaves it to its owner, whose drop ends it.
#[tokio::test]
async fn verify_feeding_passes_the_dump_on_once_and_closes_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload(10_000);
    let path = write(dir.path(), &meta("n8n"), &data, 4096).await;
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    for (p, proved) in [(&path, true), (&cut, false)] {
        let (tx, mut rx) = tokio::io::duplex(1024);
        let read = async move {
            let mut tx = tx;
            let feed = Feed {
                entry: "db/n8n_db.sql",
                out: &mut tx,
            };
            let (progress, cancel) = (Progress::silent(), Cancel::new());
            verify_feeding(p, &ArchiveKey::NONE, Some(feed), &progress, &cancel).await
        };
        let mut fed = Vec::new();
        let drain = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            rx.read_to_end(&mut fed).await
        });
        let (verified, drained) = tokio::join!(read, drain);
        drained.expect("the feed is closed").unwrap();
        assert_eq!(verified.is_ok(), proved, "{:?}", verified.err());
        if proved {
            assert_eq!(fed, data);
        }
    }
}

/// Restore reads the objects index verify checked against the objects; metadata naming any
/// other entry as the index is refused.
#[tokio::test]
async fn metadata_naming_another_objects_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = meta("n8n");
    m.objects.as_mut().unwrap().index_entry = "secrets/key".into();
    let path = write(dir.path(), &m, b"dump", 4096).await;
    let why = refused_reason(verify_path(&path).await);
    assert!(
        why.contains("objects index secrets/key (the index is objects.ndjson)"),
        "{why}"
    );
}

//! Encrypted archives: a round trip through age, and the refusals (no passphrase, a wrong one,
//! one changed byte, a cut-off file) that must come before anything reads the data.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::roundtrip_tests::{meta, noise, refused_reason};
use super::*;
use crate::progress::{Cancel, Progress};

/// Text that must never appear in the clear in any file of the folder.
const MARKER: &[u8] = b"PLAINTEXT-MARKER-n8n-encryption-key";

fn key(text: &str) -> ArchiveKey {
    Passphrase::new(text.into()).unwrap().into()
}

/// Bytes gzip cannot shrink, so the archive spans several age chunks (64 KiB each).
fn payload() -> Vec<u8> {
    noise(300_000)
}

async fn write_encrypted(dir: &Path, data: &[u8]) -> PathBuf {
    let path = dir.join("n8n-backup-20251130-023000.tar.gz.age");
    let mut w = ArchiveWriter::create(&path, &meta("n8n"), &key("correct horse"))
        .await
        .unwrap()
        .with_part_size(100_000);
    w.add_bytes("secrets/key", MARKER).await.unwrap();
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let head = std::fs::read(PathBuf::from(partial)).unwrap();
    assert!(
        head.is_empty() || head.starts_with(AGE_MAGIC),
        "the partial file is encrypted from its first byte"
    );
    let mut src = data;
    let (silent, cancel) = (Progress::silent(), Cancel::new());
    w.add_stream("db/n8n_db.sql", &mut src, &silent, "dump", &cancel)
        .await
        .unwrap();
    w.finish().await.unwrap();
    path
}

async fn verify_with(path: &Path, key: &ArchiveKey) -> crate::Result<Verified> {
    verify(path, key, &Progress::silent(), &Cancel::new()).await
}

/// Why verifying `path` with `key` is refused.
async fn refusal(path: &Path, key: &ArchiveKey) -> String {
    refused_reason(verify_with(path, key).await)
}

#[tokio::test]
async fn an_encrypted_archive_reads_back_whole_and_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload();
    let path = write_encrypted(dir.path(), &data).await;
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["n8n-backup-20251130-023000.tar.gz.age"]);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(AGE_MAGIC));
    assert!(!bytes.windows(MARKER.len()).any(|w| w == MARKER));
    assert!(is_encrypted(&path).await.unwrap());

    let v = verify_with(&path, &key("correct horse")).await.unwrap();
    assert_eq!(v.metadata.module_id, "n8n");
    assert_eq!(v.secrets["secrets/key"], MARKER);
    assert!(v.key.is_set());
    let md = read_metadata(&path, &v.key).await.unwrap();
    assert_eq!(md.db.entry, "db/n8n_db.sql");

    let mut r = ArchiveReader::open(&path, &v.key).await.unwrap();
    let mut back = Vec::new();
    while let Some(h) = r.next_entry().await.unwrap() {
        if is_part_of(&h.path, "db/n8n_db.sql") {
            r.entry_reader().read_to_end(&mut back).await.unwrap();
        }
    }
    assert_eq!(back, data);
}

#[tokio::test]
async fn a_wrong_or_missing_passphrase_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_encrypted(dir.path(), b"dump").await;
    let wrong = refusal(&path, &key("wrong")).await;
    assert_eq!(wrong, WRONG_OR_ALTERED);
    let none = refusal(&path, &ArchiveKey::NONE).await;
    assert!(none.contains("encrypted with a passphrase"), "{none}");
    assert!(read_metadata(&path, &ArchiveKey::NONE).await.is_err());
}

#[tokio::test]
async fn one_flipped_byte_or_a_cut_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_encrypted(dir.path(), &payload()).await;
    let good = std::fs::read(&path).unwrap();
    let right = key("correct horse");
    let cases: [(&str, Vec<u8>); 4] = [
        ("a byte of the payload", flip(&good, good.len() / 2)),
        ("a byte of the last chunk", flip(&good, good.len() - 3)),
        ("a byte of the header", flip(&good, 40)),
        ("the last chunk cut off", good[..good.len() - 100].to_vec()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let why = refusal(&path, &right).await;
        assert!(why.contains("altered"), "{what}: {why}");
    }
}

#[tokio::test]
async fn a_small_archive_altered_in_its_first_block_is_refused_as_altered() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_encrypted(dir.path(), b"dump").await;
    let good = std::fs::read(&path).unwrap();
    assert!(good.len() < 64 << 10, "one age chunk");
    for bytes in [
        flip(&good, good.len() - 20),
        good[..good.len() - 20].to_vec(),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let why = refusal(&path, &key("correct horse")).await;
        assert!(
            why.contains("altered") || why.contains("truncated"),
            "{why}"
        );
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

#[tokio::test]
async fn a_plain_archive_reads_alike_with_or_without_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n8n-backup.tar.gz");
    let mut w = ArchiveWriter::create(&path, &meta("n8n"), &ArchiveKey::NONE)
        .await
        .unwrap();
    w.add_bytes("db/n8n_db.sql.part-0001", b"dump")
        .await
        .unwrap();
    w.finish().await.unwrap();
    assert!(!is_encrypted(&path).await.unwrap());
    assert_eq!(std::fs::read(&path).unwrap()[..2], [0x1f, 0x8b]);
    verify_with(&path, &ArchiveKey::NONE).await.unwrap();
    verify_with(&path, &key("unused")).await.unwrap();
}

#[test]
fn a_passphrase_is_never_shown() {
    let k = key("hunter2-secret");
    let shown = format!("{k:?} {:?}", k.passphrase().unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(Passphrase::new(String::new()).is_err());
    let same = Passphrase::new("hunter2-secret".into()).unwrap();
    assert!(k.passphrase().unwrap().matches(&same));
}

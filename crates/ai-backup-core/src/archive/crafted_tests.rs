//! Archives crafted by hand, header by header, that our writer would never produce: every one
//! is refused by `verify` and by a plain `ArchiveReader` pass (a restore's later reads), with a
//! reason that names the entry, and within bounded memory.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::roundtrip_tests::{meta, refused_reason, verify_path};
use super::*;

/// A tar stream under construction, and the manifest that lists its entries.
struct Crafted {
    tar: Vec<u8>,
    manifest: Manifest,
}

impl Crafted {
    /// `metadata.json` first, as in every archive.
    fn new() -> Self {
        let mut c = Self {
            tar: Vec::new(),
            manifest: Manifest {
                format_version: FORMAT_VERSION,
                entries: Vec::new(),
            },
        };
        let json = serde_json::to_vec(&meta("n8n")).unwrap();
        c.file(METADATA_ENTRY, &json);
        c
    }

    /// A header of any type and name (written raw, so no rule stops it), then `data`.
    fn raw(&mut self, kind: u8, name: &[u8], size: u64, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_size(size);
        h.set_mode(0o600);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        self.tar.extend_from_slice(h.as_bytes());
        self.tar.extend_from_slice(data);
        self.tar.resize(self.tar.len().div_ceil(512) * 512, 0);
        self
    }

    /// A regular file, listed in the manifest.
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.listed(name, data);
        self.raw(b'0', name.as_bytes(), data.len() as u64, data)
    }

    fn listed(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.manifest.entries.push(ManifestEntry {
            path: name.into(),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
        });
        self
    }

    /// The dump part every archive needs, the manifest and the end blocks, gzip-compressed
    /// into `dir/name`.
    async fn finish(mut self, dir: &Path, name: &str) -> PathBuf {
        self.file("db/n8n_db.sql.part-0001", b"select 1;\n");
        let json = serde_json::to_vec(&self.manifest).unwrap();
        self.raw(b'0', MANIFEST_ENTRY.as_bytes(), json.len() as u64, &json);
        self.tar.extend_from_slice(&[0u8; 1024]);
        let path = dir.join(name);
        std::fs::write(&path, gzip(&self.tar).await).unwrap();
        path
    }
}

async fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, data).unwrap();
    enc.finish().unwrap()
}

/// The reason a plain pass of `ArchiveReader` over every entry refuses `path` for.
async fn reader_refusal(path: &Path) -> String {
    let mut r = ArchiveReader::open(path, &ArchiveKey::NONE).await.unwrap();
    loop {
        match r.next_entry().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("{} was read to its end", path.display()),
            Err(crate::Error::ArchiveRefused { reason, .. }) => return reason,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
}

/// Both `verify` and the reader refuse it, and the reason says `expected`.
async fn assert_refused(path: &Path, expected: &str) {
    let by_verify = refused_reason(verify_path(path).await);
    assert!(by_verify.contains(expected), "verify: {by_verify}");
    let by_reader = reader_refusal(path).await;
    assert!(by_reader.contains(expected), "reader: {by_reader}");
}

#[tokio::test]
async fn links_devices_and_pax_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, what) in [
        (b'2', "a symbolic link"),
        (b'1', "a hard link"),
        (b'3', "a character device"),
        (b'4', "a block device"),
        (b'6', "a FIFO"),
        (b'7', "a contiguous file"),
        (b'x', "a PAX extended header"),
        (b'g', "a PAX global header"),
        (b'K', "a GNU long link target"),
        (b'L', "a GNU long-name entry unlike those ai-backup writes"),
        (b'S', "a GNU sparse file"),
        (b'V', "of an unknown tar entry type"),
    ] {
        let mut c = Crafted::new();
        c.raw(kind, b"secrets/odd", 4, b"data");
        let path = c
            .finish(dir.path(), &format!("{}.tar.gz", kind as char))
            .await;
        assert_refused(&path, &format!("entry \"secrets/odd\" is {what}")).await;
    }
}

#[tokio::test]
async fn unsafe_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, problem)) in [
        (&b"/etc/cron.d/x"[..], "an absolute path"),
        (b"minio/b/../../../.bashrc", "a `..` component"),
        (b"..", "a `..` component"),
        (b"minio\\b\\k", "a backslash"),
        (b"\0", "it is empty"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Crafted::new();
        c.raw(b'0', name, 1, b"x");
        let path = c.finish(dir.path(), &format!("{i}.tar.gz")).await;
        assert_refused(&path, problem).await;
    }
    // A NUL inside a name can only come through a long name.
    let mut c = Crafted::new();
    let long = format!("minio/b/{}\0.sh", "a".repeat(100));
    c.raw(b'L', b"././@LongLink", long.len() as u64, long.as_bytes());
    c.raw(b'0', b"minio/b/short", 1, b"x");
    let path = c.finish(dir.path(), "nul.tar.gz").await;
    assert_refused(&path, "it contains a NUL byte").await;
}

#[tokio::test]
async fn a_name_given_twice_is_refused_even_when_listed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Crafted::new();
    c.file("secrets/n8n-encryption-key", b"checked");
    c.file("secrets/n8n-encryption-key", b"used");
    let path = c.finish(dir.path(), "dup.tar.gz").await;
    assert_refused(&path, "entry secrets/n8n-encryption-key appears twice").await;
}

#[tokio::test]
async fn two_long_names_in_a_row_are_refused_and_directories_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Crafted::new();
    c.raw(b'L', b"././@LongLink", 4, b"abc\0");
    c.raw(b'L', b"././@LongLink", 4, b"def\0");
    c.raw(b'0', b"x", 0, b"");
    let path = c.finish(dir.path(), "l.tar.gz").await;
    assert_refused(&path, "two long-name entries in a row").await;

    let mut c = Crafted::new();
    c.raw(b'L', b"././@LongLink", 4, b"abc\0");
    c.tar.extend_from_slice(&[0u8; 1024]);
    let path = dir.path().join("dangling.tar.gz");
    std::fs::write(&path, gzip(&c.tar).await).unwrap();
    assert_refused(&path, "a long-name entry naming nothing").await;

    let mut c = Crafted::new();
    c.raw(b'5', b"minio/", 3, b"abc");
    let path = c.finish(dir.path(), "dc.tar.gz").await;
    assert_refused(&path, "directory entry minio/ has content").await;

    let mut c = Crafted::new();
    c.raw(b'5', b"minio/", 0, b"");
    c.file("secrets/key", b"k3y");
    let path = c.finish(dir.path(), "d.tar.gz").await;
    verify_path(&path).await.unwrap();
}

#[tokio::test]
async fn a_huge_objects_index_is_refused_at_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Crafted::new();
    // Claims 1 GiB and holds nothing: refused before a byte of it is read.
    c.raw(b'0', OBJECT_INDEX_ENTRY.as_bytes(), 1 << 30, b"");
    c.tar.extend_from_slice(&[0u8; 1024]);
    let path = dir.path().join("huge.tar.gz");
    std::fs::write(&path, gzip(&c.tar).await).unwrap();
    let reason = refused_reason(verify_path(&path).await);
    assert!(
        reason.contains("entry objects.ndjson is 1073741824 bytes, over the limit of 512 MiB"),
        "{reason}"
    );
}

#[tokio::test]
async fn kept_entries_beyond_their_budget_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Crafted::new();
    let big = vec![b'k'; (MAX_SMALL_ENTRY - 1) as usize];
    for i in 0..(MAX_KEPT_BYTES / MAX_SMALL_ENTRY) {
        c.file(&format!("secrets/s{i}"), &big);
    }
    c.file("es/last/definition.json", &big);
    let path = c.finish(dir.path(), "kept.tar.gz").await;
    let reason = refused_reason(verify_path(&path).await);
    assert!(
        reason.contains("entry es/last/definition.json would bring")
            && reason.contains("over the limit of 64 MiB"),
        "{reason}"
    );

    let mut c = Crafted::new();
    c.raw(b'0', b"secrets/big", MAX_SMALL_ENTRY + 1, b"");
    let path = c.finish(dir.path(), "one.tar.gz").await;
    let reason = refused_reason(verify_path(&path).await);
    assert!(reason.contains("over the limit of 16 MiB"), "{reason}");
}

#[tokio::test]
async fn many_tiny_entries_outside_the_manifest_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Crafted::new();
    for i in 0..100_000 {
        c.raw(b'0', format!("minio/b/{i}").as_bytes(), 0, b"");
    }
    let path = c.finish(dir.path(), "tiny.tar.gz").await;
    let reason = refused_reason(verify_path(&path).await);
    assert!(
        reason.contains("the manifest lists 2 entries but the archive holds 100002"),
        "{reason}"
    );
    let mut r = ArchiveReader::open(&path, &ArchiveKey::NONE)
        .await
        .unwrap()
        .with_max_entries(1000);
    let mut n = 0;
    let err = loop {
        match r.next_entry().await {
            Ok(Some(_)) => n += 1,
            other => break other,
        }
    };
    assert_eq!(n, 1000);
    assert!(format!("{err:?}").contains("it holds more than 1000 entries"));
}

#[tokio::test]
async fn the_entry_that_differs_from_the_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Crafted::new();
    c.listed("secrets/key", b"recorded");
    c.raw(b'0', b"secrets/key", 8, b"replaced");
    let path = c.finish(dir.path(), "changed.tar.gz").await;
    let reason = refused_reason(verify_path(&path).await);
    assert_eq!(reason, "entry secrets/key is corrupt (checksum mismatch)");

    let mut c = Crafted::new();
    c.listed("minio/b/2", b"2").listed("minio/b/1", b"1");
    c.raw(b'0', b"minio/b/1", 1, b"1");
    c.raw(b'0', b"minio/b/2", 1, b"2");
    let path = c.finish(dir.path(), "order.tar.gz").await;
    let reason = refused_reason(verify_path(&path).await);
    assert_eq!(reason, "entry minio/b/1 is not where the manifest says");
}

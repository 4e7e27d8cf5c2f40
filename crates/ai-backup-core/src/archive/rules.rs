//! What an archive may hold, in one place: the limits that keep memory bounded whatever an
//! archive claims, and the rules on entry names. The reader applies them to every header it
//! reads, so `verify`, `inspect` and every later read of a restore refuse the same archives
//! before anything is touched; the writer applies the name rules too, so an archive we write
//! is always one we read.
//!
//! An archive holds one entry per object of the module (`minio/<bucket>/<key>`), one per
//! 32 MiB part of the dump and of each index's documents, and a few small ones. The limits
//! let a module of 2 million objects through with room to spare.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

/// Most entries (files and directories) one archive may hold.
pub const MAX_ENTRIES: u64 = 3_000_000;
/// Longest entry name, in bytes (an S3 key is at most 1,024 bytes).
pub const MAX_NAME_BYTES: usize = 4096;
/// Largest `metadata.json`, `secrets/<name>` or `es/<index>/definition.json`.
pub const MAX_SMALL_ENTRY: u64 = 16 << 20;
/// Most bytes of `secrets/*` and `definition.json` entries kept in memory together.
pub const MAX_KEPT_BYTES: u64 = 64 << 20;
/// Largest `objects.ndjson` (about 180 bytes an object: 2 million objects take ~350 MiB).
pub const MAX_OBJECT_INDEX: u64 = 512 << 20;
/// Largest `manifest.json` (about 250 bytes an entry).
pub const MAX_MANIFEST: u64 = 768 << 20;

/// A limit for people: "16 MiB", or bytes when not a whole number of MiB.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Why `name` may not be an entry name, if it may not: empty, too long, absolute, with a `..`
/// component, a backslash or a NUL.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("it is longer than 4096 bytes")
    } else if name.starts_with('/') {
        Some("it is an absolute path")
    } else if name.contains('\\') {
        Some("it contains a backslash")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else if name.split('/').any(|c| c == "..") {
        Some("it has a `..` component")
    } else {
        None
    }
}

/// The names read so far, to refuse a second entry of the same name. Kept as 128-bit digests
/// (about 32 bytes an entry at most), so memory stays bounded by `MAX_ENTRIES`.
#[derive(Default)]
pub struct Names {
    seen: HashSet<u128>,
}

impl Names {
    /// Record `name`; false when it was already there.
    pub fn insert(&mut self, name: &str) -> bool {
        let digest = Sha256::digest(name.as_bytes());
        let mut head = [0u8; 16];
        head.copy_from_slice(&digest[..16]);
        self.seen.insert(u128::from_le_bytes(head))
    }

    pub fn len(&self) -> u64 {
        self.seen.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_refused() {
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        for (name, problem) in [
            ("", Some("it is empty")),
            (long.as_str(), Some("it is longer than 4096 bytes")),
            ("/etc/passwd", Some("it is an absolute path")),
            ("minio\\b\\k", Some("it contains a backslash")),
            ("minio/b/a\0b", Some("it contains a NUL byte")),
            ("minio/b/../../x", Some("it has a `..` component")),
            ("..", Some("it has a `..` component")),
            ("minio/b/..", Some("it has a `..` component")),
            ("metadata.json", None),
            ("minio/b/a..b/..c/d..", None),
            ("minio/b/dir//file", None),
            ("es/idx/docs.ndjson.part-0001", None),
        ] {
            assert_eq!(name_problem(name), problem, "{name:?}");
        }
    }

    #[test]
    fn a_name_is_seen_once() {
        let mut names = Names::default();
        assert!(names.insert("minio/b/k"));
        assert!(names.insert("minio/b/k2"));
        assert!(!names.insert("minio/b/k"));
        assert_eq!(names.len(), 2);
    }
}

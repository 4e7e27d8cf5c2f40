//! The archive format, in one place: a compressed tar (gzip by default, readable by plain
//! `tar xzf`; or zstd, `tar --zstd -xf`), whose
//! first entry is `metadata.json` (what the archive holds) and whose last entry is
//! `manifest.json` (the size and SHA-256 of every other entry). Content of unknown length (a
//! database dump) is stored as consecutive parts of bounded size, so it streams straight from
//! the tool into the archive and back, with bounded memory and no temporary copy.

mod accounted;
mod compression;
#[cfg(test)]
mod crafted_tests;
mod crypt;
#[cfg(test)]
mod crypt_tests;
mod gzip;
mod metadata;
mod pipe;
mod reader;
#[cfg(test)]
mod roundtrip_tests;
mod rules;
mod tarfmt;
mod verify;
mod writer;

pub use compression::{Compression, GZIP_LEVEL, ZSTD_LEVEL};
pub use crypt::{
    is_encrypted, ArchiveKey, Passphrase, AGE_MAGIC, ENCRYPTED_SUFFIX, WRONG_OR_ALTERED,
};
pub use metadata::{
    DbMeta, DbStats, IndicesMeta, Manifest, ManifestEntry, Metadata, ObjectCount, ObjectRecord,
    ObjectsMeta, SecretMeta, FORMAT_NAME,
};
pub use reader::ArchiveReader;
pub use rules::{
    MAX_ENTRIES, MAX_KEPT_BYTES, MAX_MANIFEST, MAX_NAME_BYTES, MAX_OBJECT_INDEX, MAX_SMALL_ENTRY,
};
pub use verify::{read_metadata, verify, verify_feeding, Feed, Verified, SECRETS_DIR};
pub use writer::ArchiveWriter;

/// Version of the layout written by this build. Archives with a higher version are refused.
pub const FORMAT_VERSION: u32 = 1;
pub const METADATA_ENTRY: &str = "metadata.json";
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// Content type and metadata of every object, one JSON record per line.
pub const OBJECT_INDEX_ENTRY: &str = "objects.ndjson";
/// Where every object is stored, under its bucket.
pub const OBJECTS_DIR: &str = "minio/";
/// Object `key` of `bucket` is stored here.
pub fn object_path(bucket: &str, key: &str) -> String {
    format!("{OBJECTS_DIR}{bucket}/{key}")
}
/// Where an index's definition and documents are stored.
pub fn index_paths(index: &str) -> (String, String) {
    (
        format!("es/{index}/definition.json"),
        format!("es/{index}/docs.ndjson"),
    )
}
/// Largest part of a streamed entry (also the most memory a stream holds at once).
pub const DEFAULT_PART_SIZE: usize = 4 << 20;

/// `<module>-backup-YYYYMMDD-HHMMSS.tar.gz` (`.tar.zst` with zstd), in local time as the user
/// reads it, with `.age` appended when the archive is encrypted.
pub fn file_name(
    module: &str,
    at: chrono::DateTime<chrono::Local>,
    compression: Compression,
    encrypted: bool,
) -> String {
    let suffix = if encrypted { ENCRYPTED_SUFFIX } else { "" };
    format!(
        "{module}-backup-{}{}{suffix}",
        at.format("%Y%m%d-%H%M%S"),
        compression.extension()
    )
}

/// True when `name` is named like an archive: `.tar.gz` or `.tar.zst`, `.age` after either.
pub fn is_archive_name(name: &str) -> bool {
    let name = name.strip_suffix(ENCRYPTED_SUFFIX).unwrap_or(name);
    name.ends_with(".tar.gz") || name.ends_with(".tar.zst")
}

/// Name of the n-th part (from 1) of a streamed entry.
pub fn part_name(prefix: &str, n: usize) -> String {
    format!("{prefix}.part-{n:04}")
}

/// True when `path` is one of the parts of `prefix`.
pub fn is_part_of(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix(".part-"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names() {
        let t = chrono::Local
            .with_ymd_and_hms(2025, 11, 30, 2, 30, 5)
            .unwrap();
        assert_eq!(
            file_name("dify", t, Compression::Gzip, false),
            "dify-backup-20251130-023005.tar.gz"
        );
        assert_eq!(
            file_name("n8n", t, Compression::Gzip, true),
            "n8n-backup-20251130-023005.tar.gz.age"
        );
        assert_eq!(
            file_name("n8n", t, Compression::Zstd, true),
            "n8n-backup-20251130-023005.tar.zst.age"
        );
        for (name, yes) in [
            ("a.tar.gz", true),
            ("a.tar.zst.age", true),
            ("a.tar.gz.age", true),
            ("a.tar", false),
            ("a.zst", false),
        ] {
            assert_eq!(is_archive_name(name), yes, "{name}");
        }
        assert_eq!(part_name("db/n8n_db.sql", 3), "db/n8n_db.sql.part-0003");
        for (path, yes) in [
            ("db/n8n_db.sql.part-0001", true),
            ("db/n8n_db.sql.part-12345", true),
            ("db/n8n_db.sql", false),
            ("db/n8n_db.sql.part-", false),
            ("db/n8n_db.sql.part-01x", false),
            ("db/n8n_db.sqlx.part-0001", false),
        ] {
            assert_eq!(is_part_of(path, "db/n8n_db.sql"), yes, "{path}");
        }
    }
}

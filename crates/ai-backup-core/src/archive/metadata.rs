//! What `metadata.json` and `manifest.json` hold. Field names of the design document are kept
//! (camelCase); everything else is added beside them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Marks an archive as ours; anything else is a foreign archive.
pub const FORMAT_NAME: &str = "ai-backup";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub format: String,
    pub format_version: u32,
    pub module_id: String,
    pub engine: String,
    pub db_name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub ai_server_version: String,
    pub tool_version: String,
    pub components: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Version strings of the servers the data came from, by store ("db", ...).
    #[serde(default)]
    pub source_servers: BTreeMap<String, String>,
    /// True when the module's apps were held still while the backup read the data, so the
    /// statistics below describe exactly what the archive holds.
    #[serde(default)]
    pub quiesced: bool,
    /// How the tar stream is compressed (gzip when absent: archives written before zstd).
    #[serde(default)]
    pub compression: super::Compression,
    pub db: DbMeta,
    #[serde(default)]
    pub secrets: Vec<SecretMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<ObjectsMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indices: Option<IndicesMeta>,
}

impl Metadata {
    /// What the archive holds, for people: "12 tables, 54 rows; 5 objects (1,024 bytes) in 1
    /// bucket; 5 documents in 1 index".
    pub fn contents(&self) -> String {
        let mut out = format!(
            "{} tables, {} rows",
            self.db.stats.tables.len(),
            self.db.stats.total_rows()
        );
        if let Some(o) = &self.objects {
            let (n, bytes) = o
                .buckets
                .values()
                .fold((0, 0), |(n, b), c| (n + c.objects, b + c.bytes));
            let buckets = o.buckets.len();
            out += &format!(
                "; {n} objects ({bytes} bytes) in {buckets} bucket{}",
                if buckets == 1 { "" } else { "s" }
            );
        }
        if let Some(i) = &self.indices {
            let docs: u64 = i.indices.values().sum();
            let n = i.indices.len();
            out += &format!(
                "; {docs} documents in {n} ind{}",
                if n == 1 { "ex" } else { "ices" }
            );
        }
        out
    }
}

/// The module's objects: which buckets/prefixes were in scope and what they held. Objects are
/// stored as `minio/<bucket>/<key>`; their content type and metadata are in `index_entry`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectsMeta {
    /// (bucket, prefix) pairs; an empty prefix means the whole bucket.
    pub scope: Vec<(String, String)>,
    /// Per bucket: objects and bytes.
    pub buckets: BTreeMap<String, ObjectCount>,
    pub index_entry: String,
}

impl ObjectsMeta {
    /// The scope, as the object store steps take it.
    pub fn prefixes(&self) -> Vec<crate::config::BucketPrefix> {
        self.scope
            .iter()
            .map(|(bucket, prefix)| crate::config::BucketPrefix {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            })
            .collect()
    }

    /// Every bucket a restore of these objects needs, once each, sorted.
    pub fn bucket_names(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .buckets
            .keys()
            .chain(self.scope.iter().map(|(b, _)| b))
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCount {
    pub objects: u64,
    pub bytes: u64,
}

impl ObjectCount {
    /// Count `objects` more objects of `bytes` in all.
    pub fn add(&mut self, objects: u64, bytes: u64) {
        self.objects = self.objects.saturating_add(objects);
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// One object as listed in the objects index entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRecord {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    #[serde(default)]
    pub meta: crate::store::s3::ObjectMeta,
}

/// The module's indices: per index its document count; the definition (settings, mappings,
/// aliases) is in `es/<index>/definition.json`, the documents in `es/<index>/docs.ndjson`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IndicesMeta {
    pub indices: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DbMeta {
    /// Archive path prefix of the dump's parts (`db/<name>.sql`).
    pub entry: String,
    /// Dump format: "pg_dump-plain" or "mysqldump".
    pub dump_format: String,
    #[serde(default)]
    pub charset: Option<String>,
    #[serde(default)]
    pub collation: Option<String>,
    #[serde(default)]
    pub ctype: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    pub stats: DbStats,
}

/// What a database holds, counted at backup and checked again after a restore.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DbStats {
    /// `schema.table` (or `table` on MySQL) → rows.
    pub tables: BTreeMap<String, u64>,
    #[serde(default)]
    pub views: Vec<String>,
    /// Sequence → last value (Postgres), or table → next AUTO_INCREMENT value (MySQL).
    #[serde(default)]
    pub sequences: BTreeMap<String, i64>,
    #[serde(default)]
    pub routines: Vec<String>,
    #[serde(default)]
    pub triggers: Vec<String>,
    #[serde(default)]
    pub events: Vec<String>,
    /// Size of the database on the server, bytes.
    #[serde(default)]
    pub bytes: u64,
}

impl DbStats {
    pub fn total_rows(&self) -> u64 {
        self.tables.values().sum()
    }

    /// Differences from `expected`, described for people; empty when equal. `bytes` is not
    /// compared (storage size differs after any reload).
    pub fn differences(&self, expected: &DbStats) -> Vec<String> {
        let mut out = Vec::new();
        for (t, rows) in &expected.tables {
            match self.tables.get(t) {
                None => out.push(format!("table {t} is missing")),
                Some(r) if r != rows => out.push(format!("table {t}: {r} rows, expected {rows}")),
                _ => {}
            }
        }
        for t in self
            .tables
            .keys()
            .filter(|t| !expected.tables.contains_key(*t))
        {
            out.push(format!("unexpected table {t}"));
        }
        for (kind, got, want) in [
            ("views", &self.views, &expected.views),
            ("routines", &self.routines, &expected.routines),
            ("triggers", &self.triggers, &expected.triggers),
            ("events", &self.events, &expected.events),
        ] {
            if got != want {
                out.push(format!("{kind}: {got:?}, expected {want:?}"));
            }
        }
        for (s, v) in &expected.sequences {
            match self.sequences.get(s) {
                Some(g) if g == v => {}
                got => out.push(format!("sequence {s}: {got:?}, expected {v}")),
            }
        }
        out
    }
}

/// A secret carried under `secrets/<name>` (its value is never in the metadata).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretMeta {
    pub name: String,
    /// Where it was found: "env:<VAR>" or "file:<path>".
    pub source: String,
    pub entry: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format_version: u32,
    pub entries: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// Bytes of all entries under `prefix` (a component's directory, or a dump's parts).
    pub fn bytes_under(&self, prefix: &str) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.path.starts_with(prefix))
            .map(|e| e.size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_differences_name_what_differs() {
        let mut a = DbStats::default();
        a.tables.insert("public.t".into(), 3);
        a.tables.insert("public.u".into(), 1);
        a.sequences.insert("public.t_id_seq".into(), 9);
        let same = a.clone();
        assert!(a.differences(&same).is_empty());
        let mut b = a.clone();
        b.tables.insert("public.t".into(), 2);
        b.tables.remove("public.u");
        b.tables.insert("public.x".into(), 0);
        b.sequences.insert("public.t_id_seq".into(), 1);
        let d = b.differences(&a);
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].contains("public.t: 2 rows, expected 3"));
    }
}

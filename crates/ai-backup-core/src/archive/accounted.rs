//! Every entry of an archive is one its metadata describes: the dump's parts, the secrets it
//! lists, the objects index and exactly the objects it records (in the same order), each
//! listed index's definition and document parts. An archive carrying anything else was not
//! written by a backup, and is refused before anything trusts it. The check walks the manifest
//! and the objects index side by side, so it needs no memory of its own.

use super::metadata::{Manifest, Metadata, ObjectRecord};
use super::{index_paths, is_part_of, object_path, METADATA_ENTRY, OBJECT_INDEX_ENTRY};

/// How many names an error lists at most.
const SHOWN: usize = 5;

/// The entries the metadata does not account for, and the recorded objects with no entry
/// (at most a few of each, as names for an error); empty when all is accounted for.
pub fn unaccounted(meta: &Metadata, manifest: &Manifest, index: Option<&[u8]>) -> Vec<String> {
    let mut records = index
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<ObjectRecord>(l).ok());
    let mut out = Vec::new();
    for e in &manifest.entries {
        let path = e.path.as_str();
        let known = if path.starts_with(super::OBJECTS_DIR) {
            match records.next() {
                Some(Some(r)) => object_path(&r.bucket, &r.key) == path,
                _ => false,
            }
        } else {
            described(meta, path)
        };
        if !known && out.len() < SHOWN {
            out.push(format!("entry {path}"));
        }
    }
    if let Some(o) = meta.objects.as_ref() {
        if o.index_entry != OBJECT_INDEX_ENTRY {
            out.push(format!(
                "objects index {} (the index is {OBJECT_INDEX_ENTRY})",
                o.index_entry
            ));
        }
    }
    if let Some(r) = records.next() {
        let name = r.map_or("an unreadable line".to_string(), |r| {
            object_path(&r.bucket, &r.key)
        });
        out.push(format!("object {name} (recorded, with no entry)"));
    }
    out
}

/// Whether a non-object entry is one the metadata describes.
fn described(meta: &Metadata, path: &str) -> bool {
    path == METADATA_ENTRY
        || is_part_of(path, &meta.db.entry)
        || meta.secrets.iter().any(|s| s.entry == path)
        || (path == OBJECT_INDEX_ENTRY && meta.objects.is_some())
        || meta.indices.iter().flat_map(|i| i.indices.keys()).any(|i| {
            let (def, docs) = index_paths(i);
            path == def || is_part_of(path, &docs)
        })
}

//! Reading and rewriting archives with the tar and flate2 crates, independently of the
//! library: to check what `ai-backup` wrote, and to make archives it must refuse.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Every entry of a tar.gz, in order: (path, content).
pub fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(path).expect("open archive");
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for e in ar.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        let name = e.path().expect("entry path").display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("entry content");
        out.push((name, data));
    }
    out
}

/// The content of one entry.
pub fn entry(path: &Path, name: &str) -> Option<Vec<u8>> {
    entries(path)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| d)
}

pub fn metadata(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&entry(path, "metadata.json").expect("metadata.json")).expect("JSON")
}

pub fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&entry(path, "manifest.json").expect("manifest.json")).expect("JSON")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Write entries as a tar.gz (mode 0600 files, like the tool's).
pub fn write(path: &Path, entries: &[(String, Vec<u8>)]) {
    write_with_links(path, entries, &[]);
}

/// `write`, with symlink entries (name, target) right after the first entry.
pub fn write_with_links(path: &Path, entries: &[(String, Vec<u8>)], links: &[(&str, &str)]) {
    let file = std::fs::File::create(path).expect("create archive");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (i, (name, data)) in entries.iter().enumerate() {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data.as_slice())
            .expect("append entry");
        for (link, target) in links.iter().filter(|_| i == 0) {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            b.append_link(&mut h, link, target).expect("append link");
        }
    }
    b.into_inner()
        .expect("finish tar")
        .finish()
        .expect("finish gzip")
        .flush()
        .expect("flush");
}

/// Copy `src` to `dst` with metadata.json passed through `edit`, and the manifest's record of
/// metadata.json updated to match, so that the edit is the only thing wrong with it.
pub fn rewrite_metadata(src: &Path, dst: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let mut all = entries(src);
    let mut meta: serde_json::Value =
        serde_json::from_slice(&all[0].1).expect("metadata.json first");
    assert_eq!(all[0].0, "metadata.json");
    edit(&mut meta);
    let bytes = serde_json::to_vec_pretty(&meta).unwrap();
    let (sha, size) = (sha256_hex(&bytes), bytes.len());
    all[0].1 = bytes;
    let last = all.len() - 1;
    assert_eq!(all[last].0, "manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&all[last].1).unwrap();
    for e in manifest["entries"].as_array_mut().expect("entries") {
        if e["path"] == "metadata.json" {
            e["sha256"] = sha.clone().into();
            e["size"] = size.into();
        }
    }
    all[last].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    write(dst, &all);
}

/// Rewrite a real archive as someone who made it could: `edit` changes, adds or removes
/// entries (metadata.json first, manifest.json last), `links` adds symlink entries after
/// metadata.json, and the manifest is recomputed over everything else, so that `verify` finds
/// the archive whole and only the restore's own checks stand in the way.
pub fn craft(
    src: &Path,
    dst: &Path,
    edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>),
    links: &[(&str, &str)],
) {
    let mut all = entries(src);
    let manifest_entry = all.pop().expect("manifest.json last");
    assert_eq!(manifest_entry.0, "manifest.json");
    edit(&mut all);
    let mut manifest: serde_json::Value = serde_json::from_slice(&manifest_entry.1).unwrap();
    manifest["entries"] = all
        .iter()
        .map(|(path, data)| {
            serde_json::json!({"path": path, "size": data.len(), "sha256": sha256_hex(data)})
        })
        .collect();
    all.push((
        "manifest.json".into(),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    ));
    write_with_links(dst, &all, links);
}

/// Edit the JSON of entry `name` in a list of entries.
pub fn edit_json(
    all: &mut [(String, Vec<u8>)],
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let e = all.iter_mut().find(|(n, _)| n == name).expect("entry");
    let mut v: serde_json::Value = serde_json::from_slice(&e.1).expect("JSON");
    edit(&mut v);
    e.1 = serde_json::to_vec_pretty(&v).unwrap();
}

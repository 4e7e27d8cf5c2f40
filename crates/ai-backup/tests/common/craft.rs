//! Crafted archives: a real archive made by the real binary, rewritten as whoever shares an
//! archive could rewrite it, with the manifest recomputed so that `verify` says OK. Only the
//! restore's own defences stand between such an archive and the stack.

use std::path::Path;

use super::archive::{entries, sha256_hex, write};

/// Copy `src` to `dst` with every entry passed through `edit(name, content)` (which may change
/// the content), and the manifest's sizes and checksums recomputed to match.
pub fn rewrite_entries(src: &Path, dst: &Path, mut edit: impl FnMut(&str, &mut Vec<u8>)) {
    let mut all = entries(src);
    let last = all.len() - 1;
    assert_eq!(
        all[last].0, "manifest.json",
        "the manifest is the last entry"
    );
    for (name, data) in all[..last].iter_mut() {
        edit(name, data);
    }
    let sums: Vec<(String, String, usize)> = all[..last]
        .iter()
        .map(|(n, d)| (n.clone(), sha256_hex(d), d.len()))
        .collect();
    let mut manifest: serde_json::Value = serde_json::from_slice(&all[last].1).unwrap();
    for e in manifest["entries"].as_array_mut().expect("entries") {
        let (_, sha, size) = sums
            .iter()
            .find(|(n, _, _)| e["path"] == n.as_str())
            .expect("every manifest entry is in the archive");
        e["sha256"] = sha.clone().into();
        e["size"] = (*size).into();
    }
    all[last].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    write(dst, &all);
}

/// Copy `src` to `dst` with the database dump passed through `edit`. The dump must fit in its
/// first part (the test fixtures do); the edit may make that part longer.
pub fn rewrite_dump(src: &Path, dst: &Path, edit: impl Fn(&str) -> String) {
    let parts = entries(src).iter().filter(|(n, _)| is_dump_part(n)).count();
    assert_eq!(parts, 1, "the dump of a test fixture is one part");
    rewrite_entries(src, dst, |name, data| {
        if is_dump_part(name) {
            let text = String::from_utf8(std::mem::take(data)).expect("a UTF-8 dump");
            *data = edit(&text).into_bytes();
        }
    });
}

/// `dump` with `lines` put before its first line.
pub fn prepend(dump: &str, lines: &str) -> String {
    format!("{lines}\n{dump}")
}

fn is_dump_part(name: &str) -> bool {
    name.starts_with("db/") && name.contains(".part-")
}

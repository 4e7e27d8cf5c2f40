//! Reading an archive independently of the library (tar and flate2), streamed: the path, size
//! and SHA-256 of every entry, and the content of the small JSON entries.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub struct Listing {
    /// (path, size, sha256), in archive order.
    pub entries: Vec<(String, u64, String)>,
    /// Content of metadata.json, manifest.json, objects.ndjson and the es/ entries.
    pub small: BTreeMap<String, Vec<u8>>,
}

impl Listing {
    pub fn read(path: &Path) -> Listing {
        let file = std::fs::File::open(path).expect("open archive");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
        let mut entries = Vec::new();
        let mut small = BTreeMap::new();
        let mut buf = vec![0u8; 256 << 10];
        for e in ar.entries().expect("tar entries") {
            let mut e = e.expect("tar entry");
            let name = String::from_utf8(e.path_bytes().into_owned()).expect("UTF-8 entry path");
            let keep = name == "metadata.json"
                || name == "manifest.json"
                || name == "objects.ndjson"
                || name.starts_with("es/");
            let mut h = Sha256::new();
            let mut size = 0u64;
            let mut kept = Vec::new();
            loop {
                let n = e.read(&mut buf).expect("entry content");
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                size += n as u64;
                if keep {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            if keep {
                small.insert(name.clone(), kept);
            }
            entries.push((name, size, hex::encode(h.finalize())));
        }
        Listing { entries, small }
    }

    pub fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(
            self.small
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not in the archive")),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn entry(&self, name: &str) -> Option<&(String, u64, String)> {
        self.entries.iter().find(|(n, _, _)| n == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _, _)| n.as_str()).collect()
    }
}

//! The whole stack in one comparable description, one line per fact:
//! - every MariaDB database (its name, and `common::fp::mysql`: definitions, row counts and a
//!   hash of every table's sorted rows);
//! - every object of every bucket: key, size, SHA-256 of its bytes, content type, stored
//!   headers and user metadata (buckets themselves are not listed: a restore empties the
//!   module's buckets but does not delete them);
//! - every index (hidden ones too): its settings without what the server sets by itself,
//!   mappings, aliases, and every document's `_id`, `_routing` and `_source`.
//!
//! A capture is split by owner: what the module's config puts in its scope, and the rest.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::seed::{owns_db, owns_index, owns_object};
use super::{es, s3, Module};
use crate::common::{db, fp, Engine};

/// One fact, with what it is about (to split by owner).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum About {
    Db(String),
    Object(String, String),
    Index(String),
}

pub struct World {
    facts: Vec<(About, String)>,
    /// Every object, as read.
    pub objects: BTreeMap<(String, String), s3::ObjectPrint>,
    /// Every index: its definition and documents `(_id, _routing, _source)` sorted by `_id`.
    pub indices: BTreeMap<String, (Value, Vec<es::DocRow>)>,
}

/// Sorted lines.
#[derive(Clone, PartialEq, Eq)]
pub struct Fp(pub Vec<String>);

impl std::fmt::Debug for Fp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fp({} lines)", self.0.len())
    }
}

/// JSON with object keys sorted, whatever the map type.
pub fn canon(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, String> = m.iter().map(|(k, v)| (k, canon(v))).collect();
            let parts: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

impl World {
    /// Read everything. `dbs`: also fingerprint every MariaDB database (not only list them).
    pub fn capture() -> World {
        let mut facts = Vec::new();
        let mut objects = BTreeMap::new();
        let mut indices = BTreeMap::new();
        for name in db::databases(Engine::My) {
            facts.push((About::Db(name.clone()), format!("database|{name}")));
            for l in fp::mysql(&name).0 {
                facts.push((About::Db(name.clone()), format!("db|{name}|{l}")));
            }
        }
        let mut which = Vec::new();
        for b in s3::buckets() {
            for o in s3::list(&b, "") {
                which.push((b.clone(), o.key));
            }
        }
        let prints = s3::objects(which.clone());
        for ((b, k), p) in which.into_iter().zip(prints) {
            let line = format!(
                "object|{b}|{k}|{}|{}|{}",
                p.size,
                p.sha256,
                serde_json::to_string(&p.meta).expect("meta JSON")
            );
            facts.push((About::Object(b.clone(), k.clone()), line));
            objects.insert((b, k), p);
        }
        for i in es::all_indices() {
            let def = es::definition(&i);
            facts.push((
                About::Index(i.clone()),
                format!("index|{i}|def|{}", canon(&def)),
            ));
            let docs = es::documents(&i);
            for (id, routing, source) in &docs {
                facts.push((
                    About::Index(i.clone()),
                    format!(
                        "index|{i}|doc|{id}|{}|{}",
                        routing.as_deref().unwrap_or("-"),
                        canon(source)
                    ),
                ));
            }
            indices.insert(i, (def, docs));
        }
        World {
            facts,
            objects,
            indices,
        }
    }

    fn select(&self, keep: impl Fn(&About) -> bool) -> Fp {
        let mut lines: Vec<String> = self
            .facts
            .iter()
            .filter(|(a, _)| keep(a))
            .map(|(_, l)| l.clone())
            .collect();
        lines.sort();
        Fp(lines)
    }

    fn owned(m: Module, a: &About) -> bool {
        match a {
            About::Db(d) => owns_db(m, d),
            About::Object(b, k) => owns_object(m, b, k),
            About::Index(i) => owns_index(m, i),
        }
    }

    /// What belongs to the module: its database, its objects, its indices.
    pub fn module(&self, m: Module) -> Fp {
        self.select(|a| Self::owned(m, a))
    }

    /// Everything else: other databases, other buckets and other objects of shared buckets,
    /// other indices, and whatever a run leaves behind (staged databases, held copies).
    pub fn others(&self, m: Module) -> Fp {
        self.select(|a| !Self::owned(m, a))
    }

    /// Everything but the database `db` (a leftover the tool documents as such).
    pub fn all_but_db(&self, db: &str) -> Fp {
        self.select(|a| !matches!(a, About::Db(d) if d == db))
    }

    /// The facts about what `keep` selects.
    pub fn pick(&self, keep: impl Fn(&About) -> bool) -> Fp {
        self.select(keep)
    }

    pub fn all(&self) -> Fp {
        self.select(|_| true)
    }
}

/// The lines that differ (`-` only in `expected`, `+` only in `actual`): how many per store
/// and name, then the first ones.
pub fn diff(expected: &Fp, actual: &Fp) -> String {
    let a: BTreeSet<&String> = expected.0.iter().collect();
    let b: BTreeSet<&String> = actual.0.iter().collect();
    let cut = |s: &str| -> String {
        if s.chars().count() > 300 {
            format!("{}…", s.chars().take(300).collect::<String>())
        } else {
            s.to_string()
        }
    };
    let group = |l: &str| l.splitn(3, '|').take(2).collect::<Vec<_>>().join("|");
    let mut counts: BTreeMap<(String, char), usize> = BTreeMap::new();
    let mut out = String::new();
    for (sign, lines) in [('-', a.difference(&b)), ('+', b.difference(&a))] {
        for (n, l) in lines.enumerate() {
            *counts.entry((group(l), sign)).or_default() += 1;
            if n < 12 {
                out += &format!("  {sign} {}\n", cut(l));
            }
        }
    }
    let summary: Vec<String> = counts
        .into_iter()
        .map(|((g, sign), n)| format!("{sign}{n} {g}"))
        .collect();
    format!("  ({})\n{out}", summary.join(", "))
}

/// None when equal; else what differs, for the message.
pub fn compare(expected: &Fp, actual: &Fp, what: &str) -> Option<String> {
    (expected != actual).then(|| format!("{what}: differs\n{}", diff(expected, actual)))
}

#[track_caller]
pub fn assert_same(expected: &Fp, actual: &Fp, what: &str) {
    if let Some(m) = compare(expected, actual, what) {
        panic!("{m}");
    }
}

/// The test's change must show, or the comparison could not fail.
#[track_caller]
pub fn assert_changed(before: &Fp, after: &Fp, what: &str) {
    assert!(before != after, "{what}: the change does not show");
}

/// Panics with every message when any comparison failed.
#[track_caller]
pub fn assert_all(results: Vec<Option<String>>) {
    let failed: Vec<String> = results.into_iter().flatten().collect();
    if !failed.is_empty() {
        panic!("{}", failed.join("\n"));
    }
}

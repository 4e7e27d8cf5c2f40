//! Dify and RAGFlow end to end on the local stack: the database, the objects and the indices of
//! a module in one archive, and back.
//!
//! - The round trip is equal store by store: rows, object bytes/content type/metadata,
//!   documents/mappings/settings/aliases, after the module was changed in all three stores.
//! - A backup or restore of one module leaves everything else byte-identical: the other
//!   module's database, buckets and indices, and (Dify) the objects outside its prefix in the
//!   bucket it shares, which keep the changes made to them after the backup.
//! - `plan` lists exactly the module's buckets/prefixes and indices.
//! - The apps of the module (only those) are paused during the backup and stopped during the
//!   restore; a restore that meets `_bulk` 429s backs off and succeeds.
//! - The archive holds `minio/<bucket>/<key>`, `objects.ndjson`, `es/<index>/definition.json`
//!   and the documents, verifies, and its metadata counts what was seeded.
//! - Harder cases: an index whose `index.max_result_window` is below the tool's page size, and
//!   RAGFlow restored into an emptied database (the tables that name its buckets and indices
//!   are gone) after its buckets and indices were lost.
//!
//! - Objects are fetched and uploaded several at a time when there are many small ones.
//! - RAGFlow with `ragflow_db` on Postgres (chosen in the config) round-trips the same way.
//! - Dify's SECRET_KEY travels in the archive (never in metadata or output), and a restore
//!   onto a Dify whose key differs is refused before anything is touched.
//! - A restore refuses to start while objects an earlier restore held aside remain, and
//!   changes nothing.
//!
//! Run: `cargo test -p ai-backup --test dify_ragflow -- --test-threads=1` (needs
//! `scripts/stack up`).

mod common;
mod multistore;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use multistore::archive::Listing;
use multistore::fingerprint::{assert_all, assert_changed, assert_same, canon, compare, World};
use multistore::seed::{self, Seeded};
use multistore::{es, s3, Env, Module};
use serde_json::{json, Value};

#[test]
fn dify_round_trip_is_exact_and_leaves_ragflow_and_the_rest_of_the_shared_bucket_alone() {
    round_trip(Module::Dify);
}

#[test]
fn ragflow_round_trip_in_the_real_layout_is_exact_and_leaves_dify_alone() {
    round_trip(Module::Ragflow);
}

/// Seed both modules, back `m` up, change `m` in all three stores (and, for Dify, other apps'
/// objects in the shared bucket), restore, and compare.
fn round_trip(m: Module) {
    let t = std::time::Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", t.elapsed().as_secs_f64());
    let env = multistore::setup();
    step("setup");
    seed::seed(m.other());
    step("seed other");
    let seeded = seed::seed(m);
    step("seed");
    check_plan(&env, m, &seeded);
    step("plan");

    let before = World::capture();
    step("capture");
    let archive = backup_checking_apps_are_paused(&env, m);
    step("backup");
    multistore::assert_apps_running();
    let after_backup = World::capture();
    step("capture");
    assert_same(
        &before.all(),
        &after_backup.all(),
        "everything after a backup",
    );
    check_archive(&env, m, &archive, &seeded, &before);
    step("archive");

    seed::change(m);
    step("change");
    let changed = World::capture();
    step("capture");
    assert_changed(&before.module(m), &changed.module(m), "the module's change");
    if m == Module::Dify {
        assert_changed(
            &before.others(m),
            &changed.others(m),
            "the change outside the prefix",
        );
    }

    if m == Module::Ragflow {
        // ES is busy: the first _bulk requests answer 429; the load must back off and retry.
        es::set_faults(json!({"bulk_429": 2}));
    }
    restore_checking_apps_are_stopped(&env, m, &archive);
    step("restore");
    if m == Module::Ragflow {
        let left = es::ok("GET", "/_test/faults", None);
        assert_eq!(left["bulk_429"], 0, "the 429s were met and retried: {left}");
    }
    multistore::assert_apps_running();
    let after = World::capture();
    step("capture");
    assert_all(vec![
        compare(
            &before.module(m),
            &after.module(m),
            &format!("{} after the restore (- archived, + restored)", m.id()),
        ),
        compare(
            &changed.others(m),
            &after.others(m),
            &format!(
                "everything outside {} after its restore (- before, + after)",
                m.id()
            ),
        ),
    ]);
    for (b, _) in seeded.buckets.iter() {
        assert!(
            s3::multipart_uploads(b).is_empty(),
            "multipart uploads left in {b}"
        );
    }
}

/// `backup`, checking that the module's apps are paused while the dump runs (and only its).
fn backup_checking_apps_are_paused(env: &Env, m: Module) -> std::path::PathBuf {
    let dir = env.subdir("out");
    let mut child = env.spawn(&["--json", "backup", m.id(), "-o", dir.to_str().unwrap()]);
    child.wait_phase("dump", Duration::from_secs(120));
    for app in m.apps() {
        assert_eq!(
            common::docker::state(app),
            Some((true, true)),
            "{app} is paused during the backup"
        );
    }
    for app in m.other().apps() {
        assert_eq!(
            common::docker::state(app),
            Some((true, false)),
            "{app} runs during the backup of {}",
            m.id()
        );
    }
    let out = child.finish(Duration::from_secs(300));
    out.assert_code(0, &format!("backup {}", m.id()));
    let path = out.result_path();
    assert!(path.starts_with(&dir) && path.is_file(), "archive {path:?}");
    path
}

/// `restore --yes`, checking that the module's apps are stopped while its objects load (and
/// the other module's are not).
fn restore_checking_apps_are_stopped(env: &Env, m: Module, archive: &Path) {
    let mut child = env.spawn_restore(m, archive);
    child.wait_phase("objects-load", Duration::from_secs(240));
    for app in m.apps() {
        assert!(
            !common::docker::is_running(app),
            "{app} is stopped during the restore"
        );
    }
    for app in m.other().apps() {
        assert!(
            common::docker::is_running(app),
            "{app} runs during the restore of {}",
            m.id()
        );
    }
    let out = child.finish(Duration::from_secs(300));
    out.assert_code(0, &format!("restore {}", m.id()));
    assert_eq!(
        out.last_json(),
        json!({"success": true}),
        "restore result object"
    );
}

/// The module's buckets/prefixes and indices after `seed`.
fn expected_scope(m: Module) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let (objects, indices): (Vec<(&str, &str)>, Vec<&str>) = match m {
        Module::Dify => (
            vec![
                (seed::DIFY_BIG, ""),
                (seed::DIFY_FILES, ""),
                (seed::DIFY_MANY, ""),
                (seed::SHARED, seed::SHARED_PREFIX),
            ],
            vec![seed::DIFY_CHUNKS, seed::DIFY_EMPTY, seed::DIFY_KEYWORDS],
        ),
        Module::Ragflow => (
            vec![
                (seed::KB_HANDBOOK, ""),
                (seed::KB_NOTES, ""),
                (seed::KB_RECIPES, ""),
                (seed::FOLDER_ROOT, ""),
            ],
            vec![seed::RF_BIG, seed::RF_SMALL, seed::RF_META],
        ),
    };
    (
        objects
            .into_iter()
            .map(|(b, p)| (b.to_string(), p.to_string()))
            .collect(),
        indices.into_iter().map(String::from).collect(),
    )
}

/// `plan <module>` names exactly the module's database, buckets/prefixes and indices, with
/// what they hold, and nothing of the other module.
fn check_plan(env: &Env, m: Module, seeded: &Seeded) {
    let plan = env.plan(m);
    assert_eq!(plan["scope"]["database"], m.db(), "{plan}");
    assert_eq!(plan["database_present"], true, "{plan}");
    let objects: BTreeSet<(String, String)> = plan["scope"]["objects"]
        .as_array()
        .expect("scope.objects")
        .iter()
        .map(|o| {
            (
                o["bucket"].as_str().unwrap().to_string(),
                o["prefix"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let indices: BTreeSet<String> = plan["scope"]["indices"]
        .as_array()
        .expect("scope.indices")
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    let (want_objects, want_indices) = expected_scope(m);
    assert_eq!(
        objects,
        want_objects,
        "buckets/prefixes in the plan of {}",
        m.id()
    );
    assert_eq!(indices, want_indices, "indices in the plan of {}", m.id());
    // What the plan counts is what was seeded.
    let counts: BTreeMap<String, (u64, u64)> = plan["object_counts"]
        .as_array()
        .expect("object_counts")
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                (c[2].as_u64().unwrap(), c[3].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(counts, seeded.buckets, "objects and bytes in the plan");
    let docs: BTreeMap<String, u64> = plan["index_counts"]
        .as_array()
        .expect("index_counts")
        .iter()
        .map(|c| (c[0].as_str().unwrap().to_string(), c[1].as_u64().unwrap()))
        .collect();
    assert_eq!(docs, seeded.indices, "documents in the plan");
    // The text form lists the same and nothing of the other module.
    let out = env.run(&["plan", m.id()]);
    out.assert_code(0, "plan (text)");
    for (b, p) in &want_objects {
        assert!(
            out.stdout.contains(&format!("bucket {b}")),
            "{b} missing:\n{}",
            out.stdout
        );
        if !p.is_empty() {
            assert!(
                out.stdout.contains(&format!("prefix {p}")),
                "{p} missing:\n{}",
                out.stdout
            );
        }
    }
    for i in &want_indices {
        assert!(
            out.stdout.contains(&format!("index     {i}:")),
            "{i} missing:\n{}",
            out.stdout
        );
    }
    let foreign: Vec<&str> = match m {
        Module::Dify => vec!["ragflow", "kb1ff", "kb08b", "kb9f9", seed::FOLDER_ROOT],
        Module::Ragflow => vec!["dify"],
    };
    for f in foreign {
        assert!(
            !out.stdout.contains(f),
            "the plan of {} names {f}:\n{}",
            m.id(),
            out.stdout
        );
    }
}

/// The archive holds every object of the scope (same bytes) and no other, their index with
/// the metadata read from the server, each index's definition and documents; it verifies; its
/// metadata counts what was seeded.
fn check_archive(env: &Env, m: Module, archive: &Path, seeded: &Seeded, live: &World) {
    let out = env.run(&["verify", archive.to_str().unwrap()]);
    out.assert_code(0, "verify");
    let listing = Listing::read(archive);
    let names = listing.names();
    assert_eq!(names.first(), Some(&"metadata.json"), "first entry");
    assert_eq!(names.last(), Some(&"manifest.json"), "last entry");

    // Objects: minio/<bucket>/<key>, byte for byte.
    let in_archive: BTreeMap<&str, (u64, &str)> = listing
        .entries
        .iter()
        .filter(|(n, _, _)| n.starts_with("minio/"))
        .map(|(n, size, sha)| (n.as_str(), (*size, sha.as_str())))
        .collect();
    let expected: BTreeMap<String, (u64, String)> = seeded
        .objects
        .iter()
        .map(|((b, k), v)| (format!("minio/{b}/{k}"), v.clone()))
        .collect();
    let got: BTreeMap<String, (u64, String)> = in_archive
        .iter()
        .map(|(n, (s, h))| (n.to_string(), (*s, h.to_string())))
        .collect();
    if got != expected {
        let missing: Vec<&String> = expected
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(10)
            .collect();
        let extra: Vec<&String> = got
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .take(10)
            .collect();
        let wrong: Vec<&String> = expected
            .iter()
            .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
            .map(|(k, _)| k)
            .take(10)
            .collect();
        panic!("objects in the archive: missing {missing:?}, not in scope {extra:?}, other bytes {wrong:?}");
    }
    // objects.ndjson: one record per object, with what the server returned at the backup.
    let records: Vec<Value> = listing.small["objects.ndjson"]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("objects.ndjson line"))
        .collect();
    assert_eq!(
        records.len(),
        seeded.objects.len(),
        "records in objects.ndjson"
    );
    for r in &records {
        let key = (
            r["bucket"].as_str().unwrap().to_string(),
            r["key"].as_str().unwrap().to_string(),
        );
        let live = live
            .objects
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} is not live"));
        assert_eq!(r["size"], live.size, "size of {key:?}");
        assert_eq!(
            r["meta"],
            serde_json::to_value(&live.meta).unwrap(),
            "content type and metadata of {key:?} in objects.ndjson"
        );
    }

    // Indices: es/<index>/definition.json and the documents, as they were live.
    for (index, n) in &seeded.indices {
        let def_entry = format!("es/{index}/definition.json");
        let def = listing.json(&def_entry);
        let (live_def, live_docs) = &live.indices[index];
        let settings_live: BTreeMap<String, Value> = live_def["settings"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // The settings the archive records are the live ones without what the server sets
        // by itself (the same list the fingerprint leaves out).
        let settings_archived: BTreeMap<String, Value> = def["settings"]
            .as_object()
            .expect("settings")
            .iter()
            .map(|(k, v)| {
                let k = if k.starts_with("index.") {
                    k.clone()
                } else {
                    format!("index.{k}")
                };
                (k, v.clone())
            })
            .collect();
        assert_eq!(
            canon(&json!(settings_archived)),
            canon(&json!(settings_live)),
            "settings of {index} in {def_entry} (left) and live (right)"
        );
        assert_eq!(
            canon(&def["mappings"]),
            canon(&live_def["mappings"]),
            "mappings of {index}"
        );
        assert_eq!(
            canon(&def["aliases"]),
            canon(&live_def["aliases"]),
            "aliases of {index}"
        );
        let parts: Vec<&str> = names
            .iter()
            .copied()
            .filter(|p| p.starts_with(&format!("es/{index}/docs.ndjson")))
            .collect();
        // Parts are cut at byte boundaries: a document may continue in the next part.
        let mut data: Vec<u8> = Vec::new();
        for p in &parts {
            data.extend_from_slice(
                listing
                    .small
                    .get(*p)
                    .unwrap_or_else(|| panic!("{p} not read")),
            );
        }
        let mut docs: Vec<es::DocRow> = Vec::new();
        for l in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let mut v: Value = serde_json::from_slice(l).expect("document line");
            docs.push((
                v["_id"].as_str().unwrap().to_string(),
                v["_routing"].as_str().map(str::to_string),
                v["_source"].take(),
            ));
        }
        docs.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            docs.len() as u64,
            *n,
            "documents of {index} in the archive ({parts:?})"
        );
        let canon_docs = |d: &[es::DocRow]| -> Vec<String> {
            d.iter()
                .map(|(i, r, s)| format!("{i}|{r:?}|{}", canon(s)))
                .collect()
        };
        assert!(
            canon_docs(&docs) == canon_docs(live_docs),
            "documents of {index} in the archive differ from the live ones"
        );
    }
    let es_dirs: BTreeSet<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("es/"))
        .filter_map(|n| n.split_once('/').map(|(i, _)| i))
        .collect();
    let want: BTreeSet<&str> = seeded.indices.keys().map(String::as_str).collect();
    assert_eq!(es_dirs, want, "indices in the archive");
    let db_parts: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with(&format!("db/{}.sql.part-", m.db())))
        .collect();
    assert!(!db_parts.is_empty(), "no dump in {names:?}");

    // metadata.json
    let meta = listing.json("metadata.json");
    assert_eq!(meta["moduleId"], m.id());
    let components = match m {
        Module::Dify => json!(["db", "minio", "es", "secrets"]),
        Module::Ragflow => json!(["db", "minio", "es"]),
    };
    assert_eq!(meta["components"], components, "components");
    assert_eq!(meta["quiesced"], true, "apps held still during the backup");
    let buckets: BTreeMap<String, (u64, u64)> = meta["objects"]["buckets"]
        .as_object()
        .expect("objects.buckets")
        .iter()
        .map(|(b, c)| {
            (
                b.clone(),
                (c["objects"].as_u64().unwrap(), c["bytes"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        buckets, seeded.buckets,
        "objects and bytes per bucket in metadata.json"
    );
    let indices: BTreeMap<String, u64> = meta["indices"]["indices"]
        .as_object()
        .expect("indices.indices")
        .iter()
        .map(|(i, n)| (i.clone(), n.as_u64().unwrap()))
        .collect();
    assert_eq!(
        indices, seeded.indices,
        "documents per index in metadata.json"
    );
    let tables: BTreeMap<String, u64> = meta["db"]["stats"]["tables"]
        .as_object()
        .expect("db.stats.tables")
        .iter()
        .map(|(t, n)| (t.clone(), n.as_u64().unwrap()))
        .collect();
    assert_eq!(tables, seeded.tables, "rows per table in metadata.json");
    assert_eq!(meta["objects"]["indexEntry"], "objects.ndjson");
    let scope: BTreeSet<(String, String)> = meta["objects"]["scope"]
        .as_array()
        .expect("objects.scope")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(scope, expected_scope(m).0, "objects.scope in metadata.json");

    // manifest.json: every other entry, with its size and checksum.
    let manifest = listing.json("manifest.json");
    let listed: BTreeMap<String, (u64, String)> = manifest["entries"]
        .as_array()
        .expect("manifest entries")
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                (
                    e["size"].as_u64().unwrap(),
                    e["sha256"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    let actual: BTreeMap<String, (u64, String)> = listing
        .entries
        .iter()
        .filter(|(n, _, _)| n != "manifest.json")
        .map(|(n, s, h)| (n.clone(), (*s, h.clone())))
        .collect();
    assert!(
        listed == actual,
        "manifest.json does not describe the entries"
    );
}

/// Real Elasticsearch refuses any search whose `size` is above `index.max_result_window`,
/// with point in time and search_after too; a backup must page within it.
#[test]
fn an_index_with_a_small_result_window_round_trips() {
    let env = multistore::setup();
    seed::seed_db(Module::Dify);
    seed::clear_stores(Module::Dify);
    let name = "dify-small-window";
    es::create_index(
        name,
        &json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0, "max_result_window": 500},
                "mappings": {"properties": {"n": {"type": "integer"}}}}),
    );
    es::bulk(
        name,
        (0..1200).map(|i| es::Doc {
            id: format!("d{i}"),
            routing: None,
            source: json!({"n": i}),
        }),
        1000,
    );
    let before = World::capture();
    let archive = env.backup(Module::Dify, "out");
    es::delete_docs(name, &[("d1", None), ("d2", None)]);
    env.restore_ok(Module::Dify, &archive);
    assert_same(
        &before.module(Module::Dify),
        &World::capture().module(Module::Dify),
        "dify after the restore",
    );
}

/// Disaster recovery: RAGFlow's database was recreated empty (its tables, which name its
/// buckets and indices, are gone) and its buckets and indices were lost. The restore must
/// bring everything back from the archive.
#[test]
fn ragflow_restores_into_an_emptied_database_and_lost_stores() {
    let env = multistore::setup();
    seed::seed(Module::Ragflow);
    let before = World::capture();
    let archive = env.backup(Module::Ragflow, "out");
    common::db::reset(common::Engine::My, Module::Ragflow.db());
    seed::clear_stores(Module::Ragflow);
    env.restore_ok(Module::Ragflow, &archive);
    assert_same(
        &before.module(Module::Ragflow),
        &World::capture().module(Module::Ragflow),
        "ragflow restored into an empty database",
    );
}

/// Dify's SECRET_KEY travels as `secrets/dify-secret-key`. A restore onto a Dify whose key
/// differs is refused before anything is touched. The stand-in's key cannot be changed from
/// outside (it is set through the container's environment), so the target's "other key" is
/// read from another of its variables by a second config.
#[test]
fn dify_carries_its_secret_key_and_refuses_a_restore_onto_another_one() {
    let env = multistore::setup();
    seed::seed_with(Module::Dify, false, seed::DIFY_DOCS_SMALL);
    let key = common::docker::stack_secret("DIFY_SECRET_KEY");
    let archive = env.backup(Module::Dify, "out");
    let carried = common::archive::entry(&archive, "secrets/dify-secret-key")
        .expect("the archive carries dify-secret-key");
    assert!(
        carried == key.as_bytes(),
        "the archived key is not the container's SECRET_KEY"
    );
    let meta = common::archive::metadata(&archive);
    assert!(
        !meta.to_string().contains(&key),
        "metadata.json must not hold the key"
    );
    assert!(
        meta["secrets"].as_array().is_some_and(|s| s
            .iter()
            .any(|s| s["name"] == "dify-secret-key" && s["source"] == "env:SECRET_KEY")),
        "metadata names the secret and its source: {}",
        meta["secrets"]
    );

    // `inspect` lists every store's statistics and names the secret without its value.
    let out = env.run(&["inspect", archive.to_str().unwrap()]);
    out.assert_code(0, "inspect");
    for (bucket, c) in meta["objects"]["buckets"].as_object().expect("buckets") {
        let line = format!("{} objects", c["objects"]);
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(bucket.as_str()) && l.contains(&line)),
            "inspect should list {bucket} with {line}:\n{}",
            out.stdout
        );
    }
    for (index, docs) in meta["indices"]["indices"].as_object().expect("indices") {
        let line = format!("{docs} documents");
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(index.as_str()) && l.contains(&line)),
            "inspect should list {index} with {line}:\n{}",
            out.stdout
        );
    }
    assert!(out
        .stdout
        .contains("dify-secret-key (from env:SECRET_KEY, value not shown)"));
    assert!(!out.text().contains(&key), "inspect must not show the key");

    seed::change(Module::Dify);
    let before = World::capture();
    let other = env.dir.path().join("other-key.toml");
    let base = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &other,
        format!(
            "{base}\n[[modules.dify.secrets]]\nname = \"dify-secret-key\"\n\
             container = \"ai-server-dify-api\"\nenv = \"PATH\"\n"
        ),
    )
    .expect("write config");
    let file = archive.to_str().unwrap();
    let out = common::bin::run(
        &other,
        &env.journal,
        &["--json", "restore", "dify", file, "--yes"],
    );
    multistore::assert_failed(&out, "restore onto another SECRET_KEY");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for needed in [
        "dify-secret-key",
        "ai-server-dify-api",
        "Nothing was changed",
    ] {
        assert!(
            error.contains(needed),
            "the error should mention {needed:?}: {error}"
        );
    }
    assert!(
        !out.text().contains(&key),
        "the output must not show the key"
    );
    assert_same(
        &before.all(),
        &World::capture().all(),
        "the stack after the refusal",
    );
    assert!(
        !env.journal.exists(),
        "nothing destructive may be logged before the secret check"
    );
    multistore::assert_apps_running();
}

/// The knowledge bases of the seeded (MySQL) RAGFlow, copied into a `ragflow_db` on Postgres.
fn mirror_knowledgebases_to_postgres() {
    let rows = common::db::my_rows(
        Some(Module::Ragflow.db()),
        "SELECT CONCAT_WS('|', id, tenant_id, name) FROM knowledgebase ORDER BY id",
    );
    let mut sql = String::from(
        "DROP TABLE IF EXISTS knowledgebase;\n\
         CREATE TABLE knowledgebase (id varchar(32) PRIMARY KEY, tenant_id varchar(32) NOT NULL, name text NOT NULL);\n",
    );
    for r in rows {
        let f: Vec<&str> = r.splitn(3, '|').collect();
        sql += &format!(
            "INSERT INTO knowledgebase VALUES ('{}', '{}', '{}');\n",
            f[0],
            f[1],
            f[2].replace('\'', "''")
        );
    }
    common::db::pg(Module::Ragflow.db(), &sql);
}

/// RAGFlow's database may live on Postgres: `server = "postgres"` in the config. Backed up,
/// changed in all three stores, restored: the database, the buckets and the indices its tables
/// name are as at the backup, and everything else (the MySQL databases, other buckets and
/// indices) stays as it was changed.
#[test]
fn ragflow_with_its_database_on_postgres_round_trips() {
    use common::Engine;
    use multistore::fingerprint::About;
    let env = multistore::setup();
    seed::seed(Module::Ragflow);
    common::db::reset(Engine::Pg, Module::Ragflow.db());
    mirror_knowledgebases_to_postgres();
    let cfg = env.dir.path().join("ragflow-on-postgres.toml");
    std::fs::write(
        &cfg,
        format!(
            "[journal]\npath = {}\n\
             [modules.ragflow]\nserver = \"postgres\"\ndatabase = \"ragflow_db\"\n\
             objects = {{ store = \"minio\", buckets = [], buckets-from-sql = \"SELECT id FROM knowledgebase\" }}\n\
             indices = {{ store = \"es\", patterns = [], from-sql = \"SELECT DISTINCT CONCAT('ragflow_', tenant_id) FROM knowledgebase\" }}\n",
            common::toml_string(&env.journal.display().to_string())
        ),
    )
    .expect("write config");
    let run = |args: &[&str]| common::bin::run(&cfg, &env.journal, args);
    let pg_before = common::fp::postgres(Module::Ragflow.db());
    let before = World::capture();
    let dir = env.subdir("pg");
    let out = run(&["--json", "backup", "ragflow", "-o", dir.to_str().unwrap()]);
    out.assert_code(0, "backup of ragflow on postgres");
    let archive = out.result_path();
    let meta = common::archive::metadata(&archive);
    assert_eq!(meta["engine"], "postgres", "{meta}");
    let mut buckets: BTreeSet<String> = meta["objects"]["buckets"]
        .as_object()
        .expect("objects in the archive")
        .keys()
        .cloned()
        .collect();
    let mut indices: BTreeSet<String> = meta["indices"]["indices"]
        .as_object()
        .expect("indices in the archive")
        .keys()
        .cloned()
        .collect();
    let want_buckets: BTreeSet<String> = [seed::KB_HANDBOOK, seed::KB_NOTES, seed::KB_RECIPES]
        .map(String::from)
        .into();
    let want_indices: BTreeSet<String> = [seed::RF_BIG, seed::RF_SMALL].map(String::from).into();
    assert_eq!(
        buckets, want_buckets,
        "buckets named by the Postgres tables"
    );
    assert_eq!(
        indices, want_indices,
        "indices named by the Postgres tables"
    );

    seed::change(Module::Ragflow);
    mirror_knowledgebases_to_postgres();
    common::db::pg(
        Module::Ragflow.db(),
        "UPDATE knowledgebase SET name = name || ' (changed)'",
    );
    let changed = World::capture();
    common::fp::assert_changed(
        &pg_before,
        &common::fp::postgres(Module::Ragflow.db()),
        "ragflow_db on postgres after the change",
    );
    let out = run(&[
        "--json",
        "restore",
        "ragflow",
        archive.to_str().unwrap(),
        "--yes",
    ]);
    out.assert_code(0, "restore of ragflow on postgres");
    let after = World::capture();

    // The live scope at the restore also held what was added after the backup.
    buckets.insert(seed::KB_NEW.into());
    indices.insert(seed::RF_NEW.into());
    let in_scope = |a: &About| match a {
        About::Object(b, _) => buckets.contains(b),
        About::Index(i) => indices.contains(i),
        About::Db(_) => false,
    };
    assert_all(vec![
        compare(
            &before.pick(in_scope),
            &after.pick(in_scope),
            "ragflow's objects and indices (- backup, + restored)",
        ),
        compare(
            &changed.pick(|a| !in_scope(a)),
            &after.pick(|a| !in_scope(a)),
            "everything else (- before the restore, + after)",
        ),
    ]);
    common::fp::assert_same(
        &pg_before,
        &common::fp::postgres(Module::Ragflow.db()),
        "ragflow_db on postgres",
    );
    // Back to the neighbour database the other tests expect.
    common::db::reset(Engine::Pg, Module::Ragflow.db());
    common::db::ensure_neighbours();
}

/// The tool's own copies (the hold bucket, `<index>__ab_old` clones left by an interrupted
/// restore) are never part of a module, even when its patterns match them.
#[test]
fn plan_never_puts_the_tools_own_hold_copies_in_scope() {
    let env = multistore::setup();
    s3::ensure_bucket(s3::HOLD_BUCKET);
    s3::ensure_bucket("dify-plan-check");
    let held = format!("dify-plan-check{}", es::HOLD_SUFFIX);
    es::create_index(&held, &json!({"settings": {"number_of_shards": 1}}));
    es::create_index(
        "dify-plan-check",
        &json!({"settings": {"number_of_shards": 1}}),
    );
    let cfg = env.dir.path().join("everything.toml");
    std::fs::write(
        &cfg,
        format!(
            "[journal]\npath = {}\n[modules.dify]\n\
             objects = {{ store = \"minio\", buckets = [\"*\"] }}\n\
             indices = {{ store = \"es\", patterns = [\"dify-*\"] }}\n",
            common::toml_string(&env.journal.display().to_string())
        ),
    )
    .expect("write config");
    let out = common::bin::run(&cfg, &env.journal, &["--json", "plan", "dify"]);
    es::delete_index(&held);
    es::delete_index("dify-plan-check");
    s3::remove_bucket("dify-plan-check");
    out.assert_code(0, "plan with patterns matching everything");
    let plan = out
        .events()
        .into_iter()
        .find(|e| e["event"] == "plan")
        .expect("plan event");
    let scope = &plan["plan"]["scope"];
    let buckets: Vec<&str> = scope["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["bucket"].as_str())
        .collect();
    let indices: Vec<&str> = scope["indices"]
        .as_array()
        .expect("indices")
        .iter()
        .filter_map(|i| i.as_str())
        .collect();
    assert!(buckets.contains(&"dify-plan-check"), "{scope}");
    assert!(indices.contains(&"dify-plan-check"), "{scope}");
    assert!(
        !buckets.contains(&s3::HOLD_BUCKET),
        "hold bucket in scope: {scope}"
    );
    assert!(
        !indices.contains(&held.as_str()),
        "held index in scope: {scope}"
    );
}

/// Many small objects (1,100 in `dify-many`) are fetched and uploaded several at a time: seen
/// from a proxy in front of the S3 server, several connections are open at once during the
/// backup and during the restore.
#[test]
fn many_small_objects_move_several_at_a_time() {
    let env = multistore::setup();
    seed::seed_with(Module::Dify, false, seed::DIFY_DOCS_SMALL);
    let proxy = multistore::proxy::Proxy::start("127.0.0.1:9000");
    let cfg = env.dir.path().join("through-proxy.toml");
    let base = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &cfg,
        format!(
            "{base}\n[object-stores.minio]\nendpoint = \"http://{}\"\n",
            proxy.addr
        ),
    )
    .expect("write config");
    let dir = env.subdir("proxy");
    let out = common::bin::run(
        &cfg,
        &env.journal,
        &["--json", "backup", "dify", "-o", dir.to_str().unwrap()],
    );
    out.assert_code(0, "backup through the proxy");
    let archive = out.result_path();
    let backup_peak = proxy.take_peak();
    let out = common::bin::run(
        &cfg,
        &env.journal,
        &[
            "--json",
            "restore",
            "dify",
            archive.to_str().unwrap(),
            "--yes",
        ],
    );
    out.assert_code(0, "restore through the proxy");
    let restore_peak = proxy.take_peak();
    eprintln!("connections open at once: backup {backup_peak}, restore {restore_peak}");
    assert!(
        backup_peak >= 4,
        "backup: at most {backup_peak} requests at once"
    );
    assert!(
        restore_peak >= 4,
        "restore: at most {restore_peak} requests at once"
    );
}

/// Objects an earlier restore held (in the hold bucket under `dify/`) and could not put back are
/// the only copy of what that restore replaced. A new restore refuses to start until they are
/// dealt with, names how many there are and where, and changes nothing; once they are gone the
/// same archive restores.
#[test]
fn a_restore_refuses_to_start_while_an_earlier_one_s_held_objects_remain() {
    let env = multistore::setup();
    seed::seed(Module::Dify);
    let archive = env.backup(Module::Dify, "out");
    s3::ensure_bucket(s3::HOLD_BUCKET);
    let held_key = "dify/dify-held-bucket/kept-by-an-earlier-restore.txt";
    s3::put(
        s3::HOLD_BUCKET,
        held_key,
        b"the only copy",
        &s3::meta("text/plain", &[]),
    );
    let before = World::capture();

    let out = env.restore(Module::Dify, &archive);
    out.assert_code(2, "restore while held objects remain");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for part in [
        &format!("bucket {} holds 1 objects under dify/", s3::HOLD_BUCKET),
        "Nothing was changed",
    ] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    assert!(
        before
            .objects
            .contains_key(&(s3::HOLD_BUCKET.to_string(), held_key.to_string())),
        "the comparison must see the held object"
    );
    assert_same(
        &before.all(),
        &World::capture().all(),
        "everything after the refusal",
    );
    multistore::assert_apps_running();

    s3::empty(s3::HOLD_BUCKET, "");
    env.restore_ok(Module::Dify, &archive);
}

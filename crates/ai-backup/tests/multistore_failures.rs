//! A restore of Dify that fails in one store must leave Dify as it was in all three stores
//! (MySQL rows, objects and indices), exit with 1 (130 when cancelled), leave no held copies
//! or partial uploads behind, and leave the apps running. Each test backs Dify up, changes it
//! in all three stores (so "as it was" and "as archived" differ), then fails the restore:
//! (a) ES refuses to create an index, (b) `_bulk` items fail, (c) the S3 server is down at the
//! start, (d) the MySQL container dies while the dump loads, (e) SIGINT while the object over
//! 64 MiB uploads, (f) SIGINT while objects are loaded into a bucket the restore had to
//! recreate, (g) SIGINT while the live objects are held aside, (h) the S3 server refuses
//! uploads midway (a bucket quota is reached while the objects load), (i) the S3 server goes
//! away while the objects load, so they cannot be put back either: the error must say so and
//! where the held copies are, and those copies must be complete, (j) a held index clone left
//! by such a restore makes the next restore refuse to start.
//!
//! Faults are cleared and stopped containers started again by the harness's guard, also on
//! panic. Run: `cargo test -p ai-backup --test multistore_failures -- --test-threads=1`.

mod common;
mod multistore;

use std::path::PathBuf;
use std::time::Duration;

use multistore::fingerprint::{assert_all, compare, Fp, World};
use multistore::seed::{self, Seeded};
use multistore::{assert_failed, es, s3, Env, Module};
use serde_json::json;

const M: Module = Module::Dify;

/// Dify seeded, backed up, then changed.
struct Case {
    started: std::time::Instant,
    env: Env,
    archive: PathBuf,
    seeded: Seeded,
    before: World,
    buckets: Vec<String>,
}

fn prepare(big_object: bool, big_rows: Option<u64>, change: fn()) -> Case {
    let env = multistore::setup();
    let started = std::time::Instant::now();
    // The full seed where the object over 64 MiB is needed (e); elsewhere a smaller
    // dify-chunks and no big object keep the runtime down.
    let docs = if big_object {
        seed::DIFY_DOCS
    } else {
        seed::DIFY_DOCS_SMALL
    };
    let seeded = seed::seed_with(M, big_object, docs);
    if let Some(rows) = big_rows {
        seed::add_big_table(M, rows);
    }
    let archive = env.backup(M, "out");
    change();
    let before = World::capture();
    eprintln!(
        "[{:>6.1}s] seeded, backed up, changed",
        started.elapsed().as_secs_f64()
    );
    Case {
        started,
        env,
        archive,
        seeded,
        before,
        buckets: buckets(),
    }
}

fn change() {
    seed::change(M);
}

/// `change`, but every bucket that existed at the backup still exists.
fn change_keeping_buckets() {
    seed::change_dify(false);
}

/// `change_keeping_buckets`, and half of `dify-many` deleted (so that a quota can sit well
/// between the live objects and the archived ones).
fn change_thinning_many() {
    seed::change_dify(false);
    let half: Vec<String> = s3::list(seed::DIFY_MANY, "")
        .into_iter()
        .step_by(2)
        .map(|o| o.key)
        .collect();
    s3::delete(seed::DIFY_MANY, &half);
}

/// A change that keeps every live object (so that holding them aside takes a while).
fn change_lightly() {
    common::db::my(
        Some(M.db()),
        "UPDATE apps SET name = 'changed lightly'; INSERT INTO alembic_version VALUES ('zz');",
    );
    s3::put(
        seed::DIFY_FILES,
        "website/index.html",
        b"changed",
        &s3::meta("text/html", &[]),
    );
    es::delete_docs(seed::DIFY_CHUNKS, &[("seg-00001", None)]);
}

/// The buckets, without the tool's own hold bucket.
fn buckets() -> Vec<String> {
    s3::buckets()
        .into_iter()
        .filter(|b| b != s3::HOLD_BUCKET)
        .collect()
}

/// Everything as before the failed restore: databases, objects (and bucket names), indices;
/// no partial multipart upload in Dify's buckets; every app running. `leftover_db`: a database
/// the tool documents as left behind on this failure (it is removed by the next restore).
#[track_caller]
fn assert_as_before(case: &Case, what: &str, leftover_db: Option<&str>) {
    eprintln!(
        "[{:>6.1}s] failed restore done",
        case.started.elapsed().as_secs_f64()
    );
    let after = World::capture();
    let (want, got): (Fp, Fp) = match leftover_db {
        Some(d) => (case.before.all_but_db(d), after.all_but_db(d)),
        None => (case.before.all(), after.all()),
    };
    let buckets_now = buckets();
    let mut uploads = Vec::new();
    for b in &buckets_now {
        if seed::owns_object(M, b, "dify/") || seed::owns_object(M, b, "") {
            uploads.extend(
                s3::multipart_uploads(b)
                    .into_iter()
                    .map(|u| format!("{b}/{}", u.key)),
            );
        }
    }
    assert_all(vec![
        compare(
            &want,
            &got,
            &format!("{what}: the stack (- before, + after)"),
        ),
        (buckets_now != case.buckets).then(|| {
            format!(
                "{what}: buckets before {:?}, after {buckets_now:?}",
                case.buckets
            )
        }),
        (!uploads.is_empty()).then(|| format!("{what}: multipart uploads left: {uploads:?}")),
    ]);
    multistore::assert_apps_running();
    eprintln!("[{:>6.1}s] compared", case.started.elapsed().as_secs_f64());
}

#[track_caller]
fn assert_cancelled(out: &common::bin::Out, what: &str) {
    out.assert_code(130, what);
    assert_eq!(
        out.last_json(),
        json!({"success": false, "cancelled": true}),
        "{what}: result"
    );
}

/// (a) ES answers `PUT /<index>` with 400 for the last archived index, after the first ones
/// were recreated and loaded.
#[test]
fn es_refusing_to_create_an_index_leaves_dify_as_it_was() {
    let case = prepare(false, None, change);
    es::set_faults(json!({"fail_put_index": seed::DIFY_KEYWORDS}));
    let out = case.env.restore(M, &case.archive);
    es::clear_faults();
    assert_failed(&out, "restore with PUT /dify-keywords refused");
    assert!(
        out.text().contains("injected failure"),
        "the error names ES's refusal: {}",
        out.text()
    );
    assert_as_before(&case, "after ES refused an index", None);
}

/// (b) `_bulk` answers 200 with failed items.
#[test]
fn bulk_item_errors_leave_dify_as_it_was() {
    let case = prepare(false, None, change);
    es::set_faults(json!({"bulk_item_errors": 3}));
    let out = case.env.restore(M, &case.archive);
    es::clear_faults();
    assert_failed(&out, "restore with _bulk item errors");
    assert_as_before(&case, "after _bulk item errors", None);
}

/// (c) The S3 server is down when the restore starts: it must fail before touching anything.
#[test]
fn s3_down_at_the_start_fails_before_anything_is_touched() {
    let case = prepare(false, None, change);
    let out = common::docker::docker(&["stop", multistore::MINIO]);
    assert!(out.status.success(), "docker stop {}", multistore::MINIO);
    let out = case.env.restore(M, &case.archive);
    // Before the S3 server comes back: the apps never stopped, nothing was journaled.
    multistore::assert_apps_running();
    let journal = std::fs::read_to_string(&case.env.journal).unwrap_or_default();
    common::docker::start(multistore::MINIO);
    assert!(
        s3::wait_up(Duration::from_secs(120)),
        "the S3 server does not come back"
    );
    assert_failed(&out, "restore with the S3 server down");
    assert!(
        journal.trim().is_empty(),
        "destructive steps were journaled although S3 was down:\n{journal}"
    );
    assert_as_before(&case, "after a restore with S3 down", None);
}

/// (d) The MySQL container is killed while the dump (with a big table) loads into the staged
/// database; the staged database may be left (the next restore removes it, as documented).
#[test]
fn mysql_killed_during_the_load_leaves_dify_as_it_was() {
    let case = prepare(false, Some(300_000), change);
    let mut child = case.env.spawn_restore(M, &case.archive);
    child.wait_phase("load", Duration::from_secs(240));
    std::thread::sleep(Duration::from_secs(1));
    common::docker::kill(multistore::MYSQL);
    let out = child.finish(Duration::from_secs(300));
    common::docker::start(multistore::MYSQL);
    assert!(
        common::db::wait_ready(common::Engine::My, Duration::from_secs(120)),
        "MySQL does not come back"
    );
    assert_failed(&out, "restore with MySQL killed");
    let staged = format!("{}__ab_new", M.db());
    assert_as_before(&case, "after MySQL was killed", Some(&staged));
}

/// (e) SIGINT while the object over 64 MiB is being uploaded (the first object loaded): the
/// indices, already replaced, and the objects must come back. (A bucket deleted after the
/// backup is the case of (f).)
#[test]
fn cancel_during_the_big_object_upload_leaves_dify_as_it_was() {
    let case = prepare(true, None, change_keeping_buckets);
    let mut child = case.env.spawn_restore(M, &case.archive);
    child.wait_phase("objects-load", Duration::from_secs(240));
    std::thread::sleep(Duration::from_millis(300));
    child.sigint();
    let out = child.finish(Duration::from_secs(300));
    assert_cancelled(&out, "restore cancelled during the big upload");
    assert_as_before(&case, "after a cancel during the big upload", None);
}

/// (f) SIGINT while objects are being loaded into `dify-many`, which the change deleted and
/// the restore recreated: what was uploaded there must not stay, nor the bucket.
#[test]
fn cancel_while_loading_into_a_recreated_bucket_leaves_dify_as_it_was() {
    let case = prepare(false, None, change);
    // Objects load in archive order: bucket by bucket (the whole buckets sorted, then the
    // prefixes), key by key. Wait until 40 objects of dify-many were read.
    let mut before_many = 0u64;
    let mut in_many = 0;
    for ((b, _), (size, _)) in &case.seeded.objects {
        if b.as_str() < seed::DIFY_MANY && b != seed::SHARED {
            before_many += size;
        } else if b == seed::DIFY_MANY && in_many < 40 {
            before_many += size;
            in_many += 1;
        }
    }
    let mut child = case.env.spawn_restore(M, &case.archive);
    child.wait_bytes("objects-load", before_many, Duration::from_secs(240));
    child.sigint();
    let out = child.finish(Duration::from_secs(300));
    assert_cancelled(&out, "restore cancelled while loading dify-many");
    assert_as_before(
        &case,
        "after a cancel while loading a recreated bucket",
        None,
    );
}

/// (g) SIGINT while the live objects are copied aside into the hold bucket.
#[test]
fn cancel_while_holding_the_live_objects_leaves_no_copies() {
    let case = prepare(false, None, change_lightly);
    let mut child = case.env.spawn_restore(M, &case.archive);
    child.wait_phase("objects-hold", Duration::from_secs(240));
    std::thread::sleep(Duration::from_millis(200));
    child.sigint();
    let out = child.finish(Duration::from_secs(300));
    assert_cancelled(&out, "restore cancelled while holding the objects");
    assert_as_before(&case, "after a cancel while holding the objects", None);
}

/// A garage object quota on a bucket, lifted when dropped (also on panic). Buckets created
/// through the S3 API have no global name in garage: its CLI takes their id.
struct Quota(String);

impl Quota {
    fn max_objects(bucket: &str, n: usize) -> Quota {
        let list = garage(&["bucket", "list"]);
        let id = list
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .last()
                    .is_some_and(|a| a.ends_with(&format!(":{bucket}")))
            })
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("bucket {bucket} not in garage's list:\n{list}"))
            .to_string();
        garage(&["bucket", "set-quotas", &id, "--max-objects", &n.to_string()]);
        Quota(id)
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        garage(&["bucket", "set-quotas", &self.0, "--max-objects", "none"]);
    }
}

/// `garage ARGS...` in the S3 server's container; its output.
fn garage(args: &[&str]) -> String {
    let argv: Vec<&str> = std::iter::once("garage")
        .chain(args.iter().copied())
        .collect();
    let out = common::docker::exec(multistore::MINIO, &[], &argv, b"");
    assert!(
        out.status.success(),
        "garage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (h) The S3 server refuses uploads midway: `dify-many` gets an object quota that the live
/// objects fit in but the archive's do not, so PutObject fails after the indices were replaced
/// and other buckets refilled. Everything must come back, the live objects included.
#[test]
fn s3_refusing_uploads_midway_leaves_dify_as_it_was() {
    let case = prepare(false, None, change_thinning_many);
    let live = s3::list(seed::DIFY_MANY, "").len();
    let archived = case
        .seeded
        .objects
        .keys()
        .filter(|(b, _)| b == seed::DIFY_MANY)
        .count();
    assert!(live + 100 < archived, "live {live}, archived {archived}");
    let quota = Quota::max_objects(seed::DIFY_MANY, live + 20);
    let out = case.env.restore(M, &case.archive);
    drop(quota);
    assert_failed(&out, "restore with S3 refusing uploads");
    eprintln!(
        "restore with S3 refusing uploads said: {}",
        out.last_json()["error"]
    );
    assert_as_before(&case, "after S3 refused uploads", None);
}

/// (i) The S3 server stops while the objects load: nothing can be put back into it. The
/// restore must fail saying the rollback is incomplete and where the previous objects are
/// held; a second restore must refuse to start (it would hold the partial objects over those
/// copies); every held copy must be there, byte for byte; the indices (on a server that still
/// answers) and the database must be as they were.
#[test]
fn s3_gone_midway_says_where_the_held_objects_are() {
    let case = prepare(true, None, change_keeping_buckets);
    let live: Vec<((String, String), s3::ObjectPrint)> = case
        .before
        .objects
        .iter()
        .filter(|((b, k), _)| seed::owns_object(M, b, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut child = case.env.spawn_restore(M, &case.archive);
    // The object over 64 MiB loads first: stop the server while it uploads.
    child.wait_bytes("objects-load", 8 << 20, Duration::from_secs(240));
    common::docker::kill(multistore::MINIO);
    let out = child.finish(Duration::from_secs(300));
    common::docker::start(multistore::MINIO);
    assert!(
        s3::wait_up(Duration::from_secs(120)),
        "the S3 server does not come back"
    );
    assert_failed(&out, "restore with the S3 server gone midway");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!("restore with S3 gone midway said: {error}");
    for needed in ["ROLLBACK INCOMPLETE", s3::HOLD_BUCKET, "dify/"] {
        assert!(
            error.contains(needed),
            "the error should say {needed:?}: {error}"
        );
    }
    // Restoring again would hold the (now partial) live objects over those copies: refused.
    let again = case.env.restore(M, &case.archive);
    again.assert_code(
        2,
        "a restore while the held copies of an earlier one remain",
    );
    let refusal = again.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for needed in [s3::HOLD_BUCKET, "dify/", "Nothing was changed"] {
        assert!(
            refusal.contains(needed),
            "the refusal should say {needed:?}: {refusal}"
        );
    }
    // Every previous object is held, with its bytes.
    let held = s3::objects(
        live.iter()
            .map(|((b, k), _)| (s3::HOLD_BUCKET.to_string(), format!("dify/{b}/{k}")))
            .collect(),
    );
    let mut wrong = Vec::new();
    for (((b, k), want), got) in live.iter().zip(&held) {
        if (got.size, &got.sha256) != (want.size, &want.sha256) {
            wrong.push(format!("{b}/{k}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "held copies differ: {:?}",
        &wrong[..wrong.len().min(10)]
    );
    let after = World::capture();
    let keep = |a: &multistore::fingerprint::About| {
        !matches!(a, multistore::fingerprint::About::Object(..))
    };
    assert_all(vec![compare(
        &case.before.pick(keep),
        &after.pick(keep),
        "databases and indices after S3 went away (- before, + after)",
    )]);
    multistore::assert_apps_running();
}

/// (j) A clone `<index>__ab_old` left by an earlier restore that could not put it back: a new
/// restore must refuse to start (holding again would overwrite it) and change nothing.
#[test]
fn a_held_index_left_by_an_earlier_restore_is_never_overwritten() {
    let case = prepare(false, None, change);
    let held = format!("{}{}", seed::DIFY_CHUNKS, es::HOLD_SUFFIX);
    es::create_index(&held, &json!({"settings": {"number_of_shards": 1}}));
    let out = case.env.restore(M, &case.archive);
    let exists = es::all_indices().contains(&held);
    es::delete_index(&held);
    out.assert_code(2, "restore beside a held index clone");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for needed in [held.as_str(), "Nothing was changed"] {
        assert!(
            error.contains(needed),
            "the refusal should say {needed:?}: {error}"
        );
    }
    assert!(exists, "the held clone {held} was removed");
    assert_as_before(&case, "after the refusal", None);
}

/// Ctrl-C in each phase before the swap that no other test interrupts: while the archive is
/// verified, while the live indices are cloned aside, while an index loads. Each ends as
/// "cancelled" with every store as it was.
#[test]
fn cancel_while_verifying_holding_the_indices_or_loading_an_index_leaves_dify_as_it_was() {
    for phase in ["verify", "indices-hold", "load index"] {
        let case = prepare(false, None, change_lightly);
        let mut child = case.env.spawn_restore(M, &case.archive);
        child.wait_for(phase, Duration::from_secs(240), |v| {
            v["event"] == "phase" && v["phase"].as_str().is_some_and(|p| p.starts_with(phase))
        });
        child.sigint();
        let out = child.finish(Duration::from_secs(300));
        assert_cancelled(&out, &format!("restore cancelled during {phase}"));
        assert_as_before(&case, &format!("after a cancel during {phase}"), None);
    }
}

/// (k) An app does not start after the swap (n8n, added to Dify's apps for the test, exits at
/// start): the restore puts Dify back in every store — database, objects and indices — and
/// starts the apps it stopped.
#[test]
fn an_app_that_fails_to_start_after_the_swap_puts_dify_back_in_every_store() {
    let case = prepare(false, None, change);
    let cfg = case.env.dir.path().join("n8n-in-dify.toml");
    let apps = format!(
        "[modules.dify]\napps = {:?}\nhealth = {{ url = \"http://127.0.0.1:5001/health\", timeout-secs = 8 }}\n",
        [multistore::DIFY_APPS, &[common::N8N_APP]].concat()
    );
    let modules = multistore::MODULES_TOML.replacen("[modules.dify]\n", &apps, 1);
    common::write_config(&cfg, &case.env.journal, &modules);
    common::docker::wait_http("http://127.0.0.1:5678/healthz", Duration::from_secs(60));
    let broken = common::broken::BrokenN8nStart::new();
    let out = common::bin::run(
        &cfg,
        &case.env.journal,
        &[
            "--json",
            "restore",
            M.id(),
            case.archive.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_failed(&out, "restore whose app does not start");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("health") && error.contains("put back"),
        "the error says the health check failed and the data was put back: {error}"
    );
    drop(broken);
    assert_as_before(&case, "after an app failed to start", None);
}

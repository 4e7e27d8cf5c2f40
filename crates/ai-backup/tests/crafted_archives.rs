//! Archives are data, never code. Each case rewrites a real Dify archive as its maker could —
//! the manifest recomputed, so `verify` finds it whole — and restores it. The restore must
//! refuse it before anything is touched (exit 2, the offending names in the error), and every
//! database, bucket and index of the stack must be as it was: an object record naming
//! RAGFlow's bucket or the tool's hold bucket, a scope naming another module's bucket, a
//! wildcard index name, a symlink entry, 100,000 tiny entries, a 1 GiB `objects.ndjson`.
//! The last two also check the restore's peak memory stays small.
//!
//! Run: `cargo test -p ai-backup --test crafted_archives -- --test-threads=1`.

mod common;
mod multistore;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::archive::{craft, edit_json};
use multistore::fingerprint::{assert_all, compare, World};
use multistore::seed;
use multistore::{Env, Module};

const M: Module = Module::Dify;

/// Dify and RAGFlow seeded, Dify backed up: the archive every case starts from.
fn prepare() -> (Env, PathBuf) {
    let env = multistore::setup();
    seed::seed(M.other());
    seed::seed_with(M, false, seed::DIFY_DOCS_SMALL);
    let archive = env.backup(M, "out");
    (env, archive)
}

/// The restore of `archive` is refused (exit 2) with `says` in its error, and nothing in the
/// stack changed. Returns the restore's peak RSS in KiB.
#[track_caller]
fn refused(env: &Env, archive: &Path, what: &str, says: &str) -> i64 {
    let before = World::capture();
    let (code, stdout, max_rss) = run_measured(env, archive);
    let result: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert_eq!(code, 2, "{what}: exit code; output:\n{stdout}");
    let error = result["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(says),
        "{what}: the error should say {says:?}: {error}"
    );
    let after = World::capture();
    assert_all(vec![compare(
        &before.all(),
        &after.all(),
        &format!("{what}: the stack (- before, + after)"),
    )]);
    multistore::assert_apps_running();
    max_rss
}

/// `restore --json --yes` of `archive`, with the child's exit code, output and peak RSS (KiB).
/// The peak is the child's own `VmHWM`, sampled until it exits (a rusage from `wait4` would
/// also count the test process's memory, which the child shares until it execs).
fn run_measured(env: &Env, archive: &Path) -> (i32, String, i64) {
    let mut cmd = common::bin::program();
    cmd.arg("--config")
        .arg(&env.config)
        .args(["--json", "restore", M.id()])
        .arg(archive)
        .arg("--yes")
        .env("XDG_DATA_HOME", env.dir.path().join("xdg-data"))
        .env("XDG_CONFIG_HOME", env.dir.path().join("xdg-config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn ai-backup");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).expect("stdout");
        out
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0i64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let out = reader.join().expect("stdout reader");
    (status.code().unwrap_or(-1), out, peak)
}

fn crafted(env: &Env, name: &str) -> PathBuf {
    env.subdir("crafted").join(format!("{name}.tar.gz"))
}

/// One more object: a line in `objects.ndjson` and its entry under `minio/`.
fn add_object(all: &mut Vec<(String, Vec<u8>)>, bucket: &str, key: &str) {
    let line = serde_json::json!({"bucket": bucket, "key": key, "size": 5, "meta": {}});
    let index = all
        .iter_mut()
        .find(|(n, _)| n == "objects.ndjson")
        .expect("objects.ndjson");
    index.1.extend_from_slice(format!("{line}\n").as_bytes());
    all.insert(
        all.len(),
        (format!("minio/{bucket}/{key}"), b"owned".to_vec()),
    );
}

#[test]
fn crafted_archives_are_refused_before_anything_is_touched() {
    let (env, archive) = prepare();

    let a = crafted(&env, "ragflow-object");
    craft(
        &archive,
        &a,
        |all| add_object(all, seed::KB_HANDBOOK, "planted.txt"),
        &[],
    );
    refused(
        &env,
        &a,
        "an object record in RAGFlow's bucket",
        seed::KB_HANDBOOK,
    );

    let a = crafted(&env, "hold-object");
    craft(
        &archive,
        &a,
        |all| add_object(all, "ai-backup-hold", "dify/dify-files/x"),
        &[],
    );
    refused(
        &env,
        &a,
        "an object record in the hold bucket",
        "ai-backup-hold",
    );

    let a = crafted(&env, "scope");
    craft(
        &archive,
        &a,
        |all| {
            edit_json(all, "metadata.json", |m| {
                let scope = m["objects"]["scope"].as_array_mut().unwrap();
                scope.push(serde_json::json!([seed::KB_NOTES, ""]));
            })
        },
        &[],
    );
    refused(&env, &a, "a scope naming RAGFlow's bucket", seed::KB_NOTES);

    let a = crafted(&env, "wildcard-index");
    craft(
        &archive,
        &a,
        |all| rename_index(all, seed::DIFY_CHUNKS, "dify-*"),
        &[],
    );
    refused(&env, &a, "a wildcard index name", "dify-*");

    let a = crafted(&env, "symlink");
    craft(
        &archive,
        &a,
        |_| {},
        &[("minio/dify-files/link", "/etc/passwd")],
    );
    refused(&env, &a, "a symlink entry", "link");
}

/// Rename an archived index (in the metadata and its entries).
fn rename_index(all: &mut [(String, Vec<u8>)], from: &str, to: &str) {
    edit_json(all, "metadata.json", |m| {
        let indices = m["indices"]["indices"].as_object_mut().unwrap();
        let count = indices.remove(from).expect("index in metadata");
        indices.insert(to.into(), count);
    });
    for (name, _) in all.iter_mut() {
        if let Some(rest) = name.strip_prefix(&format!("es/{from}/")) {
            *name = format!("es/{to}/{rest}");
        }
    }
}

/// 100,000 tiny entries, and an `objects.ndjson` of 1 GiB: refused with bounded memory.
#[test]
fn archives_too_large_for_their_kind_are_refused_with_bounded_memory() {
    let (env, archive) = prepare();

    let a = crafted(&env, "many-entries");
    craft(
        &archive,
        &a,
        |all| {
            let last = all.len();
            for i in 0..100_000 {
                all.insert(last, (format!("minio/dify-files/tiny/{i}"), vec![b'x']));
            }
        },
        &[],
    );
    let rss = refused(&env, &a, "100,000 tiny entries", "does not describe");
    eprintln!("[test] 100,000 entries: peak RSS {} MiB", rss / 1024);
    assert!(
        rss < 256 * 1024,
        "peak RSS {rss} KiB for 100,000 tiny entries"
    );

    let a = crafted(&env, "huge-index");
    craft(
        &archive,
        &a,
        |all| {
            let index = all
                .iter_mut()
                .find(|(n, _)| n == "objects.ndjson")
                .expect("objects.ndjson");
            let line = br#"{"bucket":"dify-files","key":"k","size":1,"meta":{}}"#;
            index.1.reserve(1 << 30);
            while index.1.len() < 1 << 30 {
                index.1.extend_from_slice(line);
                index.1.push(b'\n');
            }
        },
        &[],
    );
    let rss = refused(&env, &a, "a 1 GiB objects.ndjson", "objects.ndjson");
    eprintln!("[test] 1 GiB objects.ndjson: peak RSS {} MiB", rss / 1024);
    assert!(
        rss < 256 * 1024,
        "peak RSS {rss} KiB for a 1 GiB objects.ndjson"
    );
}

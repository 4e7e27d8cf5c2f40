//! A backup cancelled midway, whatever the way (SIGINT, SIGTERM, a `cancel` line on stdin):
//! it ends with exit 130 and the result object `{"success":false,"cancelled":true}`, leaves no
//! file, and the data and the apps are as they were.

use std::time::Duration;

use super::bin::Running;
use super::{db, docker, fp, Env, Module};

/// Rows of ~100 bytes that make dumping or loading take several seconds (more than the second
/// the tests wait before disturbing it) on a 2-core machine with a debug build.
pub fn big_rows(m: Module) -> u64 {
    match m {
        Module::N8n => 500_000,
        Module::OneApi => 300_000,
    }
}

/// Back up a big `m` with `extra` arguments, call `cancel` once the dump runs, and check
/// everything a user would: exit code, result object, no file, data and apps unchanged.
pub fn backup_cancelled(m: Module, extra: &[&str], how: &str, cancel: impl FnOnce(&mut Running)) {
    let env: Env = super::setup();
    db::seed(m);
    db::add_big_table(m, big_rows(m));
    let before = fp::module(m);
    let dir = env.subdir("out");
    let mut args = vec!["--json", "backup", m.id(), "-o", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut child = env.spawn(&args);
    child.wait_phase("dump", Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(600));
    cancel(&mut child);
    let out = child.finish(Duration::from_secs(60));
    out.assert_code(130, &format!("backup cancelled by {how}"));
    assert_eq!(
        out.last_json(),
        serde_json::json!({"success": false, "cancelled": true}),
        "result object of a backup cancelled by {how}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "a cancelled backup left files: {left:?}");
    docker::assert_apps_running();
    fp::assert_same(&before, &fp::module(m), "data after a cancelled backup");
    db::seed(m);
}

//! Encrypted archives through the real binary and the real stack: an n8n backup with
//! `--encrypt` (the passphrase from the environment) round-trips exactly, plain `tar` cannot
//! read it, and a wrong passphrase or one changed byte is refused (exit 2) before anything is
//! touched.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, db, docker, fp, Env, Module};

const PASSPHRASE: &str = "correct horse battery staple";
const ENV_VAR: &str = "AI_BACKUP_PASSPHRASE";

fn run_with_passphrase(env: &Env, passphrase: &str, args: &[&str]) -> bin::Out {
    bin::run_env(&env.config, &env.journal, args, &[(ENV_VAR, passphrase)])
}

/// `backup n8n --encrypt` into a new folder; the archive's path.
fn encrypted_backup(env: &Env) -> PathBuf {
    let dir = env.subdir("out");
    let args = [
        "--json",
        "backup",
        "n8n",
        "--encrypt",
        "-o",
        dir.to_str().unwrap(),
    ];
    let out = run_with_passphrase(env, PASSPHRASE, &args);
    out.assert_code(0, "backup --encrypt");
    let path = out.result_path();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("n8n-backup-") && name.ends_with(".tar.gz.age"),
        "archive name {name}"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "an age file");
    assert!(
        !out.text().contains(PASSPHRASE),
        "the passphrase is never printed"
    );
    path
}

fn restore_args(archive: &Path) -> Vec<&str> {
    vec![
        "--json",
        "restore",
        "n8n",
        archive.to_str().unwrap(),
        "--yes",
    ]
}

#[test]
fn n8n_encrypted_backup_round_trips_and_a_wrong_passphrase_is_refused() {
    let env = common::setup();
    db::seed(Module::N8n);
    let seeded = fp::module(Module::N8n);
    let others = fp::others(Module::N8n);
    let archive = encrypted_backup(&env);

    let tar = std::process::Command::new("tar")
        .arg("tzf")
        .arg(&archive)
        .output()
        .expect("run tar");
    assert!(!tar.status.success(), "plain tar must not read it");

    let file = archive.to_str().unwrap();
    let out = run_with_passphrase(&env, "not the passphrase", &["verify", file]);
    out.assert_code(2, "verify with a wrong passphrase");
    assert!(out.stderr.contains("passphrase is wrong"), "{}", out.stderr);
    let out = env.run(&["verify", file]);
    out.assert_code(2, "verify without a passphrase");
    assert!(out.stderr.contains("encrypted"), "{}", out.stderr);
    run_with_passphrase(&env, PASSPHRASE, &["verify", file]).assert_code(0, "verify");

    common::write_more(Module::N8n);
    let changed = fp::module(Module::N8n);
    let out = run_with_passphrase(&env, "not the passphrase", &restore_args(&archive));
    out.assert_code(2, "restore with a wrong passphrase");
    fp::assert_same(&changed, &fp::module(Module::N8n), "a refused restore");

    let out = run_with_passphrase(&env, PASSPHRASE, &restore_args(&archive));
    out.assert_code(0, "restore of the encrypted archive");
    assert_eq!(out.last_json(), serde_json::json!({"success": true}));
    fp::assert_same(&seeded, &fp::module(Module::N8n), "encrypted round trip");
    fp::assert_same(&others, &fp::others(Module::N8n), "other databases");
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    docker::assert_apps_running();
}

#[test]
fn an_encrypted_archive_with_one_flipped_byte_is_refused_before_anything_is_touched() {
    let env = common::setup();
    db::seed(Module::N8n);
    let archive = encrypted_backup(&env);
    let mut bytes = std::fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let bad = env.path("flipped.tar.gz.age");
    std::fs::write(&bad, &bytes).unwrap();

    common::write_more(Module::N8n);
    let before = fp::module(Module::N8n);
    let others = fp::others(Module::N8n);
    let out = run_with_passphrase(&env, PASSPHRASE, &restore_args(&bad));
    out.assert_code(2, "restore of an altered archive");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("refused") && error.contains("altered"),
        "{error}"
    );
    let out = run_with_passphrase(&env, PASSPHRASE, &["verify", bad.to_str().unwrap()]);
    out.assert_code(2, "verify of an altered archive");

    fp::assert_same(&before, &fp::module(Module::N8n), "the live data");
    fp::assert_same(&others, &fp::others(Module::N8n), "other databases");
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    docker::assert_apps_running();
}

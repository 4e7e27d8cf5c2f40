//! n8n's encryption key travels with the backup. A restore onto an n8n whose key differs fails
//! before touching anything (the restored credentials could not be decrypted), unless the user
//! asks to put the archived key in place with --restore-secrets.

mod common;

use std::time::Duration;

use common::{archive, db, docker, fp, Module};

const CONFIG: &str = "/home/node/.n8n/config";
const ENTRY: &str = "secrets/n8n-encryption-key";

/// The `encryptionKey` in the n8n container's config file.
fn live_key() -> String {
    let out = docker::docker(&["exec", common::N8N_APP, "cat", CONFIG]);
    assert!(
        out.status.success(),
        "cannot read {CONFIG} in the n8n container"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("config is JSON");
    v["encryptionKey"]
        .as_str()
        .expect("config has encryptionKey")
        .to_string()
}

/// Replace the config file (as n8n would have written it), the key through stdin only.
fn set_live_key(key: &str) {
    let body = serde_json::to_vec_pretty(&serde_json::json!({ "encryptionKey": key })).unwrap();
    let out = docker::exec(
        common::N8N_APP,
        &[],
        &["sh", "-c", &format!("cat > {CONFIG}")],
        &body,
    );
    assert!(out.status.success(), "cannot write {CONFIG}");
}

fn file_owner() -> String {
    let out = docker::docker(&["exec", common::N8N_APP, "stat", "-c", "%u:%g %a", CONFIG]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn n8n_restore_onto_another_encryption_key_fails_unless_restore_secrets_is_given() {
    let env = common::setup();
    db::seed(Module::N8n);
    let archived_fp = fp::module(Module::N8n);
    let original_key = live_key();
    let owner = file_owner();
    let backup = env.backup(Module::N8n, "out");

    // The archive carries the key, and only under secrets/.
    let carried = archive::entry(&backup, ENTRY).expect("the archive carries the key");
    assert!(
        carried == original_key.as_bytes(),
        "the archived key is not the container's key"
    );
    let meta = archive::metadata(&backup);
    assert_eq!(meta["secrets"][0]["name"], "n8n-encryption-key", "{meta}");
    assert_eq!(meta["secrets"][0]["source"], format!("file:{CONFIG}"));
    assert!(
        !meta.to_string().contains(&original_key),
        "metadata.json must not hold the key"
    );

    // The target n8n now has another key.
    let other_key = format!("ab-test-key-{}", std::process::id());
    set_live_key(&other_key);
    common::write_more(Module::N8n);
    let before = fp::module(Module::N8n);
    let others = fp::others(Module::N8n);

    let file = backup.to_str().unwrap();
    let out = env.run(&["restore", "n8n", file, "--yes"]);
    out.assert_code(1, "restore onto a different encryption key");
    for needed in ["Credentials could not be decrypted", "--restore-secrets"] {
        assert!(
            out.stderr.contains(needed),
            "the error should mention {needed:?}: {}",
            out.stderr
        );
    }
    assert!(
        !out.text().contains(&original_key) && !out.text().contains(&other_key),
        "the error must not show the keys"
    );
    let out = env.run(&["--json", "restore", "n8n", file, "--yes"]);
    out.assert_code(1, "restore --json onto a different encryption key");
    let result = out.last_json();
    assert_eq!(result["success"], false, "{result}");
    assert!(
        result["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Credentials could not be decrypted"),
        "{result}"
    );
    fp::assert_same(
        &before,
        &fp::module(Module::N8n),
        "live data after the refusal",
    );
    assert!(
        live_key() == other_key,
        "the key was changed by a refused restore"
    );
    assert!(
        !env.journal.exists(),
        "nothing destructive may be logged before the secret check"
    );
    assert_eq!(db::leftovers(), vec![]);
    docker::assert_apps_running();

    // With --restore-secrets: the data and the key come back, and n8n runs with them.
    let out = env.restore_ok_args(&env.config, Module::N8n, &backup, &["--restore-secrets"]);
    assert!(
        out.stdout
            .contains("put the archived n8n-encryption-key in place"),
        "the restore should say it put the key in place:\n{}",
        out.stdout
    );
    assert!(
        !out.text().contains(&original_key) && !out.text().contains(&other_key),
        "the output must not show the keys"
    );
    assert!(
        live_key() == original_key,
        "the archived key was not put in place"
    );
    assert_eq!(file_owner(), owner, "owner and mode of {CONFIG}");
    fp::assert_same(&archived_fp, &fp::module(Module::N8n), "restored data");
    fp::assert_same(&others, &fp::others(Module::N8n), "other databases");
    assert_eq!(db::leftovers(), vec![]);
    docker::assert_apps_running();
    assert!(
        docker::wait_http("http://127.0.0.1:5678/healthz", Duration::from_secs(30)),
        "n8n answers its health check with the archived key"
    );
}

#[test]
fn n8n_restore_with_the_same_key_leaves_the_key_file_alone() {
    let env = common::setup();
    db::seed(Module::N8n);
    let key = live_key();
    let backup = env.backup(Module::N8n, "out");
    let stat = |what: &str| {
        let out = docker::docker(&["exec", common::N8N_APP, "stat", "-c", what, CONFIG]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (inode_before, mtime_before) = (stat("%i"), stat("%Y"));
    common::write_more(Module::N8n);
    let out = env.restore_ok(Module::N8n, &backup);
    assert!(
        !out.stdout.contains("put the archived"),
        "no secret should be written when the keys match: {}",
        out.stdout
    );
    assert!(live_key() == key);
    assert_eq!((stat("%i"), stat("%Y")), (inode_before, mtime_before));
    docker::assert_apps_running();
}

/// Undoing a secret written where there was no file removes the file again, even in a stopped
/// container (a restore keeps the apps stopped while it undoes): nothing of the archived key
/// is left behind.
#[test]
fn undoing_a_secret_written_where_there_was_none_removes_the_file() {
    use ai_backup_core::config::{DockerConfig, SecretConfig};
    use ai_backup_core::docker::DockerClient;
    let _env = common::setup();
    let path = "/home/node/.n8n/ai-backup-test-secret";
    let spec = SecretConfig {
        name: "test-secret".into(),
        container: common::N8N_APP.into(),
        env: None,
        file: Some(path.into()),
        json_field: None,
        consequence: None,
    };
    let stopped = docker::docker(&["stop", common::N8N_APP]);
    assert!(stopped.status.success(), "stop n8n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (written, found, after) = rt.block_on(async {
        let d = DockerClient::connect(&DockerConfig::default())
            .await
            .unwrap();
        let previous = ai_backup_core::secrets::write(&d, &spec, "value", "n8n").await;
        let found = d.read_file(&spec.container, path).await.unwrap();
        let back = ai_backup_core::secrets::put_back(&d, &spec, &None).await;
        let after = d.read_file(&spec.container, path).await.unwrap();
        (
            previous.map(|p| (p, back.map_err(|e| e.to_string()))),
            found,
            after,
        )
    });
    let _ = docker::docker(&["start", common::N8N_APP]);
    docker::wait_http("http://127.0.0.1:5678/healthz", Duration::from_secs(60));
    let (previous, back) = written.expect("write the secret");
    assert_eq!(previous, None, "there was no file before");
    assert_eq!(
        found.as_deref(),
        Some(&b"value"[..]),
        "the file was written"
    );
    back.expect("put back");
    assert_eq!(after, None, "the file is gone after the undo");
}

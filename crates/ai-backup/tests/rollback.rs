//! A failure after the swap: the app does not come up healthy with the restored data, so the
//! restore must swap the previous database back. Provoked with the n8n stand-in, which exits
//! at start when it cannot read its config file (made root-owned while it runs; it reads the
//! file only at start, and ai-backup reads it as root, so the key check still passes).

mod common;

use std::time::Duration;

use common::broken::BrokenN8nStart;
use common::{db, docker, fp, Module};

/// `backup_just_before`: take a backup (of a database big enough for the dump to outlast
/// Docker's 2 s health interval) right before the restore, as the confirmation prompt
/// suggests; otherwise wait until Docker reports the apps healthy again.
fn unhealthy_after_swap_rolls_back(m: Module, backup_just_before: bool) {
    let env = common::setup();
    // n8n (an app of both modules here) must come up within 8 s or the restore is undone.
    let cfg = env.path("rollback.toml");
    common::write_config(
        &cfg,
        &env.journal,
        "[modules.n8n.health]\ntimeout-secs = 8\n\
         [modules.oneapi]\napps = [\"ai-server-oneapi\", \"ai-server-n8n\"]\n\
         [modules.oneapi.health]\ntimeout-secs = 8\n",
    );
    db::seed(m);
    let backup = env.backup_with(&cfg, m, "out");
    common::put_other_content(m);
    if backup_just_before {
        db::add_big_table(m, 100_000);
    } else {
        for app in [common::N8N_APP, common::ONEAPI_APP] {
            assert!(
                docker::wait_healthy(app, Duration::from_secs(30)),
                "{app} healthy"
            );
        }
    }
    let before = fp::module(m);
    let others = fp::others(m);

    let broken = BrokenN8nStart::new();
    if backup_just_before {
        env.backup_with(&cfg, m, "just-before");
    }
    let out = env.run_with(
        &cfg,
        &[
            "--json",
            "restore",
            m.id(),
            backup.to_str().unwrap(),
            "--yes",
        ],
    );
    out.assert_code(1, "restore whose app does not come up");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("health") && error.contains("put back"),
        "the error should say the health check failed and the data was put back: {error}"
    );
    fp::assert_same(&before, &fp::module(m), "live data after the rollback");
    fp::assert_same(
        &others,
        &fp::others(m),
        "other databases after the rollback",
    );
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    let journal = std::fs::read_to_string(&env.journal).unwrap_or_default();
    assert!(
        journal.contains("\"rollback\""),
        "the rollback is logged:\n{journal}"
    );
    drop(broken);
    docker::assert_apps_running();
    db::seed(m);
}

#[test]
fn n8n_restore_whose_app_fails_its_health_check_puts_the_previous_database_back() {
    unhealthy_after_swap_rolls_back(Module::N8n, false);
}

/// The sequence the confirmation prompt suggests: a backup, then at once the restore. The
/// backup's pause leaves Docker's health status "unhealthy" for a moment; the restore must
/// still know that the app was fine before, and undo a restore that breaks it.
#[test]
fn n8n_restore_right_after_a_backup_still_puts_the_previous_database_back_when_the_app_fails() {
    unhealthy_after_swap_rolls_back(Module::N8n, true);
}

#[test]
fn oneapi_restore_whose_app_fails_its_health_check_puts_the_previous_database_back() {
    unhealthy_after_swap_rolls_back(Module::OneApi, false);
}

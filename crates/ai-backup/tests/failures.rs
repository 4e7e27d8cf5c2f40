//! Things going wrong in the middle: the database container killed during a restore; Ctrl-C
//! (SIGINT), SIGTERM or a `cancel` line on stdin during a backup; Ctrl-C during a restore. The
//! live data must stay as it was, no file or database may be left behind, and the apps must run
//! again, unpaused.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cancel::{backup_cancelled, big_rows};
use common::{db, docker, fp, Env, Module};

/// The seeded database plus a big table, backed up; then changed, so that "as it was" and
/// "as archived" differ. Returns the archive and the fingerprint of what it holds.
fn big_archive(env: &Env, m: Module) -> (PathBuf, fp::Fingerprint) {
    db::seed(m);
    db::add_big_table(m, big_rows(m));
    let archived = fp::module(m);
    let archive = env.backup(m, "out");
    common::write_more(m);
    (archive, archived)
}

/// Start `restore --json --yes` and wait until it loads the dump.
fn restore_until_load(env: &Env, m: Module, archive: &std::path::Path) -> common::bin::Running {
    let mut child = env.spawn(&[
        "--json",
        "restore",
        m.id(),
        archive.to_str().unwrap(),
        "--yes",
    ]);
    child.wait_phase("load", Duration::from_secs(180));
    std::thread::sleep(Duration::from_secs(1));
    child
}

fn db_container_dies_during_restore(m: Module) {
    let env = common::setup();
    let (archive, archived) = big_archive(&env, m);
    if m.engine() == common::Engine::Pg {
        // Postgres logs sequence values 32 ahead and jumps there when it recovers from a
        // crash; a checkpoint makes the sequences' current state the one recovery sees.
        db::pg(m.db(), "CHECKPOINT;");
    }
    let before = fp::module(m);
    let others = fp::others(m);

    let child = restore_until_load(&env, m, &archive);
    docker::kill(m.engine().container());
    let out = child.finish(Duration::from_secs(240));
    out.assert_code(1, "restore while the DB container is killed");
    eprintln!(
        "restore with the DB killed said: {}",
        out.stdout.lines().last().unwrap_or_default()
    );
    let result = out.last_json();
    assert_eq!(result["success"], false, "{result}");
    assert!(result["error"].is_string(), "{result}");

    docker::start(m.engine().container());
    assert!(
        db::wait_ready(m.engine(), Duration::from_secs(120)),
        "{} does not accept connections after a restart",
        m.engine().container()
    );
    fp::assert_same(
        &before,
        &fp::module(m),
        "live data after the DB container died",
    );
    assert!(
        docker::is_running(m.app()),
        "{} must run again after the failed restore",
        m.app()
    );

    // A normal restore afterwards succeeds, and cleans up what the killed one left.
    env.restore_ok(m, &archive);
    fp::assert_same(&archived, &fp::module(m), "restore after the DB came back");
    fp::assert_same(&others, &fp::others(m), "other databases");
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    docker::assert_apps_running();
    db::seed(m); // the big table would slow down the fingerprints of later tests
}

#[test]
fn n8n_db_container_killed_during_restore_leaves_the_live_database_as_it_was() {
    db_container_dies_during_restore(Module::N8n);
}

#[test]
fn oneapi_db_container_killed_during_restore_leaves_the_live_database_as_it_was() {
    db_container_dies_during_restore(Module::OneApi);
}

#[test]
fn n8n_backup_cancelled_by_sigint_leaves_no_file_and_apps_running() {
    backup_cancelled(Module::N8n, &[], "SIGINT", |c| c.sigint());
}

#[test]
fn oneapi_backup_cancelled_by_sigint_leaves_no_file_and_apps_running() {
    backup_cancelled(Module::OneApi, &[], "SIGINT", |c| c.sigint());
}

fn cancel_during_restore(m: Module) {
    let env = common::setup();
    let (archive, _) = big_archive(&env, m);
    let before = fp::module(m);
    let others = fp::others(m);

    let child = restore_until_load(&env, m, &archive);
    child.sigint();
    let out = child.finish(Duration::from_secs(120));
    out.assert_code(130, "restore cancelled by SIGINT");
    assert_eq!(
        out.last_json(),
        serde_json::json!({"success": false, "cancelled": true}),
        "result object of a cancelled restore"
    );
    fp::assert_same(
        &before,
        &fp::module(m),
        "live data after a cancelled restore",
    );
    fp::assert_same(&others, &fp::others(m), "other databases");
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    docker::assert_apps_running();
    db::seed(m);
}

#[test]
fn n8n_restore_cancelled_by_sigint_leaves_the_live_database_as_it_was() {
    cancel_during_restore(Module::N8n);
}

#[test]
fn oneapi_restore_cancelled_by_sigint_leaves_the_live_database_as_it_was() {
    cancel_during_restore(Module::OneApi);
}

/// The app is unpaused by someone else while the backup dumps. Whatever the tool decides, it
/// must be consistent: success with a good archive, or failure with no file left behind.
#[test]
fn backup_either_succeeds_with_its_archive_or_leaves_no_file_when_the_app_was_unpaused_meanwhile() {
    let env = common::setup();
    let m = Module::N8n;
    db::seed(m);
    db::add_big_table(m, big_rows(m) / 5);
    let dir = env.subdir("out");
    let mut child = env.spawn(&["--json", "backup", m.id(), "-o", dir.to_str().unwrap()]);
    child.wait_phase("dump", Duration::from_secs(120));
    assert_eq!(
        docker::state(m.app()),
        Some((true, true)),
        "paused during the dump"
    );
    let un = docker::docker(&["unpause", m.app()]);
    assert!(un.status.success(), "docker unpause");
    let out = child.finish(Duration::from_secs(120));
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    if out.code == 0 {
        let path = out.result_path();
        assert_eq!(left, vec![path.clone()]);
        env.run(&["verify", path.to_str().unwrap()])
            .assert_code(0, "verify");
    } else {
        assert_eq!(out.last_json()["success"], false);
        assert!(
            left.is_empty(),
            "the backup reported failure ({}) but left {left:?}",
            out.stdout.lines().last().unwrap_or_default()
        );
    }
    docker::assert_apps_running();
}

/// An archive whose dump does not hold what its statistics say (one table's row count off by
/// one, every checksum consistent): the check after loading catches it, before the swap.
#[test]
fn restore_whose_dump_differs_from_its_recorded_statistics_fails_and_changes_nothing() {
    let env = common::setup();
    for (m, table) in [
        (Module::N8n, "public.settings"),
        (Module::OneApi, "options"),
    ] {
        db::seed(m);
        let backup = env.backup(m, m.id());
        let off = env.path(&format!("{}-stats-off.tar.gz", m.id()));
        common::archive::rewrite_metadata(&backup, &off, |meta| {
            let rows = &mut meta["db"]["stats"]["tables"][table];
            let n = rows.as_u64().expect("row count recorded");
            *rows = (n + 1).into();
        });
        env.run(&["verify", off.to_str().unwrap()])
            .assert_code(0, "verify (the checksums are consistent)");
        common::write_more(m);
        let before = fp::module(m);
        let out = env.run(&["--json", "restore", m.id(), off.to_str().unwrap(), "--yes"]);
        out.assert_code(1, "restore of a dump that differs from its statistics");
        let error = out.last_json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            error.contains(table) && error.contains("differs"),
            "the error should name the table that differs: {error}"
        );
        fp::assert_same(&before, &fp::module(m), "live data after the failed check");
        assert_eq!(db::leftovers(), vec![], "databases left behind");
        docker::assert_apps_running();
    }
}

#[test]
fn oneapi_backup_cancelled_by_sigterm_leaves_no_file_and_apps_running() {
    backup_cancelled(Module::OneApi, &[], "SIGTERM", |c| c.signal(libc::SIGTERM));
}

/// The desktop app's way on Windows, where a child cannot be sent a signal.
#[test]
fn n8n_backup_cancelled_by_a_cancel_line_on_stdin_leaves_no_file_and_apps_running() {
    backup_cancelled(Module::N8n, &["--cancel-on-stdin"], "a cancel line", |c| {
        c.send_line("cancel")
    });
}

/// One job per module across processes: a second backup or a restore of n8n started while a
/// backup of it runs is refused at once (exit 2, nothing changed, no file), and the first
/// ends well.
#[test]
fn a_second_job_on_a_module_is_refused_while_one_runs_in_another_process() {
    let env = common::setup();
    let m = Module::N8n;
    db::seed(m);
    db::add_big_table(m, big_rows(m));
    let before = fp::module(m);
    let (first_dir, second_dir) = (env.subdir("first"), env.subdir("second"));
    let mut first = env.spawn(&[
        "--json",
        "backup",
        m.id(),
        "-o",
        first_dir.to_str().unwrap(),
    ]);
    first.wait_phase("dump", Duration::from_secs(120));
    let second = env.run(&[
        "--json",
        "backup",
        m.id(),
        "-o",
        second_dir.to_str().unwrap(),
    ]);
    assert_busy(&second, "backup", "a second backup while one runs");
    assert_eq!(
        std::fs::read_dir(&second_dir).unwrap().count(),
        0,
        "no second file"
    );
    let restore = env.run(&["--json", "restore", m.id(), "/nonexistent.tar.gz", "--yes"]);
    restore.assert_code(2, "a restore while a backup runs");
    assert!(restore
        .text()
        .contains("another backup or restore of n8n is running"));
    let out = first.finish(Duration::from_secs(240));
    out.assert_code(0, "the first backup");
    assert!(out.result_path().is_file());
    fp::assert_same(&before, &fp::module(m), "data after both");
    db::seed(m);
}

/// The database container killed while the dump streams into the archive: the backup fails
/// (exit 1) with a plain error, leaves no file (not even the partial one), and the app it
/// paused runs again, unpaused.
#[test]
fn n8n_db_container_killed_during_backup_leaves_no_archive_and_the_app_running() {
    let env = common::setup();
    let m = Module::N8n;
    db::seed(m);
    db::add_big_table(m, big_rows(m));
    let dir = env.subdir("out");
    let mut child = env.spawn(&["--json", "backup", m.id(), "-o", dir.to_str().unwrap()]);
    child.wait_phase("dump", Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    docker::kill(m.engine().container());
    let out = child.finish(Duration::from_secs(240));
    out.assert_code(1, "backup while the DB container is killed");
    let result = out.last_json();
    assert_eq!(result["success"], false, "{result}");
    assert!(
        result["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{result}"
    );
    common::assert_failed_backup_left_nothing(&dir, m.app());
    docker::start(m.engine().container());
    assert!(
        db::wait_ready(m.engine(), Duration::from_secs(120)),
        "the DB is back"
    );
    db::seed(m);
}

/// Two restores of one module at once: the second is refused at once (exit 2) and leaves the
/// first one's staging database alone; the first ends with the archived data.
#[test]
fn a_second_restore_of_a_module_is_refused_while_one_runs() {
    let env = common::setup();
    let m = Module::N8n;
    let (archive, archived) = big_archive(&env, m);
    let first = restore_until_load(&env, m, &archive);
    let second = env.run(&[
        "--json",
        "restore",
        m.id(),
        archive.to_str().unwrap(),
        "--yes",
    ]);
    assert_busy(&second, "restore", "a second restore while one runs");
    let out = first.finish(Duration::from_secs(300));
    out.assert_code(0, "the first restore");
    fp::assert_same(&archived, &fp::module(m), "n8n after the first restore");
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    docker::assert_apps_running();
    db::seed(m);
}

/// A job refused because another one of n8n runs (`held_by`: what that one is): exit 2, and
/// the error says so and who holds the module.
#[track_caller]
fn assert_busy(out: &common::bin::Out, held_by: &str, what: &str) {
    out.assert_code(2, what);
    let said = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        said.contains("another backup or restore of n8n is running")
            && said.contains(&format!("{held_by} by process")),
        "{what}: {said}"
    );
}

/// A cancel after the commit point (the database swapped in, the app starting) does not undo a
/// restore that is finishing: it ends with the archived data and exit 0, and says the cancel
/// came too late, never "cancelled" over data that was replaced.
#[test]
fn a_cancel_while_the_app_starts_after_the_swap_finishes_the_restore() {
    let env = common::setup();
    let m = Module::N8n;
    db::seed(m);
    let archived = fp::module(m);
    let archive = env.backup(m, "out");
    common::write_more(m);
    let mut child = env.spawn(&[
        "--json",
        "restore",
        m.id(),
        archive.to_str().unwrap(),
        "--yes",
    ]);
    child.wait_phase("start-apps", Duration::from_secs(120));
    child.sigint();
    let out = child.finish(Duration::from_secs(240));
    out.assert_code(0, "a restore cancelled after its commit point");
    assert_eq!(out.last_json()["success"], true, "{}", out.stdout);
    assert!(
        out.text().contains("after the new data was committed"),
        "the outcome says the cancel came too late: {}",
        out.text()
    );
    fp::assert_same(&archived, &fp::module(m), "data after the late cancel");
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    docker::assert_apps_running();
}

//! A restore whose process dies: killed with SIGKILL at each step boundary (the restore is
//! stopped there by `AI_BACKUP_TEST_PAUSE_AT`) and in the middle of its longest steps. Until
//! `ai-backup recover` has run, every other job on the module is refused with that command;
//! after it, every store holds either exactly the previous data (killed before the swap) or
//! exactly the archived data (killed after it), row by row, object by object and document by
//! document, nothing else changed, no leftover anywhere, and the apps run.

mod common;
mod multistore;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::bin::Running;
use common::{db, docker, fp};
use multistore::fingerprint::{assert_all, assert_changed, compare, World};
use multistore::seed;

const PAUSE: &str = "AI_BACKUP_TEST_PAUSE_AT";

/// Where the restore keeps its state (the tests give each run its own data directory).
fn state_file(journal: &Path, module: &str) -> PathBuf {
    journal
        .parent()
        .unwrap()
        .join("xdg-data/ai-backup/state")
        .join(format!("{module}.restore.json"))
}

fn state_step(journal: &Path, module: &str) -> Option<String> {
    let text = std::fs::read_to_string(state_file(journal, module)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["step"].as_str().map(str::to_string)
}

/// Start a restore paused at `step` (or not paused), wait for `ready`, then SIGKILL it.
fn kill_restore(
    spawn: impl FnOnce() -> Running,
    pause: Option<&str>,
    ready: impl FnOnce(&mut Running),
) {
    match pause {
        Some(step) => std::env::set_var(PAUSE, step),
        None => std::env::remove_var(PAUSE),
    }
    let mut child = spawn();
    std::env::remove_var(PAUSE);
    ready(&mut child);
    child.signal(libc::SIGKILL);
    let out = child.finish(Duration::from_secs(30));
    assert_eq!(out.code, -1, "killed by a signal: {out:?}");
}

fn wait_step(journal: &Path, module: &str, step: &str) {
    let reached = common::poll_until(Duration::from_secs(180), Duration::from_millis(100), || {
        state_step(journal, module).as_deref() == Some(step)
    });
    assert!(reached, "the restore never reached step {step}");
    // Paused there: give it a moment to be well inside the pause.
    std::thread::sleep(Duration::from_millis(300));
}

/// While the state is there, jobs on the module are refused with the command to run; then
/// `recover` ends it and says which way.
fn refused_then_recovered(
    run: impl Fn(&[&str]) -> common::bin::Out,
    journal: &Path,
    module: &str,
    dir: &Path,
    expect: &str,
) {
    assert!(
        state_file(journal, module).is_file(),
        "the dead restore left its state"
    );
    let out = run(&["--json", "backup", module, "-o", dir.to_str().unwrap()]);
    out.assert_code(2, "a backup while a restore awaits recovery");
    assert!(
        out.text().contains(&format!("ai-backup recover {module}")),
        "{}",
        out.text()
    );
    let out = run(&["recover", module]);
    out.assert_code(0, "recover");
    assert!(
        out.text().contains(expect),
        "recover should say {expect:?}: {}",
        out.text()
    );
    assert!(
        !state_file(journal, module).exists(),
        "recover clears the state"
    );
    let again = run(&["recover", module]);
    again.assert_code(0, "recover again");
    assert!(
        again.text().contains("no interrupted restore"),
        "{}",
        again.text()
    );
}

/// After a kill at `step` of a restore of `m`: jobs are refused until `recover` runs, which
/// reaches the expected end (`forward`: the archived data), and then the module holds exactly
/// `want`, no staged or held database is left, and the apps run.
fn recovered_to(
    env: &common::Env,
    m: common::Module,
    dir: &Path,
    step: &str,
    forward: bool,
    want: &fp::Fingerprint,
) {
    let expect = if forward { "finished" } else { "undone" };
    refused_then_recovered(|args| env.run(args), &env.journal, m.id(), dir, expect);
    fp::assert_same(
        want,
        &fp::module(m),
        &format!("{} after a kill at {step:?}", m.id()),
    );
    assert_eq!(
        db::leftovers(),
        vec![],
        "leftover databases after a kill at {step:?}"
    );
    docker::assert_apps_running();
}

#[test]
fn n8n_restore_killed_at_each_step_is_recovered_to_the_previous_or_the_archived_data() {
    let env = common::setup();
    let m = common::Module::N8n;
    db::seed(m);
    let archived = fp::module(m);
    let archive = env.backup(m, "out");
    let a = archive.to_str().unwrap().to_string();
    let dir = env.subdir("refused");
    let restore = || env.spawn(&["--json", "restore", "n8n", &a, "--yes"]);
    common::write_more(m);
    let steps = [
        ("staging", false),
        ("loading", false),
        ("swapping", false),
        ("swapped", true),
    ];
    for (step, forward) in steps {
        eprintln!("[test] kill at {step:?}");
        let previous = fp::module(m);
        if step.is_empty() {
            // In the middle of the load.
            kill_restore(restore, None, |c| {
                c.wait_phase("load", Duration::from_secs(120));
                std::thread::sleep(Duration::from_millis(500));
            });
        } else {
            kill_restore(restore, Some(step), |_| {
                wait_step(&env.journal, "n8n", step)
            });
        }
        let want = if forward { &archived } else { &previous };
        recovered_to(&env, m, &dir, step, forward, want);
    }
    db::seed(m);
}

/// Killed in the middle of loading a dump that takes seconds to load.
#[test]
fn n8n_restore_killed_in_the_middle_of_the_load_is_recovered_to_the_previous_data() {
    let env = common::setup();
    let m = common::Module::N8n;
    db::seed(m);
    db::add_big_table(m, common::cancel::big_rows(m));
    let archive = env.backup(m, "out");
    common::write_more(m);
    let previous = fp::module(m);
    let a = archive.to_str().unwrap().to_string();
    let restore = || env.spawn(&["--json", "restore", "n8n", &a, "--yes"]);
    kill_restore(restore, None, |c| {
        c.wait_phase("load", Duration::from_secs(120));
        std::thread::sleep(Duration::from_secs(1));
        // The dump loads beside the live database while the archive is verified: the app
        // is stopped only once the archive is proved.
        docker::assert_apps_running();
    });
    let dir = env.subdir("refused");
    refused_then_recovered(|args| env.run(args), &env.journal, "n8n", &dir, "undone");
    fp::assert_same(
        &previous,
        &fp::module(m),
        "n8n after a kill during the load",
    );
    assert_eq!(db::leftovers(), vec![], "leftover databases");
    docker::assert_apps_running();
    db::seed(m);
}

#[test]
fn dify_restore_killed_at_each_step_is_recovered_in_every_store() {
    let env = multistore::setup();
    let m = multistore::Module::Dify;
    seed::seed(m.other());
    seed::seed(m);
    let archive = env.backup(m, "out");
    let archived = World::capture();
    let a = archive.to_str().unwrap().to_string();
    let dir = env.subdir("refused");
    let restore = || env.spawn(&["--json", "restore", "dify", &a, "--yes"]);
    let steps = [
        ("staging", false),
        ("indices-holding", false),
        ("objects-holding", false),
        ("loading", false),
        ("load", false),
        ("indices-replacing", false),
        ("objects-replacing", false),
        ("swapping", false),
        ("load index", false),
        ("objects-load", false),
        ("swapped", true),
    ];
    for (step, forward) in steps {
        eprintln!("[test] kill at {step:?}");
        if step == "staging" {
            seed::change(m);
        }
        let previous = World::capture();
        assert_changed(
            &archived.module(m),
            &previous.module(m),
            "the change after the backup",
        );
        if step.contains(' ') || step == "objects-load" || step == "load" {
            // In the middle of loading the database, the indices or the objects.
            kill_restore(restore, None, |c| {
                c.wait_for(step, Duration::from_secs(180), |v| {
                    v["event"] == "phase"
                        && v["phase"].as_str().is_some_and(|p| p.starts_with(step))
                });
                std::thread::sleep(Duration::from_millis(300));
            });
        } else {
            kill_restore(restore, Some(step), |_| {
                wait_step(&env.journal, "dify", step)
            });
        }
        let expect = if forward { "finished" } else { "undone" };
        refused_then_recovered(|args| env.run(args), &env.journal, "dify", &dir, expect);
        multistore::assert_apps_running();
        let after = World::capture();
        let want = if forward { &archived } else { &previous };
        assert_all(vec![
            compare(
                &want.module(m),
                &after.module(m),
                &format!("dify after a kill at {step:?} and recover (- expected, + found)"),
            ),
            compare(
                &previous.others(m),
                &after.others(m),
                &format!("everything else after a kill at {step:?} (- before, + after)"),
            ),
        ]);
    }
}

/// One API (MySQL) killed inside the swap, on either side of its atomic table moves. Its
/// views, triggers, routines and events cannot move between databases: the swap drops them and
/// creates them again around the moves, from definitions it wrote to the state file first.
/// Killed before the moves, recover puts the previous ones back; after them, it creates the
/// archived ones. Both compared object by object.
#[test]
fn oneapi_restore_killed_inside_the_swap_keeps_its_views_triggers_and_routines() {
    let env = common::setup();
    let m = common::Module::OneApi;
    common::put_other_content(m);
    let archived = fp::module(m);
    let archive = env.backup(m, "out");
    let a = archive.to_str().unwrap().to_string();
    let dir = env.subdir("refused");
    let restore = || env.spawn(&["--json", "restore", "oneapi", &a, "--yes"]);
    let objects = |db: &str| {
        db::my_rows(
            None,
            &format!("SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{db}'"),
        )
        .concat()
    };
    for (step, forward) in [("swap-objects-dropped", false), ("swap-tables-moved", true)] {
        eprintln!("[test] kill at {step:?}");
        db::seed(m);
        common::write_more_into_empty(m);
        let previous = fp::module(m);
        kill_restore(restore, Some(step), |_| {
            let reached =
                common::poll_until(Duration::from_secs(120), Duration::from_millis(100), || {
                    state_step(&env.journal, "oneapi").as_deref() == Some("swapping")
                        && objects("oneapi_db") == "0"
                        && (!forward || db::exists(m.engine(), "oneapi_db__ab_old"))
                });
            assert!(reached, "the restore never reached {step}");
            std::thread::sleep(Duration::from_millis(500));
        });
        let want = if forward { &archived } else { &previous };
        recovered_to(&env, m, &dir, step, forward, want);
    }
    db::seed(m);
}

//! Archives whose dump was rewritten to act outside its module, with a recomputed manifest (so
//! `verify` accepts them). A restore refuses what the dump guard can see (exit 2, naming what
//! and where) and contains what it cannot (the load user has no right outside the staging
//! database): no file appears in the database containers, no other database changes, the live
//! data stays as it was, and no load role or user is left behind.

mod common;

use std::path::{Path, PathBuf};

use common::{craft, db, docker, fp, Engine, Env, Module};

/// Back up the seeded module `m` and rewrite its dump with `lines` put first.
fn crafted(env: &Env, m: Module, lines: &str) -> PathBuf {
    db::seed(m);
    let real = env.backup(m, "real");
    let bad = env.path("crafted.tar.gz");
    craft::rewrite_dump(&real, &bad, |dump| craft::prepend(dump, lines));
    let out = env.run(&["verify", bad.to_str().unwrap()]);
    out.assert_code(0, "verify of the crafted archive (its manifest matches)");
    bad
}

/// What the restore of a crafted archive ended with.
enum Outcome {
    /// Refused by the guard (exit 2); the message contains this.
    Refused(&'static str),
    /// Stopped by the database (exit 1): the load user lacked the right.
    Contained,
}

fn file_in(container: &str, path: &str) -> bool {
    docker::exec(container, &[], &["test", "-e", path], b"")
        .status
        .success()
}

fn load_accounts() -> Vec<String> {
    let mut all = db::pg_rows(
        "postgres",
        "SELECT rolname FROM pg_roles WHERE rolname LIKE 'ab\\_load\\_%';",
    );
    all.extend(db::my_rows(
        None,
        "SELECT User FROM mysql.user WHERE User LIKE 'ab\\_load\\_%';",
    ));
    all
}

/// Restore `bad` and check the outcome and that nothing outside the module changed.
fn assert_kept_out(env: &Env, m: Module, bad: &Path, outcome: Outcome, files: &[&str]) {
    let live = fp::module(m);
    let others = fp::others(m);
    let out = env.run(&["restore", m.id(), bad.to_str().unwrap(), "--yes"]);
    match outcome {
        Outcome::Refused(what) => {
            out.assert_code(2, "restore of a crafted dump");
            assert!(
                out.stderr.contains("dump was refused at line 1") && out.stderr.contains(what),
                "the error should say what was refused ({what:?}) and where:\n{}",
                out.stderr
            );
        }
        Outcome::Contained => out.assert_code(1, "restore of a crafted dump"),
    }
    for f in files {
        assert!(!file_in(m.engine().container(), f), "{f} appeared");
    }
    fp::assert_same(&live, &fp::module(m), "live data after a crafted dump");
    fp::assert_same(
        &others,
        &fp::others(m),
        "other databases after a crafted dump",
    );
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    assert_eq!(
        load_accounts(),
        Vec::<String>::new(),
        "load roles left behind"
    );
    docker::assert_apps_running();
}

/// A canary database in `engine` with one row; the test drops it at the end.
fn canary(engine: Engine, name: &str) -> fp::Fingerprint {
    db::reset(engine, name);
    let sql = "CREATE TABLE canary (id int PRIMARY KEY); INSERT INTO canary VALUES (1);";
    db::sql(engine, name, sql);
    fp::database(engine, name)
}

fn assert_canary(engine: Engine, name: &str, before: &fp::Fingerprint) {
    assert!(db::exists(engine, name), "{name} was dropped");
    fp::assert_same(before, &fp::database(engine, name), name);
    db::drop_db(engine, name);
}

#[test]
fn n8n_dump_starting_with_a_shell_command_is_refused() {
    let env = common::setup();
    let bad = crafted(&env, Module::N8n, "\\! touch /tmp/ab_crafted_x");
    let refused = Outcome::Refused("meta-command");
    assert_kept_out(&env, Module::N8n, &bad, refused, &["/tmp/ab_crafted_x"]);
}

#[test]
fn n8n_dump_dropping_another_database_is_refused() {
    let env = common::setup();
    let before = canary(Engine::Pg, "canary_db");
    let bad = crafted(&env, Module::N8n, "COMMIT; DROP DATABASE canary_db; BEGIN;");
    assert_kept_out(&env, Module::N8n, &bad, Outcome::Refused("COMMIT"), &[]);
    assert_canary(Engine::Pg, "canary_db", &before);
}

#[test]
fn n8n_dump_with_copy_to_program_is_refused() {
    let env = common::setup();
    let line = "COPY (select 1) TO PROGRAM 'touch /tmp/ab_crafted_y';";
    let bad = crafted(&env, Module::N8n, line);
    let refused = Outcome::Refused("COPY … TO");
    assert_kept_out(&env, Module::N8n, &bad, refused, &["/tmp/ab_crafted_y"]);
}

#[test]
fn n8n_copy_to_program_hidden_from_the_guard_is_contained() {
    let env = common::setup();
    let line =
        "DO $$ BEGIN EXECUTE 'COPY (select 1) TO PROGRAM ''touch /tmp/ab_crafted_w'''; END $$;";
    let bad = crafted(&env, Module::N8n, line);
    let files = ["/tmp/ab_crafted_w"];
    assert_kept_out(&env, Module::N8n, &bad, Outcome::Contained, &files);
}

#[test]
fn oneapi_dump_dropping_another_database_is_refused() {
    let env = common::setup();
    let before = canary(Engine::My, "canary_my");
    let bad = crafted(&env, Module::OneApi, "DROP DATABASE canary_my;");
    let refused = Outcome::Refused("DROP DATABASE");
    assert_kept_out(&env, Module::OneApi, &bad, refused, &[]);
    assert_canary(Engine::My, "canary_my", &before);
}

#[test]
fn oneapi_dump_with_a_system_command_is_refused() {
    let env = common::setup();
    let bad = crafted(&env, Module::OneApi, "system touch /tmp/ab_crafted_z");
    let refused = Outcome::Refused("`system`");
    assert_kept_out(&env, Module::OneApi, &bad, refused, &["/tmp/ab_crafted_z"]);
}

#[test]
fn oneapi_dump_using_another_database_is_refused() {
    let env = common::setup();
    let bad = crafted(&env, Module::OneApi, "USE dify_db;");
    assert_kept_out(&env, Module::OneApi, &bad, Outcome::Refused("use"), &[]);
}

#[test]
fn oneapi_drop_database_hidden_from_the_guard_is_contained() {
    let env = common::setup();
    let before = canary(Engine::My, "canary_my");
    let line = "PREPARE s FROM CONCAT('DROP DATABASE ', 'canary_my'); EXECUTE s;\n\
                SELECT 1 INTO OUTFILE '/tmp/ab_crafted_o';";
    let bad = crafted(&env, Module::OneApi, line);
    let files = ["/tmp/ab_crafted_o"];
    assert_kept_out(&env, Module::OneApi, &bad, Outcome::Contained, &files);
    assert_canary(Engine::My, "canary_my", &before);
}

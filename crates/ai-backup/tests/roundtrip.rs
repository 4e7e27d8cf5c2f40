//! Round trips through the real binary and the real stack: what a restore puts back is exactly
//! what the backup saw, table by table and byte by byte, with nothing else touched.

mod common;

use std::path::Path;

use common::{db, docker, fp, Env, Module};

/// After a restore: the module holds exactly `expected`, the other databases are as they were
/// (no leftover database either), and every app runs.
fn assert_restored(m: Module, expected: &fp::Fingerprint, others: &fp::Fingerprint, what: &str) {
    fp::assert_same(expected, &fp::module(m), what);
    fp::assert_same(others, &fp::others(m), &format!("{what}: other databases"));
    assert_eq!(db::leftovers(), vec![], "{what}: databases left behind");
    docker::assert_apps_running();
}

fn backup_checked(env: &Env, config: &Path, m: Module, dir: &str) -> std::path::PathBuf {
    let before = fp::module(m);
    let archive = env.backup_with(config, m, dir);
    fp::assert_same(&before, &fp::module(m), "the backup changed the database");
    docker::assert_apps_running();
    archive
}

fn seeded_round_trip(m: Module) {
    let env = common::setup();
    db::seed(m);
    let seeded = fp::module(m);
    let others = fp::others(m);
    let archive = backup_checked(&env, &env.config, m, "out");
    let name = archive.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with(&format!("{}-backup-", m.id())) && name.ends_with(".tar.gz"),
        "archive name {name}"
    );

    common::write_more(m);
    fp::assert_changed(&seeded, &fp::module(m), "writes after the backup");

    env.restore_ok(m, &archive);
    assert_restored(m, &seeded, &others, "restore of the seeded database");
}

#[test]
fn n8n_restore_returns_the_seeded_database_after_more_writes() {
    seeded_round_trip(Module::N8n);
}

#[test]
fn oneapi_restore_returns_the_seeded_database_after_more_writes() {
    seeded_round_trip(Module::OneApi);
}

fn empty_round_trip(m: Module) {
    let env = common::setup();
    db::reset_empty(m);
    let empty = fp::module(m);
    let others = fp::others(m);
    let archive = backup_checked(&env, &env.config, m, "out");

    common::write_more_into_empty(m);
    fp::assert_changed(&empty, &fp::module(m), "writes into the empty database");

    env.restore_ok(m, &archive);
    assert_restored(m, &empty, &others, "restore of the empty database");
}

#[test]
fn n8n_restore_of_an_empty_database_gives_an_empty_database() {
    empty_round_trip(Module::N8n);
}

#[test]
fn oneapi_restore_of_an_empty_database_gives_an_empty_database() {
    empty_round_trip(Module::OneApi);
}

fn over_other_content(m: Module) {
    let env = common::setup();
    db::seed(m);
    let seeded = fp::module(m);
    let archive = backup_checked(&env, &env.config, m, "out");

    common::put_other_content(m);
    let other = fp::module(m);
    fp::assert_changed(&seeded, &other, "other content");
    let others = fp::others(m);

    env.restore_ok(m, &archive);
    assert_restored(m, &seeded, &others, "restore over other content");
}

#[test]
fn n8n_restore_over_different_content_gives_exactly_the_archived_content() {
    over_other_content(Module::N8n);
}

#[test]
fn oneapi_restore_over_different_content_gives_exactly_the_archived_content() {
    over_other_content(Module::OneApi);
}

/// Archives made by either runner restore, by either runner, to the same database.
fn host_runner(m: Module) {
    let env = common::setup();
    let host = env.host_config();
    db::seed(m);
    let seeded = fp::module(m);
    let others = fp::others(m);

    let by_host = backup_checked(&env, &host, m, "host");
    let by_container = backup_checked(&env, &env.config, m, "container");

    common::write_more(m);
    fp::assert_changed(&seeded, &fp::module(m), "writes after the backup");
    env.restore_ok_with(&host, m, &by_host);
    assert_restored(
        m,
        &seeded,
        &others,
        "host archive restored by the host runner",
    );

    common::write_more(m);
    env.restore_ok_with(&host, m, &by_container);
    assert_restored(
        m,
        &seeded,
        &others,
        "container archive restored by the host runner",
    );

    common::write_more(m);
    env.restore_ok(m, &by_host);
    assert_restored(
        m,
        &seeded,
        &others,
        "host archive restored in the container",
    );
}

#[test]
fn n8n_host_runner_backs_up_and_restores_like_the_container_runner() {
    host_runner(Module::N8n);
}

#[test]
fn oneapi_host_runner_backs_up_and_restores_like_the_container_runner() {
    host_runner(Module::OneApi);
}

/// A server that lost the module's database (or a new one): the backup refuses to make an
/// archive of nothing, and the restore creates the database.
fn onto_missing_database(m: Module) {
    let env = common::setup();
    db::seed(m);
    let seeded = fp::module(m);
    let archive = backup_checked(&env, &env.config, m, "out");

    db::drop_db(m.engine(), m.db());
    let dir = env.subdir("missing");
    let out = env.run(&["backup", m.id(), "-o", dir.to_str().unwrap()]);
    out.assert_code(2, "backup of a missing database");
    assert!(out.stderr.contains(m.db()), "{}", out.stderr);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no file for a failed backup"
    );

    let others = fp::others(m);
    env.restore_ok(m, &archive);
    assert_restored(
        m,
        &seeded,
        &others,
        "restore onto a server without the database",
    );
}

#[test]
fn n8n_restore_creates_the_database_when_it_is_missing() {
    onto_missing_database(Module::N8n);
}

#[test]
fn oneapi_restore_creates_the_database_when_it_is_missing() {
    onto_missing_database(Module::OneApi);
}

/// Foreign keys with ON DELETE CASCADE, and names that need quoting (spaces, quotes,
/// non-ASCII), plus on Postgres an enum type, arrays, numerics and a materialized view.
fn add_odd_objects(m: Module) {
    match m {
        Module::N8n => {
            db::pg(
                m.db(),
                r#"CREATE SCHEMA "Odd Schema";
CREATE TYPE "Odd Schema".mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE "Odd Schema"."pa""rent" (id int PRIMARY KEY, v text, m "Odd Schema".mood, arr int[], n numeric(12, 4), f float8);
CREATE TABLE "Odd Schema"."chi ld ä" (id int PRIMARY KEY, pid int REFERENCES "Odd Schema"."pa""rent" (id) ON DELETE CASCADE);
INSERT INTO "Odd Schema"."pa""rent" VALUES (1, 'a', 'ok', '{1,2,NULL}', 12.3456, 0.1), (2, NULL, 'happy', '{}', -1, 'NaN');
INSERT INTO "Odd Schema"."chi ld ä" VALUES (10, 1), (20, 2), (21, 2);
CREATE VIEW "Odd Schema"."v ü" AS SELECT c.id, p.v FROM "Odd Schema"."chi ld ä" c JOIN "Odd Schema"."pa""rent" p ON p.id = c.pid;
CREATE MATERIALIZED VIEW "Odd Schema".mv AS SELECT count(*) AS n FROM "Odd Schema"."chi ld ä";"#,
            );
        }
        Module::OneApi => {
            db::my(
                Some(m.db()),
                "CREATE TABLE `pa rent` (id int PRIMARY KEY, v varchar(10)) ENGINE=InnoDB;
CREATE TABLE `chi ld ä` (id int PRIMARY KEY, pid int, CONSTRAINT `fk chi ld` FOREIGN KEY (pid) REFERENCES `pa rent` (id) ON DELETE CASCADE) ENGINE=InnoDB;
INSERT INTO `pa rent` VALUES (1, 'a'), (2, 'b');
INSERT INTO `chi ld ä` VALUES (10, 1), (20, 2), (21, 2);
CREATE VIEW `v ü` AS SELECT c.id, p.v FROM `chi ld ä` c JOIN `pa rent` p ON p.id = c.pid;
CREATE TRIGGER `t r` BEFORE INSERT ON `pa rent` FOR EACH ROW SET NEW.v = UPPER(NEW.v);
CREATE PROCEDURE `p q`() SELECT COUNT(*) FROM `pa rent`;",
            );
        }
    }
}

fn odd_objects_round_trip(m: Module) {
    let env = common::setup();
    db::seed(m);
    add_odd_objects(m);
    let expected = fp::module(m);
    let others = fp::others(m);
    let archive = backup_checked(&env, &env.config, m, "out");
    let (parent, child) = match m {
        Module::N8n => (r#""Odd Schema"."pa""rent""#, r#""Odd Schema"."chi ld ä""#),
        Module::OneApi => ("`pa rent`", "`chi ld ä`"),
    };
    db::sql(
        m.engine(),
        m.db(),
        &format!("DELETE FROM {parent} WHERE id = 1;"),
    );
    fp::assert_changed(&expected, &fp::module(m), "delete with cascade");

    env.restore_ok(m, &archive);
    assert_restored(
        m,
        &expected,
        &others,
        "restore with foreign keys and odd names",
    );
    // The restored foreign key still cascades.
    db::sql(
        m.engine(),
        m.db(),
        &format!("DELETE FROM {parent} WHERE id = 2;"),
    );
    assert_eq!(db::count(m.engine(), m.db(), child), 1, "ON DELETE CASCADE");
}

#[test]
fn n8n_restore_keeps_foreign_keys_types_and_names_that_need_quoting() {
    odd_objects_round_trip(Module::N8n);
}

#[test]
fn oneapi_restore_keeps_foreign_keys_and_names_that_need_quoting() {
    odd_objects_round_trip(Module::OneApi);
}

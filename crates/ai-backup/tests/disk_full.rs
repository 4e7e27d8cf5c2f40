//! Disks that fill up. The backup target: a small tmpfs. The database server during a
//! restore's load: a second MariaDB of the stack's image whose data directory is a tmpfs with
//! little room left. Either way the job fails with an error that says so and nothing is lost:
//! no archive file, the live database as it was, nothing left behind.
//!
//! Run: `cargo test -p ai-backup --test disk_full -- --test-threads=1`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::cancel::big_rows;
use common::{db, docker, fp, Module};

/// Unmounts the small file system of a test, also on panic.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The disk of the backup target fills up (a 1 MiB tmpfs; the archive of a big n8n is
/// larger): the backup fails with an error that says so, leaves no file (not even the partial
/// one), and the app runs again, unpaused. The live data is unchanged.
#[test]
fn n8n_backup_onto_a_full_disk_fails_and_leaves_no_file() {
    let env = common::setup();
    let m = Module::N8n;
    db::seed(m);
    db::add_big_table(m, big_rows(m));
    let before = fp::module(m);
    let dir = env.subdir("small");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("mount");
    assert!(
        mounted.success(),
        "mount a 1 MiB tmpfs on {}",
        dir.display()
    );
    let _mounted = Mounted(dir.clone());
    let out = env.run(&["--json", "backup", m.id(), "-o", dir.to_str().unwrap()]);
    out.assert_code(1, "a backup onto a full disk");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("No space left on device"),
        "the error says the disk is full: {error}"
    );
    common::assert_failed_backup_left_nothing(&dir, m.app());
    fp::assert_same(&before, &fp::module(m), "data after the failed backup");
    db::seed(m);
}

const SMALL: &str = "ai-backup-test-small-mysql";

/// A MariaDB of the stack's image on a tmpfs, filled up to `free_mib` of free space; removed
/// on drop, also on panic.
struct SmallMysql;

impl SmallMysql {
    fn start(free_mib: u64) -> Self {
        let _ = docker::docker(&["rm", "-f", SMALL]);
        let image = docker::docker(&["inspect", "-f", "{{.Config.Image}}", common::MY_CONTAINER]);
        let image = String::from_utf8_lossy(&image.stdout).trim().to_string();
        let mut run = Command::new("docker");
        run.args([
            "run",
            "-d",
            "--name",
            SMALL,
            "--tmpfs",
            "/var/lib/mysql:size=400m",
        ])
        .args(["-e", "MARIADB_ROOT_PASSWORD"])
        .env(
            "MARIADB_ROOT_PASSWORD",
            docker::stack_secret("MARIADB_ROOT_PASSWORD"),
        )
        .args([&image, "/opt/stack/mysql-entry.sh"]);
        assert!(
            run.output().expect("docker run").status.success(),
            "start {SMALL}"
        );
        let guard = SmallMysql;
        let ready =
            common::poll_until(Duration::from_secs(120), Duration::from_millis(500), || {
                small_sql("SELECT 1").is_ok()
            });
        assert!(ready, "{SMALL} answers");
        let free = exec_sh("df -m --output=avail /var/lib/mysql | tail -1");
        let free: u64 = free.trim().parse().expect("free MiB");
        let ballast = free.saturating_sub(free_mib);
        exec_sh(&format!(
            "dd if=/dev/zero of=/var/lib/mysql/ballast bs=1M count={ballast} status=none"
        ));
        guard
    }
}

impl Drop for SmallMysql {
    fn drop(&mut self) {
        let _ = docker::docker(&["rm", "-f", SMALL]);
    }
}

fn small_sql(sql: &str) -> Result<String, String> {
    let out = docker::exec(
        SMALL,
        &[("MYSQL_PWD", docker::stack_secret("MARIADB_ROOT_PASSWORD"))],
        &["mariadb", "-uroot", "--batch", "--skip-column-names"],
        sql.as_bytes(),
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn exec_sh(script: &str) -> String {
    let out = docker::exec(SMALL, &[], &["sh", "-c", script], b"");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the small server's One API database holds, table by table.
fn small_fingerprint() -> String {
    small_sql(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'oneapi_db' ORDER BY 1;
         CHECKSUM TABLE oneapi_db.channels, oneapi_db.tokens EXTENDED;
         SHOW DATABASES;",
    )
    .expect("fingerprint the small server")
}

/// The database server's disk fills up while a big One API dump loads into the staging
/// database: the restore fails with the server's own "full" error, drops what it loaded, and
/// the live One API database on that server is as it was.
#[test]
fn oneapi_restore_onto_a_full_database_server_fails_and_changes_nothing() {
    let env = common::setup();
    let m = Module::OneApi;
    db::seed(m);
    db::add_big_table(m, big_rows(m));
    let archive = env.backup(m, "out");
    let main_before = fp::module(m);
    let small = SmallMysql::start(24);
    small_sql(
        "CREATE TABLE oneapi_db.channels (id int PRIMARY KEY, name text);
         CREATE TABLE oneapi_db.tokens (id int PRIMARY KEY, v text);
         INSERT INTO oneapi_db.channels VALUES (1, 'live on the small server'), (2, 'two');
         INSERT INTO oneapi_db.tokens VALUES (7, 'seven');",
    )
    .expect("seed the small server");
    let before = small_fingerprint();
    let cfg = env.path("small.toml");
    common::write_config(
        &cfg,
        &env.journal,
        &format!("[servers.mysql]\ncontainer = \"{SMALL}\"\n[modules.oneapi]\napps = []\n"),
    );
    let out = common::bin::run(
        &cfg,
        &env.journal,
        &[
            "--json",
            "restore",
            m.id(),
            archive.to_str().unwrap(),
            "--yes",
        ],
    );
    out.assert_code(1, "a restore onto a full database server");
    let error = out.last_json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("is full") || error.contains("No space left"),
        "the error says the server's disk is full: {error}"
    );
    assert_eq!(small_fingerprint(), before, "the small server's databases");
    fp::assert_same(&main_before, &fp::module(m), "the stack's own One API");
    drop(small);
    db::seed(m);
}

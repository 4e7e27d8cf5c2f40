//! Shared harness of the integration tests: they drive the real `ai-backup` binary against the
//! real test stack (`scripts/stack up`). Every test mutates the same databases and containers,
//! so each one holds a process-wide lock (and a file lock, for parallel `cargo test` runs) and
//! a guard that brings the stack's containers back up when it ends, even on panic.
#![allow(dead_code)]

pub mod archive;
pub mod bin;
pub mod broken;
pub mod cancel;
pub mod craft;
pub mod db;
pub mod docker;
pub mod fp;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use bin::{Out, Running};

pub const PG_CONTAINER: &str = "ai-server-postgres";
pub const MY_CONTAINER: &str = "ai-server-mysql";
pub const N8N_APP: &str = "ai-server-n8n";
pub const ONEAPI_APP: &str = "ai-server-oneapi";
pub const ALL_CONTAINERS: [&str; 4] = [PG_CONTAINER, MY_CONTAINER, N8N_APP, ONEAPI_APP];

/// The database servers of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Pg,
    My,
}

impl Engine {
    pub fn container(self) -> &'static str {
        match self {
            Engine::Pg => PG_CONTAINER,
            Engine::My => MY_CONTAINER,
        }
    }
}

/// The modules these tests cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Module {
    N8n,
    OneApi,
}

impl Module {
    pub const ALL: [Module; 2] = [Module::N8n, Module::OneApi];

    pub fn id(self) -> &'static str {
        match self {
            Module::N8n => "n8n",
            Module::OneApi => "oneapi",
        }
    }
    pub fn db(self) -> &'static str {
        match self {
            Module::N8n => "n8n_db",
            Module::OneApi => "oneapi_db",
        }
    }
    pub fn engine(self) -> Engine {
        match self {
            Module::N8n => Engine::Pg,
            Module::OneApi => Engine::My,
        }
    }
    pub fn app(self) -> &'static str {
        match self {
            Module::N8n => N8N_APP,
            Module::OneApi => ONEAPI_APP,
        }
    }
    pub fn other(self) -> Module {
        match self {
            Module::N8n => Module::OneApi,
            Module::OneApi => Module::N8n,
        }
    }
    pub fn fixture(self) -> PathBuf {
        let name = match self {
            Module::N8n => "n8n_postgres.sql",
            Module::OneApi => "oneapi_mysql.sql",
        };
        repo_root().join("tests/fixtures").join(name)
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

static LOCK: Mutex<()> = Mutex::new(());

/// Held for the whole test: the in-process mutex and an exclusive `flock` on a shared file.
pub struct Lock {
    _file: std::fs::File,
    _guard: MutexGuard<'static, ()>,
}

pub fn lock() -> Lock {
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = std::env::temp_dir().join("ai-backup-stack-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .expect("open the test lock file");
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor we own; released when the file is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {}", path.display());
    Lock {
        _file: file,
        _guard: guard,
    }
}

/// At the end of a test (and on panic): every container of the stack runs again, unpaused,
/// and the databases answer. Reports how long the test held the stack.
struct StackGuard(std::time::Instant);

impl Drop for StackGuard {
    fn drop(&mut self) {
        docker::ensure_stack_up();
        eprintln!("[stack] held for {:.1?}", self.0.elapsed());
    }
}

/// What a test gets: the lock, the guard, a temporary directory, and a config file that sends
/// the journal into that directory.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub journal: PathBuf,
    _stack: StackGuard,
    _lock: Lock,
}

/// Start a test: take the lock, make sure the stack is up and left over databases of earlier
/// failed runs are gone, and give the neighbours (databases of other modules) some content.
pub fn setup() -> Env {
    let asked = std::time::Instant::now();
    let lock = lock();
    if asked.elapsed() > std::time::Duration::from_secs(2) {
        eprintln!(
            "[setup] waited {:.0?} for the stack lock (another test process holds it)",
            asked.elapsed()
        );
    }
    let stack = StackGuard(std::time::Instant::now());
    docker::ensure_stack_up();
    db::drop_leftovers();
    db::ensure_neighbours();
    let dir = tempfile::Builder::new()
        .prefix("ai-backup-it-")
        .tempdir()
        .expect("tempdir");
    let journal = dir.path().join("journal.log");
    let config = dir.path().join("config.toml");
    write_config(&config, &journal, "");
    Env {
        dir,
        config,
        journal,
        _stack: stack,
        _lock: lock,
    }
}

/// A config file with the journal at `journal` and `extra` TOML appended.
pub fn write_config(path: &Path, journal: &Path, extra: &str) {
    let text = format!(
        "{}[journal]\npath = {}\n{extra}",
        bin::docker_toml(),
        toml_string(&journal.display().to_string())
    );
    std::fs::write(path, text).expect("write config");
}

/// Call `ready` every `every` until it holds (true) or `timeout` has passed (false).
pub fn poll_until(
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

pub fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Env {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A directory inside the temporary directory (created).
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// A second config file that runs the database tools on this host.
    pub fn host_config(&self) -> PathBuf {
        let p = self.path("host.toml");
        write_config(
            &p,
            &self.journal,
            "[servers.postgres]\nrunner = \"host\"\n[servers.mysql]\nrunner = \"host\"\n",
        );
        p
    }

    /// `ai-backup --config <env config> args...`.
    pub fn run(&self, args: &[&str]) -> Out {
        bin::run(&self.config, &self.journal, args)
    }

    pub fn run_with(&self, config: &Path, args: &[&str]) -> Out {
        bin::run(config, &self.journal, args)
    }

    pub fn spawn(&self, args: &[&str]) -> Running {
        bin::spawn(&self.config, &self.journal, args)
    }

    /// Back up `m` into a new directory; returns the archive's path.
    pub fn backup(&self, m: Module, dir_name: &str) -> PathBuf {
        self.backup_with(&self.config, m, dir_name)
    }

    pub fn backup_with(&self, config: &Path, m: Module, dir_name: &str) -> PathBuf {
        bin::backup_ok(config, &self.journal, m.id(), &self.subdir(dir_name))
    }

    /// `restore --yes --json`, asserting success and the exact result object.
    pub fn restore_ok(&self, m: Module, archive: &Path) -> Out {
        self.restore_ok_with(&self.config, m, archive)
    }

    pub fn restore_ok_with(&self, config: &Path, m: Module, archive: &Path) -> Out {
        self.restore_ok_args(config, m, archive, &[])
    }

    pub fn restore_ok_args(&self, config: &Path, m: Module, archive: &Path, extra: &[&str]) -> Out {
        bin::restore_ok(config, &self.journal, m.id(), archive, extra)
    }
}

/// Writes after a backup: rows inserted, updated (firing the fixture's trigger) and deleted,
/// a sequence or AUTO_INCREMENT advanced, a table added, a comment changed.
pub fn write_more(m: Module) {
    match m {
        Module::N8n => {
            db::pg(
                m.db(),
                r#"INSERT INTO public.settings (key, value, "loadOnStartup") VALUES ('ab.after.backup', 'new ✨', false);
UPDATE public.workflow_entity SET name = 'renamed after the backup', active = NOT active WHERE id = 'wf-hello-0001';
UPDATE public.variables SET value = 'changed 变' WHERE key = 'GREETING_ZH';
DELETE FROM public.execution_entity WHERE id IN (SELECT id FROM public.execution_entity ORDER BY id LIMIT 5);
SELECT nextval('public.migrations_id_seq');
CREATE TABLE public.ab_added_after_backup (id serial PRIMARY KEY, note text);
INSERT INTO public.ab_added_after_backup (note) VALUES ('one'), ('two');
COMMENT ON TABLE public.settings IS 'changed after the backup';"#,
            );
        }
        Module::OneApi => {
            db::my(
                Some(m.db()),
                "INSERT INTO users (username, password) VALUES ('later', 'x');
UPDATE options SET value = 'changed 变' WHERE `key` = 'SystemName';
DELETE FROM logs WHERE id <= 10;
INSERT INTO logs (user_id, created_at, type, quota, channel_id) VALUES (2, 1717200000, 2, 5, 1);
CREATE TABLE ab_added_after_backup (id int AUTO_INCREMENT PRIMARY KEY, note text);
INSERT INTO ab_added_after_backup (note) VALUES ('one'), ('two');
ALTER TABLE channels COMMENT = 'changed after the backup';",
            );
        }
    }
}

/// Replace the module's database with unrelated content: other tables (one with a name the
/// archive also uses, but other columns), a view, a routine, a trigger (and an event on MySQL).
pub fn put_other_content(m: Module) {
    db::reset_empty(m);
    match m {
        Module::N8n => {
            db::pg(
                m.db(),
                r#"CREATE TABLE public.settings (name text PRIMARY KEY, other_value int);
INSERT INTO public.settings VALUES ('x', 1), ('y', 2);
CREATE SCHEMA other_schema;
CREATE TABLE other_schema.things (id bigserial PRIMARY KEY, payload bytea);
INSERT INTO other_schema.things (payload) SELECT decode(md5(g::text), 'hex') FROM generate_series(1, 500) g;
CREATE VIEW other_schema.thing_count AS SELECT count(*) AS n FROM other_schema.things;
CREATE FUNCTION other_schema.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER things_touch BEFORE UPDATE ON other_schema.things FOR EACH ROW EXECUTE FUNCTION other_schema.touch();
COMMENT ON TABLE other_schema.things IS 'not from the archive';"#,
            );
        }
        Module::OneApi => {
            db::my(
                Some(m.db()),
                "CREATE TABLE users (name varchar(20) PRIMARY KEY, other_value int) ENGINE=InnoDB;
INSERT INTO users VALUES ('x', 1), ('y', 2);
CREATE TABLE zz_other (id int AUTO_INCREMENT PRIMARY KEY, payload blob) ENGINE=InnoDB;
INSERT INTO zz_other (payload) SELECT UNHEX(MD5(seq)) FROM seq_1_to_500;
CREATE VIEW v_other AS SELECT COUNT(*) AS n FROM zz_other;
CREATE TRIGGER trg_other BEFORE UPDATE ON zz_other FOR EACH ROW SET NEW.payload = NEW.payload;
CREATE PROCEDURE p_other() SELECT 1;
CREATE EVENT ev_other ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM zz_other WHERE id < 0;",
            );
        }
    }
}

/// Content written into an empty database: a table with rows, a view, a routine.
pub fn write_more_into_empty(m: Module) {
    match m.engine() {
        Engine::Pg => {
            db::pg(
                m.db(),
                "CREATE TABLE public.ab_written (id serial PRIMARY KEY, v text);
INSERT INTO public.ab_written (v) VALUES ('a'), ('ü'), (NULL);
CREATE VIEW public.ab_written_v AS SELECT count(*) AS n FROM public.ab_written;
CREATE FUNCTION public.ab_f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
            );
        }
        Engine::My => {
            db::my(
                Some(m.db()),
                "CREATE TABLE ab_written (id int AUTO_INCREMENT PRIMARY KEY, v text);
INSERT INTO ab_written (v) VALUES ('a'), ('ü'), (NULL);
CREATE VIEW ab_written_v AS SELECT COUNT(*) AS n FROM ab_written;
CREATE FUNCTION ab_f() RETURNS int DETERMINISTIC RETURN 1;",
            );
        }
    }
}

/// What a failed backup must leave: no file in its output folder (not even the partial one),
/// and the app it held running again, unpaused.
#[track_caller]
pub fn assert_failed_backup_left_nothing(dir: &Path, app: &str) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "a failed backup left files: {left:?}");
    assert_eq!(
        docker::state(app),
        Some((true, false)),
        "{app} runs again, unpaused"
    );
}

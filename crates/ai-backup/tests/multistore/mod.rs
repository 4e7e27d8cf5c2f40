//! Harness of the multi-store integration tests (Dify and RAGFlow: MySQL + S3 + Elasticsearch).
//! They drive the real `ai-backup` binary against the real local stack (`scripts/stack up`):
//! MariaDB `ai-server-mysql`, garage as `ai-server-minio`, the ES test server as
//! `ai-server-es`, and the apps' stand-ins. Every test takes the same process and file lock as
//! the database-only tests (`common`), so the two suites never run into each other, and a
//! guard that clears injected faults and brings every container back, even on panic.
#![allow(dead_code)]

pub mod archive;
pub mod es;
pub mod fingerprint;
pub mod proxy;
pub mod s3;
pub mod seed;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::bin::{self, Out, Running};
use crate::common::{db, docker, Engine};

pub const MYSQL: &str = crate::common::MY_CONTAINER;
pub const MINIO: &str = "ai-server-minio";
pub const ES: &str = "ai-server-es";
pub const DIFY_APPS: &[&str] = &[
    "ai-server-dify-api",
    "ai-server-dify-worker",
    "ai-server-dify-web",
];
pub const RAGFLOW_APPS: &[&str] = &["ai-server-ragflow"];
const HEALTH: &[&str] = &[
    "http://127.0.0.1:5001/health",
    "http://127.0.0.1:9380/v1/system/healthz",
];

/// The runtime the store helpers block on.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Module {
    Dify,
    Ragflow,
}

impl Module {
    pub fn id(self) -> &'static str {
        match self {
            Module::Dify => "dify",
            Module::Ragflow => "ragflow",
        }
    }
    pub fn db(self) -> &'static str {
        match self {
            Module::Dify => "dify_db",
            Module::Ragflow => "ragflow_db",
        }
    }
    pub fn apps(self) -> &'static [&'static str] {
        match self {
            Module::Dify => DIFY_APPS,
            Module::Ragflow => RAGFLOW_APPS,
        }
    }
    pub fn other(self) -> Module {
        match self {
            Module::Dify => Module::Ragflow,
            Module::Ragflow => Module::Dify,
        }
    }
    pub fn fixture(self) -> PathBuf {
        crate::common::repo_root()
            .join("tests/fixtures")
            .join(format!("{}_mysql.sql", self.db().trim_end_matches("_db")))
    }
}

/// The config every test uses: Dify with the design's patterns plus a prefix in a bucket it
/// shares with others; RAGFlow in its real layout (a bucket per knowledge base and the file
/// manager's folders, indices `ragflow_<tenant id>`), found through its own tables.
pub const MODULES_TOML: &str = r#"
[modules.dify]
objects = { store = "minio", buckets = ["dify-*"], prefixes = [{ bucket = "difyai-shared", prefix = "dify/" }] }
indices = { store = "es", patterns = ["dify-*"] }

[modules.ragflow]
objects = { store = "minio", buckets = [], buckets-from-sql = "SELECT id FROM knowledgebase UNION SELECT DISTINCT parent_id FROM file WHERE type <> 'folder' AND source_type = ''" }
indices = { store = "es", patterns = [], from-sql = "SELECT DISTINCT CONCAT('ragflow_', tenant_id) FROM knowledgebase UNION SELECT DISTINCT CONCAT('ragflow_doc_meta_', tenant_id) FROM knowledgebase" }
"#;

/// Clears the ES faults and brings every container back when the test ends, also on panic.
struct StackGuard;

impl Drop for StackGuard {
    fn drop(&mut self) {
        ensure_stack_up();
    }
}

/// Unpause or start every container the tests touch, wait until the stores and the apps
/// answer, and clear injected ES faults. Never panics; reports on stderr.
pub fn ensure_stack_up() {
    let mut all = vec![MYSQL, MINIO, ES];
    all.extend_from_slice(DIFY_APPS);
    all.extend_from_slice(RAGFLOW_APPS);
    docker::bring_back(&all);
    if !es::wait_up(Duration::from_secs(60)) {
        eprintln!("[stack] {} does not answer", es::URL);
    } else if es::try_req("DELETE", "/_test/faults", None).is_none() {
        eprintln!("[stack] could not clear the ES faults");
    }
    if !db::wait_ready(Engine::My, Duration::from_secs(120)) {
        eprintln!("[stack] {MYSQL} does not answer");
    }
    if !s3::wait_up(Duration::from_secs(120)) {
        eprintln!("[stack] the S3 API at {} does not answer", s3::ENDPOINT);
    }
    for url in HEALTH {
        if !docker::wait_http(url, Duration::from_secs(60)) {
            eprintln!("[stack] {url} does not answer");
        }
    }
}

/// Every app container of both modules runs and is not paused.
#[track_caller]
pub fn assert_apps_running() {
    for app in DIFY_APPS.iter().chain(RAGFLOW_APPS) {
        assert_eq!(
            docker::state(app),
            Some((true, false)),
            "{app} must be running and not paused"
        );
    }
}

/// What a test gets: the lock, the guard, a temporary directory and the config file.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub journal: PathBuf,
    _stack: StackGuard,
    _lock: crate::common::Lock,
}

/// Start a test: take the lock, bring the stack up, and remove what an earlier failed run may
/// have left (staged databases, held objects and indices, faults).
pub fn setup() -> Env {
    let t = std::time::Instant::now();
    let lock = crate::common::lock();
    eprintln!(
        "[setup] waited {:.1}s for the stack lock",
        t.elapsed().as_secs_f64()
    );
    let stack = StackGuard;
    ensure_stack_up();
    db::drop_leftovers();
    s3::empty(s3::HOLD_BUCKET, "");
    for i in es::all_indices() {
        if i.ends_with(es::HOLD_SUFFIX) {
            eprintln!("[setup] deleting leftover index {i}");
            es::delete_index(&i);
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("ai-backup-ms-")
        .tempdir()
        .expect("tempdir");
    let journal = dir.path().join("journal.log");
    let config = dir.path().join("config.toml");
    crate::common::write_config(&config, &journal, MODULES_TOML);
    Env {
        dir,
        config,
        journal,
        _stack: stack,
        _lock: lock,
    }
}

impl Env {
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// `ai-backup --config <config> args...`.
    pub fn run(&self, args: &[&str]) -> Out {
        bin::run(&self.config, &self.journal, args)
    }

    pub fn spawn(&self, args: &[&str]) -> Running {
        bin::spawn(&self.config, &self.journal, args)
    }

    /// Back up `m` into a new directory; returns the archive's path.
    pub fn backup(&self, m: Module, dir_name: &str) -> PathBuf {
        bin::backup_ok(&self.config, &self.journal, m.id(), &self.subdir(dir_name))
    }

    /// `restore --json --yes`, whatever its outcome.
    pub fn restore(&self, m: Module, archive: &Path) -> Out {
        self.run(&[
            "--json",
            "restore",
            m.id(),
            archive.to_str().unwrap(),
            "--yes",
        ])
    }

    /// `restore --json --yes`, asserting success.
    pub fn restore_ok(&self, m: Module, archive: &Path) -> Out {
        bin::restore_ok(&self.config, &self.journal, m.id(), archive, &[])
    }

    /// Start `restore --json --yes` in the background.
    pub fn spawn_restore(&self, m: Module, archive: &Path) -> Running {
        self.spawn(&[
            "--json",
            "restore",
            m.id(),
            archive.to_str().unwrap(),
            "--yes",
        ])
    }

    /// `plan <module> --json`: the resolved scope.
    pub fn plan(&self, m: Module) -> serde_json::Value {
        let out = self.run(&["--json", "plan", m.id()]);
        out.assert_code(0, &format!("plan {}", m.id()));
        let plan = out
            .events()
            .into_iter()
            .find(|e| e["event"] == "plan")
            .unwrap_or_else(|| panic!("no plan event in {}", out.stdout));
        plan["plan"].clone()
    }
}

/// A failed run: exit code 1 and `{"success": false, "error": ...}`.
#[track_caller]
pub fn assert_failed(out: &Out, what: &str) {
    out.assert_code(1, what);
    let result = out.last_json();
    assert_eq!(result["success"], false, "{what}: {result}");
    assert!(result["error"].is_string(), "{what}: {result}");
}

//! Modules and stores as configuration. The built-in profile (`default-profile.toml`) is the
//! AI-Server layout; a user TOML file overrides any key of it. One struct tree is the single
//! source of truth for every setting, and `redacted()` is what `ai-backup config` prints.

mod redact;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::elasticsearch::EsConfig;
use crate::store::s3::S3Config;
pub use redact::{redact_url, REDACTED};

/// The built-in AI-Server profile, as TOML.
pub const DEFAULT_PROFILE: &str = include_str!("default-profile.toml");

/// Environment variable naming a config file (same as `--config`).
pub const CONFIG_ENV: &str = "AI_BACKUP_CONFIG";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub docker: DockerConfig,
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
    /// S3-compatible object stores (MinIO in the AI-Server layout).
    #[serde(default)]
    pub object_stores: BTreeMap<String, S3Config>,
    /// Elasticsearch (or OpenSearch) servers.
    #[serde(default)]
    pub search: BTreeMap<String, EsConfig>,
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DockerConfig {
    /// Docker endpoint (`unix:///var/run/docker.sock`, `npipe:////./pipe/docker_engine`,
    /// `tcp://...`). Unset: `DOCKER_HOST`, else the platform default.
    pub host: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JournalConfig {
    /// Where destructive steps are logged. Unset: `<data dir>/ai-backup/journal.log`.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    Postgres,
    Mysql,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerKind {
    /// Run the database tools inside the database container (docker exec).
    Container,
    /// Run the database tools on this host, connecting over TCP.
    Host,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServerConfig {
    pub engine: Engine,
    /// The container running the server (used for exec and to read credentials).
    pub container: Option<String>,
    #[serde(default = "default_runner")]
    pub runner: RunnerKind,
    #[serde(default = "default_host")]
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
}

fn default_runner() -> RunnerKind {
    RunnerKind::Container
}
fn default_host() -> String {
    "127.0.0.1".into()
}

/// How the module's apps are kept still while a backup reads their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Quiesce {
    /// `docker pause` the app containers (fast; nothing is shut down).
    #[default]
    Pause,
    /// Stop and start them again.
    Stop,
    /// Leave them running (the per-table statistics may then drift from the dump).
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModuleConfig {
    /// Key into `servers`.
    pub server: String,
    pub database: String,
    /// App containers stopped during a restore (and quiesced during a backup).
    #[serde(default)]
    pub apps: Vec<String>,
    #[serde(default)]
    pub quiesce: Quiesce,
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
    /// The module's buckets and prefixes in an object store.
    #[serde(default)]
    pub objects: Option<ObjectsConfig>,
    /// The module's Elasticsearch indices.
    #[serde(default)]
    pub indices: Option<IndicesConfig>,
}

/// Which objects belong to a module: whole buckets (by name or wildcard pattern), prefixes
/// inside shared buckets, and buckets named by the module's own tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ObjectsConfig {
    /// Key into `object-stores`.
    pub store: String,
    /// Bucket names or patterns (`*`, `?`) whose every object is the module's.
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Prefixes inside buckets shared with others.
    #[serde(default)]
    pub prefixes: Vec<BucketPrefix>,
    /// SQL run on the module's database that returns more bucket names, one per row
    /// (RAGFlow: one bucket per knowledge base, `SELECT id FROM knowledgebase`).
    #[serde(default)]
    pub buckets_from_sql: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BucketPrefix {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
}

/// Which indices belong to a module.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IndicesConfig {
    /// Key into `search`.
    pub store: String,
    /// Index names or ES wildcard patterns (`ragflow_*`); hidden indices never match.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// SQL run on the module's database that returns more index names or patterns (Dify:
    /// `vector_index_<dataset id>_node` per dataset).
    #[serde(default)]
    pub from_sql: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HealthConfig {
    /// HTTP URL that answers 2xx when the app is up (checked from this host).
    pub url: Option<String>,
    #[serde(default = "default_health_timeout")]
    pub timeout_secs: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            url: None,
            timeout_secs: default_health_timeout(),
        }
    }
}

fn default_health_timeout() -> u64 {
    120
}

/// A secret the module's data depends on, carried in the archive under `secrets/<name>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SecretConfig {
    pub name: String,
    /// The container that holds it.
    pub container: String,
    /// Environment variable of the container that holds it (checked first).
    pub env: Option<String>,
    /// File inside the container that holds it (checked when the variable is unset).
    pub file: Option<String>,
    /// When the file is JSON: the top-level field holding the secret.
    pub json_field: Option<String>,
    /// What goes wrong when the key differs, for the error message.
    pub consequence: Option<String>,
}

impl Config {
    /// The built-in profile alone.
    pub fn builtin() -> Self {
        let value: toml::Value = toml::from_str(DEFAULT_PROFILE).expect("built-in profile parses");
        value.try_into().expect("built-in profile is valid")
    }

    /// The default location of the user's config file.
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("ai-backup").join("config.toml"))
    }

    /// Load the built-in profile with `path` (or `$AI_BACKUP_CONFIG`, or the default path when
    /// it exists) merged over it. Returns the config and the file that was used.
    ///
    /// # Errors
    /// `Error::Config` when the file cannot be read or does not describe a valid config.
    pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>)> {
        let explicit = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        let file = match explicit {
            Some(p) => Some(p),
            None => Self::default_path().filter(|p| p.exists()),
        };
        let mut value: toml::Value = toml::from_str(DEFAULT_PROFILE).expect("built-in profile");
        if let Some(file) = &file {
            let text = std::fs::read_to_string(file).map_err(|e| Error::Config {
                path: file.clone(),
                message: e.to_string(),
            })?;
            let user: toml::Value = toml::from_str(&text).map_err(|e| Error::Config {
                path: file.clone(),
                message: e.to_string(),
            })?;
            merge(&mut value, user);
        }
        let config: Config = value
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config {
                path: file.clone().unwrap_or_else(|| PathBuf::from("<built-in>")),
                message: e.to_string(),
            })?;
        config.validate().map_err(|message| Error::Config {
            path: file.clone().unwrap_or_else(|| PathBuf::from("<built-in>")),
            message,
        })?;
        Ok((config, file))
    }

    fn validate(&self) -> std::result::Result<(), String> {
        for (name, module) in &self.modules {
            if !self.servers.contains_key(&module.server) {
                return Err(format!(
                    "module {name} names server '{}', which is not in [servers]",
                    module.server
                ));
            }
            if let Some(o) = &module.objects {
                if !self.object_stores.contains_key(&o.store) {
                    return Err(format!(
                        "module {name} names object store '{}', which is not in [object-stores]",
                        o.store
                    ));
                }
            }
            if let Some(i) = &module.indices {
                if !self.search.contains_key(&i.store) {
                    return Err(format!(
                        "module {name} names search server '{}', which is not in [search]",
                        i.store
                    ));
                }
            }
            if module.database.is_empty() || module.database.contains(['`', '"', '\0']) {
                return Err(format!("module {name}: invalid database name"));
            }
        }
        Ok(())
    }

    /// The module's settings.
    ///
    /// # Errors
    /// `Error::Usage` naming the known modules when `id` is not one of them.
    pub fn module(&self, id: &str) -> Result<(&ModuleConfig, &ServerConfig)> {
        let module = self.modules.get(id).ok_or_else(|| {
            Error::Usage(format!(
                "unknown module '{id}' (known: {})",
                self.modules.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        Ok((module, &self.servers[&module.server]))
    }
}

/// Deep-merge `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_has_the_four_modules() {
        let c = Config::builtin();
        for (id, engine, db) in [
            ("n8n", Engine::Postgres, "n8n_db"),
            ("oneapi", Engine::Mysql, "oneapi_db"),
            ("dify", Engine::Mysql, "dify_db"),
            ("ragflow", Engine::Mysql, "ragflow_db"),
        ] {
            let (m, s) = c.module(id).unwrap();
            assert_eq!(s.engine, engine, "{id}");
            assert_eq!(m.database, db);
        }
        assert!(c.module("nope").is_err());
    }

    #[test]
    fn user_file_overrides_single_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[servers.postgres]\nrunner = \"host\"\npassword = \"s3cret\"\n[modules.n8n]\ndatabase = \"other\"\n",
        )
        .unwrap();
        let (c, used) = Config::load(Some(&p)).unwrap();
        assert_eq!(used.as_deref(), Some(p.as_path()));
        let (m, s) = c.module("n8n").unwrap();
        assert_eq!(m.database, "other");
        assert_eq!(m.apps, vec!["ai-server-n8n".to_string()]);
        assert_eq!(s.runner, RunnerKind::Host);
        assert_eq!(s.container.as_deref(), Some("ai-server-postgres"));
        let shown = c.redacted();
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn unknown_keys_and_dangling_servers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[modules.n8n]\ndatabse = \"x\"\n").unwrap();
        assert!(matches!(Config::load(Some(&p)), Err(Error::Config { .. })));
        std::fs::write(&p, "[modules.n8n]\nserver = \"nowhere\"\n").unwrap();
        assert!(matches!(Config::load(Some(&p)), Err(Error::Config { .. })));
    }
}

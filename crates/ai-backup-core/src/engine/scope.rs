//! Exactly which data belongs to a module: its database, its buckets and prefixes, its
//! indices — from the configured names and patterns and from the module's own tables. A
//! backup reads this scope and a restore replaces this scope; `ai-backup plan` prints it so a
//! user can check that no other module's data is in it.

use serde::Serialize;

use crate::config::{BucketPrefix, Config, ModuleConfig};
use crate::docker::DockerClient;
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::elasticsearch::EsClient;
use crate::store::s3::S3Client;
use crate::store::DatabaseStore;

/// A module's data, resolved to concrete names.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Scope {
    pub database: String,
    /// Whole buckets (prefix "") and prefixes inside shared buckets.
    pub objects: Vec<BucketPrefix>,
    pub indices: Vec<String>,
}

/// Clients for the module's object store and search server, when it has them.
pub struct Clients {
    pub s3: Option<S3Client>,
    pub es: Option<EsClient>,
}

/// Connect to the module's object store and search server (credentials from the config, else
/// from their containers' environment); retried transient errors are counted in `progress`.
pub async fn clients(
    config: &Config,
    module: &ModuleConfig,
    docker: Option<&DockerClient>,
    progress: &Progress,
) -> Result<Clients> {
    let env_of = |container: Option<String>| async move {
        match (container, docker) {
            (Some(c), Some(d)) => d.env(&c).await,
            _ => Ok(None),
        }
    };
    let s3 = match &module.objects {
        Some(o) => {
            let cfg = &config.object_stores[&o.store];
            let env = env_of(cfg.container.clone()).await?;
            let s3 =
                S3Client::from_config(cfg, env.as_ref()).map_err(|e| e.into_error(&o.store))?;
            Some(s3.with_progress(progress))
        }
        None => None,
    };
    let es = match &module.indices {
        Some(i) => {
            let cfg = &config.search[&i.store];
            let env = env_of(cfg.container.clone()).await?;
            Some(EsClient::new(&cfg.resolve(env.as_ref())).map_err(Error::from)?)
        }
        None => None,
    };
    Ok(Clients { s3, es })
}

/// Resolve the module's scope on the live servers.
pub async fn resolve(
    module: &ModuleConfig,
    db: &dyn DatabaseStore,
    clients: &Clients,
    cancel: &Cancel,
) -> Result<Scope> {
    let mut scope = Scope {
        database: module.database.clone(),
        ..Default::default()
    };
    let db_present = db.exists(&module.database, cancel).await?;
    if let (Some(o), Some(s3)) = (&module.objects, &clients.s3) {
        // The tool's own hold bucket is never part of a module, whatever the patterns say.
        let existing: Vec<String> = super::objects::bucket_names(s3, &o.store, cancel)
            .await?
            .into_iter()
            .filter(|b| b != super::objects::HOLD_BUCKET)
            .collect();
        let mut whole: Vec<String> = existing
            .iter()
            .filter(|b| o.buckets.iter().any(|p| glob(p, b)))
            .cloned()
            .collect();
        if let (Some(sql), true) = (&o.buckets_from_sql, db_present) {
            for name in discover(db, &module.database, sql, cancel).await? {
                if existing.contains(&name) {
                    whole.push(name);
                }
            }
        }
        whole.sort();
        whole.dedup();
        scope.objects = whole
            .iter()
            .map(|b| BucketPrefix {
                bucket: b.clone(),
                prefix: String::new(),
            })
            .collect();
        for p in &o.prefixes {
            if existing.contains(&p.bucket) && !whole.contains(&p.bucket) {
                scope.objects.push(p.clone());
            }
        }
    }
    if let (Some(i), Some(es)) = (&module.indices, &clients.es) {
        let mut patterns = i.patterns.clone();
        if let (Some(sql), true) = (&i.from_sql, db_present) {
            patterns.extend(discover(db, &module.database, sql, cancel).await?);
        }
        if !patterns.is_empty() {
            scope.indices = es
                .resolve(&patterns, cancel)
                .await
                .map_err(Error::from)?
                .into_iter()
                .filter(|i| !i.ends_with(super::indices::HOLD_SUFFIX))
                .collect();
        }
    }
    Ok(scope)
}

/// The names a discovery query returns. A database without any table (created but never
/// set up by the app, or emptied) has nothing to discover; any other failure of the query is
/// an error, since a backup that guessed would miss data.
async fn discover(
    db: &dyn DatabaseStore,
    database: &str,
    sql: &str,
    cancel: &Cancel,
) -> Result<Vec<String>> {
    match db.column(database, sql, cancel).await {
        Ok(names) => Ok(names),
        Err(e @ Error::Cancelled) => Err(e),
        Err(e) => match db.stats(database, cancel).await {
            Ok(stats) if stats.tables.is_empty() => Ok(Vec::new()),
            _ => Err(e),
        },
    }
}

/// `*` and `?` wildcards, as bucket patterns use them.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// True when `key` in `bucket` is inside the scope.
pub fn contains(scope: &[BucketPrefix], bucket: &str, key: &str) -> bool {
    scope
        .iter()
        .any(|p| p.bucket == bucket && key.starts_with(&p.prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, n, yes) in [
            ("dify-*", "dify-apps", true),
            ("dify-*", "dify-", true),
            ("dify-*", "dify", false),
            ("dify-*", "ragflow-kb", false),
            ("ragflow-kb-?", "ragflow-kb-1", true),
            ("ragflow-kb-?", "ragflow-kb-12", false),
            ("*", "anything", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(p, n), yes, "{p} vs {n}");
        }
    }

    #[test]
    fn prefixes_limit_the_scope() {
        let scope = vec![
            BucketPrefix {
                bucket: "shared".into(),
                prefix: "dify/".into(),
            },
            BucketPrefix {
                bucket: "dify-apps".into(),
                prefix: String::new(),
            },
        ];
        assert!(contains(&scope, "shared", "dify/x"));
        assert!(!contains(&scope, "shared", "ragflow/x"));
        assert!(contains(&scope, "dify-apps", "any/key"));
        assert!(!contains(&scope, "other", "dify/x"));
    }
}

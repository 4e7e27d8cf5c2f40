//! `ai-backup plan <module>`: what a backup would read and a restore would replace, resolved
//! on the live servers, with sizes, so a user can check the scope before running either.

use serde::Serialize;

use super::scope::{self, Scope};
use crate::config::Config;
use crate::error::Result;
use crate::progress::{Cancel, Progress};
use crate::store;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub module: String,
    pub database_server: String,
    pub database_present: bool,
    /// Size of the database on its server, when it is there.
    pub database_bytes: Option<u64>,
    pub apps: Vec<String>,
    pub secrets: Vec<String>,
    pub scope: Scope,
    /// (bucket, prefix, objects, bytes) for each entry of `scope.objects`.
    pub object_counts: Vec<(String, String, u64, u64)>,
    /// (index, documents).
    pub index_counts: Vec<(String, u64)>,
}

/// Resolve the module's scope and count what is in it.
pub async fn plan(
    config: &Config,
    module_id: &str,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Plan> {
    let (module, server) = config.module(module_id)?;
    let docker = super::docker_for(&config.docker, module, server, progress).await?;
    let db = store::open(server, docker.as_ref()).await?;
    let clients = scope::clients(config, module, docker.as_ref(), progress).await?;
    let scope = scope::resolve(module, &*db, &clients, cancel).await?;
    let mut object_counts = Vec::new();
    if let Some(s3) = &clients.s3 {
        for p in &scope.objects {
            let c = super::objects::count_prefix(s3, p, module_id, cancel).await?;
            object_counts.push((p.bucket.clone(), p.prefix.clone(), c.objects, c.bytes));
        }
    }
    let index_counts = match &clients.es {
        Some(es) => super::indices::counts(es, &scope.indices, cancel)
            .await?
            .indices
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let database_present = db.exists(&module.database, cancel).await?;
    let database_bytes = match database_present {
        true => db
            .stats(&module.database, cancel)
            .await
            .ok()
            .map(|s| s.bytes),
        false => None,
    };
    Ok(Plan {
        module: module_id.into(),
        database_server: db.describe(),
        database_present,
        database_bytes,
        apps: module.apps.clone(),
        secrets: module
            .secrets
            .iter()
            .map(|s| format!("{} ({})", s.name, s.container))
            .collect(),
        scope,
        object_counts,
        index_counts,
    })
}

//! What the page's module cards show: each module's containers and database (its status),
//! plus the size of its buckets/prefixes and indices (from its plan). Problems are shown per
//! module, never fatal.

use serde::Serialize;

use super::{modules_status, plan};
use crate::config::Config;
use crate::docker::ContainerState;
use crate::progress::{Cancel, Progress};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectsSize {
    pub bucket: String,
    pub prefix: String,
    pub objects: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexSize {
    pub index: String,
    pub documents: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseInfo {
    pub name: String,
    pub engine: String,
    pub present: Option<bool>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleOverview {
    pub id: String,
    pub status_line: String,
    /// The database server's container, then the apps'.
    pub containers: Vec<ContainerState>,
    pub database: DatabaseInfo,
    pub objects: Vec<ObjectsSize>,
    pub indices: Vec<IndexSize>,
    pub problem: Option<String>,
}

/// Every configured module, with its stores' sizes where it has objects or indices.
pub async fn overview(config: &Config, cancel: &Cancel) -> Vec<ModuleOverview> {
    let mut out = Vec::new();
    for status in modules_status(config, cancel).await {
        let mut card = ModuleOverview {
            id: status.module.clone(),
            status_line: status.line(),
            containers: status
                .server_container
                .iter()
                .chain(&status.apps)
                .cloned()
                .collect(),
            database: DatabaseInfo {
                name: status.database.clone(),
                engine: status.engine.clone(),
                present: status.database_present,
                bytes: status.database_bytes,
            },
            problem: status.problem.clone(),
            objects: Vec::new(),
            indices: Vec::new(),
        };
        let m = &config.modules[&card.id];
        if m.objects.is_some() || m.indices.is_some() {
            match plan(config, &card.id, &Progress::silent(), cancel).await {
                Ok(p) => {
                    card.objects = p
                        .object_counts
                        .into_iter()
                        .map(|(bucket, prefix, objects, bytes)| ObjectsSize {
                            bucket,
                            prefix,
                            objects,
                            bytes,
                        })
                        .collect();
                    card.indices = p
                        .index_counts
                        .into_iter()
                        .map(|(index, documents)| IndexSize { index, documents })
                        .collect();
                }
                Err(e) => {
                    card.problem.get_or_insert(e.to_string());
                }
            }
        }
        out.push(card);
    }
    out
}

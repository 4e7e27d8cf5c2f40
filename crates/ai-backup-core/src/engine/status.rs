//! What `ai-backup modules` shows: for each module, its containers and whether its database is
//! there and how big it is.

use serde::Serialize;

use crate::config::Config;
use crate::docker::{ContainerState, DockerClient};
use crate::progress::Cancel;
use crate::store;

#[derive(Debug, Clone, Serialize)]
pub struct ModuleStatus {
    pub module: String,
    pub engine: String,
    pub database: String,
    pub server_container: Option<ContainerState>,
    pub apps: Vec<ContainerState>,
    pub database_present: Option<bool>,
    pub database_bytes: Option<u64>,
    pub problem: Option<String>,
}

impl ModuleStatus {
    /// One line for people: module, engine, database and its state, containers and theirs.
    pub fn line(&self) -> String {
        let containers = self
            .server_container
            .iter()
            .chain(self.apps.iter())
            .map(|c| {
                let state = if !c.exists {
                    "missing"
                } else if c.running {
                    "running"
                } else {
                    "stopped"
                };
                format!("{}: {state}", c.name)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let db = match (self.database_present, self.database_bytes) {
            (Some(true), Some(b)) => format!("{} present, {b} bytes", self.database),
            (Some(true), None) => format!("{} present", self.database),
            (Some(false), _) => format!("{} missing", self.database),
            (None, _) => format!("{} unknown", self.database),
        };
        let mut line = format!("{:<8} {:<8} {db}; {containers}", self.module, self.engine);
        if let Some(p) = &self.problem {
            line += &format!(" ({p})");
        }
        line
    }
}

/// Look at every configured module; problems are reported per module, never fatal.
pub async fn modules_status(config: &Config, cancel: &Cancel) -> Vec<ModuleStatus> {
    let docker = DockerClient::connect(&config.docker).await;
    let mut out = Vec::new();
    for (id, module) in &config.modules {
        let server = &config.servers[&module.server];
        let mut st = ModuleStatus {
            module: id.clone(),
            engine: server.engine.as_str().into(),
            database: module.database.clone(),
            server_container: None,
            apps: Vec::new(),
            database_present: None,
            database_bytes: None,
            problem: None,
        };
        let d = match &docker {
            Ok(d) => Some(d),
            Err(e) => {
                st.problem = Some(e.to_string());
                None
            }
        };
        if let Some(d) = d {
            if let Some(c) = &server.container {
                st.server_container = d.state(c).await.ok();
            }
            for a in &module.apps {
                if let Ok(s) = d.state(a).await {
                    st.apps.push(s);
                }
            }
        }
        match store::open(server, d).await {
            Ok(s) => match s.exists(&module.database, cancel).await {
                Ok(true) => {
                    st.database_present = Some(true);
                    st.database_bytes = s
                        .stats(&module.database, cancel)
                        .await
                        .ok()
                        .map(|x| x.bytes);
                }
                Ok(false) => st.database_present = Some(false),
                Err(e) => st.problem = Some(e.to_string()),
            },
            Err(e) => {
                st.problem.get_or_insert(e.to_string());
            }
        }
        out.push(st);
    }
    out
}

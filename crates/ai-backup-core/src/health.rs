//! After a restore, is the module up? Every app container must be running (and healthy when it
//! has a Docker health check), and the configured HTTP probe must answer 2xx.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::ModuleConfig;
use crate::docker::DockerClient;
use crate::progress::Cancel;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthReport {
    pub healthy: bool,
    pub details: Vec<String>,
}

/// Wait up to the module's timeout for its apps to be up; report what was seen.
pub async fn check(docker: &DockerClient, module: &ModuleConfig, cancel: &Cancel) -> HealthReport {
    let deadline = Instant::now() + Duration::from_secs(module.health.timeout_secs);
    let mut details = Vec::new();
    let mut healthy = true;
    for name in &module.apps {
        let mut last;
        let ok = loop {
            match docker.state(name).await {
                Ok(st) if !st.exists => {
                    last = format!("{name}: no such container");
                    break false;
                }
                Ok(st) if st.running && matches!(st.health.as_deref(), None | Some("healthy")) => {
                    last = format!(
                        "{name}: running{}",
                        st.health.map(|h| format!(", {h}")).unwrap_or_default()
                    );
                    break true;
                }
                Ok(st) => {
                    last = format!(
                        "{name}: {}{}",
                        if st.running { "running" } else { "not running" },
                        st.health.map(|h| format!(", {h}")).unwrap_or_default()
                    )
                }
                Err(e) => last = format!("{name}: {e}"),
            }
            if Instant::now() > deadline || cancel.is_cancelled() {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        healthy &= ok;
        details.push(last);
    }
    if let Some(url) = &module.health.url {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let mut last;
        let ok = loop {
            match client.get(url).send().await {
                Ok(r) if r.status().is_success() => {
                    last = format!("{url}: HTTP {}", r.status().as_u16());
                    break true;
                }
                Ok(r) => last = format!("{url}: HTTP {}", r.status().as_u16()),
                Err(e) => last = format!("{url}: {}", short(&e)),
            }
            if Instant::now() > deadline || cancel.is_cancelled() {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        healthy &= ok;
        details.push(last);
    }
    HealthReport { healthy, details }
}

fn short(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".into()
    } else if e.is_timeout() {
        "timed out".into()
    } else {
        e.to_string()
    }
}

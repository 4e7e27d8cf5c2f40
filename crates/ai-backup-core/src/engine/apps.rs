//! The module's apps around a restore: stopped before the first change and started after the
//! last, then their health checked. On a failure they stay stopped until the data is back,
//! and only those the restore stopped are started again. A start that fails is reported
//! beside the cause of the failure, never instead of it.

use crate::config::{HealthConfig, ModuleConfig};
use crate::docker::{AppsHeld, DockerClient, Hold};
use crate::error::{Error, Result};
use crate::health::{self, HealthReport};
use crate::progress::{Cancel, Progress};

pub struct Apps {
    docker: Option<DockerClient>,
    module: ModuleConfig,
    id: String,
    /// Stopped by the restore and not started yet; `Drop` starts them on every other path.
    guard: Option<AppsHeld>,
    stopped: Vec<String>,
    healthy_before: bool,
}

impl Apps {
    /// Whether the module is healthy now. An app just resumed from a backup's pause may report
    /// "starting" for a few seconds, so it is given a short while.
    pub async fn healthy(docker: Option<&DockerClient>, module: &ModuleConfig) -> bool {
        let Some(d) = docker.filter(|_| !module.apps.is_empty()) else {
            return false;
        };
        let quick = ModuleConfig {
            health: HealthConfig {
                timeout_secs: module.health.timeout_secs.min(20),
                ..module.health.clone()
            },
            ..module.clone()
        };
        health::check(d, &quick, &Cancel::new()).await.healthy
    }

    /// The apps of `names` running now: those a restore stops, and the only ones it starts.
    pub async fn running(docker: Option<&DockerClient>, names: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(d) = docker {
            for n in names {
                if d.state(n).await.is_ok_and(|s| s.running) {
                    out.push(n.clone());
                }
            }
        }
        out
    }

    /// Stop the module's running apps.
    ///
    /// # Errors
    /// When one cannot be stopped; those already stopped are started again first.
    pub async fn stop(
        docker: Option<&DockerClient>,
        id: &str,
        module: &ModuleConfig,
        healthy_before: bool,
        progress: &Progress,
    ) -> Result<Self> {
        progress.phase("stop-apps", None);
        let guard = match docker {
            Some(d) => Some(AppsHeld::hold(d, &module.apps, Hold::Stopped).await?),
            None => None,
        };
        let stopped = guard
            .as_ref()
            .map(|g| g.names().to_vec())
            .unwrap_or_default();
        if !stopped.is_empty() {
            progress.info(format!("stopped {}", stopped.join(", ")));
        }
        Ok(Self {
            docker: docker.cloned(),
            module: module.clone(),
            id: id.to_string(),
            guard,
            stopped,
            healthy_before,
        })
    }

    pub fn stopped(&self) -> &[String] {
        &self.stopped
    }

    /// Start the apps and check their health. A module healthy before the restore must be
    /// healthy after it; one that was not is kept with a warning.
    ///
    /// # Errors
    /// A failed start or health check, with the apps stopped again for the undo.
    pub async fn start_and_check(&mut self, progress: &Progress) -> Result<Option<HealthReport>> {
        let (Some(g), Some(d)) = (self.guard.take(), self.docker.clone()) else {
            return Ok(None);
        };
        progress.phase("start-apps", None);
        if let Err(e) = g.release().await {
            self.stop_again(&d).await;
            return Err(e);
        }
        if self.module.apps.is_empty() && self.module.health.url.is_none() {
            return Ok(None);
        }
        progress.phase("health", None);
        let report = health::check(&d, &self.module, &Cancel::new()).await;
        if report.healthy || !self.healthy_before {
            if !report.healthy {
                progress.warn(format!(
                    "{} is not healthy after the restore ({}), as it was not before; the restore is kept",
                    self.id,
                    report.details.join("; ")
                ));
            }
            return Ok(Some(report));
        }
        self.stop_again(&d).await;
        Err(Error::Health {
            module: self.id.clone(),
            message: format!(
                "{}; the previous data was put back",
                report.details.join("; ")
            ),
        })
    }

    async fn stop_again(&self, d: &DockerClient) {
        for name in &self.module.apps {
            let _ = d.stop(name).await;
        }
    }

    /// On a failure path, once the data is back: start what the restore stopped.
    pub async fn restart(mut self, progress: &Progress) {
        let names = self.stopped.join(", ");
        let started = match (self.guard.take(), &self.docker) {
            (Some(g), _) => g.release().await.map(drop),
            (None, Some(d)) => {
                let mut first = Ok(());
                for n in &self.stopped {
                    if let Err(e) = d.start(n).await {
                        first = first.and(Err(e));
                    }
                }
                first
            }
            (None, None) => Ok(()),
        };
        if let Err(e) = started {
            progress.warn(format!(
                "could not start {names} again: {e}; start them by hand"
            ));
        }
    }
}

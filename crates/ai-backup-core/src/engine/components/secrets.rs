//! The secrets the module's data depends on. A backup carries them in the archive. A restore
//! checks them before anything is touched (a differing key is refused unless the user asked to
//! restore it), writes them into their files after the database is in place, and puts them
//! back as they were on undo.

use async_trait::async_trait;

use super::{BackupCx, Component, Cx, Left};
use crate::archive::{self, ArchiveWriter, Metadata, SecretMeta};
use crate::config::{ModuleConfig, SecretConfig};
use crate::docker::DockerClient;
use crate::engine::secret_check;
use crate::error::{Error, Result};
use crate::secrets::{self, Previous};

pub struct Secrets {
    docker: Option<DockerClient>,
    module: ModuleConfig,
    restore: bool,
    /// What to write: the secret and its archived value.
    plans: Vec<(SecretConfig, String)>,
    /// What was written, with the content it replaced.
    written: Vec<(SecretConfig, Previous)>,
    /// Backup: the secrets found, by name.
    found: Vec<(String, secrets::Found)>,
}

impl Secrets {
    /// `restore`: the user asked to put the archived secrets in place when they differ.
    pub fn new(docker: Option<DockerClient>, module: &ModuleConfig, restore: bool) -> Self {
        Self {
            docker,
            module: module.clone(),
            restore,
            plans: Vec::new(),
            written: Vec::new(),
            found: Vec::new(),
        }
    }

    async fn put_back(&mut self) -> std::result::Result<(), Left> {
        let Some(d) = &self.docker else {
            return Ok(());
        };
        let mut left = Vec::new();
        while let Some((spec, prev)) = self.written.pop() {
            if let Err(e) = secrets::put_back(d, &spec, &prev).await {
                left.push(format!(
                    "{e}; the archived {} is still in place in {}",
                    spec.name, spec.container
                ));
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(left.join("; "))
        }
    }
}

#[async_trait]
impl Component for Secrets {
    /// A key is read with the apps running.
    fn needs_quiet(&self) -> bool {
        false
    }

    async fn describe(&mut self, cx: &BackupCx<'_>, meta: &mut Metadata) -> Result<()> {
        let Some(d) = &self.docker else {
            return Ok(());
        };
        for spec in &self.module.secrets {
            match secrets::read(d, spec).await? {
                Some(f) => self.found.push((spec.name.clone(), f)),
                None => cx.progress.warn(format!(
                    "{} was not found in {} (neither {} nor {}); the archive will not carry it",
                    spec.name,
                    spec.container,
                    spec.env.as_deref().unwrap_or("-"),
                    spec.file.as_deref().unwrap_or("-")
                )),
            }
        }
        for (name, f) in &self.found {
            meta.secrets.push(SecretMeta {
                name: name.clone(),
                source: f.source.clone(),
                entry: format!("{}{name}", archive::SECRETS_DIR),
            });
        }
        if !self.found.is_empty() {
            meta.components.push("secrets".into());
        }
        Ok(())
    }

    async fn write(&mut self, _cx: &BackupCx<'_>, writer: &mut ArchiveWriter) -> Result<()> {
        for (name, f) in &self.found {
            let entry = format!("{}{name}", archive::SECRETS_DIR);
            writer.add_bytes(&entry, f.value.as_bytes()).await?;
        }
        Ok(())
    }

    async fn preflight(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let checks =
            secret_check::compare(self.docker.as_ref(), &self.module, cx.verified, cx.progress)
                .await?;
        for check in checks.into_iter().filter(|c| c.differs) {
            if !self.restore || !check.can_restore {
                return Err(Error::Secret {
                    module: cx.module.to_string(),
                    message: format!("{}. Nothing was changed", check.text),
                });
            }
            let spec = self
                .module
                .secrets
                .iter()
                .find(|s| s.name == check.name)
                .expect("checks come from the module's secrets");
            self.plans
                .push((spec.clone(), check.archived.unwrap_or_default()));
        }
        Ok(())
    }

    async fn stage(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        Ok(())
    }

    async fn discard(&mut self, _cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        Ok(())
    }

    async fn commit(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        for (spec, value) in &self.plans {
            let d = self
                .docker
                .as_ref()
                .expect("secrets are planned only with Docker");
            match secrets::write(d, spec, value, cx.module).await {
                Ok(prev) => {
                    self.written.push((spec.clone(), prev));
                    cx.progress.info(format!(
                        "put the archived {} in place in {}",
                        spec.name, spec.container
                    ));
                }
                Err(e) => {
                    return match self.put_back().await {
                        Ok(()) => Err(e),
                        Err(left) => Err(Error::RollbackIncomplete {
                            message: e.to_string(),
                            left,
                        }),
                    }
                }
            }
        }
        Ok(())
    }

    async fn rollback(&mut self, _cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        self.put_back().await
    }

    async fn release(&mut self, _cx: &mut Cx<'_>) {}

    fn report(&self, report: &mut super::Report) {
        report.secrets_written = self.written.iter().map(|(s, _)| s.name.clone()).collect();
    }
}

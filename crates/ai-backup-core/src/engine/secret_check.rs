//! How an archive's secrets compare with the running apps': the one check behind the restore's
//! refusal, the page's explanation and its offer to put the archived key in place.

use serde::Serialize;

use crate::archive::{self, Verified};
use crate::config::{Config, ModuleConfig, SecretConfig};
use crate::docker::DockerClient;
use crate::error::Result;
use crate::progress::Progress;
use crate::secrets;

/// One secret of the module, archived and live, compared. Never holds a value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCheck {
    pub name: String,
    pub container: String,
    /// The archive carries it and the target's is missing or another.
    pub differs: bool,
    /// The target has none at all.
    pub target_missing: bool,
    /// Set when the target's comes from its environment (`env:VAR`), which cannot be changed.
    pub from_env: Option<String>,
    /// A restore may put the archived secret in place (it differs, and lives in a file).
    pub can_restore: bool,
    /// What a restore without the archived secret would mean, for people.
    pub text: String,
    #[serde(skip)]
    pub(crate) archived: Option<String>,
}

/// Compare every configured secret of `module` with the archive's. Without Docker nothing can
/// be compared and the list is empty.
pub async fn compare(
    docker: Option<&DockerClient>,
    module: &ModuleConfig,
    verified: &Verified,
    progress: &Progress,
) -> Result<Vec<SecretCheck>> {
    let mut out = Vec::new();
    for spec in &module.secrets {
        let entry = format!("{}{}", archive::SECRETS_DIR, spec.name);
        let Some(bytes) = verified.secrets.get(&entry) else {
            progress.warn(format!(
                "the archive does not carry {}; the target keeps its own",
                spec.name
            ));
            continue;
        };
        let Some(d) = docker else { continue };
        let archived = String::from_utf8_lossy(bytes).into_owned();
        let target = secrets::read(d, spec).await?;
        let differs = target.as_ref().map(|t| &t.value) != Some(&archived);
        let from_env = target
            .as_ref()
            .and_then(|t| t.source.strip_prefix("env:").map(str::to_string));
        out.push(SecretCheck {
            name: spec.name.clone(),
            container: spec.container.clone(),
            differs,
            target_missing: target.is_none(),
            text: explain(spec, differs, target.is_none(), from_env.as_deref()),
            can_restore: differs && from_env.is_none(),
            from_env,
            archived: Some(archived),
        });
    }
    Ok(out)
}

/// The check for `module_id` of `config`, connecting to Docker itself (for the page).
///
/// # Errors
/// Unknown module; Docker errors while reading the live secrets.
pub async fn compare_for(
    config: &Config,
    module_id: &str,
    verified: &Verified,
    progress: &Progress,
) -> Result<Vec<SecretCheck>> {
    let (module, server) = config.module(module_id)?;
    let docker = super::docker_for(&config.docker, module, server, progress).await?;
    compare(docker.as_ref(), module, verified, progress).await
}

fn explain(spec: &SecretConfig, differs: bool, missing: bool, env: Option<&str>) -> String {
    if !differs {
        return format!("{} of {} matches the archive's", spec.name, spec.container);
    }
    let consequence = spec
        .consequence
        .as_deref()
        .unwrap_or("the restored data cannot be decrypted");
    let mut text = format!(
        "the {} of {} {} the one in the archive; restoring without it would mean {consequence}",
        spec.name,
        spec.container,
        if missing {
            "is missing, unlike"
        } else {
            "differs from"
        }
    );
    text += &match env {
        Some(var) => format!(
            ". It comes from the container's environment ({var}), which ai-backup cannot change: set it to the archived key and recreate the container"
        ),
        None => ". Putting the archived key in place (--restore-secrets) fixes that; a move to a new machine is the usual case".to_string(),
    };
    text
}

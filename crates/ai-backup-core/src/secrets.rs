//! Secrets the module's data depends on (n8n's encryption key, Dify's SECRET_KEY): read from
//! the app container's environment or config file at backup, compared with the target's at
//! restore, and put in place only when the user asks. A DB restored under another key cannot
//! decrypt its credentials, so a mismatch is caught before any data is touched.

use crate::config::SecretConfig;
use crate::docker::DockerClient;
use crate::error::{Error, Result};

/// A secret's value and where it was found ("env:VAR" or "file:PATH").
#[derive(Clone, PartialEq, Eq)]
pub struct Found {
    pub value: String,
    pub source: String,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Found(<redacted> from {})", self.source)
    }
}

/// Read the secret from its container (running or stopped). `None` when neither the variable
/// nor the file holds it, or the container does not exist.
pub async fn read(docker: &DockerClient, spec: &SecretConfig) -> Result<Option<Found>> {
    let Some(env) = docker.env(&spec.container).await? else {
        return Ok(None);
    };
    if let Some(var) = &spec.env {
        if let Some(v) = env.get(var).filter(|v| !v.is_empty()) {
            return Ok(Some(Found {
                value: v.clone(),
                source: format!("env:{var}"),
            }));
        }
    }
    let Some(path) = &spec.file else {
        return Ok(None);
    };
    let Some(bytes) = docker.read_file(&spec.container, path).await? else {
        return Ok(None);
    };
    let value = match &spec.json_field {
        Some(field) => {
            let json: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| Error::Secret {
                    module: spec.container.clone(),
                    message: format!("{path} in {} is not JSON ({e})", spec.container),
                })?;
            match json.get(field).and_then(|v| v.as_str()) {
                Some(v) => v.to_string(),
                None => return Ok(None),
            }
        }
        None => String::from_utf8_lossy(&bytes).trim().to_string(),
    };
    Ok(Some(Found {
        value,
        source: format!("file:{path}"),
    }))
}

/// The file content as it was, to put back on rollback (`None`: there was no file).
pub type Previous = Option<Vec<u8>>;

/// Write `value` into the secret's file in its container, keeping the file's other fields.
/// Returns the previous content.
///
/// # Errors
/// When the secret only lives in the container's environment (which cannot be changed from
/// outside), or the file cannot be written.
pub async fn write(
    docker: &DockerClient,
    spec: &SecretConfig,
    value: &str,
    module: &str,
) -> Result<Previous> {
    let Some(path) = &spec.file else {
        return Err(Error::Secret {
            module: module.into(),
            message: format!(
                "{} is kept only in the environment of {}; set it there",
                spec.name, spec.container
            ),
        });
    };
    let previous = docker.read_file(&spec.container, path).await?;
    let content = match &spec.json_field {
        Some(field) => {
            let mut json: serde_json::Value = previous
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_else(|| serde_json::json!({}));
            json[field.as_str()] = serde_json::Value::String(value.to_string());
            serde_json::to_vec_pretty(&json).expect("json")
        }
        None => value.as_bytes().to_vec(),
    };
    let dir = path.rsplit_once('/').map(|p| p.0).unwrap_or("/");
    let owner = match docker.file_owner(&spec.container, path).await? {
        Some(o) => o,
        None => docker
            .file_owner(&spec.container, dir)
            .await?
            .unwrap_or((0, 0)),
    };
    docker
        .write_file(&spec.container, path, &content, owner)
        .await?;
    Ok(previous)
}

/// Put back what `write` replaced: the previous content, or no file when there was none.
pub async fn put_back(
    docker: &DockerClient,
    spec: &SecretConfig,
    previous: &Previous,
) -> Result<()> {
    let Some(path) = &spec.file else {
        return Ok(());
    };
    match previous {
        Some(bytes) => {
            let owner = docker
                .file_owner(&spec.container, path)
                .await?
                .unwrap_or((0, 0));
            docker.write_file(&spec.container, path, bytes, owner).await
        }
        None => remove_file(docker, &spec.container, path).await,
    }
}

/// Remove a file from a container that may be stopped (a restore stops the apps): a
/// short-lived container of the same image, sharing its volumes and without a network, runs
/// `rm`. Only a file in a volume can be reached that way, so the file is checked gone after.
async fn remove_file(docker: &DockerClient, container: &str, path: &str) -> Result<()> {
    use bollard::models::{ContainerCreateBody, HostConfig};
    use bollard::query_parameters::RemoveContainerOptionsBuilder;
    use futures_util::StreamExt;

    let api = docker.api();
    let image = api.inspect_container(container, None).await?.image;
    let body = ContainerCreateBody {
        image,
        entrypoint: Some(vec!["rm".into(), "-f".into(), "--".into(), path.into()]),
        cmd: Some(Vec::new()),
        user: Some("0".into()),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            volumes_from: Some(vec![container.into()]),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = api.create_container(None, body).await?.id;
    let ran = async {
        api.start_container(&id, None).await?;
        let mut wait = api.wait_container(&id, None);
        while let Some(r) = wait.next().await {
            r?;
        }
        Ok::<_, bollard::errors::Error>(())
    }
    .await;
    let rm = RemoveContainerOptionsBuilder::new().force(true).build();
    let _ = api.remove_container(&id, Some(rm)).await;
    ran?;
    if docker.read_file(container, path).await?.is_some() {
        return Err(Error::Docker(format!(
            "{path} in {container} could not be removed (it is not in a volume); remove it by hand"
        )));
    }
    Ok(())
}

//! The Docker Engine API as this tool needs it: find containers, read their environment and
//! files, stop/pause them and — through a guard — always start them again.

use std::collections::HashMap;

use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::TryStreamExt;

use crate::config::DockerConfig;
use crate::error::{Error, Result};

/// The engine's endpoint when neither the config nor `DOCKER_HOST` names one.
pub const fn default_host() -> &'static str {
    if cfg!(windows) {
        "npipe:////./pipe/docker_engine"
    } else {
        "unix:///var/run/docker.sock"
    }
}

/// A client for `host`: `unix://` (Unix only), `npipe://` (Windows only), else HTTP
/// (`tcp://` or `http://`).
fn connect_to(host: &str) -> std::result::Result<Docker, bollard::errors::Error> {
    const TIMEOUT: u64 = 120;
    let version = bollard::API_DEFAULT_VERSION;
    #[cfg(unix)]
    if host.starts_with("unix://") {
        return Docker::connect_with_unix(host, TIMEOUT, version);
    }
    #[cfg(windows)]
    if host.starts_with("npipe://") {
        return Docker::connect_with_named_pipe(host, TIMEOUT, version);
    }
    if host.starts_with("unix://") || host.starts_with("npipe://") {
        return Err(bollard::errors::Error::UnsupportedURISchemeError {
            uri: host.to_string(),
        });
    }
    Docker::connect_with_http(host, TIMEOUT, version)
}

/// A connected Docker client.
#[derive(Clone)]
pub struct DockerClient {
    pub(crate) api: Docker,
}

/// What Docker says about one container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerState {
    pub name: String,
    pub exists: bool,
    pub running: bool,
    pub paused: bool,
    /// "healthy", "unhealthy", "starting", or None when it has no health check.
    pub health: Option<String>,
}

impl DockerClient {
    /// Connect to `cfg.host`, else `DOCKER_HOST`, else the platform default
    /// ([`default_host`]: the Unix socket, or Docker Desktop's named pipe on Windows).
    ///
    /// # Errors
    /// `Error::Docker` when no engine answers, naming the endpoint, with a hint to start Docker.
    pub async fn connect(cfg: &DockerConfig) -> Result<Self> {
        let host = cfg
            .host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| default_host().to_string());
        let api = connect_to(&host).map_err(|e| {
            Error::Docker(format!(
                "cannot connect to the Docker engine at {host}: {e}"
            ))
        })?;
        let api = api.negotiate_version().await.map_err(|e| {
            Error::Docker(format!(
                "the Docker engine at {host} does not answer ({e}); is Docker running?"
            ))
        })?;
        Ok(Self { api })
    }

    pub fn api(&self) -> &Docker {
        &self.api
    }

    pub async fn state(&self, name: &str) -> Result<ContainerState> {
        match self.api.inspect_container(name, None).await {
            Ok(info) => {
                let st = info.state.unwrap_or_default();
                Ok(ContainerState {
                    name: name.into(),
                    exists: true,
                    running: st.running == Some(true)
                        || st.status == Some(ContainerStateStatusEnum::RUNNING),
                    paused: st.paused == Some(true),
                    health: st.health.and_then(|h| h.status).and_then(|s| match s {
                        HealthStatusEnum::HEALTHY => Some("healthy".into()),
                        HealthStatusEnum::UNHEALTHY => Some("unhealthy".into()),
                        HealthStatusEnum::STARTING => Some("starting".into()),
                        _ => None,
                    }),
                })
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(ContainerState {
                name: name.into(),
                exists: false,
                running: false,
                paused: false,
                health: None,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The container's environment (`Config.Env`), or `None` when it does not exist.
    pub async fn env(&self, name: &str) -> Result<Option<HashMap<String, String>>> {
        match self.api.inspect_container(name, None).await {
            Ok(info) => Ok(Some(
                info.config
                    .and_then(|c| c.env)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A file of the container (running or not), or `None` when it does not exist.
    pub async fn read_file(&self, name: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let opts = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let body: Vec<u8> = match self
            .api
            .download_from_container(name, Some(opts))
            .map_ok(|b| b.to_vec())
            .try_concat()
            .await
        {
            Ok(b) => b,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut ar = tar::Archive::new(body.as_slice());
        let entries = ar
            .entries()
            .map_err(|e| Error::io("reading a file from Docker", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::io("reading a file from Docker", e))?;
            if entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data)
                    .map_err(|e| Error::io("reading a file from Docker", e))?;
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Write a file into the container (running or not), mode 0600, owned by `uid:gid`.
    pub async fn write_file(
        &self,
        name: &str,
        path: &str,
        data: &[u8],
        owner: (u64, u64),
    ) -> Result<()> {
        let (dir, file) = path
            .rsplit_once('/')
            .ok_or_else(|| Error::Usage(format!("not an absolute path: {path}")))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_uid(owner.0);
        header.set_gid(owner.1);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_data(&mut header, file, data)
            .map_err(|e| Error::io("building a file for Docker", e))?;
        let tarball = builder
            .into_inner()
            .map_err(|e| Error::io("building a file for Docker", e))?;
        let dir = if dir.is_empty() { "/" } else { dir };
        let opts = UploadToContainerOptionsBuilder::new().path(dir).build();
        self.api
            .upload_to_container(name, Some(opts), bollard::body_full(tarball.into()))
            .await?;
        Ok(())
    }

    /// Owner of a file in the container, from the archive the engine returns.
    pub async fn file_owner(&self, name: &str, path: &str) -> Result<Option<(u64, u64)>> {
        let opts = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let body: Vec<u8> = match self
            .api
            .download_from_container(name, Some(opts))
            .map_ok(|b| b.to_vec())
            .try_concat()
            .await
        {
            Ok(b) => b,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut ar = tar::Archive::new(body.as_slice());
        let mut entries = ar
            .entries()
            .map_err(|e| Error::io("reading from Docker", e))?;
        match entries.next() {
            Some(Ok(e)) => Ok(Some((
                e.header().uid().unwrap_or(0),
                e.header().gid().unwrap_or(0),
            ))),
            _ => Ok(None),
        }
    }

    pub async fn stop(&self, name: &str) -> Result<()> {
        let opts = StopContainerOptionsBuilder::new().t(30).build();
        match self.api.stop_container(name, Some(opts)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(Error::Docker(format!("cannot stop {name}: {e}"))),
        }
    }

    pub async fn start(&self, name: &str) -> Result<()> {
        match self.api.start_container(name, None).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(Error::Docker(format!("cannot start {name}: {e}"))),
        }
    }

    pub async fn pause(&self, name: &str) -> Result<()> {
        self.api
            .pause_container(name)
            .await
            .map_err(|e| Error::Docker(format!("cannot pause {name}: {e}")))
    }

    pub async fn unpause(&self, name: &str) -> Result<()> {
        self.api
            .unpause_container(name)
            .await
            .map_err(|e| Error::Docker(format!("cannot unpause {name}: {e}")))
    }
}

/// How a set of app containers was put aside, so that the guard can undo exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Stopped,
    Paused,
}

/// App containers this tool stopped or paused. `release()` starts them again; if the guard is
/// dropped without it (panic, task aborted) `Drop` still does so.
pub struct AppsHeld {
    docker: DockerClient,
    held: Vec<String>,
    how: Hold,
    released: bool,
}

impl AppsHeld {
    /// Stop (or pause) every container of `names` that is running. Missing containers are
    /// skipped; containers that were not running are left as they are.
    ///
    /// # Errors
    /// When one cannot be stopped; those already stopped are started again first.
    pub async fn hold(docker: &DockerClient, names: &[String], how: Hold) -> Result<AppsHeld> {
        let mut guard = AppsHeld {
            docker: docker.clone(),
            held: Vec::new(),
            how,
            released: false,
        };
        for name in names {
            let st = docker.state(name).await?;
            if !st.running || (st.paused && how == Hold::Paused) {
                continue;
            }
            let r = match how {
                Hold::Stopped => docker.stop(name).await,
                Hold::Paused => docker.pause(name).await,
            };
            if let Err(e) = r {
                let _ = guard.release().await;
                return Err(e);
            }
            guard.held.push(name.clone());
        }
        Ok(guard)
    }

    pub fn names(&self) -> &[String] {
        &self.held
    }

    /// Start (or unpause) every held container. Tries all of them; reports the first failure.
    /// Leave the held containers as they are now (stopped): the caller starts them itself.
    pub fn keep_stopped(mut self) {
        self.released = true;
    }

    pub async fn release(mut self) -> Result<Vec<String>> {
        self.released = true;
        release_all(&self.docker, &self.held, self.how).await
    }
}

async fn release_all(docker: &DockerClient, names: &[String], how: Hold) -> Result<Vec<String>> {
    let mut first_err = None;
    for name in names {
        let r = match how {
            Hold::Stopped => docker.start(name).await,
            Hold::Paused => docker.unpause(name).await,
        };
        if let Err(e) = r {
            // Someone else may have started or unpaused it meanwhile: that is what we wanted.
            let back = matches!(docker.state(name).await, Ok(st) if st.running && !st.paused);
            if !back {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(names.to_vec()),
    }
}

impl Drop for AppsHeld {
    fn drop(&mut self) {
        if self.released || self.held.is_empty() {
            return;
        }
        let docker = self.docker.clone();
        let names = std::mem::take(&mut self.held);
        let how = self.how;
        // Drop cannot await: bring the containers back from a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(release_all(&docker, &names, how));
            }
        })
        .join();
    }
}

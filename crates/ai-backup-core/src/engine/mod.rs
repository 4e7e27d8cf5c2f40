//! The engine sequences a backup or a restore of one module across its stores, with the
//! guarantees the rest of the crate provides: apps always started again, archives verified
//! before use, live data replaced only by a step that can be undone.

mod apps;
mod archive_scope;
mod backup;
mod components;
mod first_pass;
mod indices;
mod object_backup;
mod object_upload;
mod objects;
mod overview;
mod plan;
mod recover;
mod restore;
pub mod scope;
pub mod secret_check;
pub mod state;
mod status;

pub use backup::{backup, BackupOutcome, BackupRequest};
pub use overview::{overview, IndexSize, ModuleOverview, ObjectsSize};
pub use plan::{plan, Plan};
pub use recover::recover;
pub use restore::{restore, RestoreOutcome, RestoreRequest};
pub use status::{modules_status, ModuleStatus};

use tokio::io::{AsyncWriteExt, DuplexStream};

use crate::config::{ModuleConfig, RunnerKind, ServerConfig};
use crate::docker::DockerClient;
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};

/// Names the engine gives the databases it creates beside the live one.
pub fn staged_name(db: &str) -> String {
    format!("{db}__ab_new")
}
pub fn old_name(db: &str) -> String {
    format!("{db}__ab_old")
}

/// Stream from `produce` into `consume` through an in-memory pipe, both running at once: a
/// dump into the archive, or the archive into a loader, without a copy anywhere. The pipe is
/// closed when `produce` ends, so `consume` sees the end of the stream. After a cancel, the
/// error is `Cancelled`, not the broken pipe the cancel caused on the other side.
async fn pipe<T, U>(
    produce: impl AsyncFnOnce(&mut DuplexStream) -> Result<T>,
    consume: impl AsyncFnOnce(&mut DuplexStream) -> Result<U>,
    cancel: &Cancel,
) -> Result<(T, U)> {
    let (mut tx, mut rx) = tokio::io::duplex(1 << 20);
    let produce = async move {
        let r = produce(&mut tx).await;
        let _ = tx.shutdown().await;
        r
    };
    let consume = async move { consume(&mut rx).await };
    let joined = tokio::try_join!(produce, consume);
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    joined
}

/// Docker is needed for the container runner, the apps and the secrets; a host-only set-up
/// without apps can work without it.
async fn docker_for(
    docker: &crate::config::DockerConfig,
    module: &ModuleConfig,
    server: &ServerConfig,
    progress: &Progress,
) -> Result<Option<DockerClient>> {
    let needed = server.runner == RunnerKind::Container
        || !module.apps.is_empty()
        || !module.secrets.is_empty();
    match DockerClient::connect(docker).await {
        Ok(d) => Ok(Some(d)),
        Err(e) if needed && server.runner == RunnerKind::Container => Err(e),
        Err(e) => {
            if needed {
                progress.warn(format!("{e}; app containers and secrets are skipped"));
            }
            Ok(None)
        }
    }
}

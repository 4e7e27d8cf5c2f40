//! Backup of one module: read the secrets its data depends on, hold its apps still, describe
//! every part of its data (database, objects, indices) in the archive's metadata, then stream
//! each part into a new archive.

use std::path::{Path, PathBuf};

use super::components::{self, BackupCx};
use crate::archive::{
    self, ArchiveKey, ArchiveWriter, Compression, Manifest, Metadata, FORMAT_NAME, FORMAT_VERSION,
};
use crate::config::{Config, Quiesce};
use crate::docker::{AppsHeld, Hold};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::{store, TOOL_VERSION};

#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    pub module: String,
    /// A file, or a directory to put the default-named file in. Default: current directory.
    pub output: Option<PathBuf>,
    pub notes: Option<String>,
    /// Encrypt the archive with this passphrase (`….tar.gz.age`); plain when none.
    pub key: ArchiveKey,
    /// gzip or zstd; when none, the output file's name decides (`.tar.zst`), else gzip.
    pub compression: Option<Compression>,
}

#[derive(Debug, Clone)]
pub struct BackupOutcome {
    pub path: PathBuf,
    pub metadata: Metadata,
    pub manifest: Manifest,
    /// Transient errors (throttled or dropped requests) that were retried on the way.
    pub retries: u64,
    /// Seconds spent in each phase, in order.
    pub timings: Vec<(String, f64)>,
}

/// Where the archive goes: the given file, or the default name in the given directory. An
/// encrypted archive given a `.tar.gz` name gets `.age` appended: no plain `tar` reads it.
pub fn target_path(
    module: &str,
    output: Option<&Path>,
    compression: Compression,
    encrypted: bool,
) -> PathBuf {
    let name = archive::file_name(module, chrono::Local::now(), compression, encrypted);
    match output {
        None => PathBuf::from(name),
        Some(p) if p.is_dir() => p.join(name),
        Some(p) if encrypted && archive::is_archive_name(&p.to_string_lossy()) => {
            let mut with = p.as_os_str().to_owned();
            if !p.to_string_lossy().ends_with(archive::ENCRYPTED_SUFFIX) {
                with.push(archive::ENCRYPTED_SUFFIX);
            }
            PathBuf::from(with)
        }
        Some(p) => p.to_path_buf(),
    }
}

/// The compression asked for, or the one the output file's name implies; a name that says
/// the other one is refused rather than written misnamed.
pub fn choose_compression(
    asked: Option<Compression>,
    output: Option<&Path>,
) -> Result<Compression> {
    let named = output
        .filter(|p| !p.is_dir())
        .map(|p| p.to_string_lossy().to_string())
        .map(|n| {
            n.strip_suffix(archive::ENCRYPTED_SUFFIX)
                .unwrap_or(&n)
                .to_string()
        })
        .and_then(|n| {
            [Compression::Gzip, Compression::Zstd]
                .into_iter()
                .find(|c| n.ends_with(c.extension()))
        });
    match (asked, named) {
        (Some(a), Some(n)) if a != n => Err(Error::Usage(format!(
            "the archive's name ends in {} but {} compression was asked for; name it {}",
            n.extension(),
            a.name(),
            a.extension()
        ))),
        (a, n) => Ok(a.or(n).unwrap_or_default()),
    }
}

/// Back up `req.module` into one archive.
///
/// # Errors
/// Typed errors for a missing database, unreachable Docker, a failing dump or a full disk; on
/// any error or cancel no archive file is left behind and the apps run again.
pub async fn backup(
    config: &Config,
    req: &BackupRequest,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<BackupOutcome> {
    let (module, server) = config.module(&req.module)?;
    let _lock = crate::lock::acquire(&crate::lock::default_dir(), &req.module, "backup")?;
    super::state::refuse_if_interrupted(&super::state::default_dir(), &req.module)?;
    let docker = super::docker_for(&config.docker, module, server, progress).await?;
    progress.phase("prepare", None);
    let db_store = store::open(server, docker.as_ref()).await?;
    let db = &module.database;
    if !db_store.exists(db, cancel).await? {
        return Err(Error::Usage(format!(
            "database {db} does not exist on {}; nothing to back up",
            db_store.describe()
        )));
    }
    let compression = choose_compression(req.compression, req.output.as_deref())?;
    let target = target_path(
        &req.module,
        req.output.as_deref(),
        compression,
        req.key.is_set(),
    );
    let which = (req.module.as_str(), module, server);
    let mut parts =
        components::open(config, which, docker.as_ref(), None, (progress, cancel)).await?;
    let cx = BackupCx {
        module: &req.module,
        progress,
        cancel,
    };
    let mut meta = new_metadata(req, compression);
    // The secrets first: reading them does not need the apps held.
    parts.describe(&cx, &mut meta, false).await?;
    let hold = match module.quiesce {
        Quiesce::Pause => Some(Hold::Paused),
        Quiesce::Stop => Some(Hold::Stopped),
        Quiesce::None => None,
    };
    let guard = match (&docker, hold) {
        (Some(d), Some(how)) => Some(AppsHeld::hold(d, &module.apps, how).await?),
        _ => None,
    };
    meta.quiesced = guard.is_some() || module.apps.is_empty();
    let result = async {
        parts.describe(&cx, &mut meta, true).await?;
        let mut writer = ArchiveWriter::create(&target, &meta, &req.key).await?;
        parts.write(&cx, &mut writer).await?;
        writer.finish().await
    }
    .await;
    if let Some(g) = guard {
        if let Err(e) = g.release().await {
            // The archive (if any) is complete and valid; the apps need a look.
            progress.warn(format!("the module's apps could not all be resumed: {e}"));
        }
    }
    let (path, manifest) = result?;
    Ok(BackupOutcome {
        path,
        metadata: meta,
        manifest,
        retries: progress.retries(),
        timings: progress.seconds(),
    })
}

/// The metadata every archive starts with; the parts fill in what they hold.
fn new_metadata(req: &BackupRequest, compression: Compression) -> Metadata {
    Metadata {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        module_id: req.module.clone(),
        engine: String::new(),
        db_name: String::new(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ai_server_version: TOOL_VERSION.into(),
        tool_version: TOOL_VERSION.into(),
        components: Vec::new(),
        notes: req.notes.clone(),
        source_servers: Default::default(),
        quiesced: false,
        compression,
        db: Default::default(),
        secrets: Vec::new(),
        objects: None,
        indices: None,
    }
}

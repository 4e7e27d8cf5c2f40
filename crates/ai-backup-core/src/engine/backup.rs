//! Backup of one module: hold its apps still, count what the database holds, and stream the
//! dump (and the secrets it depends on) into a new archive.

use std::path::{Path, PathBuf};

use super::scope::{self, Clients, Scope};
use super::{indices, objects};
use crate::archive::{
    self, ArchiveWriter, DbMeta, Manifest, Metadata, SecretMeta, FORMAT_NAME, FORMAT_VERSION,
};
use crate::config::{Config, Quiesce};
use crate::docker::{AppsHeld, Hold};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::{secrets, store, TOOL_VERSION};

#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    pub module: String,
    /// A file, or a directory to put the default-named file in. Default: current directory.
    pub output: Option<PathBuf>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BackupOutcome {
    pub path: PathBuf,
    pub metadata: Metadata,
    pub manifest: Manifest,
}

/// Where the archive goes: the given file, or the default name in the given directory.
pub fn target_path(module: &str, output: Option<&Path>) -> PathBuf {
    let name = archive::file_name(module, chrono::Local::now());
    match output {
        None => PathBuf::from(name),
        Some(p) if p.is_dir() => p.join(name),
        Some(p) => p.to_path_buf(),
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
    let db_store = store::open(server, docker.as_ref()).await?;
    let db = &module.database;
    progress.phase("prepare", None);
    if !db_store.exists(db, cancel).await? {
        return Err(Error::Usage(format!(
            "database {db} does not exist on {}; nothing to back up",
            db_store.describe()
        )));
    }
    let target = target_path(&req.module, req.output.as_deref());

    // Secrets first: reading them does not need the apps held.
    let mut found = Vec::new();
    if let Some(d) = &docker {
        for spec in &module.secrets {
            match secrets::read(d, spec).await? {
                Some(f) => found.push((spec.name.clone(), f)),
                None => progress.warn(format!(
                    "{} was not found in {} (neither {} nor {}); the archive will not carry it",
                    spec.name,
                    spec.container,
                    spec.env.as_deref().unwrap_or("-"),
                    spec.file.as_deref().unwrap_or("-")
                )),
            }
        }
    }

    let hold = match module.quiesce {
        Quiesce::Pause => Some(Hold::Paused),
        Quiesce::Stop => Some(Hold::Stopped),
        Quiesce::None => None,
    };
    let guard = match (&docker, hold) {
        (Some(d), Some(how)) => Some(AppsHeld::hold(d, &module.apps, how).await?),
        _ => None,
    };
    let quiesced = guard.is_some() || module.apps.is_empty();
    let result = async {
        let clients = scope::clients(config, module, docker.as_ref()).await?;
        let scope = scope::resolve(module, &*db_store, &clients, cancel).await?;
        let stores = (&*db_store, &clients, &scope);
        write_archive(
            config, req, stores, &target, found, quiesced, progress, cancel,
        )
        .await
    }
    .await;
    if let Some(g) = guard {
        if let Err(e) = g.release().await {
            // The archive (if any) is complete and valid; the apps need a look.
            progress.warn(format!("the module's apps could not all be resumed: {e}"));
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn write_archive(
    config: &Config,
    req: &BackupRequest,
    (db_store, clients, scope): (&dyn store::DatabaseStore, &Clients, &Scope),
    target: &Path,
    found: Vec<(String, secrets::Found)>,
    quiesced: bool,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<BackupOutcome> {
    let (module, _) = config.module(&req.module)?;
    let db = &module.database;
    let stats = db_store.stats(db, cancel).await?;
    let props = db_store.properties(db, cancel).await?;
    let version = db_store.version(cancel).await?;
    let entry = format!("db/{db}.sql");
    let listed = match &clients.s3 {
        Some(s3) => Some(objects::list_scope(s3, &scope.objects, &req.module, cancel).await?),
        None => None,
    };
    let index_counts = match &clients.es {
        Some(es) => Some(indices::counts(es, &scope.indices, cancel).await?),
        None => None,
    };
    let metadata = Metadata {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        module_id: req.module.clone(),
        engine: db_store.engine().as_str().into(),
        db_name: db.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ai_server_version: TOOL_VERSION.into(),
        tool_version: TOOL_VERSION.into(),
        components: {
            let mut c = vec!["db".to_string()];
            if listed.is_some() {
                c.push("minio".into());
            }
            if index_counts.is_some() {
                c.push("es".into());
            }
            if !found.is_empty() {
                c.push("secrets".into());
            }
            c
        },
        notes: req.notes.clone(),
        source_servers: [("db".to_string(), version)].into(),
        quiesced,
        db: DbMeta {
            entry: entry.clone(),
            dump_format: match db_store.engine() {
                crate::config::Engine::Postgres => "pg_dump-plain".into(),
                crate::config::Engine::Mysql => "mysqldump".into(),
            },
            charset: props.charset,
            collation: props.collation,
            ctype: props.ctype,
            owner: props.owner,
            stats: stats.clone(),
        },
        secrets: found
            .iter()
            .map(|(name, f)| SecretMeta {
                name: name.clone(),
                source: f.source.clone(),
                entry: format!("{}{name}", archive::SECRETS_DIR),
            })
            .collect(),
        objects: listed
            .as_ref()
            .map(|l| objects::meta_for(&scope.objects, l)),
        indices: index_counts.clone(),
    };
    let mut writer = ArchiveWriter::create(target, &metadata).await?;
    for (name, f) in &found {
        writer
            .add_bytes(
                &format!("{}{name}", archive::SECRETS_DIR),
                f.value.as_bytes(),
            )
            .await?;
    }
    progress.phase("dump", Some(stats.bytes));
    let (_, (parts, bytes)) = super::pipe(
        async |tx| db_store.dump(db, tx, cancel).await,
        async |rx| {
            writer
                .add_stream(&entry, rx, progress, "dump", cancel)
                .await
        },
        cancel,
    )
    .await?;
    progress.info(format!(
        "dumped {db}: {bytes} bytes in {parts} part(s), {} rows in {} tables",
        stats.total_rows(),
        stats.tables.len()
    ));
    if let (Some(s3), Some(listed)) = (&clients.s3, listed) {
        objects::backup(s3, listed, &mut writer, &req.module, progress, cancel).await?;
    }
    if let (Some(es), Some(counts)) = (&clients.es, &index_counts) {
        indices::backup(es, counts, &mut writer, progress, cancel).await?;
    }
    let (path, manifest) = writer.finish().await?;
    Ok(BackupOutcome {
        path,
        metadata,
        manifest,
    })
}

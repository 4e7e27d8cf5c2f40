//! The API's handlers: each one reads its request, calls the library and returns its answer
//! as JSON; errors are the library's words with a status code (400 bad input, 409 busy).

use std::convert::Infallible;
use std::path::{Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;

use ai_backup_core::archive::{ArchiveKey, Passphrase};
use ai_backup_core::engine::{self, RestoreRequest};
use ai_backup_core::progress::{Cancel, Progress};
use ai_backup_core::{archive, catalog, describe, Error};

use super::AppState;

type ApiResult = Result<Response, ApiError>;

pub struct ApiError(StatusCode, String);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Busy { .. } => StatusCode::CONFLICT,
            e if e.is_bad_input() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

fn backup_dir(st: &AppState) -> PathBuf {
    st.backup_dir.read().unwrap().clone()
}

pub async fn state(State(st): State<AppState>) -> ApiResult {
    let dir = backup_dir(&st);
    let archives = catalog::list(&dir).await?;
    let mut modules = Vec::new();
    for m in engine::overview(st.board.config(), &Cancel::new()).await {
        let last = catalog::last_backup(&archives, &m.id).cloned();
        let mut v = serde_json::to_value(&m).unwrap_or_default();
        v["lastBackup"] = json!(last);
        modules.push(v);
    }
    ok(json!({ "backupDir": dir, "modules": modules, "jobs": st.board.snapshot() }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    backup_dir: PathBuf,
}

pub async fn settings(State(st): State<AppState>, Json(s): Json<Settings>) -> ApiResult {
    if !s.backup_dir.is_absolute() {
        return Err(bad("the backup folder must be an absolute path"));
    }
    std::fs::create_dir_all(&s.backup_dir).map_err(|e| {
        bad(format!(
            "cannot use {} as the backup folder: {e}",
            s.backup_dir.display()
        ))
    })?;
    *st.backup_dir.write().unwrap() = s.backup_dir.clone();
    ok(json!({ "backupDir": s.backup_dir }))
}

pub async fn archives(State(st): State<AppState>) -> ApiResult {
    ok(catalog::list(&backup_dir(&st)).await?)
}

pub async fn plan(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let p = engine::plan(st.board.config(), &id, &Progress::silent(), &Cancel::new()).await?;
    let (bytes, seconds, text) = describe::estimate(&p);
    let name = archive::file_name(&id, chrono::Local::now(), archive::Compression::Gzip, false);
    ok(json!({
        "module": id,
        "text": describe::plan(&p),
        "overwrites": describe::overwrites(&p),
        "estimate": { "bytes": bytes, "seconds": seconds, "text": text },
        "defaultFileName": name,
        "defaultPath": backup_dir(&st).join(&name),
    }))
}

#[derive(Deserialize, Default)]
pub struct BackupBody {
    path: Option<PathBuf>,
    /// Encrypt the archive with it (`….tar.gz.age`).
    passphrase: Option<Passphrase>,
}

pub async fn backup(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<BackupBody>>,
) -> ApiResult {
    let dir = backup_dir(&st);
    let body = body.map(|b| b.0).unwrap_or_default();
    let key = ArchiveKey::from(body.passphrase);
    let target = body.path.unwrap_or(dir);
    if !target.is_absolute() {
        return Err(bad("the save location must be an absolute path"));
    }
    let folder = if target.is_dir() || target.extension().is_none() {
        target.clone()
    } else {
        target.parent().map(FsPath::to_path_buf).unwrap_or_default()
    };
    std::fs::create_dir_all(&folder)
        .map_err(|e| bad(format!("cannot create {}: {e}", folder.display())))?;
    let job = st.board.start_backup(&id, target, key)?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// An archive of the backup folder (any path) or an upload (by id).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArchiveRef {
    Path(PathBuf),
    Upload(String),
}

impl ArchiveRef {
    fn resolve(&self, st: &AppState) -> Result<PathBuf, ApiError> {
        self.named(st).map(|(p, _)| p)
    }

    /// The file, and how to name it to the user (an upload by its own name, not where the
    /// server keeps it).
    fn named(&self, st: &AppState) -> Result<(PathBuf, String), ApiError> {
        match self {
            ArchiveRef::Path(p) => Ok((p.clone(), p.display().to_string())),
            ArchiveRef::Upload(id) => st
                .uploads
                .get(id)
                .ok_or_else(|| bad("that upload is gone; upload the archive again")),
        }
    }
}

#[derive(Deserialize)]
pub struct VerifyBody {
    module: String,
    archive: ArchiveRef,
    /// The passphrase of an encrypted archive.
    passphrase: Option<Passphrase>,
}

pub async fn verify(State(st): State<AppState>, Json(b): Json<VerifyBody>) -> ApiResult {
    let (path, name) = b.archive.named(&st)?;
    let key = ArchiveKey::from(b.passphrase);
    match st.board.verify(&b.module, path.clone(), &key).await {
        Ok(report) => {
            let mut v = serde_json::to_value(report).unwrap_or_default();
            v["ok"] = json!(true);
            ok(v)
        }
        Err(e) => {
            let said = e.to_string().replace(&path.display().to_string(), &name);
            ok(json!({ "ok": false, "error": said }))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreBody {
    archive: ArchiveRef,
    #[serde(default)]
    restore_secrets: bool,
    confirm: String,
    /// The passphrase of an encrypted archive.
    passphrase: Option<Passphrase>,
}

pub async fn restore(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Json(b): Json<RestoreBody>,
) -> ApiResult {
    if b.confirm != id {
        return Err(bad(format!(
            "not confirmed: type the module name ({id}) to restore; nothing was changed"
        )));
    }
    let archive = b.archive.resolve(&st)?;
    let req = RestoreRequest {
        module: id.clone(),
        archive,
        restore_secrets: b.restore_secrets,
        confirmation: format!("typed '{id}' on the page"),
        key: ArchiveKey::from(b.passphrase),
    };
    let (uploads, upload) = (st.uploads.clone(), b.archive);
    let job = st.board.start_restore(req, move || {
        if let ArchiveRef::Upload(u) = upload {
            uploads.remove(&u);
        }
    })?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

pub async fn cancel(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    match st.board.cancel(&id) {
        Some(job) => ok(job),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no backup or restore of {id} is running"),
        )),
    }
}

pub async fn upload(State(st): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("archive.tar.gz")
        .to_string();
    let (id, bytes) = st.uploads.store(&name, body).await?;
    let path = st.uploads.get(&id).map(|(p, _)| p).unwrap_or_default();
    let encrypted = archive::is_encrypted(&path).await.unwrap_or(false);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "upload": id, "fileName": name, "bytes": bytes, "encrypted": encrypted })),
    )
        .into_response())
}

pub async fn delete_upload(State(st): State<AppState>, Path(id): Path<String>) -> StatusCode {
    if st.uploads.remove(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    path: PathBuf,
}

pub async fn download(State(st): State<AppState>, Query(q): Query<DownloadQuery>) -> ApiResult {
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "no such archive in the backup folder".into(),
        )
    };
    let dir = backup_dir(&st).canonicalize().map_err(|_| not_found())?;
    let file = q.path.canonicalize().map_err(|_| not_found())?;
    if file.parent() != Some(dir.as_path()) || !file.is_file() {
        return Err(not_found());
    }
    let f = tokio::fs::File::open(&file)
        .await
        .map_err(|_| not_found())?;
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .replace('"', "");
    Ok((
        [
            (header::CONTENT_TYPE, content_type(&name).to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(f)),
    )
        .into_response())
}

/// An encrypted archive is no gzip file for whoever downloads it.
fn content_type(name: &str) -> &'static str {
    if name.ends_with(archive::ENCRYPTED_SUFFIX) {
        "application/octet-stream"
    } else {
        "application/gzip"
    }
}

/// A snapshot of every job, then each change as it happens.
pub async fn events(
    State(st): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = st.board.subscribe();
    let first = json!({ "jobs": st.board.snapshot() });
    let snapshot = SseEvent::default()
        .event("snapshot")
        .data(first.to_string());
    let changes = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(job) => {
                    let data = serde_json::to_string(&job).unwrap_or_default();
                    return Some((Ok(SseEvent::default().event("job").data(data)), rx));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let all = futures_util::stream::once(async move { Ok::<_, Infallible>(snapshot) })
        .chain(changes)
        .take_until(st.shutdown.clone().cancelled_owned());
    Sse::new(all).keep_alive(KeepAlive::default())
}

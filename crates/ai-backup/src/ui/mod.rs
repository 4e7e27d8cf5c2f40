//! `ai-backup ui`: the module settings page (系统设置 → 模块设置) on 127.0.0.1. The router
//! only turns requests into library calls (jobs, plans, catalog, verification) and their
//! results into JSON and server-sent events; the page itself is in `assets/`.

mod api;
mod assets;
mod guard;
mod uploads;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::routing::{delete, get, post, put};
use axum::Router;

use ai_backup_core::jobs::JobBoard;
use ai_backup_core::progress::Cancel;
use ai_backup_core::{Error, Result};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub board: JobBoard,
    pub token: Arc<String>,
    pub port: u16,
    pub backup_dir: Arc<RwLock<PathBuf>>,
    pub uploads: Arc<uploads::Uploads>,
    /// Fired when the server stops: the event streams end so the shutdown does not wait on
    /// open tabs.
    pub shutdown: Cancel,
}

impl AppState {
    /// # Errors
    /// When the uploads folder cannot be made.
    pub fn new(board: JobBoard, port: u16, backup_dir: PathBuf) -> Result<Self> {
        let uploads = uploads::Uploads::new()
            .map_err(|e| Error::io("cannot create a folder for uploads", e))?;
        Ok(Self {
            board,
            token: Arc::new(guard::new_token()),
            port,
            backup_dir: Arc::new(RwLock::new(backup_dir)),
            uploads: Arc::new(uploads),
            shutdown: Cancel::new(),
        })
    }
}

/// The whole site: the page, its assets and the API, every route behind the access guard.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/state", get(api::state))
        .route("/api/settings", put(api::settings))
        .route("/api/archives", get(api::archives))
        .route("/api/uploads", post(api::upload))
        .route("/api/uploads/{id}", delete(api::delete_upload))
        .route("/api/verify", post(api::verify))
        .route("/api/modules/{id}/plan", get(api::plan))
        .route("/api/modules/{id}/backup", post(api::backup))
        .route("/api/modules/{id}/restore", post(api::restore))
        .route("/api/modules/{id}/cancel", post(api::cancel))
        .route("/api/download", get(api::download))
        .route("/api/events", get(api::events))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .with_state(state)
}

/// Options of `ai-backup ui`.
pub struct Options {
    pub port: u16,
    pub open: bool,
    pub backup_dir: PathBuf,
}

/// Serve until `cancel`; then cancel the running jobs and wait for them to end, so that
/// stopping the server never leaves a module half restored.
///
/// # Errors
/// When the port cannot be bound.
pub async fn serve(
    board: JobBoard,
    opts: Options,
    cancel: Cancel,
    announce: impl FnOnce(&str),
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| Error::io(format!("cannot listen on 127.0.0.1:{}", opts.port), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the bound port", e))?
        .port();
    let mut state = AppState::new(board.clone(), port, opts.backup_dir)?;
    state.shutdown = cancel.clone();
    let url = format!("http://127.0.0.1:{port}/?token={}", state.token);
    announce(&url);
    if opts.open {
        open_browser(&url, state.uploads.dir());
    }
    let stop = cancel.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(|e| Error::io("the page's server stopped", e))?;
    board.cancel_all_and_wait().await;
    Ok(())
}

/// Open the page without putting its key on a command line: the system opens a private
/// file that forwards to the URL.
fn open_browser(url: &str, private_dir: &std::path::Path) {
    let launch = private_dir.join("open.html");
    let html = format!("<!doctype html><meta http-equiv=\"refresh\" content=\"0;url={url}\">");
    if std::fs::write(&launch, html).is_err() {
        return;
    }
    #[cfg(windows)]
    let cmd = std::process::Command::new("explorer").arg(&launch).spawn();
    #[cfg(target_os = "macos")]
    let cmd = std::process::Command::new("open").arg(&launch).spawn();
    #[cfg(all(unix, not(target_os = "macos")))]
    let cmd = std::process::Command::new("xdg-open")
        .arg(&launch)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    drop(cmd);
}

#[cfg(test)]
mod tests;

//! The log of destructive steps: every DROP, swap and overwrite, with time, module, archive
//! and the user's confirmation, appended as one JSON line each. Never holds secrets.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::JournalConfig;

#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    module: &'a str,
    archive: &'a str,
    confirmation: &'a str,
    step: &'a str,
    detail: &'a str,
}

impl Journal {
    pub fn new(cfg: &JournalConfig) -> Self {
        let path = cfg.path.clone().unwrap_or_else(|| {
            dirs::data_local_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("ai-backup")
                .join("journal.log")
        });
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one step. A journal that cannot be written is reported, not fatal.
    pub fn record(
        &self,
        module: &str,
        archive: &Path,
        confirmation: &str,
        step: &str,
        detail: &str,
    ) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let line = Line {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            module,
            archive: &archive.display().to_string(),
            confirmation,
            step,
            detail,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(f, "{}", serde_json::to_string(&line).expect("json"))?;
        f.sync_data()
    }
}

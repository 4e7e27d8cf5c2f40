//! Archives uploaded from the user's computer: streamed to private files (0600, in a 0700
//! folder of their own) as they arrive, never held in memory, and removed once the restore
//! that used them ends, when deleted, or when the server stops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::Body;
use futures_util::TryStreamExt;
use tokio::io::AsyncWriteExt;

use ai_backup_core::Error;

pub struct Uploads {
    dir: PathBuf,
    /// id -> (stored file, the name it had on the user's computer)
    files: Mutex<HashMap<String, (PathBuf, String)>>,
}

impl Uploads {
    /// A new private folder for this server's uploads.
    pub fn new() -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("ai-backup-uploads-{}", super::guard::new_token()));
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)?;
        Ok(Self {
            dir,
            files: Mutex::default(),
        })
    }

    /// Stream `body` into a new private file; returns its id and size.
    pub async fn store(&self, name: &str, body: Body) -> Result<(String, u64), Error> {
        let id = format!("u-{}", &super::guard::new_token()[..24]);
        let path = self.dir.join(format!("{id}.tar.gz"));
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut file = opts
            .open(&path)
            .await
            .map_err(|e| Error::io(format!("cannot store the upload {name}"), e))?;
        let mut stream = body.into_data_stream();
        let mut n = 0u64;
        let copied: Result<(), Error> =
            async {
                while let Some(chunk) = stream.try_next().await.map_err(|e| {
                    Error::Usage(format!("the upload of {name} was interrupted: {e}"))
                })? {
                    n += chunk.len() as u64;
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| Error::io(format!("cannot store the upload {name}"), e))?;
                }
                file.flush()
                    .await
                    .map_err(|e| Error::io(format!("cannot store the upload {name}"), e))
            }
            .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        self.files
            .lock()
            .unwrap()
            .insert(id.clone(), (path, name.to_string()));
        Ok((id, n))
    }

    /// The stored file and the name the user gave it.
    pub fn get(&self, id: &str) -> Option<(PathBuf, String)> {
        self.files.lock().unwrap().get(id).cloned()
    }

    /// Remove an upload; false when there was none of that id.
    pub fn remove(&self, id: &str) -> bool {
        match self.files.lock().unwrap().remove(id) {
            Some((p, _)) => {
                let _ = std::fs::remove_file(p);
                true
            }
            None => false,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Uploads {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! Typed errors of the library. Each says what failed, where, and whether the live data was
//! touched, so the edge can word it for people and pick the exit code.

use std::path::PathBuf;

use crate::runner::ToolError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user: unknown module, bad config, wrong archive. Nothing was changed.
    #[error("{0}")]
    Usage(String),
    #[error("configuration error in {path}: {message}")]
    Config { path: PathBuf, message: String },
    /// The archive is corrupt, truncated, foreign or of a newer format. Nothing was changed.
    #[error("archive {path} refused: {reason}")]
    ArchiveRefused { path: PathBuf, reason: String },
    /// The dump holds something that would act outside its staging database (a client command,
    /// a statement naming another database or a server program). Loading stopped before that
    /// line reached the database client; the live data was not touched.
    #[error("the dump was refused at line {line}: {what} (`{excerpt}`); nothing outside the staging database was changed")]
    DumpRefused {
        line: u64,
        what: String,
        excerpt: String,
    },
    /// Another backup or restore of the module runs (here or in another process).
    #[error("another backup or restore of {module} is running{holder}; wait for it to end")]
    Busy { module: String, holder: String },
    #[error("cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Tool {
        context: String,
        #[source]
        source: Box<ToolError>,
    },
    #[error("Docker: {0}")]
    Docker(String),
    #[error("{store} ({module}): {message}")]
    Store {
        module: String,
        store: String,
        message: String,
    },
    /// The restored data does not match what the archive recorded.
    #[error("verification failed for {module}: {message}")]
    Verification { module: String, message: String },
    #[error("secret check failed for {module}: {message}")]
    Secret { module: String, message: String },
    #[error("health check failed for {module}: {message}")]
    Health { module: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A failure after which the tool could not put everything back. Says what is left where.
    #[error("{message} — ROLLBACK INCOMPLETE: {left}")]
    RollbackIncomplete { message: String, left: String },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the user gave something unusable (exit code 2), as opposed to a failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Usage(_)
                | Error::Config { .. }
                | Error::ArchiveRefused { .. }
                | Error::DumpRefused { .. }
                | Error::Busy { .. }
        )
    }

    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled)
            || matches!(self, Error::Tool { source, .. } if source.is_cancelled())
    }
}

impl From<bollard::errors::Error> for Error {
    fn from(e: bollard::errors::Error) -> Self {
        Error::Docker(e.to_string())
    }
}

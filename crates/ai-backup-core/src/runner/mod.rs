//! One way to run a tool (pg_dump, psql, mysqldump, mysql, ...): inside a container by Docker
//! exec, or on this host. stdout is streamed to a writer, stdin from a reader, stderr is read at
//! the same time and kept as a short tail, the exit status is always checked, and secrets given
//! through the environment are redacted from every error.

mod container;
mod host;

use std::fmt;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

pub use container::ContainerRunner;
pub use host::HostRunner;

use crate::progress::Cancel;

/// How much of stderr an error keeps.
const STDERR_TAIL: usize = 4096;

/// A command line plus environment. Secrets go in `secret_env` only: never in `args`.
#[derive(Clone, Default)]
pub struct ToolCommand {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub secret_env: Vec<(String, String)>,
}

impl ToolCommand {
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            ..Default::default()
        }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }
    pub fn secret_env(mut self, k: &str, v: Option<&str>) -> Self {
        if let Some(v) = v {
            self.secret_env.push((k.into(), v.into()));
        }
        self
    }

    /// Replace every secret value in `text`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (_, v) in &self.secret_env {
            if v.len() >= 3 {
                out = out.replace(v.as_str(), "<redacted>");
            }
        }
        out
    }

    pub(crate) fn all_env(&self) -> impl Iterator<Item = (&String, &String)> {
        self.env
            .iter()
            .chain(self.secret_env.iter())
            .map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for ToolCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolErrorKind {
    /// The program ran and exited with a non-zero status.
    Failed(i64),
    /// The program could not be started (not installed, container not running).
    NotStarted,
    /// Reading or writing its streams failed (including a full disk on our side).
    Io,
    Cancelled,
}

/// A tool that did not succeed. Carries the command name, where it ran, its status and the
/// tail of its stderr, with secrets redacted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{program} {where_} {what}{tail}", what = self.what(), tail = self.tail())]
pub struct ToolError {
    pub program: String,
    pub where_: String,
    pub kind: ToolErrorKind,
    pub detail: String,
    pub stderr_tail: String,
}

impl ToolError {
    fn what(&self) -> String {
        match &self.kind {
            ToolErrorKind::Failed(code) => format!("exited with status {code}"),
            ToolErrorKind::NotStarted => format!("could not be started: {}", self.detail),
            ToolErrorKind::Io => format!("stream error: {}", self.detail),
            ToolErrorKind::Cancelled => "was cancelled".into(),
        }
    }
    fn tail(&self) -> String {
        let t = self.stderr_tail.trim();
        if t.is_empty() {
            String::new()
        } else {
            format!(": {t}")
        }
    }
    pub fn is_cancelled(&self) -> bool {
        self.kind == ToolErrorKind::Cancelled
    }
    pub(crate) fn new(cmd: &ToolCommand, where_: &str, kind: ToolErrorKind, detail: &str) -> Self {
        Self {
            program: cmd.program.clone(),
            where_: where_.to_string(),
            kind,
            detail: cmd.redact(detail),
            stderr_tail: String::new(),
        }
    }
    pub(crate) fn with_stderr(mut self, cmd: &ToolCommand, tail: &[u8]) -> Self {
        self.stderr_tail = cmd.redact(&String::from_utf8_lossy(tail));
        self
    }
}

pub type Stdin<'a> = Option<&'a mut (dyn AsyncRead + Unpin + Send)>;
pub type Stdout<'a> = &'a mut (dyn AsyncWrite + Unpin + Send);

/// Where and how a tool runs. Implementations: inside a container, or on this host.
#[async_trait]
pub trait ToolRunner: Send + Sync {
    /// "in container ai-server-postgres" or "on this host", for messages.
    fn location(&self) -> String;

    /// Run `cmd`, feeding `stdin` (closed when `None`) and streaming stdout into `stdout`.
    /// Returns the tail of stderr on success.
    ///
    /// # Errors
    /// A `ToolError` when the program cannot start, exits non-zero, a stream fails, or
    /// `cancel` fires (the child is then killed or disconnected).
    async fn run(
        &self,
        cmd: &ToolCommand,
        stdin: Stdin<'_>,
        stdout: Stdout<'_>,
        cancel: &Cancel,
    ) -> Result<String, ToolError>;
}

/// Run `cmd` with `input` on stdin and collect stdout as text (for small query results).
pub async fn capture(
    runner: &dyn ToolRunner,
    cmd: &ToolCommand,
    input: &str,
    cancel: &Cancel,
) -> Result<String, ToolError> {
    let mut out = Vec::new();
    let mut inp = input.as_bytes();
    runner.run(cmd, Some(&mut inp), &mut out, cancel).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Keeps the last `STDERR_TAIL` bytes written to it.
#[derive(Default)]
pub(crate) struct Tail(Vec<u8>);

impl Tail {
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
        if self.0.len() > STDERR_TAIL {
            let cut = self.0.len() - STDERR_TAIL;
            self.0.drain(..cut);
        }
    }
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_errors() {
        let cmd = ToolCommand::new("psql").secret_env("PGPASSWORD", Some("hunter2pw"));
        let e = ToolError::new(&cmd, "on this host", ToolErrorKind::Failed(2), "")
            .with_stderr(&cmd, b"FATAL: password hunter2pw rejected");
        let text = e.to_string();
        assert!(!text.contains("hunter2pw"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("status 2"),
            "{text}"
        );
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail::default();
        t.push(&vec![b'a'; STDERR_TAIL]);
        t.push(b"end");
        assert_eq!(t.bytes().len(), STDERR_TAIL);
        assert!(t.bytes().ends_with(b"end"));
    }
}

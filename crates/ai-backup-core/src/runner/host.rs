//! Runs a tool as a child process of this host (deployments without Docker, or clients that
//! connect to a published port). The child is killed on cancel and on drop.

use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{Stdin, Stdout, Tail, ToolCommand, ToolError, ToolErrorKind, ToolRunner};
use crate::progress::Cancel;

#[derive(Debug, Default, Clone)]
pub struct HostRunner;

const WHERE: &str = "on this host";

#[async_trait]
impl ToolRunner for HostRunner {
    fn location(&self) -> String {
        WHERE.into()
    }

    async fn run(
        &self,
        cmd: &ToolCommand,
        stdin: Stdin<'_>,
        stdout: Stdout<'_>,
        cancel: &Cancel,
    ) -> Result<String, ToolError> {
        let mut command = Command::new(&cmd.program);
        command
            .args(&cmd.args)
            .envs(cmd.all_env())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| ToolError::new(cmd, WHERE, ToolErrorKind::NotStarted, &e.to_string()))?;
        let mut child_out = child.stdout.take().expect("piped");
        let mut child_err = child.stderr.take().expect("piped");
        let child_in = child.stdin.take();

        let feed = async {
            if let (Some(src), Some(mut dst)) = (stdin, child_in) {
                // A child that exits early closes its stdin: its exit status tells why.
                let _ = tokio::io::copy(src, &mut dst).await;
                let _ = dst.shutdown().await;
            }
            Ok::<(), std::io::Error>(())
        };
        let drain = async {
            tokio::io::copy(&mut child_out, stdout).await?;
            stdout.flush().await
        };
        let mut tail = Tail::default();
        let errs = async {
            let mut buf = [0u8; 4096];
            loop {
                match child_err.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => tail.push(&buf[..n]),
                }
            }
        };
        let work = async { tokio::join!(feed, drain, errs) };
        let (_, drained, _) = tokio::select! {
            r = work => r,
            _ = cancel.cancelled() => {
                let _ = child.kill().await;
                return Err(ToolError::new(cmd, WHERE, ToolErrorKind::Cancelled, ""));
            }
        };
        let status = tokio::select! {
            s = child.wait() => s.map_err(|e| ToolError::new(cmd, WHERE, ToolErrorKind::Io, &e.to_string()))?,
            _ = cancel.cancelled() => {
                let _ = child.kill().await;
                return Err(ToolError::new(cmd, WHERE, ToolErrorKind::Cancelled, ""));
            }
        };
        if !status.success() {
            let code = status.code().map(i64::from).unwrap_or(-1);
            return Err(ToolError::new(cmd, WHERE, ToolErrorKind::Failed(code), "")
                .with_stderr(cmd, tail.bytes()));
        }
        if let Err(e) = drained {
            return Err(
                ToolError::new(cmd, WHERE, ToolErrorKind::Io, &e.to_string())
                    .with_stderr(cmd, tail.bytes()),
            );
        }
        Ok(cmd.redact(&String::from_utf8_lossy(tail.bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_stdin_to_stdout_and_checks_status() {
        let r = HostRunner;
        let c = Cancel::new();
        let mut input: &[u8] = b"hello\nworld\n";
        let mut out = Vec::new();
        r.run(&ToolCommand::new("cat"), Some(&mut input), &mut out, &c)
            .await
            .unwrap();
        assert_eq!(out, b"hello\nworld\n");

        let cmd = ToolCommand::new("sh")
            .args(["-c", "echo oops $SECRET >&2; exit 3"])
            .secret_env("SECRET", Some("topsecret"));
        let e = r.run(&cmd, None, &mut Vec::new(), &c).await.unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::Failed(3));
        assert!(e.stderr_tail.contains("oops <redacted>"), "{e}");
    }

    #[tokio::test]
    async fn missing_program_and_cancel() {
        let r = HostRunner;
        let c = Cancel::new();
        let e = r
            .run(
                &ToolCommand::new("no-such-tool-xyz"),
                None,
                &mut Vec::new(),
                &c,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::NotStarted);

        let c2 = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            c2.cancel();
        });
        let start = std::time::Instant::now();
        let e = r
            .run(
                &ToolCommand::new("sleep").arg("30"),
                None,
                &mut Vec::new(),
                &c,
            )
            .await
            .unwrap_err();
        assert!(e.is_cancelled());
        assert!(start.elapsed().as_secs() < 5);
    }
}

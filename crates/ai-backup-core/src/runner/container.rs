//! Runs a tool inside a running container through the Docker Engine API (exec), so it works the
//! same on the Linux socket and on Docker Desktop's named pipe. stdin and stdout are streamed
//! over the attached connection: nothing is staged inside the container.

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{Stdin, Stdout, Tail, ToolCommand, ToolError, ToolErrorKind, ToolRunner};
use crate::progress::Cancel;

#[derive(Clone)]
pub struct ContainerRunner {
    docker: Docker,
    container: String,
}

impl ContainerRunner {
    pub fn new(docker: Docker, container: impl Into<String>) -> Self {
        Self {
            docker,
            container: container.into(),
        }
    }
}

#[async_trait]
impl ToolRunner for ContainerRunner {
    fn location(&self) -> String {
        format!("in container {}", self.container)
    }

    async fn run(
        &self,
        cmd: &ToolCommand,
        stdin: Stdin<'_>,
        stdout: Stdout<'_>,
        cancel: &Cancel,
    ) -> Result<String, ToolError> {
        let at = self.location();
        let not_started = |e: bollard::errors::Error| {
            ToolError::new(cmd, &at, ToolErrorKind::NotStarted, &e.to_string())
        };
        let mut argv = vec![cmd.program.clone()];
        argv.extend(cmd.args.iter().cloned());
        let env: Vec<String> = cmd.all_env().map(|(k, v)| format!("{k}={v}")).collect();
        let exec = self
            .docker
            .create_exec(
                &self.container,
                CreateExecOptions {
                    cmd: Some(argv),
                    env: Some(env),
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(not_started)?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: Some(1 << 20),
                }),
            )
            .await
            .map_err(not_started)?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        else {
            return Err(ToolError::new(
                cmd,
                &at,
                ToolErrorKind::NotStarted,
                "exec did not attach",
            ));
        };

        let feed = async {
            if let Some(src) = stdin {
                // The process may exit before reading everything: its status says why.
                let _ = tokio::io::copy(src, &mut input).await;
            }
            // Half-close: the process sees end of input.
            let _ = input.shutdown().await;
        };
        let mut tail = Tail::default();
        let drain = async {
            while let Some(frame) = output.next().await {
                match frame {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        stdout.write_all(&message).await?;
                    }
                    Ok(LogOutput::StdErr { message }) => tail.push(&message),
                    Ok(LogOutput::StdIn { .. }) => {}
                    Err(e) => return Err(std::io::Error::other(e.to_string())),
                }
            }
            stdout.flush().await
        };
        let work = async { tokio::join!(feed, drain) };
        let (_, drained) = tokio::select! {
            r = work => r,
            // Dropping the attached connection ends the exec: its stdout and stdin close.
            _ = cancel.cancelled() => return Err(ToolError::new(cmd, &at, ToolErrorKind::Cancelled, "")),
        };
        if let Err(e) = drained {
            return Err(ToolError::new(cmd, &at, ToolErrorKind::Io, &e.to_string())
                .with_stderr(cmd, tail.bytes()));
        }
        // The stream ended; the exit code may take a moment to be recorded.
        let mut code = None;
        for _ in 0..100 {
            let info = self
                .docker
                .inspect_exec(&exec.id)
                .await
                .map_err(|e| ToolError::new(cmd, &at, ToolErrorKind::Io, &e.to_string()))?;
            if info.running != Some(true) {
                code = info.exit_code;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        match code {
            Some(0) => Ok(cmd.redact(&String::from_utf8_lossy(tail.bytes()))),
            // 126/127: the runtime could not start the program.
            Some(c @ (126 | 127)) => Err(ToolError::new(
                cmd,
                &at,
                ToolErrorKind::NotStarted,
                &format!("exit status {c}"),
            )
            .with_stderr(cmd, tail.bytes())),
            Some(c) => Err(ToolError::new(cmd, &at, ToolErrorKind::Failed(c), "")
                .with_stderr(cmd, tail.bytes())),
            None => Err(ToolError::new(
                cmd,
                &at,
                ToolErrorKind::Io,
                "the exit status was never reported (container gone?)",
            )
            .with_stderr(cmd, tail.bytes())),
        }
    }
}

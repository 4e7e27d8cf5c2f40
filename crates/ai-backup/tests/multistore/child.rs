//! `ai-backup --json ...` as a child whose events are read as they come, to disturb it at a
//! precise point (a phase, or a number of bytes into a phase).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::bin::{Out, BIN};

pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    args: Vec<String>,
}

pub fn spawn(config: &Path, journal: &Path, args: &[&str]) -> Running {
    let home = journal.parent().unwrap_or(Path::new("/tmp"));
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("AI_BACKUP_CONFIG")
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ai-backup");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut err = child.stderr.take().expect("stderr");
    let stderr = Some(std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    }));
    Running {
        child,
        lines: rx,
        seen: Vec::new(),
        stderr,
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

impl Running {
    /// Read events until one satisfies `pred`; panics if the run ends first or it does not
    /// come within `timeout`.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    self.seen.push(line);
                    if pred(&v) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {what} within {timeout:?} of {:?}; last events:\n{}",
                        self.args,
                        self.tail()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    let err = self.stderr.take().map(|h| h.join().unwrap_or_default());
                    panic!(
                        "{:?} ended before {what}; last events:\n{}\nstderr: {}",
                        self.args,
                        self.tail(),
                        err.unwrap_or_default()
                    );
                }
            }
        }
    }

    fn tail(&self) -> String {
        let n = self.seen.len();
        self.seen[n.saturating_sub(30)..].join("\n")
    }

    /// Until `{"event":"phase","phase":PHASE}`.
    pub fn wait_phase(&mut self, phase: &str, timeout: Duration) {
        self.wait_for(&format!("phase {phase}"), timeout, |v| {
            v["event"] == "phase" && v["phase"] == phase
        });
    }

    /// Until a progress event of `phase` reports more than `bytes`.
    pub fn wait_bytes(&mut self, phase: &str, bytes: u64, timeout: Duration) {
        self.wait_for(&format!("{bytes} bytes of {phase}"), timeout, |v| {
            v["event"] == "progress"
                && v["phase"] == phase
                && v["bytes"].as_u64().is_some_and(|b| b > bytes)
        });
    }

    /// Send SIGINT, as Ctrl-C does.
    pub fn sigint(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child, which has not been waited for yet.
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(rc, 0, "kill -INT {pid}");
    }

    /// Wait for the end; everything printed, including the lines already read.
    pub fn finish(mut self, timeout: Duration) -> Out {
        let deadline = Instant::now() + timeout;
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait for ai-backup") {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{:?} did not finish within {timeout:?}", self.args);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stdout = self.seen.join("\n");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            if !stdout.is_empty() {
                stdout.push('\n');
            }
            stdout += &line;
        }
        Out {
            code,
            stdout,
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

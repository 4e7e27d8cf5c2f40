//! Running the real `ai-backup` binary: to completion, or as a child whose NDJSON events are
//! read line by line (to cancel or disturb it in a given phase).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ai-backup");

/// Set by `scripts/windows test`: the Windows build, which every run then is (under wine).
pub const WINDOWS_EXE_ENV: &str = "AI_BACKUP_WINDOWS_EXE";
/// Set with it: the test engine's loopback TCP endpoint, for the config's `[docker] host`.
pub const WINDOWS_DOCKER_ENV: &str = "AI_BACKUP_WINDOWS_DOCKER";

/// The binary under test: this build, or the Windows build under wine when
/// `AI_BACKUP_WINDOWS_EXE` is set.
pub fn program() -> Command {
    match std::env::var_os(WINDOWS_EXE_ENV) {
        Some(exe) => {
            let mut cmd = Command::new("wine");
            cmd.arg(exe).env("WINEDEBUG", "-all");
            cmd
        }
        None => Command::new(BIN),
    }
}

/// A path printed by the binary under test, as this machine names it: the Windows build joins
/// a file name to the folder it was given with a backslash (`/tmp/x\n8n-backup-....tar.gz`).
pub fn host_path(printed: &str) -> PathBuf {
    if std::env::var_os(WINDOWS_EXE_ENV).is_some() {
        PathBuf::from(printed.replace('\\', "/"))
    } else {
        PathBuf::from(printed)
    }
}

/// The config lines that point the binary under test at the engine: none for this build
/// (its platform default), the loopback TCP endpoint for the Windows build.
pub fn docker_toml() -> String {
    match std::env::var(WINDOWS_DOCKER_ENV) {
        Ok(host) => format!("[docker]\nhost = \"{host}\"\n"),
        Err(_) => String::new(),
    }
}

/// Longest a single run may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn assert_code(&self, code: i32, what: &str) {
        assert_eq!(
            self.code, code,
            "{what}: exit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
    }

    /// The last line of stdout, parsed (the result object with `--json`).
    #[track_caller]
    pub fn last_json(&self) -> Value {
        let line = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "last stdout line is not JSON ({e}): {line:?}\nstderr: {}",
                self.stderr
            )
        })
    }

    /// Every stdout line as JSON (with `--json`, all of them must be).
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
            .collect()
    }

    /// The `path` of a `{"success":true,"path":...}` result, which must hold nothing else.
    #[track_caller]
    pub fn result_path(&self) -> PathBuf {
        let v = self.last_json();
        let obj = v.as_object().expect("result object");
        assert_eq!(obj.get("success"), Some(&Value::Bool(true)), "{v}");
        assert_eq!(obj.len(), 2, "result holds exactly success and path: {v}");
        host_path(obj["path"].as_str().expect("path is a string"))
    }

    /// stdout and stderr together, for checks on messages.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn command(config: &Path, journal: &Path, args: &[&str]) -> Command {
    let mut cmd = program();
    cmd.arg("--config").arg(config).args(args);
    // Keep the user's default config, journal and data directories out of it.
    let home = journal.parent().unwrap_or(Path::new("/tmp"));
    cmd.env_remove("AI_BACKUP_CONFIG")
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn reader<R: Read + Send + 'static>(r: R) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(r).read_to_string(&mut s);
        s
    })
}

/// Run `ai-backup --config CONFIG args...` to completion (no TTY, stdin closed).
pub fn run(config: &Path, journal: &Path, args: &[&str]) -> Out {
    run_env(config, journal, args, &[])
}

/// `run`, with these environment variables set for the child (a passphrase).
pub fn run_env(config: &Path, journal: &Path, args: &[&str], vars: &[(&str, &str)]) -> Out {
    let mut cmd = command(config, journal, args);
    cmd.envs(vars.iter().copied());
    let mut child = cmd.spawn().expect("start ai-backup");
    let out = reader(child.stdout.take().expect("stdout"));
    let err = reader(child.stderr.take().expect("stderr"));
    let code = wait_timeout(&mut child, RUN_TIMEOUT, args);
    Out {
        code,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// `backup <module> -o DIR --json`, asserting success; the archive's path (inside `dir`).
pub fn backup_ok(config: &Path, journal: &Path, module: &str, dir: &Path) -> PathBuf {
    let out = run(
        config,
        journal,
        &["--json", "backup", module, "-o", dir.to_str().unwrap()],
    );
    out.assert_code(0, &format!("backup {module}"));
    let path = out.result_path();
    assert!(path.starts_with(dir), "archive {path:?} not in {dir:?}");
    assert!(path.is_file(), "archive {path:?} missing");
    path
}

/// `restore <module> ARCHIVE --yes --json EXTRA...`, asserting success and the exact result
/// object.
pub fn restore_ok(
    config: &Path,
    journal: &Path,
    module: &str,
    archive: &Path,
    extra: &[&str],
) -> Out {
    let mut args = vec![
        "--json",
        "restore",
        module,
        archive.to_str().unwrap(),
        "--yes",
    ];
    args.extend_from_slice(extra);
    let out = run(config, journal, &args);
    out.assert_code(0, &format!("restore {module}"));
    assert_eq!(
        out.last_json(),
        serde_json::json!({"success": true}),
        "restore result object"
    );
    out
}

fn wait_timeout(child: &mut Child, timeout: Duration, args: &[&str]) -> i32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for ai-backup") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ai-backup {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `ai-backup --json ...` whose stdout events are read as they come.
pub struct Running {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    args: Vec<String>,
}

pub fn spawn(config: &Path, journal: &Path, args: &[&str]) -> Running {
    let mut child = command(config, journal, args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start ai-backup");
    let stdin = child.stdin.take();
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
    let stderr = Some(reader(child.stderr.take().expect("stderr")));
    Running {
        child,
        stdin,
        lines: rx,
        seen: Vec::new(),
        stderr,
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

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

    /// Write `line` on its standard input (`cancel` with `--cancel-on-stdin`).
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to ai-backup's stdin");
        stdin.flush().expect("flush ai-backup's stdin");
    }

    /// Send SIGINT, as Ctrl-C does.
    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    pub fn signal(&self, sig: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid, which has not been waited for yet.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill -{sig} {pid}");
    }

    /// Wait for the end; everything printed, including the lines already read.
    pub fn finish(mut self, timeout: Duration) -> Out {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let code = wait_timeout(&mut self.child, timeout, &args);
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

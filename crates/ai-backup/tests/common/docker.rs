//! The docker CLI, for what the tests do to the stack around the binary: start, kill, inspect,
//! exec. Passwords go to `docker exec` as `-e NAME` with the value in the docker CLI's own
//! environment, never in argv, and are never printed.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::{db, Engine, ALL_CONTAINERS};

/// `docker args...`; panics only when docker cannot be run at all.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the docker CLI")
}

/// `docker exec -i [-e NAME]... container argv...` with `input` on stdin. `env` values are put
/// in the docker CLI's environment only.
pub fn exec(container: &str, env: &[(&str, String)], argv: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new("docker");
    cmd.args(["exec", "-i"]);
    for (k, v) in env {
        cmd.args(["-e", k]);
        cmd.env(k, v);
    }
    cmd.arg(container).args(argv);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run docker exec");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("docker exec output");
    let _ = writer.join();
    out
}

/// A credential of the stack: from its stack.env (mode 600), else from the DB container's
/// environment. Never printed.
pub fn stack_secret(key: &str) -> String {
    static CACHE: OnceLock<HashMap<String, String>> = OnceLock::new();
    let map = CACHE.get_or_init(|| {
        let dir = std::env::var("AI_BACKUP_STACK_DIR")
            .unwrap_or_else(|_| "/var/lib/ai-backup-stack".into());
        let mut map = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(format!("{dir}/stack.env")) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    map.insert(k.trim().to_string(), v.to_string());
                }
            }
        }
        for c in [super::PG_CONTAINER, super::MY_CONTAINER] {
            for (k, v) in container_env(c) {
                map.entry(k).or_insert(v);
            }
        }
        map
    });
    map.get(key)
        .cloned()
        .unwrap_or_else(|| panic!("{key} is neither in stack.env nor in the containers' env"))
}

fn container_env(name: &str) -> Vec<(String, String)> {
    let out = docker(&["inspect", "-f", "{{json .Config.Env}}", name]);
    if !out.status.success() {
        return Vec::new();
    }
    let list: Vec<String> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    list.into_iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect()
}

/// `(running, paused)` of a container; `None` when it does not exist.
pub fn state(name: &str) -> Option<(bool, bool)> {
    let out = docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.State.Paused}}",
        name,
    ]);
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace();
    Some((it.next() == Some("true"), it.next() == Some("true")))
}

pub fn is_running(name: &str) -> bool {
    matches!(state(name), Some((true, _)))
}

/// The app containers of both modules run and are not paused.
pub fn assert_apps_running() {
    for app in [super::N8N_APP, super::ONEAPI_APP] {
        assert_eq!(
            state(app),
            Some((true, false)),
            "{app} must be running and not paused"
        );
    }
}

pub fn kill(name: &str) {
    let out = docker(&["kill", name]);
    assert!(
        out.status.success(),
        "docker kill {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn start(name: &str) {
    let out = docker(&["start", name]);
    assert!(
        out.status.success(),
        "docker start {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Unpause or start each of `names`. Never panics; reports on stderr.
pub fn bring_back(names: &[&str]) {
    for &name in names {
        match state(name) {
            None => eprintln!("[stack] container {name} does not exist: run scripts/stack up"),
            Some((true, true)) => {
                let _ = docker(&["unpause", name]);
            }
            Some((false, _)) => {
                let out = docker(&["start", name]);
                if !out.status.success() {
                    eprintln!(
                        "[stack] docker start {name}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
            }
            Some((true, false)) => {}
        }
    }
}

/// Bring every container of the stack back: unpause, start, wait for the databases and the
/// apps' health endpoints. Never panics (it runs in a guard's `Drop`); reports on stderr.
pub fn ensure_stack_up() {
    bring_back(&ALL_CONTAINERS);
    for engine in [Engine::Pg, Engine::My] {
        if !db::wait_ready(engine, Duration::from_secs(120)) {
            eprintln!("[stack] {} does not answer", engine.container());
        }
    }
    for url in [
        "http://127.0.0.1:5678/healthz",
        "http://127.0.0.1:3000/api/status",
    ] {
        if !wait_http(url, Duration::from_secs(60)) {
            eprintln!("[stack] {url} does not answer");
        }
    }
    for name in ALL_CONTAINERS {
        if !wait_healthy(name, Duration::from_secs(30)) {
            eprintln!("[stack] {name} is not reported healthy by Docker");
        }
    }
}

/// Wait until Docker's health check reports the container healthy (right after a pause, a
/// timed-out check leaves it "unhealthy" for a couple of seconds).
pub fn wait_healthy(name: &str, timeout: Duration) -> bool {
    super::poll_until(timeout, Duration::from_millis(300), || {
        let out = docker(&[
            "inspect",
            "-f",
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
            name,
        ]);
        let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
        out.status.success() && (status == "healthy" || status == "none")
    })
}

/// Poll `url` (plain HTTP on loopback) until it answers 200.
pub fn wait_http(url: &str, timeout: Duration) -> bool {
    super::poll_until(timeout, Duration::from_millis(300), || http_ok(url))
}

fn http_ok(url: &str) -> bool {
    use std::io::Read;
    let rest = url.trim_start_matches("http://");
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(hostport) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let req = format!("GET /{path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).starts_with("HTTP/1.0 200") || {
        let head = String::from_utf8_lossy(&buf);
        head.starts_with("HTTP/1.1 200")
    }
}

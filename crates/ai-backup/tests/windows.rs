//! The Windows build (x86_64-pc-windows-gnu) under wine: what is particular to Windows. Every
//! run of ai-backup here is the Windows binary. `scripts/windows test` builds it, sets
//! `AI_BACKUP_WINDOWS_EXE` and `AI_BACKUP_WINDOWS_DOCKER` (the test engine forwarded to
//! loopback TCP, standing in for Docker Desktop's named pipe) and runs these with `--ignored`,
//! then the n8n and Dify round trips with the same binary. The engine's database tools run by
//! exec, so what is tested is what Windows users run.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::bin::{self, Out};
use common::{db, fp, Module};

const IGNORED: &str = "needs the Windows build: scripts/windows test";

fn exe() -> PathBuf {
    PathBuf::from(std::env::var_os(bin::WINDOWS_EXE_ENV).unwrap_or_else(|| {
        panic!("{IGNORED} (sets {})", bin::WINDOWS_EXE_ENV);
    }))
}

/// Run the Windows binary with `args` and `env`, no config or journal given.
fn run_bare(args: &[&str], env: &[(&str, &str)]) -> (Out, Vec<u8>) {
    let mut cmd = bin::program();
    cmd.args(args)
        .env_remove("AI_BACKUP_CONFIG")
        .env_remove("DOCKER_HOST")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let out = cmd.output().expect("run the Windows binary under wine");
    let text = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (text, out.stdout)
}

/// A Windows folder of the wine prefix (`%APPDATA%`, ...) as a path of this machine.
fn windows_folder(var: &str) -> PathBuf {
    let out = Command::new("wine")
        .args(["cmd", "/c", &format!("echo %{var}%")])
        .env("WINEDEBUG", "-all")
        .output()
        .expect("wine cmd");
    let win = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let unix = Command::new("winepath")
        .args(["-u", &win])
        .env("WINEDEBUG", "-all")
        .output()
        .expect("winepath");
    let path = PathBuf::from(String::from_utf8_lossy(&unix.stdout).trim());
    assert!(
        path.is_absolute() && !win.contains('%'),
        "%{var}% is {win:?}"
    );
    path
}

#[track_caller]
fn assert_no_cr(stdout: &[u8], what: &str) {
    assert!(!stdout.is_empty(), "{what}: no output");
    assert!(
        !stdout.contains(&b'\r'),
        "{what}: output holds a carriage return: {:?}",
        String::from_utf8_lossy(stdout)
    );
}

#[test]
#[ignore = "needs the Windows build: scripts/windows test"]
fn the_windows_binary_starts_and_prints_its_version() {
    assert!(exe().is_file());
    let (out, raw) = run_bare(&["--version"], &[]);
    out.assert_code(0, "--version");
    assert_eq!(
        out.stdout,
        format!("ai-backup {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_no_cr(&raw, "--version");
}

#[test]
#[ignore = "needs the Windows build: scripts/windows test"]
fn verify_and_inspect_read_a_linux_archive_and_a_corrupt_one_is_refused() {
    let env = common::setup();
    db::seed(Module::N8n);
    // Made by this machine's build, read by the Windows one.
    let dir = env.subdir("linux");
    let mut linux = Command::new(bin::BIN);
    let made = linux
        .args([
            "--config",
            env.config.to_str().unwrap(),
            "--json",
            "backup",
            "n8n",
            "-o",
        ])
        .arg(&dir)
        .env_remove("AI_BACKUP_CONFIG")
        .output()
        .expect("linux backup");
    assert!(made.status.success(), "{made:?}");
    let archive = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let a = archive.to_str().unwrap();

    let (out, raw) = run_bare(&["--json", "verify", a], &[]);
    out.assert_code(0, "verify by the Windows binary");
    assert_eq!(
        out.last_json(),
        serde_json::json!({"success": true, "path": a})
    );
    assert_no_cr(&raw, "verify --json");

    let (out, _) = run_bare(&["inspect", a], &[]);
    out.assert_code(0, "inspect by the Windows binary");
    for needle in [
        "module:     n8n",
        "workflow_entity",
        "db/n8n_db.sql.part-0001",
    ] {
        assert!(
            out.stdout.contains(needle),
            "inspect lacks {needle}: {}",
            out.stdout
        );
    }

    let mut bytes = std::fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let bad = env.path("n8n-corrupted.tar.gz");
    std::fs::write(&bad, &bytes).unwrap();
    let (out, raw) = run_bare(&["--json", "verify", bad.to_str().unwrap()], &[]);
    out.assert_code(2, "verify of a corrupt archive");
    let v = out.last_json();
    assert_eq!(v["success"], false, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert_no_cr(&raw, "a refusal in --json");
}

#[test]
#[ignore = "needs the Windows build: scripts/windows test"]
fn an_archive_written_on_windows_names_its_entries_with_slashes_and_verifies_on_linux() {
    let env = common::setup();
    db::seed(Module::N8n);
    let archive = env.backup(Module::N8n, "win");
    let listing = Command::new("tar")
        .arg("tzf")
        .arg(&archive)
        .output()
        .expect("tar tzf");
    assert!(listing.status.success(), "plain tar reads it: {listing:?}");
    let names = String::from_utf8(listing.stdout).unwrap();
    assert!(names.starts_with("metadata.json\n"), "{names}");
    assert!(names.contains("\ndb/n8n_db.sql.part-0001\n"), "{names}");
    assert!(
        !names.contains('\\'),
        "a backslash in an entry name: {names}"
    );
    let check = Command::new(bin::BIN)
        .args(["verify", archive.to_str().unwrap()])
        .output()
        .expect("linux verify");
    assert!(check.status.success(), "{check:?}");
}

#[test]
#[ignore = "needs the Windows build: scripts/windows test"]
fn a_cancel_line_on_stdin_cancels_a_windows_backup() {
    common::cancel::backup_cancelled(Module::N8n, &["--cancel-on-stdin"], "a cancel line", |c| {
        c.send_line("cancel")
    });
}

/// With no `--config`, the config comes from `%APPDATA%\ai-backup\config.toml`; with no
/// journal path, the journal goes to `%LOCALAPPDATA%\ai-backup\journal.log`.
#[test]
#[ignore = "needs the Windows build: scripts/windows test"]
fn config_is_read_from_appdata_and_the_journal_written_to_localappdata() {
    let env = common::setup();
    let config = windows_folder("APPDATA")
        .join("ai-backup")
        .join("config.toml");
    let journal = windows_folder("LOCALAPPDATA")
        .join("ai-backup")
        .join("journal.log");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&journal);
    std::fs::write(
        &config,
        format!(
            "{}[modules.n8n]\nnotes-marker-unused = 1\n",
            bin::docker_toml()
        ),
    )
    .unwrap();
    let (out, _) = run_bare(&["config"], &[]);
    out.assert_code(2, "a config file with an unknown key is refused");
    assert!(
        out.stderr.contains("config.toml") && out.stderr.contains("notes-marker-unused"),
        "the error names the file in %APPDATA% and the key: {}",
        out.stderr
    );

    std::fs::write(&config, bin::docker_toml()).unwrap();
    db::seed(Module::N8n);
    let seeded = fp::module(Module::N8n);
    let dir = env.subdir("appdata");
    let (out, _) = run_bare(
        &["--json", "backup", "n8n", "-o", dir.to_str().unwrap()],
        &[],
    );
    out.assert_code(0, "backup with the config from %APPDATA%");
    let archive = out.result_path();
    common::write_more(Module::N8n);
    let (out, _) = run_bare(
        &[
            "--json",
            "restore",
            "n8n",
            archive.to_str().unwrap(),
            "--yes",
        ],
        &[],
    );
    out.assert_code(0, "restore with the config from %APPDATA%");
    fp::assert_same(&seeded, &fp::module(Module::N8n), "n8n after the restore");
    let lines = std::fs::read_to_string(&journal).unwrap_or_else(|e| {
        panic!("no journal at {} ({e})", journal.display());
    });
    assert!(
        lines.contains("\"module\":\"n8n\"") && lines.contains("--yes"),
        "{lines}"
    );
    std::fs::remove_file(&config).unwrap();
}

/// Without a config or DOCKER_HOST, the Windows build looks for Docker Desktop's named pipe
/// and says so when it is not there.
#[test]
#[ignore = "needs the Windows build: scripts/windows test"]
fn the_default_engine_on_windows_is_docker_desktops_named_pipe() {
    let _lock = common::lock();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let (out, _) = run_bare(&["--config", empty.to_str().unwrap(), "plan", "n8n"], &[]);
    assert_ne!(out.code, 0, "no engine here: {out:?}");
    assert!(
        out.stderr.contains("npipe:////./pipe/docker_engine"),
        "the error names the pipe: {}",
        out.stderr
    );
}

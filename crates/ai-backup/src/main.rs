//! `ai-backup`: the command-line front end. It parses arguments, asks for confirmation, wires
//! Ctrl-C/SIGTERM (Ctrl-C/Ctrl-Break on Windows) and `--cancel-on-stdin` to cancellation and
//! renders events; the library does the work.
//!
//! Exit codes: 0 success; 1 failed, live data unchanged; 2 bad input or usage refused;
//! 130 cancelled.

mod cli;
mod passphrase;
mod render;
mod ui;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use ai_backup_core::config::Config;
use ai_backup_core::engine::{self, BackupRequest, RestoreRequest};
use ai_backup_core::progress::{Cancel, Progress};
use ai_backup_core::Error;
use ai_backup_core::{archive, catalog, describe};
use clap::Parser;
use serde_json::json;

use cli::{Cli, Command};
use render::Output;

const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_CANCELLED: u8 = 130;

fn main() -> ExitCode {
    // SAFETY: first in main, before the runtime or anything else starts a thread.
    unsafe { ai_backup_core::memory::limit_arenas() };
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_BAD_INPUT } else { 0 });
        }
    };
    // Before any thread starts: no child process inherits the passphrase.
    let env_passphrase = passphrase::Sources::take_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(cli, env_passphrase))
}

/// The outcome of a command, rendered as text or as the design's result object.
enum Done {
    Ok { path: Option<String>, text: String },
    Failed(Error),
}

async fn run(cli: Cli, env_passphrase: Option<archive::Passphrase>) -> ExitCode {
    let out = Arc::new(Output::new(cli.json));
    let progress = Progress::new(out.clone());
    let cancel = Cancel::new();
    spawn_signal_handler(cancel.clone());
    if cli.cancel_on_stdin {
        spawn_stdin_canceller(cancel.clone());
    }

    let done = match Config::load(cli.config.as_deref()) {
        Err(e) => Done::Failed(e),
        Ok((config, _)) => {
            let keys = passphrase::Sources {
                file: cli.passphrase_file.clone(),
                env: env_passphrase,
                may_prompt: !cli.json && !cli.cancel_on_stdin,
            };
            dispatch(&cli, &config, &keys, (&progress, &cancel)).await
        }
    };
    out.finish();
    match done {
        Done::Ok { path, text } => {
            if cli.json {
                let mut v = json!({"success": true});
                if let Some(p) = path {
                    v["path"] = json!(p);
                }
                Output::json_line(&v);
            } else if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Done::Failed(e) => {
            // "Cancelled" promises the live data is as it was: never over an incomplete rollback.
            let incomplete = matches!(e, Error::RollbackIncomplete { .. });
            let cancelled = !incomplete && (e.is_cancelled() || cancel.is_cancelled());
            if cli.json {
                let v = if cancelled {
                    json!({"success": false, "cancelled": true})
                } else {
                    json!({"success": false, "error": e.to_string()})
                };
                Output::json_line(&v);
            } else if cancelled {
                eprintln!("cancelled; the live data was left as it was");
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::from(if cancelled {
                EXIT_CANCELLED
            } else if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            })
        }
    }
}

/// Ctrl-C and SIGTERM (Unix), Ctrl-C, Ctrl-Break and closing the console (Windows) cancel.
fn spawn_signal_handler(cancel: Cancel) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(windows)]
        {
            use tokio::signal::windows::{ctrl_break, ctrl_close};
            let (mut brk, mut close) = (
                ctrl_break().expect("Ctrl-Break handler"),
                ctrl_close().expect("console close handler"),
            );
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = brk.recv() => {}
                _ = close.recv() => {}
            }
        }
        #[cfg(not(any(unix, windows)))]
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
}

/// With `--cancel-on-stdin`: a line "cancel" on standard input cancels; other lines and the
/// end of input are ignored. A plain thread, because the blocking read never ends by itself.
fn spawn_stdin_canceller(cancel: Cancel) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "cancel" => return cancel.cancel(),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
}

async fn dispatch(
    cli: &Cli,
    config: &Config,
    keys: &passphrase::Sources,
    (progress, cancel): (&Progress, &Cancel),
) -> Done {
    let result = match &cli.command {
        Command::Backup {
            module,
            output,
            compression,
            notes,
            encrypt,
        } => {
            backup(
                config,
                (module, output, notes),
                *compression,
                *encrypt,
                keys,
                (progress, cancel),
            )
            .await
        }
        Command::Restore {
            module,
            archive,
            yes,
            restore_secrets,
        } => {
            let confirmation = if *yes {
                Ok("--yes".to_string())
            } else {
                confirm(
                    config,
                    module,
                    archive,
                    cli.json || cli.cancel_on_stdin,
                    (progress, cancel),
                )
                .await
            };
            let key = match confirmation {
                Ok(c) => keys.for_archive(archive).await.map(|k| (c, k)),
                Err(e) => Err(e),
            };
            match key {
                Err(e) => Err(e),
                Ok((confirmation, key)) => {
                    let req = RestoreRequest {
                        module: module.clone(),
                        archive: archive.clone(),
                        restore_secrets: *restore_secrets,
                        confirmation,
                        key,
                    };
                    engine::restore(config, &req, progress, cancel)
                        .await
                        .map(|o| Done::Ok {
                            path: None,
                            text: describe::restore_outcome(module, archive, &o),
                        })
                }
            }
        }
        Command::Recover { module } => {
            let all: Vec<String> = match module {
                Some(m) => vec![m.clone()],
                None => config.modules.keys().cloned().collect(),
            };
            let mut said = Vec::new();
            let mut result = Ok(());
            let key = keys.for_recover(&all).await;
            for m in &all {
                match engine::recover(config, m, &key, progress, cancel).await {
                    Ok(Some(text)) => said.push(text),
                    Ok(None) => said.push(format!("{m}: no interrupted restore to recover")),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            result.map(|()| {
                if cli.json {
                    Output::json_line(&json!({"event": "recovered", "text": said}));
                }
                Done::Ok {
                    path: None,
                    text: said.join("\n"),
                }
            })
        }
        Command::Verify { archive } => verify(archive, keys, (progress, cancel)).await.map(|v| {
            if cli.json {
                Output::json_line(&json!({
                    "event": "archive",
                    "module": v.metadata.module_id,
                    "createdAt": v.metadata.created_at,
                    "summary": describe::archive_summary(&v.metadata),
                    "text": describe::archive(&v),
                }));
            }
            Done::Ok {
                path: Some(archive.display().to_string()),
                text: describe::verified(archive, &v),
            }
        }),
        Command::Inspect { archive } => verify(archive, keys, (progress, cancel)).await.map(|v| {
            if cli.json {
                Output::json_line(
                    &json!({"event": "inspect", "metadata": v.metadata, "manifest": v.manifest}),
                );
                return Done::Ok {
                    path: Some(archive.display().to_string()),
                    text: String::new(),
                };
            }
            Done::Ok {
                path: Some(archive.display().to_string()),
                text: describe::archive(&v),
            }
        }),
        Command::Modules => {
            let all = engine::modules_status(config, cancel).await;
            if cli.json {
                for m in &all {
                    Output::json_line(&json!({"event": "module", "status": m}));
                }
            }
            let mut text = String::new();
            for m in &all {
                text += &m.line();
                text += "\n";
            }
            Ok(Done::Ok {
                path: None,
                text: if cli.json {
                    String::new()
                } else {
                    text.trim_end().to_string()
                },
            })
        }
        Command::Plan { module } => engine::plan(config, module, progress, cancel)
            .await
            .map(|p| {
                if cli.json {
                    Output::json_line(&json!({
                        "event": "plan",
                        "plan": p,
                        "text": describe::plan(&p),
                        "overwrites": describe::overwrites(&p),
                    }));
                    return Done::Ok {
                        path: None,
                        text: String::new(),
                    };
                }
                Done::Ok {
                    path: None,
                    text: describe::plan(&p),
                }
            }),
        Command::Ui {
            port,
            no_open,
            backup_dir,
        } => {
            let opts = ui::Options {
                port: *port,
                open: !no_open,
                backup_dir: backup_dir.clone().unwrap_or_else(catalog::default_dir),
            };
            let board = ai_backup_core::jobs::JobBoard::new(config.clone());
            ui::serve(board, opts, cancel.clone(), |url| {
                println!("The module settings page is at {url}");
                println!("(it answers only on this computer; Ctrl-C stops it)");
            })
            .await
            .map(|()| Done::Ok {
                path: None,
                text: String::new(),
            })
        }
        Command::Config => Ok(Done::Ok {
            path: None,
            text: config.redacted(),
        }),
    };
    result.unwrap_or_else(Done::Failed)
}

/// Back up a module, encrypted when asked.
async fn backup(
    config: &Config,
    (module, output, notes): (&str, &Option<std::path::PathBuf>, &Option<String>),
    compression: Option<archive::Compression>,
    encrypt: bool,
    keys: &passphrase::Sources,
    (progress, cancel): (&Progress, &Cancel),
) -> Result<Done, Error> {
    let key = match encrypt {
        true => keys.for_backup()?,
        false => archive::ArchiveKey::NONE,
    };
    let req = BackupRequest {
        module: module.to_string(),
        output: output.clone(),
        notes: notes.clone(),
        key,
        compression,
    };
    let o = engine::backup(config, &req, progress, cancel).await?;
    Ok(Done::Ok {
        text: describe::backup_outcome(module, &o),
        path: Some(o.path.display().to_string()),
    })
}

/// Verify an archive, asking for its passphrase when it is encrypted.
async fn verify(
    path: &std::path::Path,
    keys: &passphrase::Sources,
    (progress, cancel): (&Progress, &Cancel),
) -> Result<archive::Verified, Error> {
    let key = keys.for_archive(path).await?;
    archive::verify(path, &key, progress, cancel).await
}

/// Show what the restore will overwrite and ask the user to type the module name.
async fn confirm(
    config: &Config,
    module: &str,
    archive: &std::path::Path,
    scripted: bool,
    (progress, cancel): (&Progress, &Cancel),
) -> Result<String, Error> {
    if scripted || !std::io::stdin().is_terminal() {
        config.module(module)?;
        return Err(Error::Usage(
            "restore overwrites data: confirm with --yes when not run interactively".into(),
        ));
    }
    let lines = describe::overwrites(&engine::plan(config, module, progress, cancel).await?);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "Restoring {} will OVERWRITE all current data of module {module}:",
        archive.display()
    );
    for line in lines {
        let _ = writeln!(err, "  {line}");
    }
    let _ = writeln!(
        err,
        "Take a backup first if you may want the current data back: ai-backup backup {module}"
    );
    let _ = write!(err, "Type the module name ({module}) to continue: ");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the confirmation", e))?;
    if line.trim() == module {
        Ok(format!("typed '{module}' at the prompt"))
    } else {
        Err(Error::Usage("not confirmed; nothing was changed".into()))
    }
}

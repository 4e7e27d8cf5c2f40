//! `ai-backup`: the command-line front end. It parses arguments, asks for confirmation, wires
//! Ctrl-C/SIGTERM to cancellation and renders events; the library does the work.
//!
//! Exit codes: 0 success; 1 failed, live data unchanged; 2 bad input or usage refused;
//! 130 cancelled.

mod cli;
mod render;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use ai_backup_core::archive;
use ai_backup_core::config::Config;
use ai_backup_core::engine::{self, BackupRequest, RestoreRequest};
use ai_backup_core::progress::{Cancel, Progress};
use ai_backup_core::Error;
use clap::Parser;
use serde_json::json;

use cli::{Cli, Command};
use render::Output;

const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_CANCELLED: u8 = 130;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_BAD_INPUT } else { 0 });
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(cli))
}

/// The outcome of a command, rendered as text or as the design's result object.
enum Done {
    Ok { path: Option<String>, text: String },
    Failed(Error),
}

async fn run(cli: Cli) -> ExitCode {
    let out = Arc::new(Output::new(cli.json));
    let progress = Progress::new(out.clone());
    let cancel = Cancel::new();
    spawn_signal_handler(cancel.clone());

    let done = match Config::load(cli.config.as_deref()) {
        Err(e) => Done::Failed(e),
        Ok((config, _)) => dispatch(&cli, &config, &progress, &cancel).await,
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
            let cancelled = e.is_cancelled() || cancel.is_cancelled();
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

fn spawn_signal_handler(cancel: Cancel) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
}

async fn dispatch(cli: &Cli, config: &Config, progress: &Progress, cancel: &Cancel) -> Done {
    let result = match &cli.command {
        Command::Backup {
            module,
            output,
            notes,
        } => {
            let req = BackupRequest {
                module: module.clone(),
                output: output.clone(),
                notes: notes.clone(),
            };
            engine::backup(config, &req, progress, cancel)
                .await
                .map(|o| Done::Ok {
                    text: format!(
                        "backed up {module} to {} ({} bytes in the archive: {})",
                        o.path.display(),
                        o.manifest.total_bytes(),
                        o.metadata.contents()
                    ),
                    path: Some(o.path.display().to_string()),
                })
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
                confirm(config, module, archive, cli.json)
            };
            match confirmation {
                Err(e) => Err(e),
                Ok(confirmation) => {
                    let req = RestoreRequest {
                        module: module.clone(),
                        archive: archive.clone(),
                        restore_secrets: *restore_secrets,
                        confirmation,
                    };
                    engine::restore(config, &req, progress, cancel)
                        .await
                        .map(|o| {
                            let mut text = format!(
                                "restored {module} from {}: {}.\n{}.",
                                archive.display(),
                                o.contents,
                                o.method
                            );
                            if !o.secrets_written.is_empty() {
                                text += &format!(
                                    "\nSecrets put in place: {}.",
                                    o.secrets_written.join(", ")
                                );
                            }
                            if let Some(h) = &o.health {
                                text += &format!(
                                    "\nHealth: {} ({}).",
                                    if h.healthy { "ok" } else { "NOT healthy" },
                                    h.details.join("; ")
                                );
                            }
                            text += &format!(
                                "\nDestructive steps were logged to {}.",
                                o.journal.display()
                            );
                            Done::Ok { path: None, text }
                        })
                }
            }
        }
        Command::Verify { archive } => {
            archive::verify(archive, progress, cancel)
                .await
                .map(|v| Done::Ok {
                    path: Some(archive.display().to_string()),
                    text: format!(
                        "{}: OK — {} backup of {}, {} entries, {} bytes, every checksum matches",
                        archive.display(),
                        v.metadata.module_id,
                        v.metadata.created_at,
                        v.manifest.entries.len(),
                        v.manifest.total_bytes()
                    ),
                })
        }
        Command::Inspect { archive } => archive::verify(archive, progress, cancel).await.map(|v| {
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
                text: describe_archive(&v),
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
                    Output::json_line(&json!({"event": "plan", "plan": p}));
                    return Done::Ok {
                        path: None,
                        text: String::new(),
                    };
                }
                Done::Ok {
                    path: None,
                    text: describe_plan(&p),
                }
            }),
        Command::Config => Ok(Done::Ok {
            path: None,
            text: config.redacted(),
        }),
    };
    result.unwrap_or_else(Done::Failed)
}

fn describe_plan(p: &engine::Plan) -> String {
    let mut s = format!(
        "module {}\n  database  {} on {}{}\n",
        p.module,
        p.scope.database,
        p.database_server,
        if p.database_present { "" } else { " (missing)" }
    );
    for (bucket, prefix, n, bytes) in &p.object_counts {
        let what = if prefix.is_empty() {
            format!("bucket {bucket} (all of it)")
        } else {
            format!("bucket {bucket}, prefix {prefix}")
        };
        s += &format!("  objects   {what}: {n} objects, {bytes} bytes\n");
    }
    for (index, docs) in &p.index_counts {
        s += &format!("  index     {index}: {docs} documents\n");
    }
    if !p.apps.is_empty() {
        s += &format!(
            "  apps      {} (stopped during a restore)\n",
            p.apps.join(", ")
        );
    }
    for sec in &p.secrets {
        s += &format!("  secret    {sec}\n");
    }
    s.trim_end().to_string()
}

fn describe_archive(v: &archive::Verified) -> String {
    let m = &v.metadata;
    let mut s = format!(
        "module:     {}\nengine:     {} ({})\ndatabase:   {}\ncreated:    {}\nformat:     {} v{} (tool {})\ncomponents: {}\nquiesced:   {}\n",
        m.module_id,
        m.engine,
        m.source_servers.get("db").cloned().unwrap_or_default(),
        m.db_name,
        m.created_at,
        m.format,
        m.format_version,
        m.tool_version,
        m.components.join(", "),
        m.quiesced
    );
    if let Some(n) = &m.notes {
        s += &format!("notes:      {n}\n");
    }
    s += &format!(
        "tables ({}, {} rows):\n",
        m.db.stats.tables.len(),
        m.db.stats.total_rows()
    );
    for (t, rows) in &m.db.stats.tables {
        s += &format!("  {t:<48} {rows:>12}\n");
    }
    for (kind, list) in [
        ("views", &m.db.stats.views),
        ("routines", &m.db.stats.routines),
        ("triggers", &m.db.stats.triggers),
        ("events", &m.db.stats.events),
    ] {
        if !list.is_empty() {
            s += &format!("{kind}: {}\n", list.join(", "));
        }
    }
    if !m.db.stats.sequences.is_empty() {
        s += &format!(
            "sequences: {}\n",
            m.db.stats
                .sequences
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(o) = &m.objects {
        let scope: Vec<String> = o
            .scope
            .iter()
            .map(|(b, p)| {
                if p.is_empty() {
                    b.clone()
                } else {
                    format!("{b}/{p}")
                }
            })
            .collect();
        s += &format!("objects in scope {}:\n", scope.join(", "));
        for (b, c) in &o.buckets {
            s += &format!(
                "  {b:<48} {:>12} objects {:>14} bytes\n",
                c.objects, c.bytes
            );
        }
    }
    if let Some(i) = &m.indices {
        s += "indices:\n";
        for (name, docs) in &i.indices {
            s += &format!("  {name:<48} {docs:>12} documents\n");
        }
    }
    for sec in &m.secrets {
        s += &format!(
            "secret:     {} (from {}, value not shown)\n",
            sec.name, sec.source
        );
    }
    s += "entries:\n";
    for e in &v.manifest.entries {
        s += &format!("  {:<48} {:>12}  {}\n", e.path, e.size, &e.sha256[..16]);
    }
    s.trim_end().to_string()
}

/// Show what the restore will overwrite and ask the user to type the module name.
fn confirm(
    config: &Config,
    module: &str,
    archive: &std::path::Path,
    json: bool,
) -> Result<String, Error> {
    let lines = engine::overwrites(config, module)?;
    if json || !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "restore overwrites data: confirm with --yes when not run interactively".into(),
        ));
    }
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

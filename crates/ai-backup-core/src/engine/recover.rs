//! `ai-backup recover`: bring a module whose restore died midway to one consistent end, from
//! the state the restore left. Before the swap every store goes back to its previous data;
//! once the database was swapped in, the new data is kept and the rest is finished. It can be
//! killed and run again: every step checks what is there before acting.

use super::state::{self, RestoreState, Step};
use super::{apps::Apps, indices, objects, scope, secret_check};
use crate::archive::{self, ArchiveKey};
use crate::config::{Config, ModuleConfig};
use crate::docker::DockerClient;
use crate::error::Result;
use crate::journal::Journal;
use crate::progress::{Cancel, Progress};
use crate::store::{self, DatabaseStore};
use crate::{health, secrets};

/// Recover `module_id`; the outcome for people, or `None` when no restore was interrupted.
/// `key` opens an encrypted archive when the restore was to put its secrets in place.
///
/// # Errors
/// Any store failing while recovering: the state stays, and recovery can be run again.
pub async fn recover(
    config: &Config,
    module_id: &str,
    key: &ArchiveKey,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Option<String>> {
    let (module, server) = config.module(module_id)?;
    let _lock = crate::lock::acquire(&crate::lock::default_dir(), module_id, "recover")?;
    let dir = state::default_dir();
    let Some(mut st) = RestoreState::load(&dir, module_id)? else {
        return Ok(None);
    };
    let docker = super::docker_for(&config.docker, module, server, progress).await?;
    let db = store::open(server, docker.as_ref()).await?;
    let clients = scope::clients(config, module, docker.as_ref(), progress).await?;
    let calm = Cancel::new();
    // Swapped: the new data is in every store, whatever was dropped since. Swapping and rolling
    // back: what the databases show says which side of the swap they are on.
    let forward = match st.step {
        Step::Swapped => true,
        Step::Swapping | Step::RollingBack => swapped(&*db, &st, &calm).await?,
        _ => false,
    };
    let journal = Journal::new(&config.journal);
    let archive_path = st.archive.clone();
    let note = |step: &str, detail: &str| {
        let _ = journal.record(module_id, &archive_path, "ai-backup recover", step, detail);
    };
    note(
        "recover-start",
        &format!(
            "{:?}, {}",
            st.step,
            if forward { "forward" } else { "back" }
        ),
    );
    progress.phase("recover", None);
    let text = if forward {
        let (on, of) = ((&*db, &clients, docker.as_ref()), (module, &st, key));
        finish(on, of, progress, &calm).await?
    } else {
        undo(&*db, &clients, &mut st, &dir, progress, &calm).await?
    };
    if let Some(d) = &docker {
        start_again(d, module, &st.apps_stopped, progress, cancel).await;
    }
    RestoreState::clear(&dir, module_id);
    note("recover-done", &text);
    Ok(Some(text))
}

/// Whether the staged database is in place of the live one (so the new data is kept).
async fn swapped(db: &dyn DatabaseStore, st: &RestoreState, c: &Cancel) -> Result<bool> {
    let staged_full =
        db.exists(&st.staged, c).await? && !db.stats(&st.staged, c).await?.tables.is_empty();
    if st.swap.as_ref().is_some_and(|s| !s.live_existed) {
        return Ok(!staged_full);
    }
    if !db.exists(&st.old, c).await? {
        return Ok(false);
    }
    Ok(!db.stats(&st.old, c).await?.tables.is_empty() || !staged_full)
}

/// Everything back to the previous data: the staged database dropped, the indices and
/// objects put back from their holds (or the holds' partial copies dropped).
async fn undo(
    db: &dyn DatabaseStore,
    clients: &scope::Clients,
    st: &mut RestoreState,
    dir: &std::path::Path,
    progress: &Progress,
    c: &Cancel,
) -> Result<String> {
    // A swap, or its undo, that died before its atomic table moves: the live database holds
    // the previous tables; make its views, triggers, routines and events whole again.
    if let Some(plan) = &st.swap {
        db.settle_swap(&st.database, plan, false, c).await?;
    }
    db.drop_db(&st.staged, c).await?;
    if db.exists(&st.old, c).await? && db.stats(&st.old, c).await?.tables.is_empty() {
        db.drop_db(&st.old, c).await?;
    }
    let module = st.module.clone();
    if let Some(es) = &clients.es {
        match &st.indices {
            Some(h) => {
                let held = indices::Held {
                    indices: h.held.clone(),
                };
                if st.step >= Step::IndicesReplacing {
                    indices::put_back(es, &held, &h.restored, c).await?;
                    progress.info(format!("put back the previous indices: {}", names(&h.held)));
                } else {
                    indices::release(es, &held, c).await?;
                }
            }
            None if st.step == Step::IndicesHolding => {
                indices::drop_clones(es, &st.index_targets, c).await?
            }
            None => {}
        }
    }
    if let (Some(s3), Some(h)) = (&clients.s3, st.objects.clone()) {
        if st.step >= Step::ObjectsReplacing && !st.objects_put_back {
            let n = objects::put_back_from_hold(s3, &h.scope, &h.created, &module, c).await?;
            progress.info(format!("put back the {n} previous objects"));
            // The copies go last: a recovery that dies from here on only drops them.
            st.objects_put_back = true;
            st.save(dir)?;
        }
        objects::drop_hold(s3, &module, c).await?;
    }
    Ok(format!(
        "the restore of {module} from {} was interrupted at step {:?} and has been undone: {module} holds its previous data in every store",
        st.archive.display(),
        st.step
    ))
}

/// Keep the new data: drop the previous database and the held copies, put the archived
/// secrets in place when the restore was asked to.
async fn finish(
    (db, clients, docker): (&dyn DatabaseStore, &scope::Clients, Option<&DockerClient>),
    (module, st, key): (&ModuleConfig, &RestoreState, &ArchiveKey),
    progress: &Progress,
    c: &Cancel,
) -> Result<String> {
    if st.restore_secrets {
        if let Some(d) = docker {
            let v = match archive::verify(&st.archive, key, progress, c).await {
                Ok(v) => v,
                Err(e) => {
                    progress.warn(format!(
                        "the archived secrets could not be put in place ({e}); put them in place by hand"
                    ));
                    return finish_data(db, clients, st, c).await;
                }
            };
            for check in secret_check::compare(Some(d), module, &v, progress).await? {
                if check.can_restore {
                    let spec = module
                        .secrets
                        .iter()
                        .find(|s| s.name == check.name)
                        .expect("a secret of the module");
                    secrets::write(
                        d,
                        spec,
                        check.archived.as_deref().unwrap_or_default(),
                        &st.module,
                    )
                    .await?;
                }
            }
        }
    }
    finish_data(db, clients, st, c).await
}

/// The data part of a roll forward: the previous database and the held copies dropped.
async fn finish_data(
    db: &dyn DatabaseStore,
    clients: &scope::Clients,
    st: &RestoreState,
    c: &Cancel,
) -> Result<String> {
    if let Some(plan) = &st.swap {
        db.settle_swap(&st.database, plan, true, c).await?;
    }
    db.drop_db(&st.old, c).await?;
    if db.exists(&st.staged, c).await? && db.stats(&st.staged, c).await?.tables.is_empty() {
        db.drop_db(&st.staged, c).await?;
    }
    if let (Some(es), Some(h)) = (&clients.es, &st.indices) {
        indices::release(
            es,
            &indices::Held {
                indices: h.held.clone(),
            },
            c,
        )
        .await?;
    }
    if let (Some(s3), Some(_)) = (&clients.s3, &st.objects) {
        objects::drop_hold(s3, &st.module, c).await?;
    }
    Ok(format!(
        "the restore of {} from {} was interrupted after its database was swapped in and has been finished: {} holds the restored data in every store",
        st.module,
        st.archive.display(),
        st.module
    ))
}

/// Start the apps the restore stopped (and only those), then report their health.
async fn start_again(
    d: &DockerClient,
    module: &ModuleConfig,
    stopped: &[String],
    progress: &Progress,
    c: &Cancel,
) {
    let running = Apps::running(Some(d), stopped).await;
    for n in stopped.iter().filter(|n| !running.contains(n)) {
        if let Err(e) = d.start(n).await {
            progress.warn(format!("could not start {n} again: {e}"));
        }
    }
    if !stopped.is_empty() {
        let report = health::check(d, module, c).await;
        progress.info(format!("health: {}", report.details.join("; ")));
    }
}

fn names(held: &[(String, String, serde_json::Value)]) -> String {
    held.iter()
        .map(|(l, _, _)| l.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

//! The object store and Elasticsearch steps of a module's restore, as one unit: hold the live
//! data aside, replace it with the archive's, and on any later failure put the held data back.

use std::path::Path;

use super::scope::{Clients, Scope};
use super::state::{self, Durable, HeldIndices, Step};
use super::{indices, objects};
use crate::archive::Verified;
use crate::config::BucketPrefix;
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};

/// What `replace` did, for `put_back` or `release`.
#[derive(Default)]
pub struct Replaced {
    objects: Option<HeldObjects>,
    indices: Option<(indices::Held, Vec<String>)>,
}

/// The live objects held aside, and what the restore may write to: the whole scope (the
/// live module's and the archive's) and the buckets it had to create.
struct HeldObjects {
    held: objects::Held,
    scope: Vec<BucketPrefix>,
    created: Vec<String>,
}

/// Check both servers answer before anything is touched.
pub async fn preflight(
    clients: &Clients,
    verified: &Verified,
    module: &str,
    cancel: &Cancel,
) -> Result<()> {
    if verified.metadata.objects.is_some() {
        let s3 = clients
            .s3
            .as_ref()
            .ok_or_else(|| no_store(module, "objects", "an object store"))?;
        s3.list_buckets(cancel)
            .await
            .map_err(|e| e.into_error(module))?;
    }
    if verified.metadata.indices.is_some() {
        let es = clients
            .es
            .as_ref()
            .ok_or_else(|| no_store(module, "indices", "a search server"))?;
        es.version(cancel).await?;
    }
    Ok(())
}

/// Refuse to start while copies held by an earlier restore of the module that could not put
/// them back are still there: holding the live data again would overwrite them.
pub async fn check_leftovers(
    clients: &Clients,
    live: &Scope,
    verified: &Verified,
    module: &str,
    cancel: &Cancel,
) -> Result<()> {
    if let (Some(s3), Some(_)) = (&clients.s3, &verified.metadata.objects) {
        let bucket = objects::HOLD_BUCKET;
        let exists = s3
            .bucket_exists(bucket, cancel)
            .await
            .map_err(|e| e.into_error(module))?;
        if exists {
            let held = s3
                .list_objects(bucket, &format!("{module}/"), cancel)
                .await
                .map_err(|e| e.into_error(module))?;
            if !held.is_empty() {
                return Err(Error::Usage(format!(
                    "bucket {bucket} holds {} objects under {module}/: the previous objects of an earlier restore that could not put them back. Copy them back to <bucket>/<key> or delete them, then restore again. Nothing was changed",
                    held.len()
                )));
            }
        }
    }
    if let (Some(es), Some(meta)) = (&clients.es, &verified.metadata.indices) {
        let ours: Vec<&String> = live.indices.iter().chain(meta.indices.keys()).collect();
        let held: Vec<String> = es
            .resolve(&[format!("*{}", indices::HOLD_SUFFIX)], cancel)
            .await?
            .into_iter()
            .filter(|h| {
                let base = h.trim_end_matches(indices::HOLD_SUFFIX);
                ours.iter().any(|i| i.as_str() == base)
            })
            .collect();
        if !held.is_empty() {
            return Err(Error::Usage(format!(
                "{} hold the previous documents of an earlier restore that could not put them back. Clone them back to their names or delete them, then restore again. Nothing was changed",
                held.join(", ")
            )));
        }
    }
    Ok(())
}

fn no_store(module: &str, key: &str, what: &str) -> Error {
    Error::Usage(format!("the archive holds {key} but module {module} has no {what} configured ([modules.{module}.{key}])"))
}

/// The objects scope of a restore: the archive's and the live module's.
fn object_scope(live: &Scope, verified: &Verified) -> Vec<BucketPrefix> {
    let mut scope = live.objects.clone();
    if let Some(m) = &verified.metadata.objects {
        for p in m.prefixes() {
            if !scope.contains(&p) {
                scope.push(p);
            }
        }
    }
    scope
}

/// Hold the live objects and indices, then put the archive's in their place. On error, what
/// was held is put back before returning.
pub async fn replace(
    clients: &Clients,
    live: &Scope,
    verified: &Verified,
    path: &Path,
    state: &mut Durable<'_>,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Replaced> {
    let module = verified.metadata.module_id.as_str();
    let mut done = Replaced::default();
    let r = replace_into(
        &mut done, clients, live, verified, path, module, state, progress, cancel,
    )
    .await;
    match r {
        Ok(()) => Ok(done),
        Err(e) => {
            if let Err(u) = put_back(clients, &done, module, state).await {
                return Err(Error::RollbackIncomplete {
                    message: e.to_string(),
                    left: u,
                });
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn replace_into(
    done: &mut Replaced,
    clients: &Clients,
    live: &Scope,
    verified: &Verified,
    path: &Path,
    module: &str,
    state: &mut Durable<'_>,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<()> {
    if let (Some(es), Some(meta)) = (&clients.es, &verified.metadata.indices) {
        let mut targets = live.indices.clone();
        let archived: Vec<String> = meta.indices.keys().cloned().collect();
        for i in es.resolve(&archived, cancel).await? {
            if !targets.contains(&i) {
                targets.push(i);
            }
        }
        state.st.index_targets = targets.clone();
        state.at(Step::IndicesHolding)?;
        let held = indices::hold(es, &targets, progress, cancel).await?;
        state.st.indices = Some(HeldIndices {
            held: held.indices.clone(),
            restored: archived.clone(),
        });
        state.at(Step::IndicesReplacing)?;
        done.indices = Some((held, archived));
        indices::load(es, path, verified, &targets, progress, cancel).await?;
    }
    if let (Some(s3), Some(meta)) = (&clients.s3, &verified.metadata.objects) {
        let scope = object_scope(live, verified);
        let buckets = objects::bucket_names(s3, module, cancel).await?;
        let existing = objects::present(&scope, &buckets);
        let created: Vec<String> = meta
            .bucket_names()
            .into_iter()
            .filter(|b| !buckets.contains(b))
            .collect();
        let current = objects::list_scope(s3, &existing, module, cancel).await?;
        state.st.objects = Some(state::HeldObjects {
            scope: scope.clone(),
            created: created.clone(),
        });
        state.at(Step::ObjectsHolding)?;
        let held = objects::hold(s3, current, module, progress, cancel).await?;
        state.at(Step::ObjectsReplacing)?;
        // With the apps stopped, what was listed and held is what is in scope: delete it.
        let held = &done
            .objects
            .insert(HeldObjects {
                held,
                scope,
                created,
            })
            .held;
        objects::delete_listed(s3, &held.objects, module, cancel).await?;
        let index = verified
            .secrets
            .get(&meta.index_entry)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let records = objects::records(index).map_err(|reason| Error::ArchiveRefused {
            path: path.to_path_buf(),
            reason,
        })?;
        objects::load(s3, path, &records, meta, module, progress, cancel).await?;
    }
    Ok(())
}

/// Put back what `replace` held (not cancellable: it must finish). On failure: what could
/// not be put back and where the held copies are, for `Error::RollbackIncomplete`.
pub async fn put_back(
    clients: &Clients,
    done: &Replaced,
    module: &str,
    state: &mut Durable<'_>,
) -> std::result::Result<(), String> {
    let calm = Cancel::new();
    let mut left = Vec::new();
    if let (Some(s3), Some(h)) = (&clients.s3, &done.objects) {
        let back = objects::put_back(s3, &h.held, &h.scope, &h.created, module, &calm).await;
        // Recorded before the held copies go: a recovery must not put back from an empty hold.
        let back = match back {
            Ok(()) => {
                state.st.objects_put_back = true;
                match state.save() {
                    Ok(()) => objects::release(s3, &h.held, module, &calm).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = back {
            left.push(format!(
                "{e}; the previous objects ({}) are held in bucket {} under {module}/<bucket>/<key>",
                h.held.objects.len(),
                objects::HOLD_BUCKET
            ));
        }
    }
    if let (Some(es), Some((held, restored))) = (&clients.es, &done.indices) {
        if let Err(e) = indices::put_back(es, held, restored, &calm).await {
            let names: Vec<&str> = held.indices.iter().map(|(_, h, _)| h.as_str()).collect();
            left.push(format!(
                "{e}; the previous indices are held as {}",
                names.join(", ")
            ));
        }
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(left.join("; "))
    }
}

/// Drop the held copies once the restore is complete.
pub async fn release(clients: &Clients, done: &Replaced, module: &str, progress: &Progress) {
    let calm = Cancel::new();
    if let (Some(s3), Some(h)) = (&clients.s3, &done.objects) {
        if let Err(e) = objects::release(s3, &h.held, module, &calm).await {
            progress.warn(format!(
                "held copies of the previous objects remain in bucket {}: {e}",
                objects::HOLD_BUCKET
            ));
        }
    }
    if let (Some(es), Some((held, _))) = (&clients.es, &done.indices) {
        if let Err(e) = indices::release(es, held, &calm).await {
            progress.warn(format!(
                "held copies of the previous indices remain (suffix {}): {e}",
                indices::HOLD_SUFFIX
            ));
        }
    }
}

//! The Elasticsearch part of a module's backup and restore. Backup records each index's
//! definition (settings without the private ones, mappings, aliases) and streams its documents
//! as NDJSON parts. Restore first clones each live index aside (cheap on a real cluster), so a
//! later failure can put it back, then recreates and bulk-loads the archived ones and checks
//! their counts.

use std::collections::BTreeMap;
use std::path::Path;

use super::restore::feed_parts;
use crate::archive::{self, ArchiveReader, ArchiveWriter, IndicesMeta, Verified};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::elasticsearch::{EsClient, IndexDef};

/// Suffix of the clone that holds a live index during a restore.
pub const HOLD_SUFFIX: &str = "__ab_old";

/// Document counts of the indices, taken while the apps are held still.
pub async fn counts(es: &EsClient, indices: &[String], cancel: &Cancel) -> Result<IndicesMeta> {
    let mut out = BTreeMap::new();
    for i in indices {
        out.insert(i.clone(), es.count(i, cancel).await?);
    }
    Ok(IndicesMeta { indices: out })
}

/// Write every index's definition and documents into the archive.
pub async fn backup(
    es: &EsClient,
    meta: &IndicesMeta,
    writer: &mut ArchiveWriter,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<()> {
    for (index, expected) in &meta.indices {
        let (def_path, docs_path) = archive::index_paths(index);
        let def = es.index_def(index, cancel).await?;
        writer
            .add_bytes(&def_path, &serde_json::to_vec_pretty(&def).expect("json"))
            .await?;
        progress.phase(&format!("index {index}"), None);
        let (docs, _) = super::pipe(
            async |tx| Ok(es.dump_docs(index, tx, progress, cancel).await?),
            async |rx| {
                writer
                    .add_stream(&docs_path, rx, progress, "es-dump", cancel)
                    .await
            },
            cancel,
        )
        .await?;
        if docs != *expected {
            return Err(Error::Verification {
                module: index.clone(),
                message: format!("{docs} documents dumped but {expected} counted"),
            });
        }
    }
    Ok(())
}

/// Live indices cloned aside, to put back on failure.
#[derive(Debug, Default)]
pub struct Held {
    /// (live name, hold name, aliases of the live index)
    pub indices: Vec<(String, String, serde_json::Value)>,
}

/// Clone every live index aside. A failure or a cancel midway deletes the clones already made
/// before returning; each clone runs to its end, a cancel stops the next one from starting.
pub async fn hold(
    es: &EsClient,
    live: &[String],
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Held> {
    progress.phase("indices-hold", None);
    let calm = Cancel::new();
    let mut held = Held::default();
    let mut result = Ok(());
    for i in live {
        if cancel.is_cancelled() {
            result = Err(Error::Cancelled);
            break;
        }
        let hold = format!("{i}{HOLD_SUFFIX}");
        let step = async {
            let def = es.index_def(i, &calm).await?;
            es.clone_index(i, &hold, &serde_json::json!({}), &calm)
                .await?;
            Ok::<_, Error>(def)
        };
        match step.await {
            Ok(def) => held.indices.push((
                i.clone(),
                hold,
                serde_json::Value::Object(def.aliases.clone()),
            )),
            Err(e) => {
                // A clone that failed halfway may exist without being complete.
                let _ = es.delete_index(&hold, &calm).await;
                result = Err(e);
                break;
            }
        }
    }
    if let Err(e) = result {
        if let Err(u) = release(es, &held, &calm).await {
            progress.warn(format!(
                "held copies of the live indices remain (suffix {HOLD_SUFFIX}): {u}"
            ));
        }
        return Err(e);
    }
    Ok(held)
}

/// Delete the module's live indices and recreate the archived ones with their documents.
pub async fn load(
    es: &EsClient,
    path: &Path,
    verified: &Verified,
    live: &[String],
    progress: &Progress,
    cancel: &Cancel,
) -> Result<()> {
    for i in live {
        es.delete_index(i, cancel).await?;
    }
    let Some(meta) = &verified.metadata.indices else {
        return Ok(());
    };
    // The indices' entries follow one another in the archive, in this order: one reader
    // feeds them all.
    let mut reader = ArchiveReader::open(path, &verified.key).await?;
    for (index, expected) in &meta.indices {
        let (def_path, docs_path) = archive::index_paths(index);
        let def: IndexDef = verified
            .secrets
            .get(&def_path)
            .and_then(|b| serde_json::from_slice(b).ok())
            .ok_or_else(|| Error::ArchiveRefused {
                path: path.to_path_buf(),
                reason: format!("{def_path} is missing or unreadable"),
            })?;
        es.create_index(index, &def, cancel).await?;
        progress.phase(
            &format!("load index {index}"),
            Some(verified.manifest.bytes_under(&docs_path)),
        );
        super::pipe(
            async |tx| feed_parts(&mut reader, &docs_path, verified, tx, progress, "es-load").await,
            async |rx| Ok(es.bulk_load(index, rx, progress, cancel).await?),
            cancel,
        )
        .await?;
        es.refresh(index, cancel).await?;
        let got = es.count(index, cancel).await?;
        if got != *expected {
            return Err(Error::Verification {
                module: verified.metadata.module_id.clone(),
                message: format!(
                    "index {index} holds {got} documents after the restore, the archive {expected}"
                ),
            });
        }
    }
    Ok(())
}

pub async fn release(es: &EsClient, held: &Held, cancel: &Cancel) -> Result<()> {
    for (_, hold, _) in &held.indices {
        es.delete_index(hold, cancel).await?;
    }
    Ok(())
}

/// Put the held indices back in place of whatever the module has now, in a way that can be
/// run again after a death midway (recovery): an index is taken from its hold only while the
/// hold exists, and an index restored from the archive is deleted only when it is not one of
/// the held names (those are replaced from their holds).
pub async fn put_back(
    es: &EsClient,
    held: &Held,
    restored: &[String],
    cancel: &Cancel,
) -> Result<()> {
    for i in restored {
        if !held.indices.iter().any(|(live, _, _)| live == i) {
            es.delete_index(i, cancel).await?;
        }
    }
    for (live, hold, aliases) in &held.indices {
        if exists(es, hold, cancel).await? {
            es.delete_index(live, cancel).await?;
            es.clone_index(hold, live, aliases, cancel).await?;
            es.delete_index(hold, cancel).await?;
        }
    }
    Ok(())
}

/// Recovery: delete the clones a hold that died midway made of `targets` (the live indices
/// were not touched yet; a restore never starts over existing clones).
pub async fn drop_clones(es: &EsClient, targets: &[String], cancel: &Cancel) -> Result<()> {
    for t in targets {
        es.delete_index(&format!("{t}{HOLD_SUFFIX}"), cancel)
            .await?;
    }
    Ok(())
}

async fn exists(es: &EsClient, name: &str, cancel: &Cancel) -> Result<bool> {
    Ok(es
        .resolve(&[name.to_string()], cancel)
        .await?
        .iter()
        .any(|n| n == name))
}

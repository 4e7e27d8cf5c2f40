//! What an archive may name. An archive is data written by whoever made it, so the scope of a
//! restore comes from the live configuration, never from the archive: every bucket, prefix,
//! object and index the archive names must lie inside the module's configured scope, or be a
//! new name of a module whose scope comes from its own database (RAGFlow's bucket per
//! knowledge base) that no other module claims and that does not exist yet. The tool's hold
//! bucket and held `__ab_old` indices are never inside. Index names are literal, never
//! patterns. Anything else is refused before anything is touched, with the offending names.

use std::path::Path;

use crate::archive::Verified;
use crate::config::{BucketPrefix, Config, ModuleConfig};
use crate::engine::indices::HOLD_SUFFIX;
use crate::engine::objects::{self, HOLD_BUCKET};
use crate::engine::scope::{self, glob, Clients, Scope};
use crate::error::{Error, Result};
use crate::progress::Cancel;

/// Refuse an archive that names anything outside `module_id`'s scope: its buckets, prefixes
/// and indices, and every object record's bucket and key.
///
/// # Errors
/// `ArchiveRefused` with the offending names; nothing was touched.
pub async fn check(
    config: &Config,
    module_id: &str,
    (live, clients): (&Scope, &Clients),
    (path, verified): (&Path, &Verified),
    cancel: &Cancel,
) -> Result<()> {
    let judge = Judge::new(config, module_id);
    let mut outside = Vec::new();
    if let (Some(meta), Some(s3)) = (&verified.metadata.objects, &clients.s3) {
        let existing = objects::bucket_names(s3, module_id, cancel).await?;
        let archived = meta.prefixes();
        outside.extend(judge.objects_outside(&archived, &live.objects, &existing));
        let unscoped = meta
            .buckets
            .keys()
            .filter(|b| !archived.iter().any(|p| &p.bucket == *b));
        outside.extend(
            unscoped.map(|b| format!("bucket {b} (counted but not in the archive's scope)")),
        );
        let index = verified
            .secrets
            .get(crate::archive::OBJECT_INDEX_ENTRY)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut shown = 0;
        for r in objects::records(index) {
            let r = r.map_err(|reason| refused(path, reason))?;
            if shown < 20 && !scope::contains(&archived, &r.bucket, &r.key) {
                outside.push(format!("object {}/{}", r.bucket, r.key));
                shown += 1;
            }
        }
    }
    if let (Some(meta), Some(es)) = (&verified.metadata.indices, &clients.es) {
        let archived: Vec<String> = meta.indices.keys().cloned().collect();
        // Which of the literal names exist (a pattern is refused below, never resolved).
        let literal: Vec<String> = archived
            .iter()
            .filter(|n| literal_index(n))
            .cloned()
            .collect();
        let existing = match literal.is_empty() {
            true => Vec::new(),
            false => es.resolve(&literal, cancel).await?,
        };
        outside.extend(judge.indices_outside(&archived, &live.indices, &existing));
    }
    if outside.is_empty() {
        return Ok(());
    }
    Err(refused(
        path,
        format!(
            "it names data outside module {module_id}: {}. Nothing was changed",
            outside.join(", ")
        ),
    ))
}

fn refused(path: &Path, reason: String) -> Error {
    Error::ArchiveRefused {
        path: path.to_path_buf(),
        reason,
    }
}

/// The module's configured scope and the other modules' claims, to judge archived names.
pub struct Judge<'a> {
    module: &'a ModuleConfig,
    others: Vec<&'a ModuleConfig>,
}

impl<'a> Judge<'a> {
    pub fn new(config: &'a Config, module_id: &str) -> Self {
        Self {
            module: &config.modules[module_id],
            others: config
                .modules
                .iter()
                .filter(|(id, _)| id.as_str() != module_id)
                .map(|(_, m)| m)
                .collect(),
        }
    }

    /// The archived prefixes (a whole bucket has prefix "") outside the module, as names.
    /// `live`: the module's scope resolved now; `existing`: every bucket on the server.
    pub fn objects_outside(
        &self,
        archived: &[BucketPrefix],
        live: &[BucketPrefix],
        existing: &[String],
    ) -> Vec<String> {
        let Some(o) = &self.module.objects else {
            return archived.iter().map(show_prefix).collect();
        };
        let inside = |p: &BucketPrefix| {
            if p.bucket == HOLD_BUCKET {
                return false;
            }
            let under = |q: &BucketPrefix| q.bucket == p.bucket && p.prefix.starts_with(&q.prefix);
            let configured =
                o.buckets.iter().any(|g| glob(g, &p.bucket)) || o.prefixes.iter().any(under);
            let new_from_sql = o.buckets_from_sql.is_some()
                && !existing.contains(&p.bucket)
                && !self.others.iter().any(|m| claims_bucket(m, &p.bucket));
            live.iter().any(under) || configured || new_from_sql
        };
        archived
            .iter()
            .filter(|p| !inside(p))
            .map(show_prefix)
            .collect()
    }

    /// The archived index names outside the module. `live`: the module's indices now;
    /// `existing`: every index on the server.
    pub fn indices_outside(
        &self,
        archived: &[String],
        live: &[String],
        existing: &[String],
    ) -> Vec<String> {
        let Some(i) = &self.module.indices else {
            return archived.to_vec();
        };
        let inside = |name: &String| {
            if !literal_index(name) || name.ends_with(HOLD_SUFFIX) {
                return false;
            }
            let configured = i.patterns.iter().any(|g| glob(g, name));
            let new_from_sql = i.from_sql.is_some()
                && !existing.contains(name)
                && !self.others.iter().any(|m| claims_index(m, name));
            live.contains(name) || configured || new_from_sql
        };
        archived.iter().filter(|n| !inside(n)).cloned().collect()
    }
}

/// A plain index name: no wildcard, list, exclusion or date math, not hidden or internal.
fn literal_index(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '_', '.', '+'])
        && !name.contains([
            '*', '?', ',', '<', '>', '{', '}', '/', '\\', ' ', '"', '|', '#', ':',
        ])
}

fn claims_bucket(m: &ModuleConfig, bucket: &str) -> bool {
    m.objects.as_ref().is_some_and(|o| {
        o.buckets.iter().any(|g| glob(g, bucket)) || o.prefixes.iter().any(|p| p.bucket == bucket)
    })
}

fn claims_index(m: &ModuleConfig, name: &str) -> bool {
    m.indices
        .as_ref()
        .is_some_and(|i| i.patterns.iter().any(|g| glob(g, name)))
}

fn show_prefix(p: &BucketPrefix) -> String {
    format!("{}/{}", p.bucket, p.prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::builtin()
    }

    fn bp(bucket: &str, prefix: &str) -> BucketPrefix {
        BucketPrefix {
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn archived_buckets_must_be_the_modules_own() {
        let c = config();
        let dify = Judge::new(&c, "dify");
        let live = [bp("dify-files", "")];
        let existing = [
            "dify-files".to_string(),
            "ragflow-kb".into(),
            "photos".into(),
        ];
        let archived = [
            bp("dify-files", ""),
            bp("dify-new", ""),
            bp(HOLD_BUCKET, ""),
            bp("photos", ""),
            bp("ragflow-kb", ""),
        ];
        assert_eq!(
            dify.objects_outside(&archived, &live, &existing),
            vec![
                format!("{HOLD_BUCKET}/"),
                "photos/".into(),
                "ragflow-kb/".into()
            ]
        );
    }

    #[test]
    fn a_module_scoped_by_its_database_may_bring_new_buckets_only() {
        let mut c = config();
        let o = c
            .modules
            .get_mut("ragflow")
            .unwrap()
            .objects
            .as_mut()
            .unwrap();
        o.buckets.clear();
        o.buckets_from_sql = Some("SELECT id FROM knowledgebase".into());
        let ragflow = Judge::new(&c, "ragflow");
        let existing = ["kb1".to_string(), "photos".into(), "dify-files".into()];
        let live = [bp("kb1", "")];
        let archived = [
            bp("kb1", ""),
            bp("kb2", ""),
            bp("photos", ""),
            bp("dify-x", ""),
        ];
        assert_eq!(
            ragflow.objects_outside(&archived, &live, &existing),
            vec!["photos/".to_string(), "dify-x/".into()]
        );
    }

    #[test]
    fn index_names_are_literal_and_never_held_copies() {
        let c = config();
        let dify = Judge::new(&c, "dify");
        let archived: Vec<String> = [
            "dify-chunks",
            "dify-*",
            "dify-a,ragflow_1",
            "dify-x__ab_old",
            "ragflow_1",
            "_all",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            dify.indices_outside(&archived, &[], &[]),
            archived[1..].to_vec()
        );
    }
}

//! The module's search indices as a part of a backup — counted, then each index's definition
//! and documents streamed — and of a restore: staged by cloning the live indices aside
//! (`<index>__ab_old`), committed by deleting them and loading the archived ones, whose
//! document counts are checked; undone by cloning the held copies back.

use async_trait::async_trait;

use super::{BackupCx, Component, Cx, Left};
use crate::archive::{ArchiveWriter, IndicesMeta, Metadata};
use crate::engine::indices::{self, Held, HOLD_SUFFIX};
use crate::engine::state::{HeldIndices, Step};
use crate::error::{Error, Result};
use crate::progress::Cancel;
use crate::store::elasticsearch::EsClient;

pub struct Indices {
    es: EsClient,
    /// The module's live indices (from the configured patterns).
    live: Vec<String>,
    /// The archived indices, by their literal names.
    archived: Vec<String>,
    /// Live indices replaced: the module's and those with an archived name.
    targets: Vec<String>,
    held: Option<Held>,
    /// Backup: the document counts taken while the apps were held still.
    counts: IndicesMeta,
}

impl Indices {
    pub fn new(es: EsClient, live: Vec<String>) -> Self {
        Self {
            es,
            live,
            archived: Vec::new(),
            targets: Vec::new(),
            held: None,
            counts: IndicesMeta::default(),
        }
    }

    /// Put the held indices back; the holds are gone once it succeeds.
    async fn put_back(&mut self) -> std::result::Result<(), Left> {
        let Some(held) = &self.held else {
            return Ok(());
        };
        let back = indices::put_back(&self.es, held, &self.archived, &Cancel::new()).await;
        if let Err(e) = back {
            let names: Vec<&str> = held.indices.iter().map(|(_, h, _)| h.as_str()).collect();
            return Err(format!(
                "{e}; the previous indices are held as {}",
                names.join(", ")
            ));
        }
        self.held = None;
        Ok(())
    }
}

#[async_trait]
impl Component for Indices {
    async fn describe(&mut self, cx: &BackupCx<'_>, meta: &mut Metadata) -> Result<()> {
        self.counts = indices::counts(&self.es, &self.live, cx.cancel).await?;
        meta.indices = Some(self.counts.clone());
        meta.components.push("es".into());
        Ok(())
    }

    async fn write(&mut self, cx: &BackupCx<'_>, writer: &mut ArchiveWriter) -> Result<()> {
        indices::backup(&self.es, &self.counts, writer, cx.progress, cx.cancel).await
    }

    async fn preflight(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.es.version(cx.cancel).await?;
        if let Some(meta) = &cx.verified.metadata.indices {
            self.archived = meta.indices.keys().cloned().collect();
        }
        // Archived names are literal: an existing index is a target only by its exact name.
        let existing = self.es.resolve(&self.archived, cx.cancel).await?;
        self.targets = self.live.clone();
        for i in existing.into_iter().filter(|i| self.archived.contains(i)) {
            if !self.targets.contains(&i) {
                self.targets.push(i);
            }
        }
        let held: Vec<String> = self
            .es
            .resolve(&[format!("*{HOLD_SUFFIX}")], cx.cancel)
            .await?
            .into_iter()
            .filter(|h| {
                let base = h.trim_end_matches(HOLD_SUFFIX);
                self.live.iter().chain(&self.archived).any(|i| i == base)
            })
            .collect();
        if !held.is_empty() {
            return Err(Error::Usage(format!(
                "{} hold the previous documents of an earlier restore that could not put them back. Clone them back to their names or delete them, then restore again. Nothing was changed",
                held.join(", ")
            )));
        }
        Ok(())
    }

    async fn stage(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.state.st.index_targets = self.targets.clone();
        cx.at(Step::IndicesHolding)?;
        let held = indices::hold(&self.es, &self.targets, cx.progress, cx.cancel).await?;
        cx.state.st.indices = Some(HeldIndices {
            held: held.indices.clone(),
            restored: self.archived.clone(),
        });
        self.held = Some(held);
        cx.state.save()
    }

    async fn discard(&mut self, _cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        let Some(held) = &self.held else {
            return Ok(());
        };
        indices::release(&self.es, held, &Cancel::new())
            .await
            .map_err(|e| format!("{e}; copies of the live indices remain (suffix {HOLD_SUFFIX})"))
    }

    async fn commit(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.at(Step::IndicesReplacing)?;
        cx.log("replace-indices", &format!("{:?}", self.targets));
        let (es, verified) = (&self.es, cx.verified);
        let loaded = indices::load(
            es,
            cx.archive,
            verified,
            &self.targets,
            cx.progress,
            cx.cancel,
        )
        .await;
        match loaded {
            Ok(()) => Ok(()),
            Err(e) => match self.put_back().await {
                Ok(()) => Err(e),
                Err(left) => Err(Error::RollbackIncomplete {
                    message: e.to_string(),
                    left,
                }),
            },
        }
    }

    async fn rollback(&mut self, _cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        self.put_back().await
    }

    async fn release(&mut self, cx: &mut Cx<'_>) {
        let Some(held) = &self.held else {
            return;
        };
        if let Err(e) = indices::release(&self.es, held, &Cancel::new()).await {
            cx.progress.warn(format!(
                "held copies of the previous indices remain (suffix {HOLD_SUFFIX}): {e}"
            ));
        }
    }
}

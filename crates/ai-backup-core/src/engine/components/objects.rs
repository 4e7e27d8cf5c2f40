//! The module's objects as a part of a backup — listed, then streamed with their index — and
//! of a restore: staged by copying the live objects in scope into the hold bucket
//! (server-side), committed by deleting them and uploading the archived ones, whose counts and
//! sizes are checked; undone by copying the held objects back.

use async_trait::async_trait;

use super::{BackupCx, Component, Cx, Left};
use crate::archive::{ArchiveWriter, Metadata, ObjectsMeta};
use crate::config::BucketPrefix;
use crate::engine::objects::{self, Held, HOLD_BUCKET};
use crate::engine::state::{HeldObjects, Step};
use crate::error::{Error, Result};
use crate::progress::Cancel;
use crate::store::s3::ObjectInfo;
use crate::store::s3::S3Client;

pub struct Objects {
    s3: S3Client,
    /// The module's live scope, then the scope the restore may write to (the live module's
    /// and the archive's).
    scope: Vec<BucketPrefix>,
    meta: ObjectsMeta,
    /// Buckets the restore creates (removed again on undo).
    created: Vec<String>,
    held: Option<Held>,
    /// Backup: the objects listed while the apps were held still.
    listed: Vec<(String, ObjectInfo)>,
}

impl Objects {
    pub fn new(s3: S3Client, live: Vec<BucketPrefix>) -> Self {
        Self {
            s3,
            scope: live,
            meta: ObjectsMeta::default(),
            created: Vec::new(),
            held: None,
            listed: Vec::new(),
        }
    }

    /// Put the held objects back, record that they are, then drop the copies.
    async fn put_back(&mut self, cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        let Some(held) = &self.held else {
            return Ok(());
        };
        let (calm, module) = (Cancel::new(), cx.module);
        let s3 = &self.s3;
        let back = objects::put_back(s3, held, &self.scope, &self.created, module, &calm).await;
        // Recorded before the held copies go: a recovery must not put back from an empty hold.
        let back = match back {
            Ok(()) => {
                cx.state.st.objects_put_back = true;
                match cx.state.save() {
                    Ok(()) => objects::release(s3, held, module, &calm).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = back {
            return Err(format!(
                "{e}; the previous objects ({}) are held in bucket {HOLD_BUCKET} under {module}/<bucket>/<key>",
                held.objects.len()
            ));
        }
        self.held = None;
        Ok(())
    }
}

#[async_trait]
impl Component for Objects {
    async fn describe(&mut self, cx: &BackupCx<'_>, meta: &mut Metadata) -> Result<()> {
        self.listed = objects::list_scope(&self.s3, &self.scope, cx.module, cx.cancel).await?;
        meta.objects = Some(objects::meta_for(&self.scope, &self.listed));
        meta.components.push("minio".into());
        Ok(())
    }

    async fn write(&mut self, cx: &BackupCx<'_>, writer: &mut ArchiveWriter) -> Result<()> {
        let listed = std::mem::take(&mut self.listed);
        let (module, progress, cancel) = (cx.module, cx.progress, cx.cancel);
        crate::engine::object_backup::backup(&self.s3, listed, writer, module, progress, cancel)
            .await
    }

    async fn preflight(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let module = cx.module;
        if let Some(meta) = &cx.verified.metadata.objects {
            self.meta = meta.clone();
        }
        let s3err = |e: crate::store::s3::S3Error| e.into_error(module);
        self.s3.list_buckets(cx.cancel).await.map_err(s3err)?;
        if self
            .s3
            .bucket_exists(HOLD_BUCKET, cx.cancel)
            .await
            .map_err(s3err)?
        {
            let hold = BucketPrefix {
                bucket: HOLD_BUCKET.into(),
                prefix: format!("{module}/"),
            };
            let held = objects::count_prefix(&self.s3, &hold, module, cx.cancel).await?;
            if held.objects > 0 {
                return Err(Error::Usage(format!(
                    "bucket {HOLD_BUCKET} holds {} objects under {module}/: the previous objects of an earlier restore that could not put them back. Copy them back to <bucket>/<key> or delete them, then restore again. Nothing was changed",
                    held.objects
                )));
            }
        }
        for p in self.meta.prefixes() {
            if !self.scope.contains(&p) {
                self.scope.push(p);
            }
        }
        Ok(())
    }

    async fn stage(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let (s3, module, cancel) = (&self.s3, cx.module, cx.cancel);
        let buckets = objects::bucket_names(s3, module, cancel).await?;
        let existing = objects::present(&self.scope, &buckets);
        self.created = self
            .meta
            .bucket_names()
            .into_iter()
            .filter(|b| !buckets.contains(b))
            .collect();
        let current = objects::list_scope(s3, &existing, module, cancel).await?;
        cx.state.st.objects = Some(HeldObjects {
            scope: self.scope.clone(),
            created: self.created.clone(),
        });
        cx.at(Step::ObjectsHolding)?;
        self.held = Some(objects::hold(s3, current, module, cx.progress, cancel).await?);
        Ok(())
    }

    async fn discard(&mut self, cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        objects::release(&self.s3, &held, cx.module, &Cancel::new())
            .await
            .map_err(|e| {
                format!(
                    "{e}; copies of the live objects remain in bucket {HOLD_BUCKET} under {}/",
                    cx.module
                )
            })
    }

    async fn commit(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.at(Step::ObjectsReplacing)?;
        cx.log("replace-objects", &format!("{:?}", self.scope));
        match self.replace(cx).await {
            Ok(()) => Ok(()),
            Err(e) => match self.put_back(cx).await {
                Ok(()) => Err(e),
                Err(left) => Err(Error::RollbackIncomplete {
                    message: e.to_string(),
                    left,
                }),
            },
        }
    }

    async fn rollback(&mut self, cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        self.put_back(cx).await
    }

    async fn release(&mut self, cx: &mut Cx<'_>) {
        let Some(held) = &self.held else {
            return;
        };
        if let Err(e) = objects::release(&self.s3, held, cx.module, &Cancel::new()).await {
            cx.progress.warn(format!(
                "held copies of the previous objects remain in bucket {HOLD_BUCKET}: {e}"
            ));
        }
    }
}

impl Objects {
    /// With the apps stopped, what was listed and held is what is in scope: delete it, then
    /// upload the archived objects and check them.
    async fn replace(&self, cx: &Cx<'_>) -> Result<()> {
        let (s3, module, cancel) = (&self.s3, cx.module, cx.cancel);
        let held = self.held.as_ref().expect("commit follows stage");
        objects::delete_listed(s3, &held.objects, module, cancel).await?;
        let index = cx
            .verified
            .secrets
            .get(crate::archive::OBJECT_INDEX_ENTRY)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let archive = (cx.archive, cx.verified);
        crate::engine::object_upload::load(
            s3,
            archive,
            index,
            &self.meta,
            module,
            cx.progress,
            cancel,
        )
        .await
    }
}

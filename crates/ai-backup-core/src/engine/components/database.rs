//! The module's database as a part of a backup — counted, then dumped as a stream — and of a
//! restore: staged during the restore's one verifying read of the archive (`first_pass`),
//! which loads the dump into a new database beside the live one and checks it against the
//! statistics recorded at backup; committed by swapping it in place of the live one. The swap
//! is the restore's commit point: once it is recorded as done, a recovery keeps the new data.

use async_trait::async_trait;

use super::{BackupCx, Component, Cx, Left};
use crate::archive::{ArchiveWriter, DbMeta, DbStats, Metadata, Verified};
use crate::engine::state::Step;
use crate::engine::{old_name, staged_name};
use crate::error::{Error, Result};
use crate::progress::{Cancel, Progress};
use crate::store::{DatabaseStore, DbProps, Swapped};

pub struct Database {
    store: Box<dyn DatabaseStore>,
    live: String,
    staged: String,
    old: String,
    plan: Option<Swapped>,
    /// Backup: what the database held when described.
    stats: DbStats,
    /// Whether the previous database could be dropped at the end (for the outcome).
    dropped: Option<bool>,
}

impl Database {
    pub fn new(store: Box<dyn DatabaseStore>, live: &str) -> Self {
        Self {
            store,
            live: live.to_string(),
            staged: staged_name(live),
            old: old_name(live),
            plan: None,
            stats: DbStats::default(),
            dropped: None,
        }
    }

    /// How the database was replaced, for people.
    fn method(&self) -> String {
        let (db, staged, old) = (&self.live, &self.staged, &self.old);
        let base = format!(
            "loaded into new database {staged}, checked against the archive, then swapped in place of {db}; the previous {db} was kept as {old} until the end"
        );
        match self.dropped {
            Some(true) => format!("{base}, then dropped"),
            Some(false) => format!("{base}; it could not be dropped and is still there"),
            None => base,
        }
    }

    async fn drop_staged(&self) -> Result<()> {
        self.store.drop_db(&self.staged, &Cancel::new()).await
    }
}

#[async_trait]
impl Component for Database {
    async fn describe(&mut self, cx: &BackupCx<'_>, meta: &mut Metadata) -> Result<()> {
        let (store, db, cancel) = (&*self.store, &self.live, cx.cancel);
        let props = store.properties(db, cancel).await?;
        self.stats = store.stats(db, cancel).await?;
        meta.engine = store.engine().as_str().into();
        meta.db_name = db.clone();
        meta.source_servers
            .insert("db".into(), store.version(cancel).await?);
        meta.components.push("db".into());
        meta.db = DbMeta {
            entry: format!("db/{db}.sql"),
            dump_format: match store.engine() {
                crate::config::Engine::Postgres => "pg_dump-plain".into(),
                crate::config::Engine::Mysql => "mysqldump".into(),
            },
            charset: props.charset,
            collation: props.collation,
            ctype: props.ctype,
            owner: props.owner,
            stats: self.stats.clone(),
        };
        Ok(())
    }

    async fn write(&mut self, cx: &BackupCx<'_>, writer: &mut ArchiveWriter) -> Result<()> {
        let (store, db, cancel, progress) = (&*self.store, &self.live, cx.cancel, cx.progress);
        let stats = &self.stats;
        let entry = format!("db/{db}.sql");
        progress.phase("dump", Some(stats.bytes));
        let (_, (parts, bytes)) = crate::engine::pipe(
            async |tx| store.dump(db, tx, cancel).await,
            async |rx| {
                writer
                    .add_stream(&entry, rx, progress, "dump", cancel)
                    .await
            },
            cancel,
        )
        .await?;
        progress.info(format!(
            "dumped {db}: {bytes} bytes in {parts} part(s), {} rows in {} tables",
            stats.total_rows(),
            stats.tables.len()
        ));
        Ok(())
    }

    fn staged_first(&self) -> bool {
        true
    }

    async fn preflight(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        refuse_previous_left(&*self.store, &self.old, cx.cancel).await
    }

    /// Staged already, by the restore's verifying read of the archive (`first_pass`).
    async fn stage(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        Ok(())
    }

    async fn discard(&mut self, cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        // A swap that failed and put itself back may leave the empty database it made for
        // the previous tables.
        let calm = Cancel::new();
        if self
            .store
            .stats(&self.old, &calm)
            .await
            .is_ok_and(|s| s.tables.is_empty())
        {
            let _ = self.store.drop_db(&self.old, &calm).await;
        }
        if let Err(e) = self.drop_staged().await {
            cx.progress.warn(format!(
                "the staged database {} could not be dropped ({e}); the next restore removes it. The live database {} was not touched",
                self.staged, self.live
            ));
        }
        Ok(())
    }

    /// Not cancellable: the swap is short and must end on one side.
    async fn commit(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let calm = Cancel::new();
        cx.progress.phase("swap", None);
        cx.log(
            "swap",
            &format!(
                "{} -> {}, {} -> {}",
                self.live, self.old, self.staged, self.live
            ),
        );
        // The plan — with every definition the swap drops — is on disk before the swap starts.
        let plan = self
            .store
            .plan_swap(&self.live, &self.staged, &calm)
            .await?;
        cx.state.st.swap = Some(plan.clone());
        cx.at(Step::Swapping)?;
        let props = props_of(cx.verified);
        let swapped = self
            .store
            .swap(&self.live, &self.staged, &self.old, &props, &plan, &calm)
            .await;
        if let Err(e) = swapped {
            cx.log("swap-failed", &e.to_string());
            // The swap puts the live side back itself; if even that failed, say where the
            // previous data is.
            let old = self.store.stats(&self.old, &calm).await;
            if old.is_ok_and(|s| !s.tables.is_empty()) {
                return Err(Error::RollbackIncomplete {
                    message: e.to_string(),
                    left: format!("the previous data is in database {}", self.old),
                });
            }
            return Err(e);
        }
        self.plan = Some(plan);
        if let Err(e) = cx.at(Step::Swapped) {
            cx.progress
                .warn(format!("{e}; the restore goes on without it"));
        }
        Ok(())
    }

    async fn rollback(&mut self, _cx: &mut Cx<'_>) -> std::result::Result<(), Left> {
        let calm = Cancel::new();
        let plan = self.plan.take().expect("rollback follows a commit");
        let back = self
            .store
            .unswap(&self.live, &self.staged, &self.old, &plan, &calm)
            .await;
        if let Err(e) = back {
            return Err(format!(
                "{e}; the previous data is in database {}",
                self.old
            ));
        }
        let _ = self.store.drop_db(&self.staged, &calm).await;
        if plan.live_existed {
            let _ = self.store.drop_db(&self.old, &calm).await;
        }
        Ok(())
    }

    async fn release(&mut self, cx: &mut Cx<'_>) {
        let calm = Cancel::new();
        // What is left beside the live database: the emptied staging database (MySQL moves
        // tables out of it) and the previous content.
        let _ = self.store.drop_db(&self.staged, &calm).await;
        let dropped = self.store.drop_db(&self.old, &calm).await;
        cx.log(
            "drop-old",
            &format!(
                "{}: {}",
                self.old,
                if dropped.is_ok() {
                    "dropped"
                } else {
                    "left in place"
                }
            ),
        );
        if let Err(e) = &dropped {
            cx.progress.warn(format!(
                "the previous data is still in {} ({e}); drop it when satisfied",
                self.old
            ));
        }
        self.dropped = Some(dropped.is_ok());
    }

    fn report(&self, report: &mut super::Report) {
        report.method = self.method();
    }
}

fn props_of(v: &Verified) -> DbProps {
    db_props(&v.metadata.db)
}

/// The properties the archive records for the database, to create it with.
pub(crate) fn db_props(m: &DbMeta) -> DbProps {
    DbProps {
        charset: m.charset.clone(),
        collation: m.collation.clone(),
        ctype: m.ctype.clone(),
        owner: m.owner.clone(),
    }
}

/// Refuse to stage while the data an earlier restore replaced is still kept beside the live
/// database.
///
/// # Errors
/// `Error::Usage` saying what to check and drop.
pub(crate) async fn refuse_previous_left(
    store: &dyn DatabaseStore,
    old: &str,
    cancel: &Cancel,
) -> Result<()> {
    if store.exists(old, cancel).await? {
        return Err(Error::Usage(format!(
            "database {old} exists on {}: it holds the data replaced by an earlier restore that did not finish. Check it, then drop it, and restore again",
            store.describe()
        )));
    }
    Ok(())
}

/// Compare what the staged database holds with the statistics recorded at backup.
///
/// # Errors
/// `Error::Verification` when they differ in an archive taken with the apps stopped.
pub(crate) async fn check_staged(
    store: &dyn DatabaseStore,
    staged: &str,
    verified: &Verified,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<()> {
    progress.phase("check", None);
    let got = store.stats(staged, cancel).await?;
    let diffs = got.differences(&verified.metadata.db.stats);
    if !diffs.is_empty() {
        let message = format!(
            "the loaded data differs from the archive: {}",
            diffs.join("; ")
        );
        if verified.metadata.quiesced {
            return Err(Error::Verification {
                module: verified.metadata.module_id.clone(),
                message,
            });
        }
        progress.warn(format!(
            "{message} (the backup was taken with the apps running, so this may be expected)"
        ));
    }
    progress.info(format!(
        "{} tables, {} rows loaded and checked",
        got.tables.len(),
        got.total_rows()
    ));
    Ok(())
}

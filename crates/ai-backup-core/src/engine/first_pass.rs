//! A restore reads its archive once before it touches anything: the archive is verified to its
//! last byte while the database dump in it loads into the staging database beside the live one.
//! The staging database is not live data, so nothing is trusted early, and the dump — most of
//! a module's archive — is neither read nor decompressed twice.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncWrite, DuplexStream};

use super::components::{check_staged, db_props, refuse_previous_left};
use super::state::{Durable, RestoreState, Step};
use crate::archive::{self, ArchiveKey, Feed, Metadata, Verified};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::progress::{Cancel, Progress};
use crate::store::DatabaseStore;

/// Verify the archive and stage its dump, recorded durably as `Step::Loading` so a process that
/// dies leaves the staging database to `ai-backup recover`. On failure the staging database is
/// dropped and the state cleared: nothing live was touched.
///
/// # Errors
/// An archive refused (it wins over the load's error, which it may have caused), the load's
/// error, `Verification`, `Cancelled`.
pub(super) async fn verify_and_stage(
    (db, head, key): (&dyn DatabaseStore, &Metadata, &ArchiveKey),
    state: &mut Durable<'_>,
    journal: &Journal,
    (progress, cancel): (&Progress, &Cancel),
) -> Result<Verified> {
    refuse_previous_left(db, &state.st.old, cancel).await?;
    state.at(Step::Loading)?;
    match stage((db, head, key), &state.st, progress, cancel).await {
        Ok(verified) => Ok(verified),
        Err(e) => Err(unstage(db, state, journal, progress, e).await),
    }
}

/// Before the apps are stopped, a restore that ends (`why`, passed back) only has the staging
/// database to drop and its state to clear: nothing live was touched. Dropping it is not a
/// step on live data, so the journal only hears of a staging database left behind (the next
/// restore drops it before it stages).
pub(super) async fn unstage(
    db: &dyn DatabaseStore,
    state: &Durable<'_>,
    journal: &Journal,
    progress: &Progress,
    why: Error,
) -> Error {
    let st = &state.st;
    if db.drop_db(&st.staged, &Cancel::new()).await.is_err() {
        let detail = format!("{}: could not be dropped ({why})", st.staged);
        let _ = journal.record(&st.module, &st.archive, "", "drop-staged", &detail);
        progress.warn(format!(
            "the partial database {} could not be dropped now; the next restore removes it. The live database {} was not touched",
            st.staged, st.database
        ));
    }
    RestoreState::clear(state.dir, &st.module);
    why
}

/// Create the staging database, then read the archive once, passing the dump on to its load.
async fn stage(
    (db, head, key): (&dyn DatabaseStore, &Metadata, &ArchiveKey),
    st: &RestoreState,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Verified> {
    let staged = st.staged.as_str();
    if db.exists(staged, cancel).await? {
        db.drop_db(staged, cancel).await?;
    }
    db.create(staged, &db_props(&head.db), cancel).await?;
    let (tx, mut rx) = tokio::io::duplex(1 << 20);
    let read = async move {
        // Owned here, so an archive refused midway still ends the load's input.
        let mut out = Lenient {
            inner: Some(tx),
            cancel,
        };
        let feed = Feed {
            entry: &head.db.entry,
            out: &mut out,
        };
        archive::verify_feeding(&st.archive, key, Some(feed), progress, cancel).await
    };
    let load = async move { db.load(staged, &mut rx, cancel).await };
    let (verified, loaded) = tokio::join!(read, load);
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let verified = verified?;
    loaded?;
    if verified.metadata != *head {
        return Err(Error::ArchiveRefused {
            path: st.archive.clone(),
            reason: "it changed while it was being read".into(),
        });
    }
    check_staged(db, staged, &verified, progress, cancel).await?;
    Ok(verified)
}

/// The load's input. A load that stopped early (its error is what counts) no longer takes the
/// dump; the rest is dropped so the archive is still verified to its end. A cancel stops the
/// read.
struct Lenient<'a> {
    inner: Option<DuplexStream>,
    cancel: &'a Cancel,
}

impl AsyncWrite for Lenient<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cancel.is_cancelled() {
            return Poll::Ready(Err(io::Error::other("cancelled")));
        }
        let Some(w) = self.inner.as_mut() else {
            return Poll::Ready(Ok(buf.len()));
        };
        match Pin::new(w).poll_write(cx, buf) {
            Poll::Ready(Err(_)) => {
                self.inner = None;
                Poll::Ready(Ok(buf.len()))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(w) => Pin::new(w).poll_flush(cx).map(|_| Ok(())),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(w) => Pin::new(w).poll_shutdown(cx).map(|_| Ok(())),
            None => Poll::Ready(Ok(())),
        }
    }
}

//! Many small objects are dominated by round trips, not bandwidth: these helpers keep up to N
//! requests in flight (`buffer_unordered`) and stop at the first failure, dropping (and so
//! cancelling) the requests still running. `spawned` runs a transfer in its own task, so it
//! goes on while its caller compresses or decompresses, and aborts it when dropped.

use std::future::Future;

use futures_util::stream::{self, StreamExt};

/// Run `f` on every item, at most `limit` at once; the first error ends the run.
///
/// # Errors
/// The first error any call returned.
pub async fn try_for_each_concurrent<I, F, Fut, E>(items: I, limit: usize, f: F) -> Result<(), E>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut s = stream::iter(items).map(f).buffer_unordered(limit.max(1));
    while let Some(r) = s.next().await {
        r?;
    }
    Ok(())
}

/// Like `try_for_each_concurrent`, collecting the results in the order they complete (put
/// what identifies the item into the result when the order matters).
///
/// # Errors
/// The first error any call returned.
pub async fn try_map_unordered<I, F, Fut, T, E>(items: I, limit: usize, f: F) -> Result<Vec<T>, E>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut s = stream::iter(items).map(f).buffer_unordered(limit.max(1));
    let mut out = Vec::new();
    while let Some(r) = s.next().await {
        out.push(r?);
    }
    Ok(out)
}

/// Start `fut` in its own task now; the returned future yields its result. Dropping the
/// returned future aborts the task, so nothing outlives a failed or cancelled run.
pub fn spawned<T, E>(
    fut: impl Future<Output = Result<T, E>> + Send + 'static,
) -> impl Future<Output = Result<T, E>> + Send
where
    T: Send + 'static,
    E: Send + 'static,
{
    let task = AbortOnDrop(tokio::spawn(fut));
    async move {
        let mut task = task;
        match (&mut task.0).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a transfer task was aborted while awaited: {e}"),
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn limits_in_flight_and_stops_on_error() {
        let now = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = try_map_unordered(0..40u32, 8, |i| {
            let (now, peak) = (&now, &peak);
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(i)
            }
        })
        .await
        .unwrap();
        assert_eq!(out.len(), 40);
        assert_eq!(peak.load(Ordering::SeqCst), 8);
        let r = try_for_each_concurrent(0..10u32, 3, |i| async move {
            if i == 4 {
                Err(format!("item {i}"))
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(r.unwrap_err(), "item 4");
    }
}

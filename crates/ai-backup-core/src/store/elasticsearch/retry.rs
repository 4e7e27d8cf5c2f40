//! Transient errors and the bounded, exponential backoff that retries them. Elasticsearch
//! answers 429 when its queues are full ("retry later"), 502-504 come from a proxy or a node
//! restarting, and a connection can drop mid-request. Only a request that is safe to repeat
//! may be sent again after a dropped connection: a point-in-time page or an idempotent
//! `_bulk` of indexed `_id`s is, a scroll continuation is not (the server may have moved the
//! scroll already). Every retry is counted by `Progress::retrying`.

use std::time::Duration;

use super::{EsClient, EsError, EsResult};
use crate::progress::{Cancel, Progress};

/// Longest single wait between two tries.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Whether a request may be sent again after its connection dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// Repeating it changes nothing (a point-in-time page, an indexed `_id`).
    Safe,
    /// The server may have acted on it already (a scroll continuation): only an answer that
    /// says it was refused (429) is retried.
    Unsafe,
}

/// Whether `e` is worth another try of a request that is `repeat`.
pub(super) fn transient(e: &EsError, repeat: Repeat) -> bool {
    match e {
        EsError::Server { status: 429, .. } => true,
        EsError::Server {
            status: 502..=504, ..
        } => repeat == Repeat::Safe,
        EsError::Unreachable { .. } => repeat == Repeat::Safe,
        _ => false,
    }
}

impl EsClient {
    /// Run `attempt` until it succeeds, fails for good, or the tries are used up; a transient
    /// failure (see `transient`) waits `retry_delay`, doubling each time, and is reported.
    ///
    /// # Errors
    /// The first error that is not transient, `Cancelled`, or `GaveUp` with the last error
    /// when every try failed.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        what: &str,
        repeat: Repeat,
        progress: &Progress,
        cancel: &Cancel,
        mut attempt: F,
    ) -> EsResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = EsResult<T>>,
    {
        let mut tries = 0u32;
        loop {
            tries += 1;
            match attempt().await {
                Err(e) if transient(&e, repeat) => {
                    if tries >= self.retry_tries {
                        return Err(EsError::GaveUp {
                            op: what.to_string(),
                            tries,
                            last: e.to_string(),
                        });
                    }
                    progress.retrying(what, &e.to_string());
                    self.wait(tries - 1, cancel).await?;
                }
                r => return r,
            }
        }
    }

    /// Sleep before try `attempt + 2` (the first wait is `retry_delay`).
    pub(super) async fn wait(&self, attempt: u32, cancel: &Cancel) -> EsResult<()> {
        let wait = self.retry_delay.saturating_mul(1 << attempt.min(16));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(EsError::Cancelled),
            _ = tokio::time::sleep(wait.min(MAX_WAIT)) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16) -> EsError {
        EsError::Server {
            op: "POST /_search".into(),
            status,
            kind: String::new(),
            reason: String::new(),
        }
    }

    #[test]
    fn what_is_retried() {
        let dropped = EsError::Unreachable {
            url: "http://es/".into(),
            message: "connection closed before message completed".into(),
        };
        let cases = [
            (server(429), Repeat::Unsafe, true),
            (server(429), Repeat::Safe, true),
            (server(503), Repeat::Safe, true),
            (server(503), Repeat::Unsafe, false),
            (server(400), Repeat::Safe, false),
            (server(404), Repeat::Safe, false),
            (dropped, Repeat::Safe, true),
            (EsError::Cancelled, Repeat::Safe, false),
        ];
        for (e, repeat, want) in cases {
            assert_eq!(transient(&e, repeat), want, "{e} {repeat:?}");
        }
        let dropped = EsError::Unreachable {
            url: String::new(),
            message: String::new(),
        };
        assert!(!transient(&dropped, Repeat::Unsafe));
    }
}

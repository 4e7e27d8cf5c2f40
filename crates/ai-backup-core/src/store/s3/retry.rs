//! Retrying what failed transiently (a 5xx, SlowDown, a connection dropped mid-answer): the
//! whole attempt runs again — request and, for reads, the body — so a retry never resumes a
//! half-read answer (only a large object's stream does, checked: `resume`). Retries are
//! bounded (`S3Client::with_retries`), wait longer each time, stop at once on cancel, and
//! each one is counted through the client's `Progress`.

use std::future::Future;
use std::time::Duration;

use super::{S3Client, S3Error};
use crate::progress::Cancel;

impl S3Client {
    /// Run `attempt` until it succeeds, fails for good, or the retries are used up.
    ///
    /// # Errors
    /// The last attempt's error; `Cancelled` when `cancel` fires while waiting.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        cancel: &Cancel,
        mut attempt: F,
    ) -> Result<T, S3Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, S3Error>>,
    {
        let mut failed = 0u32;
        loop {
            let err = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if failed >= self.retries || !err.is_transient() || cancel.is_cancelled() {
                return Err(err);
            }
            self.tell_retry(&err);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    return Err(S3Error::cancelled(err.op, err.bucket.as_deref(), err.key.as_deref()))
                }
                _ = tokio::time::sleep(retry_delay(failed)) => {}
            }
            failed += 1;
        }
    }

    pub(super) fn tell_retry(&self, err: &S3Error) {
        let Some(p) = &self.progress else { return };
        let mut what = format!("S3 {}", err.op);
        if let Some(b) = &err.bucket {
            what.push_str(&format!(" s3://{b}/{}", err.key.as_deref().unwrap_or("")));
        }
        let why = match (&err.code, err.status) {
            (Some(c), Some(s)) => format!("{c}, HTTP {s}"),
            (None, Some(s)) => format!("HTTP {s}"),
            _ => err.message.chars().take(120).collect(),
        };
        p.retrying(&what, &why);
    }
}

/// Wait before retry `attempt` (from 0): 250 ms doubling, at most 8 s, whatever the count.
pub(super) fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(5))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_retry_delay_doubles_up_to_a_cap_and_never_overflows() {
        let ms = |a| super::retry_delay(a).as_millis();
        assert_eq!([ms(0), ms(1), ms(2), ms(5)], [250, 500, 1000, 8000]);
        assert_eq!(ms(6), 8000);
        assert_eq!(ms(64), 8000);
        assert_eq!(ms(u32::MAX), 8000);
    }
}

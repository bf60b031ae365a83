//! Who renders and compresses on blocking threads: one worker for what requests choose (query
//! variants, later pages), so that a flood of them takes one core at most, and a few
//! compressors for the configured outputs, which never wait behind a variant.

use std::sync::Arc;

use axum::body::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::rendered::{Coding, Effort, Rendered};

/// Query variants rendered or compressed at once. One: a flood of them then takes one core
/// and leaves the others to the configured outputs and everything else.
pub const VARIANT_WORKERS: usize = 1;

/// Compressions of configured outputs at once. Each is made once per change of the data, but
/// every request for a coding not yet made waits for it: without a limit, each would park a
/// blocking thread on the one compressing (48 requests for `/feed.xml` with brotli right after
/// a change, 47 threads); with it they wait without a thread.
pub const OUTPUT_COMPRESSORS: usize = 2;

/// Requests for a query variant not yet rendered that may wait for the worker. A request
/// past them is answered 503 at once, so that a flood of variants cannot hold connections
/// (and a connection in the middle of a request is never closed for a newcomer); at tens of
/// milliseconds a rendering, the last of them waits well under a second.
pub const VARIANT_QUEUE: usize = 16;

/// Who renders and compresses on blocking threads: the variants' worker ([`VARIANT_WORKERS`]
/// renderings or compressions at once, at most [`VARIANT_QUEUE`] requests waiting for one)
/// and the configured outputs' compressors ([`OUTPUT_COMPRESSORS`]). A permit goes into the
/// blocking task that does the work: a request that gives up (its client gone, its timeout)
/// frees nothing while its work still runs.
#[derive(Debug)]
pub(super) struct Workers {
    variants: Arc<Semaphore>,
    places: Semaphore,
    outputs: Arc<Semaphore>,
}

impl Workers {
    pub(super) fn new() -> Workers {
        Workers {
            variants: Arc::new(Semaphore::new(VARIANT_WORKERS)),
            places: Semaphore::new(VARIANT_QUEUE),
            outputs: Arc::new(Semaphore::new(OUTPUT_COMPRESSORS)),
        }
    }

    /// The variants' worker, if it is free now.
    pub(super) fn try_variant(&self) -> Option<OwnedSemaphorePermit> {
        self.variants.clone().try_acquire_owned().ok()
    }

    /// The variants' worker, once it is free; `None` when too many wait for it already.
    pub(super) async fn variant(&self) -> Option<OwnedSemaphorePermit> {
        if let Some(permit) = self.try_variant() {
            return Some(permit);
        }
        let _place = self.places.try_acquire().ok()?;
        // Invariant: the semaphore is never closed.
        Some(
            self.variants
                .clone()
                .acquire_owned()
                .await
                .expect("never closed"),
        )
    }

    /// The body of `rendered` in `coding`, or in the coding it is served in instead: made
    /// once and kept, off the async threads, by a bounded number of them. What a request
    /// chose ([`Effort::Fast`]) is compressed by the variants' worker; while too many wait for
    /// it, the body goes out uncompressed rather than not at all.
    ///
    /// # Errors
    /// When the compressing task panicked.
    pub(super) async fn body(
        &self,
        rendered: &Arc<Rendered>,
        coding: Coding,
    ) -> Result<(Coding, Bytes), tokio::task::JoinError> {
        if let Some(body) = rendered.ready_body(coding) {
            return Ok((coding, body));
        }
        let worker = match rendered.effort {
            // Invariant: the semaphore is never closed.
            Effort::Best => (self.outputs.clone().acquire_owned().await).expect("never closed"),
            Effort::Fast => match self.variant().await {
                Some(worker) => worker,
                None => return Ok((Coding::Identity, rendered.identity.clone())),
            },
        };
        // Made while this request waited its turn.
        if let Some(body) = rendered.ready_body(coding) {
            return Ok((coding, body));
        }
        let r = rendered.clone();
        let body = tokio::task::spawn_blocking(move || {
            let _worker = worker;
            r.body(coding)
        })
        .await?;
        Ok((coding, body))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    /// Text that compresses about as a feed does: words, not one byte repeated.
    fn text(seed: u64, bytes: usize) -> Vec<u8> {
        let words = [
            "feed ", "reading ", "minutes ", "article ", "<p>", "</p>\n", "the ",
        ];
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut out = Vec::with_capacity(bytes + 16);
        while out.len() < bytes {
            out.extend_from_slice(words[rng.usize(..words.len())].as_bytes());
            out.extend_from_slice(rng.u32(..100_000).to_string().as_bytes());
        }
        out
    }

    fn unbrotli(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &body[..], &mut out).expect("valid brotli");
        out
    }

    /// See: issue #19 (review of the server, 9). What a request chose is compressed by the
    /// variants' one worker: while it is busy, VARIANT_QUEUE requests wait for it and the
    /// next gets its body uncompressed at once; the waiting ones are then compressed one by
    /// one. Before the fix, every request compressed on a blocking thread of its own.
    #[tokio::test]
    async fn regression_19_variants_are_compressed_by_one_worker() {
        let workers = Arc::new(Workers::new());
        let busy = workers.try_variant().expect("the worker is free");
        assert!(workers.try_variant().is_none());
        let mut waiting = tokio::task::JoinSet::new();
        let mut originals = Vec::new();
        for i in 0..VARIANT_QUEUE {
            let data = text(i as u64, 64 << 10);
            originals.push(data.clone());
            let r = Arc::new(Rendered::new(
                1,
                Effort::Fast,
                data,
                "0".repeat(32),
                Utc::now(),
            ));
            let workers = workers.clone();
            waiting.spawn(async move { (i, workers.body(&r, Coding::Br).await.unwrap()) });
        }
        // Until every waiting request has its place (a second at most).
        for _ in 0..1_000 {
            if workers.places.available_permits() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let late = Arc::new(Rendered::new(
            1,
            Effort::Fast,
            text(99, 64 << 10),
            "0".repeat(32),
            Utc::now(),
        ));
        let (coding, body) = workers.body(&late, Coding::Br).await.unwrap();
        assert_eq!(coding, Coding::Identity, "no wait beyond the queue");
        assert_eq!(body, late.identity);
        assert!(late.ready_body(Coding::Br).is_none());
        assert!(
            waiting.try_join_next().is_none(),
            "the queue waits for the worker"
        );

        drop(busy);
        while let Some(done) = waiting.join_next().await {
            let (i, (coding, body)) = done.unwrap();
            assert_eq!(coding, Coding::Br);
            assert_eq!(unbrotli(&body), originals[i]);
        }
    }

    /// The configured outputs' requests for a coding not yet made wait for one of
    /// OUTPUT_COMPRESSORS without a thread, and all get the one body made.
    #[tokio::test]
    async fn output_compressions_are_made_once_by_a_bounded_number() {
        let workers = Arc::new(Workers::new());
        let held: Vec<_> = (0..OUTPUT_COMPRESSORS)
            .map(|_| workers.outputs.clone().try_acquire_owned().unwrap())
            .collect();
        let r = Arc::new(Rendered::new(
            1,
            Effort::Best,
            text(1, 64 << 10),
            "0".repeat(32),
            Utc::now(),
        ));
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let (workers, r) = (workers.clone(), r.clone());
            waiting.spawn(async move { workers.body(&r, Coding::Gzip).await.unwrap() });
        }
        tokio::task::yield_now().await;
        assert!(r.ready_body(Coding::Gzip).is_none());
        drop(held);
        let made = r.body(Coding::Gzip);
        while let Some(done) = waiting.join_next().await {
            assert_eq!(done.unwrap(), (Coding::Gzip, made.clone()));
        }
    }
}

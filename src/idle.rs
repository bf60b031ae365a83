//! Waiting for a background worker (article pages, source icons) to run out of work: what
//! `poll-once` does before it exits.

use tokio::sync::Notify;

/// Completes once `idle()` holds, checked at first and again each time `changed` wakes its
/// waiters (`notify_waiters`). The wake-up is registered before each check, so that work
/// ending between the check and the wait is not missed.
pub async fn until(changed: &Notify, mut idle: impl FnMut() -> bool) {
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if idle() {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Work that ends while the waiter is between its check and its wait still wakes it.
    #[tokio::test]
    async fn a_change_after_the_check_is_not_missed() {
        let changed = Arc::new(Notify::new());
        let done = Arc::new(AtomicBool::new(false));
        let (c, d) = (changed.clone(), done.clone());
        let mut checks = 0;
        let wait = until(&changed, || {
            checks += 1;
            if checks == 1 {
                // The work ends right after this first check, before the wait.
                d.store(true, Ordering::SeqCst);
                c.notify_waiters();
                return false;
            }
            done.load(Ordering::SeqCst)
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .expect("woken by the change made after the first check");
        assert_eq!(checks, 2);
    }
}

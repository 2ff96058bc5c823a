//! Handing freed heap back to the kernel once controld is quiet again. glibc returns freed
//! memory only from the top of the heap on its own; after a burst of work (a thousand services
//! starting, a hundred clients) the rest stayed resident, 0.3-1 MiB at a thousand services
//! (measured). No timer runs while nothing happens.

use std::time::Duration;
use tokio::sync::Notify;

/// How long controld must have been quiet.
const QUIET: Duration = Duration::from_secs(1);

static ACTIVITY: Notify = Notify::const_new();

/// Something happened that may have freed memory: a client left, a batch of helper messages was
/// handled.
pub fn busy() {
    ACTIVITY.notify_one();
}

/// Runs for controld's life: after each burst of activity, once it has been quiet for
/// [`QUIET`], trims the heap on a blocking thread.
pub async fn give_back_when_quiet() {
    loop {
        ACTIVITY.notified().await;
        while tokio::time::timeout(QUIET, ACTIVITY.notified())
            .await
            .is_ok()
        {}
        let _ = tokio::task::spawn_blocking(proctor_daemon::give_back_free_heap).await;
    }
}

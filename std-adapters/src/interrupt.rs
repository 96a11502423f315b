//! Stopping cleanly on Ctrl-C (`SIGINT`) and `SIGTERM`: the operation is dropped where it
//! stands (a backup writes no snapshot, a restore leaves no half-written file in place), and
//! the caller then gives back its leases.

use std::future::Future;
use std::pin::pin;

use futures_util::future::{Either, select};
use tokio::signal::unix::{SignalKind, signal};

/// How a supervised operation ended.
#[derive(Debug)]
pub enum Ended<T> {
    /// It finished with this.
    Finished(T),
    /// A signal stopped it: its number (`SIGINT` 2, `SIGTERM` 15).
    Signal(i32),
}

/// Waits for `SIGINT` or `SIGTERM` and returns its number. Once called, those signals no
/// longer end the process by themselves.
pub async fn stop_signal() -> i32 {
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        // Without signal handling the default behaviour stays: the process just ends.
        return std::future::pending().await;
    };
    match select(pin!(int.recv()), pin!(term.recv())).await {
        Either::Left(_) => libc::SIGINT,
        Either::Right(_) => libc::SIGTERM,
    }
}

/// Runs `work` beside `keep` (which keeps leases alive and never finishes) until `work`
/// finishes or a stop signal arrives.
pub async fn supervise<T>(work: impl Future<Output = T>, keep: impl Future<Output = ()>) -> Ended<T> {
    let keep = async {
        keep.await;
        std::future::pending::<std::convert::Infallible>().await
    };
    let stop = pin!(stop_signal());
    let busy = pin!(async {
        match select(pin!(work), pin!(keep)).await {
            Either::Left((out, _)) => out,
            Either::Right((never, _)) => match never {},
        }
    });
    match select(busy, stop).await {
        Either::Left((out, _)) => Ended::Finished(out),
        Either::Right((sig, _)) => Ended::Signal(sig),
    }
}

/// Waits for whichever of two futures finishes first; true if it was `a`.
pub async fn first(a: impl Future<Output = ()>, b: impl Future<Output = i32>) -> bool {
    matches!(select(pin!(a), pin!(b)).await, Either::Left(_))
}

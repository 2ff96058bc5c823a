//! Collecting the answers of many starts, stops or signals into one reply, off the supervisor's
//! task: a reply waits for processes to get somewhere, and the supervisor must not.

use super::{Cmd, Event, Key};
use proctor_api::control::{ActionCode, ActionResult};
use tokio::sync::{mpsc, oneshot};

pub enum Joinable {
    Done(ActionResult),
    Wait(oneshot::Receiver<ActionResult>),
    Signal(String, oneshot::Receiver<Result<(), String>>),
}

pub async fn join(jobs: Vec<Joinable>) -> Vec<ActionResult> {
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        out.push(match j {
            Joinable::Done(r) => r,
            Joinable::Wait(rx) => rx.await.unwrap_or_else(|_| {
                ActionResult::failed("", ActionCode::Failed, "ERROR (abandoned)")
            }),
            Joinable::Signal(name, rx) => match rx.await {
                Ok(Ok(())) => ActionResult::done(name, "signalled"),
                Ok(Err(e)) => {
                    ActionResult::failed(name, ActionCode::Failed, format!("ERROR ({e})"))
                }
                Err(_) => ActionResult::failed(name, ActionCode::Failed, "ERROR (abandoned)"),
            },
        });
    }
    out
}

/// Stops level after level, each fully before the next.
pub async fn stop_in_order(tx: mpsc::Sender<Event>, levels: Vec<Vec<Key>>) -> Vec<ActionResult> {
    let mut out = Vec::new();
    for level in levels {
        let (rtx, rrx) = oneshot::channel();
        if tx
            .send(Event::Cmd(Box::new(Cmd::StopKeys(level, rtx))))
            .await
            .is_err()
        {
            break;
        }
        out.extend(rrx.await.unwrap_or_default());
    }
    out
}

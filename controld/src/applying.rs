//! Applying the config on disk: `update` (the groups that changed) and Supervisor's `reload`
//! (every service stopped, the file applied as a whole, the autostart ones started again).
//! One at a time: each reads, checks and applies one generation of the file.

use crate::server::{ask, respond};
use crate::supervisor::{stop_in_order, Cmd, Event, Failure};
use proctor_api::control::{ActionCode, ActionResult, ErrorKind, Response};
use tokio::sync::mpsc;

static APPLYING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `update [GROUP...]`: stops removed groups, restarts changed ones, adds new ones.
pub async fn update(tx: &mpsc::Sender<Event>, groups: Vec<String>) -> Response {
    let _one = APPLYING.lock().await;
    let done = match check(tx, groups.clone()).await {
        Ok(()) => apply(tx, groups).await,
        Err(e) => Err(e),
    };
    respond(done, Response::Actions)
}

/// Supervisor's `reload`: every service stopped (in reverse priority order), the file applied
/// as a whole, every autostart service started. A file that does not load is refused before
/// anything is stopped.
pub async fn reload(tx: &mpsc::Sender<Event>) -> Response {
    let _one = APPLYING.lock().await;
    let done = async {
        check(tx, Vec::new()).await?;
        let mut out: Vec<ActionResult> = ask(tx, |r| Cmd::Stop(vec!["all".into()], true, r))
            .await?
            .into_iter()
            .filter(ActionResult::ok)
            .collect();
        out.extend(apply(tx, Vec::new()).await?);
        out.extend(ask(tx, Cmd::StartAutostart).await?);
        Ok(out)
    }
    .await;
    respond(done, Response::Actions)
}

/// Supervisor's `add`: each group that is in the file and not active is applied from it (as an
/// update of that group); one already active, or not in the file, is an error of its own.
pub async fn add(tx: &mpsc::Sender<Event>, groups: Vec<String>) -> Response {
    let _one = APPLYING.lock().await;
    let done = async {
        let active = ask(tx, Cmd::ActiveGroups).await?;
        let mut out = Vec::new();
        let mut todo = Vec::new();
        for g in groups {
            if active.contains(&g) {
                out.push(ActionResult::failed(
                    g,
                    ActionCode::AlreadyAdded,
                    "ERROR (already active)",
                ));
                continue;
            }
            match check(tx, vec![g.clone()]).await {
                Ok(()) => todo.push(g),
                Err((ErrorKind::BadName, _)) => out.push(ActionResult::failed(
                    g,
                    ActionCode::BadName,
                    "ERROR (no such group)",
                )),
                Err(e) => return Err(e),
            }
        }
        if !todo.is_empty() {
            out.extend(apply(tx, todo).await?);
        }
        Ok(out)
    }
    .await;
    respond(done, Response::Actions)
}

/// Supervisor's `remove`: each group, if none of its processes runs, leaves the active set.
pub async fn remove(tx: &mpsc::Sender<Event>, groups: Vec<String>) -> Response {
    let _one = APPLYING.lock().await;
    respond(
        ask(tx, |r| Cmd::RemoveGroups(groups, r)).await,
        Response::Actions,
    )
}

/// Reads the file and checks that `groups` (all when empty) can be applied from it.
async fn check(tx: &mpsc::Sender<Event>, groups: Vec<String>) -> Result<(), Failure> {
    let (preview, _) = ask(tx, |r| Cmd::ReadConfig(false, r)).await?;
    ask(tx, |r| Cmd::CheckUpdate(preview, groups, r)).await
}

/// Makes the file proctord's config; then, in `groups` (all when empty), stops what it removes
/// or changes and starts what it adds or changes.
async fn apply(
    tx: &mpsc::Sender<Event>,
    groups: Vec<String>,
) -> Result<Vec<ActionResult>, Failure> {
    ask(tx, |r| Cmd::ReadConfig(true, r)).await?;
    let (diff, to_stop) = ask(tx, |r| Cmd::PlanUpdate(groups, r)).await?;
    // One level: what changed or went stops at once. (A daemon shutting down meanwhile stops
    // nothing here, and the finish below says so.)
    let mut out: Vec<_> = stop_in_order(tx.clone(), vec![to_stop])
        .await
        .into_iter()
        .filter(ActionResult::ok)
        .collect();
    out.extend(ask(tx, |r| Cmd::FinishUpdate(diff, r)).await?);
    Ok(out)
}

//! Writing to a service's stdin (Supervisor's `sendProcessStdin`, what `supervisorctl fg`
//! sends): through the write end of its stdin pipe, which proctord handed over with its output
//! pipes. A service that does not read is given the write timeout, then the caller is told.

use crate::server::{ask, WRITE_TIMEOUT};
use crate::supervisor::{Cmd, Event};
use proctor_api::control::{ActionCode, ActionResult, Response};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Writes `data` to the stdin of the one process `name`: one result, as Supervisor's faults
/// word it (NOT_RUNNING, NO_FILE once the service has closed its stdin).
pub async fn send(tx: &mpsc::Sender<Event>, name: String, data: Vec<u8>) -> Response {
    let (namespec, pipe) = match ask(tx, |r| Cmd::Stdin(name, r)).await {
        Ok(v) => v,
        Err((kind, message)) => return Response::Error { kind, message },
    };
    let result = match pipe {
        None => ActionResult::failed(namespec, ActionCode::NotRunning, "ERROR (not running)"),
        Some(fd) => match write(&fd, &data).await {
            Ok(()) => ActionResult::done(namespec, "sent"),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                ActionResult::failed(namespec, ActionCode::NoFile, "ERROR (its stdin is closed)")
            }
            Err(e) => ActionResult::failed(namespec, ActionCode::Failed, format!("ERROR ({e})")),
        },
    };
    Response::Actions(vec![result])
}

pub async fn write(fd: &std::os::fd::OwnedFd, data: &[u8]) -> std::io::Result<()> {
    // A copy of the descriptor, made non-blocking (the pipe's write end is controld's and
    // proctord's alone, and proctord never writes to it).
    let mut pipe = tokio::net::unix::pipe::Sender::from_owned_fd(fd.try_clone()?)?;
    match tokio::time::timeout(WRITE_TIMEOUT, pipe.write_all(data)).await {
        Ok(done) => done,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the service did not read its stdin within {} s",
                WRITE_TIMEOUT.as_secs()
            ),
        )),
    }
}

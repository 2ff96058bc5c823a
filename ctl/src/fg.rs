//! `proctorctl fg NAME`: the process's output as it comes (its stdout log, followed), and each
//! line typed sent to its stdin, until the input ends or the process stops. supervisorctl's
//! `fg`, over proctorctl's own protocol.

use crate::client;
use crate::output;
use proctor_api::control::{Back, Channel, Log, Request, Response};
use std::io::BufRead;
use std::path::Path;

pub fn run(socket: &Path, name: String) -> u8 {
    let follow = Request::Tail {
        log: Log::Process {
            name: name.clone(),
            channel: Channel::Stdout,
        },
        // As supervisorctl's fg: the end of the log first, so that nothing said since is missed.
        back: Back::Bytes(1024),
        follow: true,
    };
    {
        let socket = socket.to_path_buf();
        // Ends with the process: this thread is not waited for.
        std::thread::spawn(move || {
            output::tail(
                &socket,
                follow,
                output::Stream::Text,
                output::Out { json: None },
            )
        });
    }
    eprintln!("==> {name}: what you type goes to its stdin; end with Ctrl-D <==");
    for line in std::io::stdin().lock().lines() {
        let Ok(mut line) = line else {
            break;
        };
        line.push('\n');
        let req = Request::Stdin {
            name: name.clone(),
            data: line.into_bytes(),
        };
        match client::call(socket, req) {
            Ok(Response::Actions(results)) => {
                if let Some(r) = results.iter().find(|r| !r.ok()) {
                    eprintln!("{}: {}", r.name, r.message);
                    return crate::EXIT_FAILURE;
                }
            }
            Ok(Response::Error { message, .. }) => {
                eprintln!("proctorctl: {message}");
                return crate::EXIT_FAILURE;
            }
            Ok(other) => {
                eprintln!("proctorctl: unexpected answer: {other:?}");
                return crate::EXIT_FAILURE;
            }
            Err(e) => {
                eprintln!("proctorctl: {e}");
                return crate::EXIT_UNREACHABLE;
            }
        }
    }
    0
}

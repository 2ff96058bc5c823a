//! Finding the daemon and talking to it.

use proctor_api::control::{
    read_frame, write_frame, ClientFrame, Request, Response, CONTROL_PROTOCOL_VERSION, MAX_RESPONSE,
};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/proctor/proctor.conf";

/// -s, then $PROCTOR_SOCKET, then the config's `[unix_http_server] file=`.
pub fn find_socket(flag: Option<&Path>, config: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(s) = flag {
        return Ok(s.to_path_buf());
    }
    if let Some(s) = std::env::var_os("PROCTOR_SOCKET").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(s));
    }
    let path = config.unwrap_or(Path::new(DEFAULT_CONFIG));
    if config.is_none() && !path.exists() {
        return Err(format!(
            "no socket given: use -s SOCKET, set PROCTOR_SOCKET, or -c CONFIG (the default {DEFAULT_CONFIG} does not exist)"
        ));
    }
    let ctx = proctor_config::LoadContext::current();
    proctor_config::load_client_socket(path, &ctx)
        .map_err(|d| d.to_string())?
        .ok_or_else(|| {
            format!(
                "{}: no [supervisorctl] serverurl= nor [unix_http_server] file=",
                path.display()
            )
        })
}

pub struct Connection {
    stream: UnixStream,
}

impl Connection {
    pub fn open(socket: &Path) -> Result<Connection, String> {
        UnixStream::connect(socket)
            .map(|stream| Connection { stream })
            .map_err(|e| {
                let hint = match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                        " (is proctord running?)"
                    }
                    std::io::ErrorKind::PermissionDenied => {
                        " (the socket's mode, [unix_http_server] chmod=, does not let you in)"
                    }
                    _ => "",
                };
                format!("cannot connect to {}: {e}{hint}", socket.display())
            })
    }

    pub fn send(&mut self, request: Request) -> Result<(), String> {
        let frame = ClientFrame {
            version: CONTROL_PROTOCOL_VERSION,
            request,
        };
        write_frame(&mut self.stream, &frame).map_err(|e| format!("sending the request: {e}"))
    }

    /// Sends a request and reads the answer. The daemon may answer (a refusal) and close before
    /// it reads the request: then the send fails, but the answer is there to read.
    pub fn send_then_recv(&mut self, request: Request) -> Result<Response, String> {
        match self.send(request) {
            Ok(()) => self.recv(),
            Err(sending) => self.recv().map_err(|_| sending),
        }
    }

    pub fn recv(&mut self) -> Result<Response, String> {
        match read_frame(&mut self.stream, MAX_RESPONSE) {
            Ok(Some(body)) => proctor_wire::decode_exact(&body)
                .map_err(|e| format!("malformed reply from the daemon: {e}")),
            Ok(None) => Err("the daemon closed the connection without replying".into()),
            Err(e) => Err(format!("reading the reply: {e}")),
        }
    }
}

/// One request, one response.
pub fn call(socket: &Path, request: Request) -> Result<Response, String> {
    let mut c = Connection::open(socket)?;
    c.send_then_recv(request)
}

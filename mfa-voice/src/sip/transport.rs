//! How SIP messages travel to the PBX: UDP datagrams, or one TCP connection with
//! messages framed by their Content-Length (RFC 3261 §18.3).

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// The transport SIP messages use. RTP always uses UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// UDP, with RFC 3261's retransmission timers (the default).
    #[default]
    Udp,
    /// One TCP connection per call; no retransmissions.
    Tcp,
}

/// The largest SIP message accepted over TCP.
const MAX_MESSAGE: usize = 64 * 1024;

/// An open signalling path to the server.
pub(super) enum Signalling {
    Udp {
        socket: UdpSocket,
        server: SocketAddr,
    },
    Tcp {
        local: SocketAddr,
        writer: Mutex<OwnedWriteHalf>,
        incoming: Mutex<mpsc::Receiver<Vec<u8>>>,
        reader: JoinHandle<()>,
    },
}

impl Drop for Signalling {
    fn drop(&mut self) {
        if let Signalling::Tcp { reader, .. } = self {
            reader.abort();
        }
    }
}

impl Signalling {
    /// Opens the path from `local_ip` to `server`.
    pub(super) async fn open(
        transport: Transport,
        local_ip: IpAddr,
        server: SocketAddr,
    ) -> std::io::Result<Self> {
        match transport {
            Transport::Udp => Ok(Signalling::Udp {
                socket: UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?,
                server,
            }),
            Transport::Tcp => {
                let socket = match local_ip {
                    IpAddr::V4(_) => TcpSocket::new_v4()?,
                    IpAddr::V6(_) => TcpSocket::new_v6()?,
                };
                socket.bind(SocketAddr::new(local_ip, 0))?;
                let stream = socket.connect(server).await?;
                stream.set_nodelay(true)?;
                let local = stream.local_addr()?;
                let (mut read, write) = stream.into_split();
                let (tx, rx) = mpsc::channel(32);
                let reader = tokio::spawn(async move {
                    let mut framer = Framer::default();
                    let mut chunk = vec![0u8; 8192];
                    loop {
                        let n = match read.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let Some(messages) = framer.push(&chunk[..n]) else {
                            return; // not SIP: give up on the connection
                        };
                        for message in messages {
                            if tx.send(message).await.is_err() {
                                return;
                            }
                        }
                    }
                });
                Ok(Signalling::Tcp {
                    local,
                    writer: Mutex::new(write),
                    incoming: Mutex::new(rx),
                    reader,
                })
            }
        }
    }

    /// Our address, for Via and Contact.
    pub(super) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Signalling::Udp { socket, .. } => socket.local_addr(),
            Signalling::Tcp { local, .. } => Ok(*local),
        }
    }

    /// Whether the transport delivers by itself (no retransmissions then).
    pub(super) fn reliable(&self) -> bool {
        matches!(self, Signalling::Tcp { .. })
    }

    /// The transport's name in Via headers.
    pub(super) fn via_name(&self) -> &'static str {
        match self {
            Signalling::Udp { .. } => "UDP",
            Signalling::Tcp { .. } => "TCP",
        }
    }

    /// Sends one message. A lost UDP datagram is what retransmissions are for, and a
    /// broken TCP connection shows as silence, so errors are not reported.
    pub(super) async fn send(&self, bytes: &[u8]) {
        match self {
            Signalling::Udp { socket, server } => {
                let _ = socket.send_to(bytes, server).await;
            }
            Signalling::Tcp { writer, .. } => {
                let _ = writer.lock().await.write_all(bytes).await;
            }
        }
    }

    /// The next message, as bytes; `None` for a read error (the caller tries again).
    /// Over TCP, a closed connection waits forever: the call's timers end it.
    pub(super) async fn recv(&self, buf: &mut [u8]) -> Option<Vec<u8>> {
        match self {
            Signalling::Udp { socket, .. } => {
                let (n, _) = socket.recv_from(buf).await.ok()?;
                Some(buf[..n].to_vec())
            }
            Signalling::Tcp { incoming, .. } => match incoming.lock().await.recv().await {
                Some(message) => Some(message),
                None => std::future::pending().await,
            },
        }
    }
}

/// Cuts a TCP byte stream into SIP messages by their Content-Length.
#[derive(Debug, Default)]
pub(super) struct Framer {
    buffer: Vec<u8>,
}

impl Framer {
    /// Adds bytes and returns the messages now complete; `None` if the stream cannot
    /// be SIP (a header block or body beyond the size limit).
    pub(super) fn push(&mut self, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        loop {
            // Keep-alive CRLFs between messages (RFC 5626 §3.5.1).
            let skip = self
                .buffer
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            self.buffer.drain(..skip);
            let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                return (self.buffer.len() <= MAX_MESSAGE).then_some(messages);
            };
            let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    let name = name.trim();
                    (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let total = end + 4 + length;
            if total > MAX_MESSAGE {
                return None;
            }
            if self.buffer.len() < total {
                return Some(messages);
            }
            messages.push(self.buffer.drain(..total).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_joined_messages() {
        let a = b"SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let b = b"SIP/2.0 200 OK\r\nl: 5\r\n\r\nv=0\r\n";
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(a);
        stream.extend_from_slice(b);
        let mut framer = Framer::default();
        let mut got = Vec::new();
        for piece in stream.chunks(7) {
            got.extend(framer.push(piece).unwrap());
        }
        assert_eq!(got, vec![a.to_vec(), b.to_vec()]);
    }

    #[test]
    fn refuses_what_cannot_be_sip() {
        let mut framer = Framer::default();
        assert!(framer.push(&[b'x'; MAX_MESSAGE + 1]).is_none());
        let mut framer = Framer::default();
        assert!(
            framer
                .push(b"SIP/2.0 200 OK\r\nContent-Length: 999999999\r\n\r\n")
                .is_none()
        );
        // A Content-Length that is not a number counts as none.
        let mut framer = Framer::default();
        assert_eq!(
            framer
                .push(b"SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n")
                .unwrap()
                .len(),
            1
        );
    }
}

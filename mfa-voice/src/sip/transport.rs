//! How SIP messages travel to the PBX: UDP datagrams, or one TCP (or TLS) connection
//! with messages framed by their Content-Length (RFC 3261 §18.3).

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
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
    /// One TLS connection per call (RFC 3261 §26.2), checked against the roots and
    /// server name of [`super::TlsClient`]: set with [`super::SipConfig::tls`].
    #[cfg(feature = "sip-tls")]
    Tls,
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
        writer: Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
        incoming: Mutex<mpsc::Receiver<Vec<u8>>>,
        reader: JoinHandle<()>,
        name: &'static str,
    },
}

/// Reads SIP messages off a stream in a task of its own; they arrive on the receiver.
fn read_messages(
    mut read: impl AsyncRead + Send + Unpin + 'static,
) -> (mpsc::Receiver<Vec<u8>>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(32);
    let reader = tokio::spawn(async move {
        let mut framer = Framer::default();
        let mut chunk = vec![0u8; 8192];
        loop {
            let n = match read.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let Ok(messages) = framer.push(&chunk[..n]) else {
                return; // not SIP: give up on the connection
            };
            for message in messages {
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        }
    });
    (rx, reader)
}

async fn connect(local_ip: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match local_ip {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local_ip, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
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
    pub(super) async fn open(config: &super::SipConfig, local_ip: IpAddr) -> std::io::Result<Self> {
        let server = config.server;
        match config.transport {
            Transport::Udp => Ok(Signalling::Udp {
                socket: UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?,
                server,
            }),
            Transport::Tcp => {
                let stream = connect(local_ip, server).await?;
                let local = stream.local_addr()?;
                let (read, write) = stream.into_split();
                let (incoming, reader) = read_messages(read);
                Ok(Signalling::Tcp {
                    local,
                    writer: Mutex::new(Box::new(write)),
                    incoming: Mutex::new(incoming),
                    reader,
                    name: "TCP",
                })
            }
            #[cfg(feature = "sip-tls")]
            Transport::Tls => {
                let Some(tls) = &config.tls else {
                    return Err(std::io::Error::other("TLS is chosen but not configured"));
                };
                let stream = connect(local_ip, server).await?;
                let local = stream.local_addr()?;
                // The handshake checks the server's certificate chain and name.
                let stream = tls.connect(stream).await?;
                let (read, write) = tokio::io::split(stream);
                let (incoming, reader) = read_messages(read);
                Ok(Signalling::Tcp {
                    local,
                    writer: Mutex::new(Box::new(write)),
                    incoming: Mutex::new(incoming),
                    reader,
                    name: "TLS",
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
            Signalling::Tcp { name, .. } => name,
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
                let mut writer = writer.lock().await;
                // TLS buffers what it writes: flush, or the message may wait there.
                if writer.write_all(bytes).await.is_ok() {
                    let _ = writer.flush().await;
                }
            }
        }
    }

    /// The next message from the server, as bytes; `None` for a read error (the caller
    /// tries again). Over TCP, a closed connection waits forever: the call's timers end
    /// it.
    ///
    /// Over UDP only datagrams from the server's address and port count: every
    /// request of the call goes there, so its responses and the callee's in-dialog
    /// requests come from there too (RFC 3261 §18.2.2, and the proxy's Record-Route).
    /// Anyone else who learnt the Call-ID and tags could otherwise end the call with a
    /// BYE or move its media with a re-INVITE.
    pub(super) async fn recv(&self, buf: &mut [u8]) -> Option<Vec<u8>> {
        match self {
            Signalling::Udp { socket, server } => loop {
                let (n, from) = socket.recv_from(buf).await.ok()?;
                if from == *server {
                    return Some(buf[..n].to_vec());
                }
            },
            Signalling::Tcp { incoming, .. } => match incoming.lock().await.recv().await {
                Some(message) => Some(message),
                None => std::future::pending().await,
            },
        }
    }
}

/// Why a TCP byte stream cannot be cut into SIP messages. The connection is given up:
/// once framing is lost, no later byte can be trusted to start a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(super) enum FramingError {
    /// The header block is not finished within the size limit.
    #[error("a SIP header block longer than {MAX_MESSAGE} bytes")]
    HeadersTooLong,
    /// The Content-Length announces a message beyond the size limit.
    #[error("a SIP message body beyond the {MAX_MESSAGE}-byte limit")]
    BodyTooLong,
    /// The Content-Length is not a decimal number (RFC 3261: `1*DIGIT`).
    #[error("a Content-Length that is not a number")]
    InvalidContentLength,
    /// Two Content-Length headers that disagree: which one frames the stream is a guess.
    #[error("Content-Length headers that disagree")]
    ConflictingContentLength,
}

/// The body length a header block announces (0 without a Content-Length).
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let mut length: Option<usize> = None;
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = line[colon + 1..].trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::InvalidContentLength);
        }
        // Leading zeros aside, more digits than the limit has cannot fit in it; this
        // also keeps the number far from any integer overflow.
        let digits = value
            .iter()
            .position(|b| *b != b'0')
            .map_or(&[][..], |i| &value[i..]);
        if digits.len() > 6 {
            return Err(FramingError::BodyTooLong);
        }
        let n = digits
            .iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(FramingError::ConflictingContentLength);
        }
        length = Some(n);
    }
    Ok(length.unwrap_or(0))
}

/// Cuts a TCP byte stream into SIP messages by their Content-Length.
#[derive(Debug, Default)]
pub(super) struct Framer {
    buffer: Vec<u8>,
}

impl Framer {
    /// Adds bytes and returns the messages now complete, or why the stream cannot be
    /// SIP (a header block or message beyond the size limit, a Content-Length that
    /// frames nothing).
    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, FramingError> {
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
                if self.buffer.len() > MAX_MESSAGE {
                    return Err(FramingError::HeadersTooLong);
                }
                return Ok(messages);
            };
            let length = content_length(&self.buffer[..end])?;
            let total = (end + 4)
                .checked_add(length)
                .filter(|t| *t <= MAX_MESSAGE)
                .ok_or(FramingError::BodyTooLong)?;
            if self.buffer.len() < total {
                return Ok(messages);
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
    fn absurd_content_lengths_are_refused_without_panic() {
        use FramingError::*;
        for (value, error) in [
            ("18446744073709551615", BodyTooLong),
            ("18446744073709551616", BodyTooLong),
            ("99999999999999999999999999", BodyTooLong),
            ("999999999", BodyTooLong),
            ("65536", BodyTooLong),
            ("-1", InvalidContentLength),
            ("+5", InvalidContentLength),
            ("0x10", InvalidContentLength),
            ("1 2", InvalidContentLength),
            ("x", InvalidContentLength),
            ("", InvalidContentLength),
            ("\u{664}", InvalidContentLength), // an Arabic-Indic digit
        ] {
            let mut framer = Framer::default();
            let head = format!("SIP/2.0 200 OK\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(framer.push(head.as_bytes()), Err(error), "{value:?}");
        }
        let mut framer = Framer::default();
        assert_eq!(
            framer.push(b"SIP/2.0 200 OK\r\nl: 0\r\nContent-Length: 4\r\n\r\nv=0\n"),
            Err(ConflictingContentLength)
        );
        // Leading zeros and a repeated equal header are still one length.
        let mut framer = Framer::default();
        let ok = b"SIP/2.0 200 OK\r\nContent-Length: 00004\r\nl: 4\r\n\r\nv=0\n";
        assert_eq!(framer.push(ok), Ok(vec![ok.to_vec()]));
        // Exactly at the limit: waits for the body; one byte more is refused.
        let head = |body: usize| format!("SIP/2.0 200 OK\r\nContent-Length: {body}\r\n\r\n");
        assert_eq!(head(MAX_MESSAGE - 41).len(), 41);
        let mut framer = Framer::default();
        assert_eq!(framer.push(head(MAX_MESSAGE - 41).as_bytes()), Ok(vec![]));
        let mut framer = Framer::default();
        assert_eq!(
            framer.push(head(MAX_MESSAGE - 40).as_bytes()),
            Err(BodyTooLong)
        );
    }

    #[test]
    fn refuses_what_cannot_be_sip() {
        let mut framer = Framer::default();
        assert_eq!(
            framer.push(&[b'x'; MAX_MESSAGE + 1]),
            Err(FramingError::HeadersTooLong)
        );
    }
}

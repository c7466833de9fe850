//! The SDP offer a call makes (RFC 4566, RFC 3264) and what is read from the answer.

use std::net::{IpAddr, SocketAddr};

use super::audio::Codec;

/// The payload type offered for RFC 4733 telephone events.
pub const OFFERED_EVENT_PT: u8 = 101;

/// The SDP offer: PCMA, PCMU and telephone-event/8000 on one audio stream.
#[allow(dead_code)] // the tests and the fuzz targets use it
pub fn offer(address: IpAddr, rtp_port: u16, session_id: u64) -> String {
    media_offer(address, rtp_port, session_id, None)
}

/// The offer, on the secure profile (RTP/SAVP) with our SDES key line when `crypto`
/// is given. Such an offer holds a key: it travels only over TLS.
pub fn media_offer(
    address: IpAddr,
    rtp_port: u16,
    session_id: u64,
    crypto: Option<&str>,
) -> String {
    let family = if address.is_ipv4() { "IP4" } else { "IP6" };
    let profile = if crypto.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    format!(
        "v=0\r\n\
         o=mfa {session_id} {session_id} IN {family} {address}\r\n\
         s=mfa verification call\r\n\
         c=IN {family} {address}\r\n\
         t=0 0\r\n\
         m=audio {rtp_port} {profile} 8 0 {pt}\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:{pt} telephone-event/8000\r\n\
         a=fmtp:{pt} 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n\
         {crypto}",
        pt = OFFERED_EVENT_PT,
        crypto = crypto.unwrap_or(""),
    )
}

/// The value of the callee's first `a=crypto` line (RFC 4568), kept out of `Debug`
/// and wiped on drop: it holds the callee's SRTP key.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CryptoLine(zeroize::Zeroizing<String>);

impl CryptoLine {
    /// The line after `a=crypto:`.
    #[cfg_attr(not(feature = "sip-tls"), allow(dead_code))]
    pub fn value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CryptoLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CryptoLine(<redacted>)")
    }
}

/// What the callee's answer settles for the call's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// The G.711 law both sides use.
    pub codec: Codec,
    /// The payload type of telephone events, if the callee accepts them.
    pub event_pt: Option<u8>,
    /// Whether the audio stream is on the secure profile (`RTP/SAVP`).
    pub secure: bool,
    /// The callee's SDES key line for the audio stream, if any.
    pub crypto: Option<CryptoLine>,
}

/// Why an SDP answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// No audio stream, or it was rejected (port 0).
    #[error("the answer has no usable audio stream")]
    MissingAudio,
    /// No connection address for the audio stream.
    #[error("the answer has no connection address")]
    MissingAddress,
    /// Neither PCMA nor PCMU was accepted.
    #[error("the answer accepts neither PCMA nor PCMU")]
    NoCommonCodec,
}

/// Reads the answer to our offer.
pub fn parse_answer(sdp: &str) -> Result<Answer, SdpError> {
    let mut session_addr: Option<IpAddr> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut secure = false;
    let mut crypto: Option<CryptoLine> = None;
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    let mut in_audio = false;
    let mut seen_audio = false;
    for line in sdp.lines() {
        let line = line.trim_end();
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                // Only the first audio stream counts.
                in_audio = value.starts_with("audio ") && !seen_audio;
                if in_audio {
                    seen_audio = true;
                    let mut parts = value.split_whitespace().skip(1);
                    let port = parts.next().and_then(|p| p.split('/').next()?.parse().ok());
                    secure = parts.next() == Some("RTP/SAVP");
                    let formats = parts.filter_map(|f| f.parse().ok()).collect();
                    audio = port.map(|p| (p, formats));
                }
            }
            "c" => {
                let addr = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse().ok());
                if in_audio {
                    media_addr = addr;
                } else if !seen_audio {
                    session_addr = addr;
                }
            }
            "a" if in_audio => {
                if let Some(line) = value.strip_prefix("crypto:") {
                    if crypto.is_none() {
                        crypto = Some(CryptoLine(zeroize::Zeroizing::new(line.to_owned())));
                    }
                }
                if let Some(map) = value.strip_prefix("rtpmap:") {
                    if let Some((pt, name)) = map.split_once(' ') {
                        if let Ok(pt) = pt.trim().parse() {
                            rtpmap.push((pt, name.trim().to_ascii_lowercase()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let (port, formats) = audio.ok_or(SdpError::MissingAudio)?;
    if port == 0 {
        return Err(SdpError::MissingAudio);
    }
    let address = media_addr
        .or(session_addr)
        .ok_or(SdpError::MissingAddress)?;
    let name_of = |pt: u8| {
        rtpmap
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.as_str())
    };
    let codec = formats
        .iter()
        .find_map(|&pt| match (pt, name_of(pt)) {
            (_, Some(n)) if n.starts_with("pcma/8000") => Some(Codec::Pcma),
            (_, Some(n)) if n.starts_with("pcmu/8000") => Some(Codec::Pcmu),
            (8, None) => Some(Codec::Pcma),
            (0, None) => Some(Codec::Pcmu),
            _ => None,
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let event_pt = formats
        .iter()
        .copied()
        .find(|&pt| name_of(pt).is_some_and(|n| n.starts_with("telephone-event/8000")));
    Ok(Answer {
        remote: SocketAddr::new(address, port),
        codec,
        event_pt,
        secure,
        crypto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_lists_both_laws_and_telephone_events() {
        let sdp = offer("127.0.0.1".parse().unwrap(), 40000, 7);
        assert!(sdp.contains("m=audio 40000 RTP/AVP 8 0 101\r\n"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        // Our own offer reads back as an answer.
        let a = parse_answer(&sdp).unwrap();
        assert_eq!(a.codec, Codec::Pcma);
        assert_eq!(a.event_pt, Some(101));
    }

    #[test]
    fn reads_a_sipp_answer() {
        let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
                   c=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\n\
                   a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";
        let a = parse_answer(sdp).unwrap();
        assert_eq!(a.remote, "127.0.0.2:6000".parse().unwrap());
        assert_eq!(a.codec, Codec::Pcma);
        assert_eq!(a.event_pt, Some(101));
    }

    #[test]
    fn media_level_address_and_dynamic_event_type_win() {
        let sdp = "v=0\nc=IN IP4 10.0.0.1\nm=audio 5004 RTP/AVP 0 96\nc=IN IP4 10.0.0.2\n\
                   a=rtpmap:96 telephone-event/8000\n";
        let a = parse_answer(sdp).unwrap();
        assert_eq!(a.remote, "10.0.0.2:5004".parse().unwrap());
        assert_eq!(a.codec, Codec::Pcmu);
        assert_eq!(a.event_pt, Some(96));
    }

    #[test]
    fn unusable_answers_are_typed_errors() {
        assert_eq!(parse_answer(""), Err(SdpError::MissingAudio));
        assert_eq!(
            parse_answer("c=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 8\r\n"),
            Err(SdpError::MissingAudio)
        );
        assert_eq!(
            parse_answer("m=audio 5000 RTP/AVP 8\r\n"),
            Err(SdpError::MissingAddress)
        );
        assert_eq!(
            parse_answer("c=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 18\r\n"),
            Err(SdpError::NoCommonCodec)
        );
        assert!(parse_answer("m=audio x\r\n\u{0}=\u{ff}").is_err());
    }
}

//! HTTP digest authentication as SIP uses it (RFC 3261 §22, RFC 2617, RFC 8760):
//! reads a `WWW-Authenticate` / `Proxy-Authenticate` challenge and computes the
//! `Authorization` / `Proxy-Authorization` answer.

use md5::Md5;
use sha2::Sha256;

/// The hash a challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (the default when none is named).
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hex(self, input: &str) -> String {
        fn to_hex(bytes: &[u8]) -> String {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
        match self {
            Algorithm::Md5 => to_hex(&<Md5 as md5::Digest>::digest(input.as_bytes())[..]),
            Algorithm::Sha256 => to_hex(&<Sha256 as sha2::Digest>::digest(input.as_bytes())[..]),
        }
    }
}

/// A digest challenge from a 401 or 407 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space; names which credentials apply.
    pub realm: String,
    /// The server's nonce.
    pub nonce: String,
    /// Returned unchanged, if given.
    pub opaque: Option<String>,
    /// The hash to use.
    pub algorithm: Algorithm,
    /// Whether the server offered `qop=auth`.
    pub qop_auth: bool,
    /// Whether the nonce merely expired (the credentials were right).
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// Not a `Digest` challenge.
    #[error("not a digest challenge")]
    NotDigest,
    /// A required parameter is missing.
    #[error("the challenge has no {0}")]
    Missing(&'static str),
    /// An algorithm or quality of protection we do not implement.
    #[error("unsupported digest {0}")]
    Unsupported(String),
}

/// Splits `a="x, y", b=z` into pairs, honouring quotes and backslash escapes.
fn params(input: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        } else if chars.peek().is_none() && name.trim().is_empty() {
            break;
        }
        out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    out
}

impl Challenge {
    /// Reads the value of a `WWW-Authenticate` or `Proxy-Authenticate` header.
    pub fn parse(header: &str) -> Result<Self, ChallengeError> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(ChallengeError::NotDigest);
        }
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = Algorithm::Md5;
        let mut qop: Option<String> = None;
        let mut stale = false;
        for (name, value) in params(rest) {
            match name.as_str() {
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                "opaque" => opaque = Some(value),
                "stale" => stale = value.eq_ignore_ascii_case("true"),
                "qop" => qop = Some(value),
                "algorithm" => {
                    algorithm = match value.to_ascii_uppercase().as_str() {
                        "MD5" => Algorithm::Md5,
                        "SHA-256" => Algorithm::Sha256,
                        _ => return Err(ChallengeError::Unsupported(value)),
                    }
                }
                _ => {}
            }
        }
        let qop_auth = match qop {
            None => false,
            Some(list) => {
                if list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                {
                    true
                } else {
                    return Err(ChallengeError::Unsupported(format!("qop {list}")));
                }
            }
        };
        Ok(Challenge {
            realm: realm.ok_or(ChallengeError::Missing("realm"))?,
            nonce: nonce.ok_or(ChallengeError::Missing("nonce"))?,
            opaque,
            algorithm,
            qop_auth,
            stale,
        })
    }

    /// The `response` value for a request (`cnonce` and `nc` matter only with `qop=auth`).
    pub fn response(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let h = |s: &str| self.algorithm.hex(s);
        let ha1 = h(&format!("{username}:{}:{password}", self.realm));
        let ha2 = h(&format!("{method}:{uri}"));
        if self.qop_auth {
            h(&format!(
                "{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}",
                self.nonce
            ))
        } else {
            h(&format!("{ha1}:{}:{ha2}", self.nonce))
        }
    }

    /// The full `Authorization` (or `Proxy-Authorization`) header value.
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let response = self.response(username, password, method, uri, cnonce, nc);
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut value = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri),
            self.algorithm.name(),
        );
        if self.qop_auth {
            value.push_str(&format!(
                ", cnonce=\"{}\", qop=auth, nc={nc:08x}",
                quote(cnonce)
            ));
        }
        if let Some(opaque) = &self.opaque {
            value.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5: the Mufasa example (MD5, qop=auth).
    #[test]
    fn rfc2617_section_3_5() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(c.qop_auth);
        assert_eq!(
            c.response(
                "Mufasa",
                "Circle Of Life",
                "GET",
                "/dir/index.html",
                "0a4f113b",
                1
            ),
            "6629fae49393a05397450978507c4ef1"
        );
        let header = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert!(header.contains("nc=00000001"));
        assert!(header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        assert!(!header.contains("Circle"));
    }

    /// RFC 7616 §3.9.1: the same user with MD5 and with SHA-256.
    #[test]
    fn rfc7616_section_3_9_1() {
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (algorithm, expected) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let c = Challenge::parse(&format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                 algorithm={algorithm}, nonce=\"{nonce}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            ))
            .unwrap();
            assert_eq!(
                c.response(
                    "Mufasa",
                    "Circle of Life",
                    "GET",
                    "/dir/index.html",
                    cnonce,
                    1
                ),
                expected,
                "{algorithm}"
            );
        }
    }

    /// RFC 2069 style (no qop), as many PBXes still challenge.
    #[test]
    fn without_qop() {
        let c = Challenge::parse("Digest realm=\"asterisk\",nonce=\"1234abcd\"").unwrap();
        assert!(!c.qop_auth);
        // md5(md5("alice:asterisk:secret") + ":1234abcd:" + md5("INVITE:sip:2000@pbx"))
        let ha1 = Algorithm::Md5.hex("alice:asterisk:secret");
        let ha2 = Algorithm::Md5.hex("INVITE:sip:2000@pbx");
        assert_eq!(
            c.response("alice", "secret", "INVITE", "sip:2000@pbx", "x", 1),
            Algorithm::Md5.hex(&format!("{ha1}:1234abcd:{ha2}"))
        );
    }

    #[test]
    fn bad_challenges_are_typed_errors() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(ChallengeError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(ChallengeError::Missing("realm"))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=AKAv1-MD5"),
            Err(ChallengeError::Unsupported(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            Err(ChallengeError::Unsupported(_))
        ));
        for junk in [
            "",
            "Digest",
            "Digest ,,,",
            "Digest realm=\"unterminated",
            "Digest ===",
        ] {
            assert!(Challenge::parse(junk).is_err(), "{junk:?}");
        }
        let stale =
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", stale=TRUE, qop=auth").unwrap();
        assert!(stale.stale && stale.qop_auth);
    }
}

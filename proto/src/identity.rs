//! Authors, keys, signatures and enrollment tokens.
//!
//! Every writer is an ed25519 key; its public half is its [`AuthorId`]. Entries are signed over their
//! canonical encoding so that whoever carries them cannot alter them. The same key serves as the
//! author's TLS identity (the binaries turn it into a self-signed certificate). Nothing here does I/O.

use bincode::{Decode, Encode};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::wire::{self, Entry, Hlc, Op};
use crate::Error;

/// An author's ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct AuthorId(pub [u8; 32]);

impl AuthorId {
    /// First 8 hex digits: how people see an author.
    pub fn short(&self) -> String {
        HEXLOWER.encode(&self.0[..4])
    }

    /// Full lowercase hex.
    pub fn hex(&self) -> String {
        HEXLOWER.encode(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let bytes = HEXLOWER
            .decode(s.trim().to_ascii_lowercase().as_bytes())
            .map_err(|_| Error::Invalid("author id: not hex".into()))?;
        Ok(AuthorId(bytes.try_into().map_err(|_| {
            Error::Invalid("author id: not 32 bytes".into())
        })?))
    }

    /// Checks `sig` over `msg` with this key.
    pub fn verify(&self, msg: &[u8], sig: &Sig) -> bool {
        match VerifyingKey::from_bytes(&self.0) {
            Ok(key) => key
                .verify(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
                .is_ok(),
            Err(_) => false,
        }
    }
}

impl std::fmt::Debug for AuthorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthorId({})", self.short())
    }
}

impl std::fmt::Display for AuthorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.short())
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Sig(pub [u8; 64]);

impl Sig {
    /// The `sig` of an entry received in a sealed run: no signature of its own.
    pub const CHAINED: Sig = Sig([0; 64]);
}

impl std::fmt::Debug for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sig({}…)", HEXLOWER.encode(&self.0[..4]))
    }
}

/// An author's signing key.
pub struct Keypair(SigningKey);

impl Keypair {
    /// A fresh random key.
    pub fn generate() -> Self {
        Keypair(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Restores a key from its 32 secret bytes.
    pub fn from_secret(bytes: &[u8; 32]) -> Self {
        Keypair(SigningKey::from_bytes(bytes))
    }

    /// The 32 secret bytes, for the owner's store only.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key in PKCS#8 DER, for building a TLS certificate.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.0
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// The public half.
    pub fn author(&self) -> AuthorId {
        AuthorId(self.0.verifying_key().to_bytes())
    }

    /// Signs arbitrary bytes.
    pub fn sign(&self, msg: &[u8]) -> Sig {
        Sig(self.0.sign(msg).to_bytes())
    }

    /// Builds and signs the entry `seq` of this author's log.
    pub fn sign_entry(&self, seq: u64, hlc: Hlc, op: Op) -> Entry {
        let author = self.author();
        let sig = self.sign(&signing_bytes(&author, seq, hlc, &op));
        Entry {
            author,
            seq,
            hlc,
            op,
            sig,
        }
    }
}

/// The bytes an entry's signature covers.
pub fn signing_bytes(author: &AuthorId, seq: u64, hlc: Hlc, op: &Op) -> Vec<u8> {
    let mut v = b"baobi/1 entry".to_vec();
    v.extend_from_slice(&wire::encode(&(author, seq, hlc, op)));
    v
}

impl Entry {
    /// True when the signature is the author's over this exact content.
    pub fn verify(&self) -> bool {
        self.seq >= 1
            && self.author.verify(
                &signing_bytes(&self.author, self.seq, self.hlc, &self.op),
                &self.sig,
            )
    }

    /// The entry's dot.
    pub fn dot(&self) -> crate::wire::Dot {
        crate::wire::Dot {
            author: self.author,
            seq: self.seq,
        }
    }
}

/// SHA-256 of a DER certificate: what each side pins.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    Sha256::digest(cert_der).into()
}

/// A one-time enrollment token: where the hub is, how to recognise it, and the secret to present;
/// when the hub has a standby, where the standby is and how to recognise it too.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct Token {
    /// The hub's address, `host:port`.
    pub addr: String,
    /// SHA-256 of the hub's certificate.
    pub hub_fingerprint: [u8; 32],
    /// The one-time secret.
    pub secret: [u8; 16],
    /// The standby hub offices fall back to when the hub does not answer.
    pub standby: Option<PeerPin>,
    /// The relay (a district office, `baobi-agent daemon --relay`) the office syncs through when
    /// neither hub answers.
    pub relay: Option<PeerPin>,
}

/// Another hub an office may reach: its address and the SHA-256 of its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PeerPin {
    /// `host:port`.
    pub addr: String,
    /// SHA-256 of its certificate.
    pub fingerprint: [u8; 32],
}

/// The token's first format (`baobi1.`): no standby. Still written when there is none, so agents
/// older than the standby read tokens of hubs without one.
#[derive(Encode, Decode)]
struct TokenV1 {
    addr: String,
    hub_fingerprint: [u8; 32],
    secret: [u8; 16],
}

/// The token's second format (`baobi2.`): a standby, no relay. Still written when there is no
/// relay, so agents older than the relay read tokens of hubs with a standby.
#[derive(Encode, Decode)]
struct TokenV2 {
    addr: String,
    hub_fingerprint: [u8; 32],
    secret: [u8; 16],
    standby: Option<PeerPin>,
}

/// The secret never appears in debug output (logs, panics): only that there is one.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("addr", &self.addr)
            .field("hub_fingerprint", &HEXLOWER.encode(&self.hub_fingerprint))
            .field("secret", &"<redacted>")
            .field("standby", &self.standby)
            .field("relay", &self.relay)
            .finish()
    }
}

const TOKEN_PREFIX: &str = "baobi1.";
/// A token that names a standby hub too.
const TOKEN_PREFIX_2: &str = "baobi2.";
/// A token that names a relay (and maybe a standby).
const TOKEN_PREFIX_3: &str = "baobi3.";
/// A standby token (`baobi-hub standby token`): the primary's address, pin and secret.
const STANDBY_PREFIX: &str = "baobisb1.";

fn body_of(s: &str, prefix: &str) -> Option<Result<Vec<u8>, Error>> {
    let body = s.trim().strip_prefix(prefix)?;
    Some(
        BASE64URL_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| Error::Invalid("token: damaged (not base64url)".into())),
    )
}

impl Token {
    /// The printable form: `baobi1.` and base64url of the first format when there is no standby,
    /// `baobi2.` with a standby and no relay, else `baobi3.` and base64url of the whole token.
    pub fn to_text(&self) -> String {
        if self.relay.is_some() {
            return format!(
                "{TOKEN_PREFIX_3}{}",
                BASE64URL_NOPAD.encode(&wire::encode(self))
            );
        }
        match &self.standby {
            None => format!(
                "{TOKEN_PREFIX}{}",
                BASE64URL_NOPAD.encode(&wire::encode(&TokenV1 {
                    addr: self.addr.clone(),
                    hub_fingerprint: self.hub_fingerprint,
                    secret: self.secret,
                }))
            ),
            Some(_) => format!(
                "{TOKEN_PREFIX_2}{}",
                BASE64URL_NOPAD.encode(&wire::encode(&TokenV2 {
                    addr: self.addr.clone(),
                    hub_fingerprint: self.hub_fingerprint,
                    secret: self.secret,
                    standby: self.standby.clone(),
                }))
            ),
        }
    }

    /// Parses the printable form (any of the three formats).
    pub fn from_text(s: &str) -> Result<Self, Error> {
        let damaged = |_| Error::Invalid("token: damaged".into());
        if let Some(bytes) = body_of(s, TOKEN_PREFIX_3) {
            return wire::decode(&bytes?).map_err(damaged);
        }
        if let Some(bytes) = body_of(s, TOKEN_PREFIX_2) {
            let v2: TokenV2 = wire::decode(&bytes?).map_err(damaged)?;
            return Ok(Token {
                addr: v2.addr,
                hub_fingerprint: v2.hub_fingerprint,
                secret: v2.secret,
                standby: v2.standby,
                relay: None,
            });
        }
        let bytes = body_of(s, TOKEN_PREFIX).ok_or_else(|| {
            if s.trim().starts_with(STANDBY_PREFIX) {
                Error::Invalid(
                    "token: this is a standby hub's token (baobi-hub init --standby-of), not an \
                     office's"
                        .into(),
                )
            } else {
                Error::Invalid("token: does not start with 'baobi1.'".into())
            }
        })??;
        let v1: TokenV1 =
            wire::decode(&bytes).map_err(|_| Error::Invalid("token: damaged".into()))?;
        Ok(Token {
            addr: v1.addr,
            hub_fingerprint: v1.hub_fingerprint,
            secret: v1.secret,
            standby: None,
            relay: None,
        })
    }

    /// The printable form of a standby token: `baobisb1.` and base64url (the standby field unused).
    pub fn to_standby_text(&self) -> String {
        format!(
            "{STANDBY_PREFIX}{}",
            BASE64URL_NOPAD.encode(&wire::encode(&TokenV1 {
                addr: self.addr.clone(),
                hub_fingerprint: self.hub_fingerprint,
                secret: self.secret,
            }))
        )
    }

    /// Parses a standby token; an office's token is refused with a message saying so.
    pub fn from_standby_text(s: &str) -> Result<Self, Error> {
        let bytes = body_of(s, STANDBY_PREFIX).ok_or_else(|| {
            Error::Invalid(
                "token: not a standby token (it must start with 'baobisb1.'; make one on the \
                 primary with `baobi-hub standby token`)"
                    .into(),
            )
        })??;
        let v1: TokenV1 =
            wire::decode(&bytes).map_err(|_| Error::Invalid("token: damaged".into()))?;
        Ok(Token {
            addr: v1.addr,
            hub_fingerprint: v1.hub_fingerprint,
            secret: v1.secret,
            standby: None,
            relay: None,
        })
    }

    /// SHA-256 of the secret: all the hub stores.
    pub fn secret_hash(secret: &[u8; 16]) -> [u8; 32] {
        Sha256::digest(secret).into()
    }
}

/// Fresh random bytes for a token secret.
pub fn random_secret() -> [u8; 16] {
    use rand::RngCore;
    let mut s = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Body, CampaignEvent, CampaignKind, Date};

    fn op() -> Op {
        Op::Record(Body::Campaign(CampaignEvent {
            unit: "30226".into(),
            date: Date(20250301),
            kind: CampaignKind::Event,
            participants: Some(40),
            topic: "Nói không với túi ni lông".into(),
        }))
    }

    #[test]
    fn signed_entry_verifies_and_tampering_breaks_it() {
        let k = Keypair::generate();
        let e = k.sign_entry(1, Hlc(7), op());
        assert!(e.verify());
        let mut t = e.clone();
        t.seq = 2;
        assert!(!t.verify());
        let mut t = e.clone();
        t.author = Keypair::generate().author();
        assert!(!t.verify());
        let mut t = e;
        if let Op::Record(Body::Campaign(c)) = &mut t.op {
            c.participants = Some(41);
        }
        assert!(!t.verify());
    }

    #[test]
    fn token_round_trips_and_rejects_garbage() {
        let t = Token {
            addr: "127.0.0.1:4433".into(),
            hub_fingerprint: [7; 32],
            secret: random_secret(),
            standby: None,
            relay: None,
        };
        assert_eq!(Token::from_text(&t.to_text()).unwrap(), t);
        assert!(Token::from_text("baobi1.@@@").is_err());
        assert!(Token::from_text("hello").is_err());
        let mut s = t.to_text();
        s.push('A');
        assert!(Token::from_text(&s).is_err());
    }

    #[test]
    fn old_tokens_still_parse_and_a_standby_travels_in_the_new_format() {
        // A token as hubs wrote it before the standby: the three fields, bincode, base64url.
        let secret = [9u8; 16];
        let old = format!(
            "baobi1.{}",
            BASE64URL_NOPAD.encode(&wire::encode(&(
                "10.0.0.1:4433".to_string(),
                [3u8; 32],
                secret
            )))
        );
        let t = Token::from_text(&old).unwrap();
        assert_eq!(t.addr, "10.0.0.1:4433");
        assert_eq!(t.hub_fingerprint, [3; 32]);
        assert_eq!(t.secret, secret);
        assert_eq!(t.standby, None);
        // Without a standby a new hub still writes exactly the old format.
        assert_eq!(t.to_text(), old);
        let with = Token {
            standby: Some(PeerPin {
                addr: "10.0.0.2:4433".into(),
                fingerprint: [4; 32],
            }),
            ..t
        };
        let text = with.to_text();
        assert!(text.starts_with("baobi2."));
        assert_eq!(Token::from_text(&text).unwrap(), with);
        let mut bad = text.clone();
        bad.truncate(text.len() - 3);
        assert!(Token::from_text(&bad).is_err());
    }

    #[test]
    fn a_relay_travels_in_the_third_format_and_older_formats_still_read() {
        let relay = PeerPin {
            addr: "10.0.0.3:4434".into(),
            fingerprint: [5; 32],
        };
        let base = Token {
            addr: "10.0.0.1:4433".into(),
            hub_fingerprint: [3; 32],
            secret: [9; 16],
            standby: None,
            relay: None,
        };
        let standby = Some(PeerPin {
            addr: "10.0.0.2:4433".into(),
            fingerprint: [4; 32],
        });
        // Without a relay the older formats are written, byte for byte as before.
        assert!(base.to_text().starts_with("baobi1."));
        let v2 = Token {
            standby: standby.clone(),
            ..base.clone()
        };
        let v2_text = v2.to_text();
        assert!(v2_text.starts_with("baobi2."));
        let as_before = format!(
            "baobi2.{}",
            BASE64URL_NOPAD.encode(&wire::encode(&(
                "10.0.0.1:4433".to_string(),
                [3u8; 32],
                [9u8; 16],
                standby.clone()
            )))
        );
        assert_eq!(v2_text, as_before);
        assert_eq!(Token::from_text(&as_before).unwrap(), v2);
        for t in [
            Token {
                relay: Some(relay.clone()),
                ..base.clone()
            },
            Token {
                relay: Some(relay.clone()),
                ..v2.clone()
            },
        ] {
            let text = t.to_text();
            assert!(text.starts_with("baobi3."), "{text}");
            assert_eq!(Token::from_text(&text).unwrap(), t);
            let mut bad = text.clone();
            bad.truncate(text.len() - 2);
            assert!(Token::from_text(&bad).is_err());
        }
    }

    #[test]
    fn standby_and_office_tokens_are_not_interchangeable() {
        let t = Token {
            addr: "127.0.0.1:4433".into(),
            hub_fingerprint: [7; 32],
            secret: random_secret(),
            standby: None,
            relay: None,
        };
        let sb = t.to_standby_text();
        assert_eq!(Token::from_standby_text(&sb).unwrap(), t);
        let e = Token::from_text(&sb).unwrap_err().to_string();
        assert!(e.contains("standby"), "{e}");
        assert!(Token::from_standby_text(&t.to_text()).is_err());
        assert!(Token::from_standby_text("baobisb1.@@").is_err());
    }

    #[test]
    fn key_restores_from_secret() {
        let k = Keypair::generate();
        let k2 = Keypair::from_secret(&k.secret());
        assert_eq!(k.author(), k2.author());
        assert!(!k.pkcs8_der().is_empty());
    }
}

//! Drop files: what a sync would exchange, written to one sealed, compressed file for an office with
//! no link (carried on a USB stick), bytes in and bytes out, no I/O.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! "BAOBIDRP" | version u16 | header_len u32 | header | body_len u32 | body | signature (64)
//! ```
//!
//! `header` is a bincode [`DropHeader`] (at most [`MAX_HEADER`] bytes): who signed it (the
//! producer), which hub and office it concerns, when. `body` is a deflated bincode [`DropBody`]:
//! sealed runs (each still under its author's seal, so whoever carries the file cannot alter an
//! entry), receipts, and the producer's summary. The producer's author key signs
//! `"baobi/1 drop" ‖` every byte before the signature. Decoding checks the lengths against the
//! file's size and the limits before allocating, the signature before inflating, and inflates at
//! most [`MAX_BODY`] bytes; a truncated file, trailing bytes, a flipped byte or a foreign producer is
//! a typed [`DropError`]. Whether the producer is the expected one is the reader's question:
//! [`DropFile::check`].

use std::io::{Read, Write};

use crate::identity::{AuthorId, Keypair, Sig};
pub use crate::wire::{DropBody, DropHeader};

/// The first bytes of every drop file.
pub const MAGIC: &[u8; 8] = b"BAOBIDRP";
/// The format revision written and read.
pub const VERSION: u16 = 1;
/// Largest drop file read or written, in bytes.
pub const MAX_FILE: usize = 64 << 20;
/// Largest body once inflated, in bytes.
pub const MAX_BODY: usize = 256 << 20;
/// Largest encoded header, in bytes.
pub const MAX_HEADER: usize = 1024;

const SIG_LEN: usize = 64;
const DOMAIN: &[u8] = b"baobi/1 drop";

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_BODY>,
>;

fn config() -> Config {
    bincode::config::standard().with_limit::<MAX_BODY>()
}

/// Why a drop file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropError {
    /// Larger than a drop file may be.
    #[error("tệp quá lớn ({len} byte, tối đa {limit}) / the file is too large ({len} bytes, at most {limit})")]
    TooLarge {
        /// Its size (or the inflated body's).
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a drop file at all.
    #[error("không phải tệp chuyển dữ liệu của baobi / not a baobi drop file")]
    NotADrop,
    /// A format revision this build does not read.
    #[error("phiên bản tệp {0} không được hỗ trợ / drop file version {0} is not supported")]
    Version(u16),
    /// Ends before its signature.
    #[error("tệp bị cắt cụt / the file is truncated")]
    Truncated,
    /// Bytes after the signature.
    #[error("tệp có {0} byte thừa ở cuối / the file has {0} trailing bytes")]
    Trailing(usize),
    /// A part does not decode.
    #[error("tệp bị hỏng ({0}) / the file is damaged ({0})")]
    Malformed(String),
    /// The producer's signature does not verify: altered after it was written.
    #[error("chữ ký của tệp không hợp lệ: tệp đã bị sửa / the file's signature does not verify: it was altered")]
    BadSignature,
    /// Signed by someone other than expected, or for another hub or office.
    #[error("tệp không dành cho nơi này / the file is not for here: {0}")]
    Foreign(String),
}

/// A decoded, signature-checked drop file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropFile {
    /// Who, for whom, when.
    pub header: DropHeader,
    /// What it carries.
    pub body: DropBody,
}

fn signed_bytes(domain: &[u8], unsigned: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(domain.len() + unsigned.len());
    v.extend_from_slice(domain);
    v.extend_from_slice(unsigned);
    v
}

/// Writes a drop file signed by `kp`, which must be `header.producer`.
pub fn encode(kp: &Keypair, header: &DropHeader, body: &DropBody) -> Result<Vec<u8>, DropError> {
    if kp.author() != header.producer {
        return Err(DropError::Foreign(
            "khóa ký không phải của bên tạo tệp / the signing key is not the producer's".into(),
        ));
    }
    encode_framed(MAGIC, VERSION, DOMAIN, kp, header, body)
}

/// The framing drop files and national drop files (`crate::national`) share: `magic | version |
/// header | deflated body | signature of kp over domain ‖ every byte before it`.
pub(crate) fn encode_framed<H: bincode::Encode, B: bincode::Encode>(
    magic: &[u8; 8],
    version: u16,
    domain: &[u8],
    kp: &Keypair,
    header: &H,
    body: &B,
) -> Result<Vec<u8>, DropError> {
    let h = bincode::encode_to_vec(header, config())
        .map_err(|e| DropError::Malformed(e.to_string()))?;
    let b = bincode::encode_to_vec(body, config()).map_err(|_| DropError::TooLarge {
        len: MAX_BODY + 1,
        limit: MAX_BODY,
    })?;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&b)
        .map_err(|e| DropError::Malformed(e.to_string()))?;
    let z = z
        .finish()
        .map_err(|e| DropError::Malformed(e.to_string()))?;
    let mut out = Vec::with_capacity(magic.len() + 10 + h.len() + z.len() + SIG_LEN);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&(z.len() as u32).to_le_bytes());
    out.extend_from_slice(&z);
    let sig = kp.sign(&signed_bytes(domain, &out));
    out.extend_from_slice(&sig.0);
    if out.len() > MAX_FILE {
        return Err(DropError::TooLarge {
            len: out.len(),
            limit: MAX_FILE,
        });
    }
    Ok(out)
}

/// Reads `n` bytes at `*at`, or `Truncated`.
fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], DropError> {
    let end = at.checked_add(n).ok_or(DropError::Truncated)?;
    let s = bytes.get(*at..end).ok_or(DropError::Truncated)?;
    *at = end;
    Ok(s)
}

fn u32_at(bytes: &[u8], at: &mut usize) -> Result<usize, DropError> {
    let s = take(bytes, at, 4)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// Inflates `z`, refusing more than `limit` bytes (never holding more than `limit + 1`).
fn inflate(z: &[u8], limit: usize) -> Result<Vec<u8>, DropError> {
    let mut inner = Vec::new();
    flate2::read::DeflateDecoder::new(z)
        .take(limit as u64 + 1)
        .read_to_end(&mut inner)
        .map_err(|e| DropError::Malformed(format!("body: {e}")))?;
    if inner.len() > limit {
        return Err(DropError::TooLarge {
            len: inner.len(),
            limit,
        });
    }
    Ok(inner)
}

/// Reads a drop file: every check but who the producer should be (see [`DropFile::check`]).
pub fn decode(bytes: &[u8]) -> Result<DropFile, DropError> {
    let (header, body) =
        decode_framed::<DropHeader, DropBody>(MAGIC, VERSION, DOMAIN, bytes, |h| h.producer)?;
    Ok(DropFile { header, body })
}

/// Reads what [`encode_framed`] wrote, the signature checked against `producer(header)` before
/// the body is inflated.
pub(crate) fn decode_framed<H: bincode::Decode<()>, B: bincode::Decode<()>>(
    magic: &[u8; 8],
    version_read: u16,
    domain: &[u8],
    bytes: &[u8],
    producer: impl Fn(&H) -> AuthorId,
) -> Result<(H, B), DropError> {
    if bytes.len() > MAX_FILE {
        return Err(DropError::TooLarge {
            len: bytes.len(),
            limit: MAX_FILE,
        });
    }
    let mut at = 0;
    match bytes.get(..magic.len()) {
        Some(m) if m == magic => at += magic.len(),
        Some(_) => return Err(DropError::NotADrop),
        None if magic.starts_with(bytes) && !bytes.is_empty() => return Err(DropError::Truncated),
        None => return Err(DropError::NotADrop),
    }
    let v = take(bytes, &mut at, 2)?;
    let version = u16::from_le_bytes([v[0], v[1]]);
    if version != version_read {
        return Err(DropError::Version(version));
    }
    let hl = u32_at(bytes, &mut at)?;
    if hl > MAX_HEADER {
        return Err(DropError::Malformed(format!("header of {hl} bytes")));
    }
    let h = take(bytes, &mut at, hl)?;
    let bl = u32_at(bytes, &mut at)?;
    if bl > MAX_FILE {
        return Err(DropError::TooLarge {
            len: bl,
            limit: MAX_FILE,
        });
    }
    let z = take(bytes, &mut at, bl)?;
    let unsigned = at;
    let sig = take(bytes, &mut at, SIG_LEN)?;
    if at != bytes.len() {
        return Err(DropError::Trailing(bytes.len() - at));
    }
    let (header, used): (H, usize) = bincode::decode_from_slice(h, config())
        .map_err(|e| DropError::Malformed(format!("header: {e}")))?;
    if used != h.len() {
        return Err(DropError::Malformed("header: trailing bytes".into()));
    }
    let mut s = [0u8; SIG_LEN];
    s.copy_from_slice(sig);
    if !producer(&header).verify(&signed_bytes(domain, &bytes[..unsigned]), &Sig(s)) {
        return Err(DropError::BadSignature);
    }
    let inner = inflate(z, MAX_BODY)?;
    let (body, used): (B, usize) = bincode::decode_from_slice(&inner, config())
        .map_err(|e| DropError::Malformed(format!("body: {e}")))?;
    if used != inner.len() {
        return Err(DropError::Malformed("body: trailing bytes".into()));
    }
    Ok((header, body))
}

impl DropFile {
    /// Refuses the file unless `producer` signed it and it concerns `hub` and `office`.
    pub fn check(
        &self,
        producer: &AuthorId,
        hub: &AuthorId,
        office: &AuthorId,
    ) -> Result<(), DropError> {
        let h = &self.header;
        if h.hub != *hub {
            return Err(DropError::Foreign(format!(
                "viết cho máy chủ {} / written for hub {}",
                h.hub.short(),
                h.hub.short()
            )));
        }
        if h.office != *office {
            return Err(DropError::Foreign(format!(
                "của văn phòng {} / concerns office {}",
                h.office.short(),
                h.office.short()
            )));
        }
        if h.producer != *producer {
            return Err(DropError::Foreign(format!(
                "ký bởi {} / signed by {}",
                h.producer.short(),
                h.producer.short()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::genesis;
    use crate::receipt::Receipt;
    use crate::wire::{Body, CampaignEvent, CampaignKind, Date, Hlc, Op, Run, SummaryWire};
    use proptest::prelude::*;

    fn sample(office: &Keypair, hub: &Keypair, n: u64, topic: &str) -> (DropHeader, DropBody) {
        let entries: Vec<_> = (1..=n)
            .map(|s| {
                office.sign_entry(
                    s,
                    Hlc(s),
                    Op::Record(Body::Campaign(CampaignEvent {
                        unit: "30226".into(),
                        date: Date(20250301),
                        kind: CampaignKind::Event,
                        participants: Some(s as u32),
                        topic: topic.into(),
                    })),
                )
            })
            .collect();
        let runs = if entries.is_empty() {
            vec![]
        } else {
            vec![
                Run::seal(office, genesis(&office.author()), &entries)
                    .unwrap()
                    .0,
            ]
        };
        let header = DropHeader {
            producer: office.author(),
            hub: hub.author(),
            office: office.author(),
            created_ms: 1_764_633_600_000,
        };
        let body = DropBody {
            runs,
            receipts: vec![Receipt::sign(
                hub,
                office.author(),
                0,
                genesis(&office.author()),
                5,
            )],
            summary: SummaryWire(vec![(office.author(), n)]),
        };
        (header, body)
    }

    #[test]
    fn a_drop_file_round_trips_and_checks_its_producer() {
        let (office, hub) = (Keypair::generate(), Keypair::generate());
        let (h, b) = sample(&office, &hub, 7, "Nói không với túi ni lông");
        let bytes = encode(&office, &h, &b).unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        let f = decode(&bytes).unwrap();
        assert_eq!((&f.header, &f.body), (&h, &b));
        f.check(&office.author(), &hub.author(), &office.author())
            .unwrap();
        let other = Keypair::generate().author();
        for (p, hb, o) in [
            (other, hub.author(), office.author()),
            (office.author(), other, office.author()),
            (office.author(), hub.author(), other),
        ] {
            assert!(matches!(f.check(&p, &hb, &o), Err(DropError::Foreign(_))));
        }
        // Only the producer's key writes it.
        assert!(matches!(encode(&hub, &h, &b), Err(DropError::Foreign(_))));
    }

    #[test]
    fn truncated_trailing_foreign_and_versioned_files_are_typed_errors() {
        let (office, hub) = (Keypair::generate(), Keypair::generate());
        let (h, b) = sample(&office, &hub, 3, "Tuần lễ túi xanh");
        let bytes = encode(&office, &h, &b).unwrap();
        for cut in [0, 1, 7, 8, 9, 12, bytes.len() / 2, bytes.len() - 1] {
            let e = decode(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(e, DropError::Truncated | DropError::NotADrop),
                "cut at {cut}: {e:?}"
            );
        }
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Err(DropError::Truncated));
        let mut long = bytes.clone();
        long.extend_from_slice(b"xyz");
        assert_eq!(decode(&long), Err(DropError::Trailing(3)));
        assert_eq!(decode(b"PK\x03\x04 not ours"), Err(DropError::NotADrop));
        let mut v2 = bytes.clone();
        v2[8] = 2;
        assert_eq!(decode(&v2), Err(DropError::Version(2)));
        // Another key re-signing the same content under the office's name does not verify.
        let mut resigned = bytes[..bytes.len() - 64].to_vec();
        let forger = Keypair::generate();
        resigned.extend_from_slice(&forger.sign(&signed_bytes(DOMAIN, &resigned)).0);
        assert_eq!(decode(&resigned), Err(DropError::BadSignature));
        // A header length past the limit is refused before anything is allocated for it.
        let mut huge = bytes;
        huge[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(DropError::Malformed(_))));
        assert!(matches!(
            decode(&vec![0u8; MAX_FILE + 1]),
            Err(DropError::TooLarge { .. })
        ));
    }

    #[test]
    fn an_inflated_body_past_the_limit_is_refused() {
        // A body that deflates well but inflates past the limit: refused, at most limit + 1 held.
        let limit = 1 << 20;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; limit + 1]).unwrap();
        let z = z.finish().unwrap();
        assert!(z.len() < 4096);
        assert_eq!(
            inflate(&z, limit),
            Err(DropError::TooLarge {
                len: limit + 1,
                limit
            })
        );
        assert_eq!(inflate(&z, limit + 1).map(|v| v.len()), Ok(limit + 1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_file_round_trips_and_any_flipped_byte_is_refused(
            n in 0u64..40, topic in "\\PC{0,40}", pick in any::<prop::sample::Index>(), bit in 0u8..8
        ) {
            let (office, hub) = (Keypair::generate(), Keypair::generate());
            let (h, b) = sample(&office, &hub, n, &topic);
            let bytes = encode(&office, &h, &b).unwrap();
            let f = decode(&bytes).unwrap();
            prop_assert_eq!((&f.header, &f.body), (&h, &b));
            let mut flipped = bytes.clone();
            flipped[pick.index(bytes.len())] ^= 1 << bit;
            prop_assert!(decode(&flipped).is_err());
        }
    }
}

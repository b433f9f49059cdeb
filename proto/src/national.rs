//! A national drop file: what a national hub would pull from a provincial hub, written by the
//! province to one signed, compressed file for a national hub with no link to it. Bytes in and
//! bytes out, no I/O; the framing (lengths, limits, signature before inflating) is the drop file's
//! ([`crate::drop`]), under its own magic and signing domain so neither file is taken for the other.
//!
//! ```text
//! "BAOBINAT" | version u16 | header_len u32 | header | body_len u32 | body | signature (64)
//! ```
//!
//! The province's hub signs it; every run inside is still sealed by its author (each office, or
//! the province hub for its own log), so the nation checks them exactly as a pull does.
//!
//! Version 2 adds the province's indicator settings at the end of the body (what a pull's
//! `Msg::Settings` carries); a version 1 file is still read, with no settings.

use bincode::{Decode, Encode};

use crate::drop::{decode_framed, encode_framed, DropError};
use crate::identity::{AuthorId, Keypair};
use crate::standby::{HubSettings, Registry};
use crate::wire::{Run, SummaryWire};

/// The first bytes of every national drop file.
pub const MAGIC: &[u8; 8] = b"BAOBINAT";
/// The format revision written (and read, with [`VERSION_1`]).
pub const VERSION: u16 = 2;
/// The first revision, without the settings; still read.
pub const VERSION_1: u16 = 1;
const DOMAIN: &[u8] = b"baobi/1 national drop";

/// Who wrote a national drop file, for whom, when.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct NationalHeader {
    /// The province hub's author key, which signed it.
    pub producer: AuthorId,
    /// Province code.
    pub province: String,
    /// The national hub it was written for, none for any national hub following the province.
    pub national: Option<AuthorId>,
    /// When it was written (Unix milliseconds).
    pub created_ms: u64,
}

/// What a national drop file carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct NationalBody {
    /// The province's registry of offices (as a pull's `Registry` message).
    pub registry: Registry,
    /// Every run, the province hub's own log first.
    pub runs: Vec<Run>,
    /// The province hub's summary when it wrote the file.
    pub summary: SummaryWire,
    /// The province's indicator settings (`settings basis`, `settings i1-rule`); none in a
    /// version 1 file.
    pub settings: Option<HubSettings>,
}

/// The body of a version 1 file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
struct BodyV1 {
    registry: Registry,
    runs: Vec<Run>,
    summary: SummaryWire,
}

/// Writes a national drop file signed by `kp`, which must be `header.producer`.
pub fn encode(
    kp: &Keypair,
    header: &NationalHeader,
    body: &NationalBody,
) -> Result<Vec<u8>, DropError> {
    if kp.author() != header.producer {
        return Err(DropError::Foreign(
            "khóa ký không phải của máy chủ tỉnh / the signing key is not the province hub's"
                .into(),
        ));
    }
    encode_framed(MAGIC, VERSION, DOMAIN, kp, header, body)
}

/// Reads a national drop file: every check but whether the producer is the expected province.
pub fn decode(bytes: &[u8]) -> Result<(NationalHeader, NationalBody), DropError> {
    let producer = |h: &NationalHeader| h.producer;
    let v1 = bytes.get(..MAGIC.len()) == Some(&MAGIC[..])
        && bytes.get(MAGIC.len()..MAGIC.len() + 2) == Some(&VERSION_1.to_le_bytes()[..]);
    if v1 {
        let (h, b): (_, BodyV1) = decode_framed(MAGIC, VERSION_1, DOMAIN, bytes, producer)?;
        let body = NationalBody {
            registry: b.registry,
            runs: b.runs,
            summary: b.summary,
            settings: None,
        };
        return Ok((h, body));
    }
    decode_framed(MAGIC, VERSION, DOMAIN, bytes, producer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kp: &Keypair) -> Vec<u8> {
        let h = NationalHeader {
            producer: kp.author(),
            province: "87".into(),
            national: None,
            created_ms: 1,
        };
        encode(kp, &h, &NationalBody::default()).unwrap()
    }

    #[test]
    fn a_national_drop_round_trips_and_an_altered_truncated_or_office_drop_is_refused() {
        let kp = Keypair::generate();
        let bytes = sample(&kp);
        let (h, b) = decode(&bytes).unwrap();
        assert_eq!(h.producer, kp.author());
        assert_eq!(b, NationalBody::default());
        for i in 8..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(decode(&bad).is_err(), "byte {i} flipped");
        }
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Err(DropError::Truncated));
        // An office's drop file is not a national one.
        let office = crate::drop::encode(
            &kp,
            &crate::wire::DropHeader {
                producer: kp.author(),
                hub: kp.author(),
                office: kp.author(),
                created_ms: 1,
            },
            &Default::default(),
        )
        .unwrap();
        assert_eq!(decode(&office), Err(DropError::NotADrop));
    }

    #[test]
    fn the_settings_travel_in_version_2_and_a_version_1_file_is_still_read() {
        let kp = Keypair::generate();
        let h = NationalHeader {
            producer: kp.author(),
            province: "75".into(),
            national: None,
            created_ms: 7,
        };
        let settings = HubSettings {
            basis: "verified".into(),
            i1_rule: "eco-offered".into(),
        };
        let body = NationalBody {
            summary: SummaryWire(vec![(kp.author(), 3)]),
            settings: Some(settings),
            ..Default::default()
        };
        let v2 = encode(&kp, &h, &body).unwrap();
        assert_eq!(&v2[8..10], &VERSION.to_le_bytes());
        assert_eq!(decode(&v2).unwrap(), (h.clone(), body.clone()));
        // The first form, as a province before version 2 wrote it: read, with no settings.
        let old = BodyV1 {
            registry: body.registry.clone(),
            runs: body.runs.clone(),
            summary: body.summary.clone(),
        };
        let v1 = encode_framed(MAGIC, VERSION_1, DOMAIN, &kp, &h, &old).unwrap();
        let (h1, b1) = decode(&v1).unwrap();
        assert_eq!(h1, h);
        assert_eq!(
            b1,
            NationalBody {
                settings: None,
                ..body
            }
        );
        // Altered, it is refused as before; an unknown version is refused.
        let mut bad = v1.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode(&bad), Err(DropError::BadSignature));
        let mut v3 = v2.clone();
        v3[8] = 3;
        assert_eq!(decode(&v3), Err(DropError::Version(3)));
    }
}

//! Every type that crosses the network, and the one codec that turns them into bytes.
//!
//! Frames are a 4-byte little-endian length followed by a bincode 2 body (standard config, varint
//! integers). Decoding never trusts the peer: the length is checked against [`MAX_FRAME`] before any
//! allocation, bincode's own allocation limit applies inside the body, and trailing bytes are an error.
//! Enum variants are only ever appended, never reordered or removed: their index is the wire tag.
//! The same codec stores entries on disk, so one swap here changes both.
//! Entries travel as [`Run`]s of one author's log sealed by one signature (see [`crate::chain`]),
//! in numbered [`RunBatch`]es, deflated ([`Msg::Packed`]) when that is smaller: records repeat their
//! field layout and units. The decoder inflates at most [`MAX_FRAME`] bytes and accepts nothing but a
//! batch inside.

use std::io::{Read, Write};

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::identity::{AuthorId, Sig};
use crate::Error;

/// ALPN protocol name of baobi's sync protocol, version 1.
pub const ALPN: &[u8] = b"baobi/1";
/// Largest frame body accepted from a peer, in bytes.
pub const MAX_FRAME: usize = 4 << 20;
/// Most entries one batch may carry.
pub const MAX_BATCH_ENTRIES: usize = 512;
/// Longest free-text field (notes, names, topics), in characters.
pub const MAX_TEXT: usize = 2000;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_FRAME>,
>;

fn config() -> Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Encodes a value with the wire configuration (no length prefix).
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    // Encoding into a Vec cannot fail for our types except by exceeding the limit, which only a
    // value built past MAX_FRAME could do; callers bound their batches well below it.
    bincode::encode_to_vec(value, config()).unwrap_or_default()
}

/// Decodes a value that must span the whole slice.
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.len() > MAX_FRAME {
        return Err(Error::FrameTooLarge(bytes.len()));
    }
    let (value, used) =
        bincode::decode_from_slice(bytes, config()).map_err(|e| Error::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(Error::Malformed(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// Encodes a message as one frame: length prefix and body. A batch goes as [`Msg::Packed`] when
/// deflating makes it smaller.
pub fn encode_frame(msg: &Msg) -> Vec<u8> {
    let mut body = encode(msg);
    if matches!(msg, Msg::Batch(_) | Msg::Runs(_)) {
        if let Some(packed) = deflate(&body) {
            let packed = encode(&Msg::Packed(packed));
            if packed.len() < body.len() {
                body = packed;
            }
        }
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn deflate(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).ok()?;
    z.finish().ok()
}

/// Decodes one frame body: a [`Msg::Packed`] is inflated (at most [`MAX_FRAME`] bytes) and must hold a
/// batch; any other message is returned as it is.
pub fn decode_msg(body: &[u8]) -> Result<Msg, Error> {
    match decode::<Msg>(body)? {
        Msg::Packed(z) => {
            let mut inner = Vec::new();
            flate2::read::DeflateDecoder::new(z.as_slice())
                .take(MAX_FRAME as u64 + 1)
                .read_to_end(&mut inner)
                .map_err(|e| Error::Malformed(format!("packed batch: {e}")))?;
            if inner.len() > MAX_FRAME {
                return Err(Error::FrameTooLarge(inner.len()));
            }
            match decode::<Msg>(&inner)? {
                m @ (Msg::Batch(_) | Msg::Runs(_)) => Ok(m),
                _ => Err(Error::Malformed(
                    "a packed frame holds something other than a batch".into(),
                )),
            }
        }
        m => Ok(m),
    }
}

/// A decoder's buffer above this capacity is shrunk once its frame is taken out.
const SHRINK_ABOVE: usize = 256 << 10;

/// Incremental frame decoder: feed it bytes as they arrive, take whole messages out.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. Once a frame's length is known the buffer grows to exactly that frame
    /// (not by doubling), so a partial frame of `len` bytes holds about `len` bytes of memory.
    pub fn push(&mut self, bytes: &[u8]) {
        if let Some(len) = self.header().filter(|l| *l <= MAX_FRAME) {
            let whole = len + 4;
            if self.buf.len() < whole && self.buf.len() + bytes.len() > self.buf.capacity() {
                let want = whole.max(self.buf.len() + bytes.len());
                self.buf.reserve_exact(want - self.buf.len());
            }
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Length of the frame being received, once its 4-byte prefix is in (`None` before).
    pub fn frame_len(&self) -> Option<usize> {
        self.header()
    }

    /// Bytes of the next frame still missing (0 when a whole frame or nothing is buffered).
    pub fn wanted(&self) -> usize {
        match self.header() {
            Some(len) if len <= MAX_FRAME => (len + 4).saturating_sub(self.buf.len()),
            Some(_) => 0,
            None => 4 - self.buf.len(),
        }
    }

    fn header(&self) -> Option<usize> {
        let head: [u8; 4] = self.buf.get(..4)?.try_into().ok()?;
        Some(u32::from_le_bytes(head) as usize)
    }

    /// The next whole message, `Ok(None)` when more bytes are needed, `Err` on a bad frame.
    pub fn next_msg(&mut self) -> Result<Option<Msg>, Error> {
        let Some(len) = self.header() else {
            return Ok(None);
        };
        if len > MAX_FRAME {
            return Err(Error::FrameTooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let msg = decode_msg(&self.buf[4..4 + len]);
        self.buf.drain(..4 + len);
        // A large frame's room is given back once it is decoded, not kept for the connection's life.
        if self.buf.capacity() > SHRINK_ABOVE {
            self.buf.shrink_to(self.buf.len().max(SHRINK_ABOVE / 2));
        }
        msg.map(Some)
    }

    /// True when no partial frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A message of the sync or enrollment exchange.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Msg {
    /// Client → hub, first message of a sync: a digest of the client's summary.
    Hello(Hello),
    /// Hub → client: the digests match, nothing to exchange either way.
    UpToDate,
    /// Either way: the sender's full summary.
    Summary(SummaryWire),
    /// Protocol 1 only (refused since protocol 2): entries the receiver lacks, each signed alone.
    Batch(Batch),
    /// Either way: the batch with this id is durable at the sender.
    Ack(u32),
    /// Either way: the sender will send no more batches.
    Done,
    /// Hub → client: the hub refuses; the connection closes after this.
    Refused(Refusal),
    /// Client → hub, first message of an enrollment.
    Enroll(EnrollRequest),
    /// Hub → client: enrollment accepted.
    Enrolled(EnrollReply),
    /// Either way: a [`Msg::Runs`] (or [`Msg::Batch`]), bincode-encoded then deflated (see
    /// [`encode_frame`]).
    Packed(Vec<u8>),
    /// Either way (protocol 2): entries the receiver lacks, as sealed runs of authors' logs.
    Runs(RunBatch),
    /// Standby → primary, first message of a standby's first contact (`init --standby-of`).
    StandbyEnroll(crate::standby::StandbyEnroll),
    /// Primary → standby: the standby is recorded.
    StandbyWelcome(crate::standby::StandbyWelcome),
    /// Standby → primary, first message: send the registry of enrolled offices.
    RegistryRequest,
    /// Primary → standby: the registry.
    Registry(crate::standby::Registry),
    /// Primary → its standby, first message: has the standby been promoted? (asked before serving)
    RoleQuery,
    /// Standby → the primary it follows(ed): the answer.
    Role(crate::standby::RoleAnswer),
    /// Office → hub, just before `Hello`: what the office knows of the standby.
    StandbyCheck(crate::standby::StandbyCheck),
    /// Hub → office, before its answer to `Hello`, when the office's check differs: the standby.
    StandbyPeer(crate::standby::StandbyPeer),
    /// Office → an old primary, instead of `StandbyCheck`: its standby's word that it was promoted.
    Superseded(crate::standby::Superseded),
    /// Relay → hub, first message: the sync that follows is on behalf of this office (the relay
    /// carries its sealed runs and takes back what the hub sends it). Not sent on a direct sync.
    RelayFor(AuthorId),
    /// Hub → relay at the end of a relayed sync, and relay → office before its session: the hub's
    /// signed receipts for the office's log (see [`crate::receipt`]).
    Receipts(Vec<Receipt>),
    /// Primary → follower, right after `Registry`: the settings its indicators use.
    Settings(crate::standby::HubSettings),
    /// Relay → hub, first message: which offices may this relay carry? (asked at each of the
    /// relay's syncs, on a connection of its own).
    RelayOfficesQuery,
    /// Hub → relay: the offices it may carry (below its jurisdiction, or allowed by the operator,
    /// and not denied); the relay refuses and stores nothing of any other.
    RelayOffices(Vec<AuthorId>),
    /// Hub → office right after `Enrolled`: the enrolling hub's signed certificate of the
    /// enrollment. Office → a hub that refused it `NotEnrolled` (a standby that never followed its
    /// enrollment), first message of a new connection, before the sync's own opening.
    EnrollCert(crate::enroll_cert::EnrollCert),
    /// Primary → standby, right after `Settings`: the operator's words on which offices each relay
    /// may carry (`baobi-hub relay allow` / `deny`), so a promoted standby keeps them.
    RelayWords(crate::standby::RelayWords),
}

/// Opening message of a sync session.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Hello {
    /// Protocol revision the client speaks.
    pub version: u16,
    /// Truncated hash of the client's summary (see `Summary::digest`).
    pub digest: [u8; 16],
}

/// A summary on the wire: author → highest contiguous sequence number, sorted by author.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct SummaryWire(pub Vec<(AuthorId, u64)>);

/// A numbered run of entries.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Batch {
    /// Sender-assigned id, consecutive from 0 within a session.
    pub id: u32,
    /// The entries, in (author, seq) order.
    pub entries: Vec<Entry>,
}

/// A numbered batch of runs (protocol 2): at most [`MAX_BATCH_ENTRIES`] entries in all.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RunBatch {
    /// Sender-assigned id, consecutive from 0 within a session.
    pub id: u32,
    /// The runs, each of one author.
    pub runs: Vec<Run>,
}

/// Entries `from..=from + items.len() - 1` of one author's log, sealed by one signature over the
/// head of the author's hash chain (see [`crate::chain`]).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Run {
    /// Whose log.
    pub author: AuthorId,
    /// Seq of the first item.
    pub from: u64,
    /// The chain link of entry `from - 1` (the author's genesis link when `from` is 1).
    pub prev: [u8; 32],
    /// The entries' content, in seq order.
    pub items: Vec<Item>,
    /// The author's signature over the chain head at the last item.
    pub head: Sig,
}

/// One entry of a [`Run`]: what a signed [`Entry`] holds besides its author, seq and signature.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Item {
    /// Hybrid logical clock at writing.
    pub hlc: Hlc,
    /// What the entry does.
    pub op: Op,
}

/// Why the hub refuses.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Refusal {
    /// Machine-readable reason.
    pub code: RefusalCode,
    /// Human-readable detail.
    pub message: String,
}

/// Machine-readable refusal reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum RefusalCode {
    /// The client's certificate is not that of an enrolled agent.
    NotEnrolled,
    /// The agent was revoked.
    Revoked,
    /// The enrollment token is unknown, used or expired.
    BadToken,
    /// An entry's signature does not verify.
    BadSignature,
    /// An entry is authored by someone other than the connected agent.
    WrongAuthor,
    /// An entry concerns a unit outside the author's jurisdiction.
    OutsideJurisdiction,
    /// An entry is invalid (values, sequence, references).
    InvalidEntry,
    /// The peer broke the protocol.
    Protocol,
    /// The hub is overloaded; retry later.
    Busy,
    /// This hub's standby was promoted: it no longer serves offices.
    Superseded,
}

/// An office's request to enroll, proving it holds the key it names.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct EnrollRequest {
    /// The one-time secret from the token.
    pub secret: [u8; 16],
    /// The office's author key (also its TLS key).
    pub author: AuthorId,
    /// Free text the office calls itself (host name, office name).
    pub label: String,
    /// Signature by `author` over `enroll_proof_bytes(secret, cert fingerprint)`.
    pub proof: Sig,
}

/// The one-time secret never appears in debug output (logs, panics).
impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("secret", &"<redacted>")
            .field("author", &self.author)
            .field("label", &self.label)
            .field("proof", &self.proof)
            .finish()
    }
}

/// What an enrolled office learns from the hub.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct EnrollReply {
    /// The hub's own author key: units and decisions it signs are trusted.
    pub hub_author: AuthorId,
    /// Province code the hub serves.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// The unit whose jurisdiction the office has.
    pub unit: String,
    /// That unit's name.
    pub unit_name: String,
}

/// Bytes an enrolling agent signs: binds its author key to its TLS certificate and the token.
pub fn enroll_proof_bytes(secret: &[u8; 16], cert_fingerprint: &[u8; 32]) -> Vec<u8> {
    let mut v = b"baobi/1 enroll".to_vec();
    v.extend_from_slice(secret);
    v.extend_from_slice(cert_fingerprint);
    v
}

/// A signed, immutable entry of one author's append-only log.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Entry {
    /// Who wrote it.
    pub author: AuthorId,
    /// Position in the author's log, contiguous from 1.
    pub seq: u64,
    /// Hybrid logical clock at writing; orders what people see, never needed for convergence.
    pub hlc: Hlc,
    /// What the entry does.
    pub op: Op,
    /// The author's signature over `(author, seq, hlc, op)`, or [`Sig::CHAINED`] when the entry
    /// arrived in a [`Run`]: the run's head signature vouched for it (stores keep heads apart).
    pub sig: Sig,
}

/// An entry's identity: (author, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Dot {
    /// The author.
    pub author: AuthorId,
    /// The sequence number.
    pub seq: u64,
}

impl std::fmt::Display for Dot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.author.short(), self.seq)
    }
}

/// Hybrid logical clock: milliseconds since the epoch shifted left 16 bits, plus a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode)]
pub struct Hlc(pub u64);

/// Most a clock value may run ahead of the local wall clock when ticking: one day, in milliseconds.
pub const MAX_CLOCK_DRIFT_MS: u64 = 24 * 3600 * 1000;
/// Largest wall-clock milliseconds an [`Hlc`] can hold (48 bits).
const MAX_HLC_MS: u64 = (1 << 48) - 1;

impl Hlc {
    /// The next clock value after `prev`, given the wall clock in milliseconds. Saturates instead
    /// of overflowing, whatever `prev` a peer sent.
    pub fn tick(prev: Hlc, now_ms: u64) -> Hlc {
        Hlc((now_ms.min(MAX_HLC_MS) << 16).max(prev.0.saturating_add(1)))
    }

    /// Like [`Hlc::tick`], but `prev` (the highest clock seen, possibly from a peer whose clock is
    /// years ahead) counts only up to [`MAX_CLOCK_DRIFT_MS`] past `now_ms`: one wrong clock cannot
    /// drag every replica's clock into the future.
    pub fn tick_bounded(prev: Hlc, now_ms: u64) -> Hlc {
        let ceiling = now_ms.saturating_add(MAX_CLOCK_DRIFT_MS).min(MAX_HLC_MS) << 16;
        Hlc::tick(Hlc(prev.0.min(ceiling)), now_ms)
    }

    /// Milliseconds since the epoch this clock value stands for.
    pub fn millis(self) -> u64 {
        self.0 >> 16
    }
}

/// A calendar date, stored as yyyymmdd so that integer order is date order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Date(pub u32);

/// The operation an entry carries. Variants are only ever appended.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// An administrative unit registered or updated (hub only).
    Unit(UnitDef),
    /// A new record: its id is the entry's dot.
    Record(Body),
    /// A new version of a record, superseding the versions it names.
    Correct(Correction),
    /// The record withdrawn, superseding the versions it names.
    Retract(Retraction),
    /// The province's plan and targets (hub only); the latest by (clock, dot) is in force.
    Plan(PlanDef),
    /// A hub operator's review decision on one version of a record (hub only).
    Review(ReviewDecision),
    /// An office's jurisdiction (hub only): written at enrollment and by `agents move`; the latest
    /// by (clock, dot) naming an office is the one in force for it.
    Office(OfficeUnits),
    /// Hub → office only, never signed by anyone: an entry of a log that the receiving office is
    /// not sent (outside what it receives, see the README), standing in the run by its digest
    /// ([`crate::chain::entry_digest`]) so the run's seal still verifies every entry sent and the
    /// office's summary stays contiguous. It does nothing.
    Elided([u8; 32]),
    /// A new record, like [`Op::Record`], with the device's wall clock when it was made: timeliness
    /// is judged on it, since the entry's hybrid clock may have followed a peer's up to a day ahead.
    Created(Created),
}

/// A record created, and when by the device's own clock.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Created {
    /// The record's content.
    pub body: Body,
    /// The device's wall clock at creation, milliseconds since the epoch.
    pub wall_ms: u64,
}

/// One version of a unit: its code and the first day of that version (none: in force since before any
/// record). A code alone does not name a place: the 2025 reform reused codes.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
pub struct UnitRef {
    /// Unit code.
    pub code: String,
    /// First day of the version (its `valid_from`).
    pub from: Option<Date>,
}

/// What an office may record about: the unit versions it holds, and the earlier units inside them
/// through the lineage (computed by the hub, so agents need no lineage table).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct OfficeUnits {
    /// The office (its author key).
    pub office: AuthorId,
    /// The unit versions it holds: the one it enrolled for, then any successors given by
    /// `agents move`.
    pub units: Vec<UnitRef>,
    /// Communes of earlier dates that became (wholly or partly) units below `units`: predecessors
    /// through the lineage, on any earlier date.
    pub past: Vec<UnitRef>,
}

/// The content of a record version.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Body {
    /// A facility registered (or, as a correction, updated).
    Outlet(OutletDef),
    /// A market packaging survey.
    MarketSurvey(MarketSurvey),
    /// A modern-retail packaging survey.
    RetailSurvey(RetailSurvey),
    /// An awareness campaign event.
    Campaign(CampaignEvent),
}

/// A correction of a record.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Correction {
    /// The record corrected (the dot of the entry that created it).
    pub record: Dot,
    /// Hashes of the versions this one supersedes.
    pub supersedes: Vec<[u8; 32]>,
    /// The new content; must be of the record's kind.
    pub body: Body,
}

/// A retraction of a record.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Retraction {
    /// The record retracted.
    pub record: Dot,
    /// Hashes of the versions this retraction supersedes.
    pub supersedes: Vec<[u8; 32]>,
    /// Why, in the office's words.
    pub reason: String,
}

/// Level of an administrative unit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Tỉnh / thành phố trực thuộc trung ương.
    Province,
    /// Huyện, quận, thị xã, thành phố thuộc tỉnh (abolished 1 July 2025).
    District,
    /// Xã, phường, thị trấn, đặc khu.
    Commune,
}

/// An administrative unit, valid over a period.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct UnitDef {
    /// Official code (2 digits province, 3 district, 5 commune).
    pub code: String,
    /// Official name, NFC.
    pub name: String,
    /// Level.
    pub level: Level,
    /// Official kind (Tỉnh, Huyện, Xã, Phường, …).
    pub kind: String,
    /// Parent unit's code, none for a province.
    pub parent: Option<String>,
    /// First day in force, none when open.
    pub valid_from: Option<Date>,
    /// Last day in force, none when open.
    pub valid_to: Option<Date>,
}

/// Kind of facility.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OutletKind {
    /// Chợ.
    Market,
    /// Siêu thị.
    Supermarket,
    /// Trung tâm thương mại.
    TradeCentre,
    /// Cửa hàng tiện lợi.
    Convenience,
}

/// A market certification, dated and revocable.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Certification {
    /// Which standard.
    pub kind: CertKind,
    /// Granted on.
    pub from: Date,
    /// Lapsed or revoked after, none while in force.
    pub to: Option<Date>,
}

/// Market certifications that targets refer to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CertKind {
    /// Chợ đạt chuẩn văn minh.
    Civilized,
    /// Chợ nông thôn mới.
    NewRural,
}

/// A registered facility.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct OutletDef {
    /// Market, supermarket, trade centre or convenience store.
    pub kind: OutletKind,
    /// Name, NFC.
    pub name: String,
    /// Commune code where it stands.
    pub unit: String,
    /// Street address, free text.
    pub address: String,
    /// Market class 1-3 (Decree 60/2024); none for retail.
    pub market_class: Option<u8>,
    /// Market certifications.
    pub certifications: Vec<Certification>,
    /// First day open, none when unknown (open since before any reporting year).
    #[serde(default)]
    pub opened: Option<Date>,
    /// Last day open, none while open.
    #[serde(default)]
    pub closed: Option<Date>,
}

/// Survey round.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Round {
    /// The baseline survey a market's reduction is measured against.
    Baseline,
    /// The yearly survey.
    Annual,
    /// An extra follow-up.
    FollowUp,
}

/// A market packaging survey. Bag weights are in grams per operating day (exact sums).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MarketSurvey {
    /// The market (its outlet record).
    pub outlet: Dot,
    /// Commune in force on the survey date.
    pub unit: String,
    /// Survey date.
    pub date: Date,
    /// Reporting year.
    pub year: u16,
    /// Round.
    pub round: Round,
    /// Vendors at the market.
    pub vendors_total: u32,
    /// Vendors surveyed.
    pub vendors_surveyed: u32,
    /// Non-biodegradable bags, grams per operating day.
    pub nonbio_g_per_day: u32,
    /// Eco bags, grams per operating day.
    pub eco_g_per_day: Option<u32>,
    /// Vendors using non-biodegradable bags.
    pub vendors_nonbio: u32,
    /// Vendors using alternatives.
    pub vendors_alternatives: Option<u32>,
    /// Operating days per month.
    pub operating_days: Option<u8>,
    /// A plastic-reduction model runs at the market.
    pub reduction_model: bool,
    /// Notes.
    pub notes: String,
}

/// A modern-retail packaging survey.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RetailSurvey {
    /// The outlet.
    pub outlet: Dot,
    /// Its kind (copied from the outlet so totals need no join).
    pub kind: OutletKind,
    /// Commune in force on the survey date.
    pub unit: String,
    /// Survey date.
    pub date: Date,
    /// Reporting year.
    pub year: u16,
    /// Gives non-biodegradable bags to customers.
    pub gives_nonbio: bool,
    /// Bag types offered, free text.
    pub bag_types: String,
    /// Non-biodegradable bags per day.
    pub nonbio_bags_per_day: Option<u32>,
    /// Eco bags per day.
    pub eco_bags_per_day: Option<u32>,
    /// Sells reusable bags.
    pub sells_reusable: Option<bool>,
    /// Sells eco-labelled products.
    pub eco_labelled: Option<bool>,
    /// Notes.
    pub notes: String,
}

/// Kind of awareness activity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CampaignKind {
    /// Meeting, conference or training.
    Training,
    /// Radio, loudspeaker, press or social media.
    Media,
    /// Community event at a market or school.
    Event,
    /// Leaflets, posters, banners.
    Materials,
    /// Anything else.
    Other,
}

/// An awareness campaign event.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CampaignEvent {
    /// Unit credited.
    pub unit: String,
    /// Date held.
    pub date: Date,
    /// Kind.
    pub kind: CampaignKind,
    /// Participants, when counted.
    pub participants: Option<u32>,
    /// Topic.
    pub topic: String,
}

/// The indicators a plan can set targets for, in the report's fixed order. Variants are only appended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorId {
    /// Eco-packaging rate, supermarkets and trade centres.
    I1,
    /// Eco-packaging rate, supermarkets, trade centres and convenience stores.
    I1Cs,
    /// Pooled bag reduction at civilized-standard markets.
    I2,
    /// Share of civilized-standard markets individually at or above the I2 target.
    I2Share,
    /// Pooled bag reduction at new-rural-standard markets.
    I3,
    /// Share of new-rural-standard markets individually at or above the I3 target.
    I3Share,
    /// Campaign coverage: units with at least one awareness event.
    I4,
    /// Survey coverage: facilities surveyed in the year / active facilities.
    Coverage,
    /// Reporting completeness: units that reported / units.
    Completeness,
    /// Reporting timeliness: units that reported by the deadline / units.
    Timeliness,
}

impl IndicatorId {
    /// Every indicator, in report order.
    pub const ALL: [IndicatorId; 10] = [
        IndicatorId::I1,
        IndicatorId::I1Cs,
        IndicatorId::I2,
        IndicatorId::I2Share,
        IndicatorId::I3,
        IndicatorId::I3Share,
        IndicatorId::I4,
        IndicatorId::Coverage,
        IndicatorId::Completeness,
        IndicatorId::Timeliness,
    ];

    /// The id as written in plan files and JSON (`i1`, `i1_cs`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorId::I1 => "i1",
            IndicatorId::I1Cs => "i1_cs",
            IndicatorId::I2 => "i2",
            IndicatorId::I2Share => "i2_share",
            IndicatorId::I3 => "i3",
            IndicatorId::I3Share => "i3_share",
            IndicatorId::I4 => "i4",
            IndicatorId::Coverage => "coverage",
            IndicatorId::Completeness => "completeness",
            IndicatorId::Timeliness => "timeliness",
        }
    }

    /// The id named by `s`, if any.
    pub fn parse(s: &str) -> Option<IndicatorId> {
        IndicatorId::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// What the indicator covers, in plan-file words: the lists a plan's `covers` may give (any
    /// order); the first is the one shown (`plan show`, a target's `covers` in JSON).
    pub fn covers(self) -> &'static [&'static [&'static str]] {
        match self {
            IndicatorId::I1 => &[&["supermarket", "trade-centre"]],
            IndicatorId::I1Cs => &[&["supermarket", "trade-centre", "convenience"]],
            IndicatorId::I2 | IndicatorId::I2Share => &[&["civilized"]],
            IndicatorId::I3 | IndicatorId::I3Share => &[&["new-rural"]],
            IndicatorId::I4 | IndicatorId::Completeness | IndicatorId::Timeliness => {
                &[&["districts"], &["communes"], &["units"]]
            }
            IndicatorId::Coverage => &[&["facilities"]],
        }
    }
}

/// One target of a plan: from `year` on (until a later target of the same indicator), `indicator`
/// should reach `threshold_bp` basis points (1/10,000; 8500 = 85%). In JSON it also carries `covers`
/// ([`IndicatorId::covers`]), derived from the indicator and ignored when read back.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Deserialize)]
pub struct Target {
    /// Which indicator.
    pub indicator: IndicatorId,
    /// First reporting year the threshold applies to.
    pub year: u16,
    /// The threshold in basis points, 0..=10000.
    pub threshold_bp: u16,
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Target", 4)?;
        st.serialize_field("indicator", &self.indicator)?;
        st.serialize_field("covers", self.indicator.covers()[0])?;
        st.serialize_field("year", &self.year)?;
        st.serialize_field("threshold_bp", &self.threshold_bp)?;
        st.end()
    }
}

/// A province's plan as the hub distributes it: what offices are measured against.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PlanDef {
    /// Short id (`dong-thap-2021`).
    pub id: String,
    /// Official name (Vietnamese, NFC).
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Province code the plan is for.
    pub province: String,
    /// First and last reporting year the plan covers.
    pub period: (u16, u16),
    /// Yearly reporting deadline as (month, day), none when the plan sets none.
    pub deadline: Option<(u8, u8)>,
    /// The document the plan comes from.
    pub source: String,
    /// Targets, by indicator then year.
    pub targets: Vec<Target>,
    /// Remarks (what the source lacks, how a target was read).
    pub notes: Vec<String>,
}

/// A review decision.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The record was checked and is counted when indicators use verified records only.
    Verified,
    /// The record was sent back to its office for correction, with a reason.
    Returned,
}

/// A hub operator's decision on one version of a record.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ReviewDecision {
    /// The record reviewed.
    pub record: Dot,
    /// Hash of the version reviewed; the decision holds while that version is the record's value.
    #[serde(with = "hex32")]
    pub version: [u8; 32],
    /// Verified or returned.
    pub decision: Decision,
    /// Why it was returned (empty when verified).
    pub reason: String,
}

/// A 32-byte hash as hex in JSON.
mod hex32 {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    /// Writes the hash as lowercase hex.
    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&data_encoding::HEXLOWER.encode(h))
    }

    /// Reads a hash from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .map_err(D::Error::custom)?;
        v.try_into()
            .map_err(|_| D::Error::custom("hash: not 32 bytes"))
    }
}

/// Human forms in JSON: a dot as `abcd1234-7` (with the full author), a date as `YYYY-MM-DD`.
mod human {
    use super::{Date, Dot, Hlc};
    use crate::identity::AuthorId;
    use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for AuthorId {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.hex())
        }
    }
    impl<'de> Deserialize<'de> for AuthorId {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            AuthorId::from_hex(&String::deserialize(d)?).map_err(D::Error::custom)
        }
    }
    impl Serialize for Dot {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&format!("{}-{}", self.author.hex(), self.seq))
        }
    }
    impl<'de> Deserialize<'de> for Dot {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            let (a, n) = s
                .rsplit_once('-')
                .ok_or_else(|| D::Error::custom("dot: no '-'"))?;
            Ok(Dot {
                author: AuthorId::from_hex(a).map_err(D::Error::custom)?,
                seq: n.parse().map_err(D::Error::custom)?,
            })
        }
    }
    impl Serialize for Date {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.to_string())
        }
    }
    impl<'de> Deserialize<'de> for Date {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Date::parse(&String::deserialize(d)?).map_err(D::Error::custom)
        }
    }
    impl Serialize for Hlc {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u64(self.0)
        }
    }
    impl<'de> Deserialize<'de> for Hlc {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(Hlc(u64::deserialize(d)?))
        }
    }
}

#[cfg(test)]
mod decoder_memory {
    use super::*;

    /// A large frame arriving in chunks holds about its own size, and gives it back once taken out.
    #[test]
    fn a_large_frame_holds_its_size_and_is_given_back() {
        let len = (1 << 20) + 12_345;
        let mut frame = (len as u32).to_le_bytes().to_vec();
        frame.resize(4 + len, 0);
        let chunk = 64 << 10;
        let mut dec = FrameDecoder::new();
        for part in frame.chunks(chunk) {
            dec.push(part);
            assert!(
                dec.buf.capacity() <= 4 + len + chunk,
                "{} bytes held for a frame of {len}",
                dec.buf.capacity()
            );
        }
        assert_eq!(dec.frame_len(), Some(len));
        let _ = dec.next_msg(); // zeros do not decode; the frame is taken out all the same
        assert!(dec.is_empty());
        assert!(dec.buf.capacity() <= SHRINK_ABOVE, "{}", dec.buf.capacity());
    }
}

/// A hub's signed statement that it holds office `office`'s log up to `seq`, whose chain link there
/// is `head`, as of `at_ms` (see [`crate::receipt`]). It travels in drop files, and later through
/// relays: whoever carries it cannot forge one, and the office checks `head` against its own chain.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
    /// The hub's author key (`EnrollReply::hub_author`).
    pub hub: AuthorId,
    /// The office whose log it is.
    pub office: AuthorId,
    /// Highest seq of the office's log the hub holds.
    pub seq: u64,
    /// The chain link of the office's entry `seq` (its genesis link for 0).
    pub head: [u8; 32],
    /// When the hub signed it (Unix milliseconds).
    pub at_ms: u64,
    /// The hub's signature over [`crate::receipt::receipt_bytes`].
    pub sig: Sig,
}

/// Who wrote a drop file, for whom, and when (see [`crate::drop`]).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct DropHeader {
    /// The author key that signed the file: the office (office → hub) or the hub (hub → office).
    pub producer: AuthorId,
    /// The hub the file concerns (its author key).
    pub hub: AuthorId,
    /// The office the file concerns (its author key).
    pub office: AuthorId,
    /// When it was written (Unix milliseconds).
    pub created_ms: u64,
}

/// What a drop file carries, deflated inside it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct DropBody {
    /// Sealed runs of authors' logs, as a sync would send them.
    pub runs: Vec<Run>,
    /// Receipts (hub → office).
    pub receipts: Vec<Receipt>,
    /// The producer's summary when it wrote the file (for the office: everything it holds; for the
    /// hub: what it holds that the office may see).
    pub summary: SummaryWire,
}

//! Every command the agent executes on its store, as serde `Request`/`Response` enums and one
//! `execute` function, so that the CLI gets the same behaviour whether it opens the store itself or
//! talks to a running daemon over the control socket.
//!
//! Nothing is printed here: responses carry data and bilingual messages, `cli` renders them. Input is
//! checked (fields, units, jurisdiction) before anything is signed; a saved record is flushed to disk
//! before its id is returned.

use std::sync::Arc;

use baobi_proto::units::Units;
use baobi_proto::validate::{self, nfc, parse_kg};
use baobi_proto::view::{RecordState, ReviewStatus, Value};
use baobi_proto::wire::OfficeUnits;
use baobi_proto::wire::{
    Body, CampaignEvent, CampaignKind, CertKind, Certification, Correction, Date, Dot,
    MarketSurvey, Op, OutletDef, OutletKind, PlanDef, RetailSurvey, Retraction, Round, UnitDef,
};
use baobi_proto::AuthorId;
use serde::{Deserialize, Serialize};

use crate::store::{self, HubInfo, Store};
use crate::sync::{self, Progress, SyncReport};

/// Exit code for errors in general.
pub const EXIT_ERROR: i32 = 1;
/// Exit code for invalid input.
pub const EXIT_INVALID: i32 = 2;
/// Exit code when the hub is unreachable.
pub const EXIT_UNREACHABLE: i32 = 3;

/// What can go wrong executing a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input; the message starts with the field.
    #[error("Dữ liệu không hợp lệ / Invalid input: {0}")]
    Invalid(String),
    /// The store was never enrolled.
    #[error("Chưa đăng ký với máy chủ tỉnh / Not enrolled with the hub: run `baobi-agent init --token TOKEN` first")]
    NotEnrolled,
    /// Sync failed.
    #[error("{}", sync_message(.0))]
    Sync(#[from] sync::Error),
    /// The store failed.
    #[error("Lỗi kho dữ liệu / Store error: {0}")]
    Store(#[from] store::Error),
}

fn sync_message(e: &sync::Error) -> String {
    match e {
        sync::Error::Unreachable {
            addr,
            detail,
            pending,
        } => format!(
            "Không kết nối được máy chủ tỉnh / Hub unreachable at {addr}: {detail}; nothing is lost, {pending} entries wait to be sent"
        ),
        e @ sync::Error::HubMismatch { .. } => format!(
            "{e}. Không gửi gì / Nothing was sent: kiểm tra địa chỉ máy chủ hoặc hỏi quản trị máy chủ tỉnh / check the hub address or ask the hub operator"
        ),
        sync::Error::Refused(r) => format!(
            "Máy chủ tỉnh từ chối / The hub refused ({:?}): {}",
            r.code, r.message
        ),
        sync::Error::NotEnrolled => Error::NotEnrolled.to_string(),
        sync::Error::AlreadyEnrolled(addr) => format!(
            "Văn phòng đã đăng ký / This office is already enrolled with the hub at {addr}"
        ),
        other => format!("Trao đổi với máy chủ tỉnh thất bại / Exchange with the hub failed: {other}"),
    }
}

impl Error {
    /// The process exit code this error means.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) => EXIT_INVALID,
            Error::Sync(sync::Error::Unreachable { .. }) => EXIT_UNREACHABLE,
            _ => EXIT_ERROR,
        }
    }
}

impl From<baobi_proto::Error> for Error {
    fn from(e: baobi_proto::Error) -> Self {
        Error::Invalid(e.to_string())
    }
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{field}: {msg}"))
}

/// Result with the ops error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Kind of facility, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KindArg {
    /// Chợ / market.
    Market,
    /// Siêu thị / supermarket.
    Supermarket,
    /// Trung tâm thương mại / trade centre.
    TradeCentre,
    /// Cửa hàng tiện lợi / convenience store.
    Convenience,
}

impl From<KindArg> for OutletKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Market => OutletKind::Market,
            KindArg::Supermarket => OutletKind::Supermarket,
            KindArg::TradeCentre => OutletKind::TradeCentre,
            KindArg::Convenience => OutletKind::Convenience,
        }
    }
}

/// Survey round, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoundArg {
    /// Baseline survey.
    Baseline,
    /// Annual survey.
    Annual,
    /// Follow-up survey.
    FollowUp,
}

impl From<RoundArg> for Round {
    fn from(r: RoundArg) -> Self {
        match r {
            RoundArg::Baseline => Round::Baseline,
            RoundArg::Annual => Round::Annual,
            RoundArg::FollowUp => Round::FollowUp,
        }
    }
}

/// Campaign kind, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CampaignKindArg {
    /// Meeting, conference or training.
    Training,
    /// Radio, loudspeaker, press or social media.
    Media,
    /// Community event.
    Event,
    /// Leaflets, posters, banners.
    Materials,
    /// Anything else.
    Other,
}

impl From<CampaignKindArg> for CampaignKind {
    fn from(k: CampaignKindArg) -> Self {
        match k {
            CampaignKindArg::Training => CampaignKind::Training,
            CampaignKindArg::Media => CampaignKind::Media,
            CampaignKindArg::Event => CampaignKind::Event,
            CampaignKindArg::Materials => CampaignKind::Materials,
            CampaignKindArg::Other => CampaignKind::Other,
        }
    }
}

/// Yes or no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum YesNo {
    /// Có / yes.
    Yes,
    /// Không / no.
    No,
}

impl From<YesNo> for bool {
    fn from(v: YesNo) -> bool {
        v == YesNo::Yes
    }
}

/// `outlet add` arguments.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct OutletAddArgs {
    /// Kind of facility.
    #[arg(value_enum)]
    pub kind: KindArg,
    /// Name of the facility.
    #[arg(long)]
    pub name: String,
    /// Commune where it stands: code or name.
    #[arg(long)]
    pub commune: String,
    /// Street address.
    #[arg(long)]
    pub address: Option<String>,
    /// Market class 1, 2 or 3 (markets only).
    #[arg(long, allow_hyphen_values = true)]
    pub class: Option<u8>,
    /// Date the market was certified "chợ đạt chuẩn văn minh" (YYYY-MM-DD).
    #[arg(long)]
    pub civilized_since: Option<String>,
    /// Date the market was certified "chợ nông thôn mới" (YYYY-MM-DD).
    #[arg(long)]
    pub new_rural_since: Option<String>,
    /// First day the facility was open (YYYY-MM-DD), when known.
    #[arg(long)]
    pub opened: Option<String>,
    /// Last day the facility was open (YYYY-MM-DD), when it has closed.
    #[arg(long)]
    pub closed: Option<String>,
}

/// `outlet correct` arguments: the facility and the fields to change.
#[derive(Debug, Clone, Default, clap::Args, Serialize, Deserialize)]
pub struct OutletCorrectArgs {
    /// The outlet's id.
    pub id: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New commune: code or name.
    #[arg(long)]
    pub commune: Option<String>,
    /// New street address.
    #[arg(long)]
    pub address: Option<String>,
    /// New market class 1, 2 or 3 (markets only).
    #[arg(long, allow_hyphen_values = true)]
    pub class: Option<u8>,
    /// Date the market was certified "chợ đạt chuẩn văn minh" (YYYY-MM-DD).
    #[arg(long)]
    pub civilized_since: Option<String>,
    /// Last day the "chợ đạt chuẩn văn minh" certification held (revoked or lapsed), YYYY-MM-DD.
    #[arg(long)]
    pub civilized_until: Option<String>,
    /// Date the market was certified "chợ nông thôn mới" (YYYY-MM-DD).
    #[arg(long)]
    pub new_rural_since: Option<String>,
    /// Last day the "chợ nông thôn mới" certification held (revoked or lapsed), YYYY-MM-DD.
    #[arg(long)]
    pub new_rural_until: Option<String>,
    /// First day the facility was open (YYYY-MM-DD).
    #[arg(long)]
    pub opened: Option<String>,
    /// Last day the facility was open (YYYY-MM-DD): it has closed.
    #[arg(long)]
    pub closed: Option<String>,
    /// The facility is open again (clears the closing date).
    #[arg(long, conflicts_with = "closed")]
    pub reopened: bool,
}

/// `survey market` arguments.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct MarketArgs {
    /// The market's outlet id (as `outlet list` shows it).
    #[arg(long)]
    pub outlet: String,
    /// Survey date (YYYY-MM-DD).
    #[arg(long)]
    pub date: String,
    /// Reporting year (default: the survey date's year).
    #[arg(long)]
    pub year: Option<u16>,
    /// Survey round (default: annual).
    #[arg(long, value_enum)]
    pub round: Option<RoundArg>,
    /// Vendors at the market.
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_total: u32,
    /// Vendors surveyed.
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_surveyed: u32,
    /// Non-biodegradable bags used per operating day, in kg (e.g. 12.5).
    #[arg(long, allow_hyphen_values = true)]
    pub nonbio_kg: String,
    /// Vendors using non-biodegradable bags.
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_nonbio: u32,
    /// Eco-friendly bags used per operating day, in kg.
    #[arg(long, allow_hyphen_values = true)]
    pub eco_kg: Option<String>,
    /// Vendors using alternatives to plastic bags.
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_alternatives: Option<u32>,
    /// Operating days per month.
    #[arg(long, allow_hyphen_values = true)]
    pub operating_days: Option<u8>,
    /// A plastic-reduction model runs at the market.
    #[arg(long)]
    #[serde(default)]
    pub reduction_model: bool,
    /// Notes.
    #[arg(long)]
    pub notes: Option<String>,
}

/// `survey retail` arguments.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct RetailArgs {
    /// The outlet's id (supermarket, trade centre or convenience store).
    #[arg(long)]
    pub outlet: String,
    /// Survey date (YYYY-MM-DD).
    #[arg(long)]
    pub date: String,
    /// Reporting year (default: the survey date's year).
    #[arg(long)]
    pub year: Option<u16>,
    /// Gives non-biodegradable bags to customers.
    #[arg(long, value_enum)]
    pub gives_nonbio: YesNo,
    /// Bag types offered.
    #[arg(long)]
    pub bag_types: Option<String>,
    /// Non-biodegradable bags given per day.
    #[arg(long, allow_hyphen_values = true)]
    pub nonbio_bags: Option<u32>,
    /// Eco-friendly bags given per day.
    #[arg(long, allow_hyphen_values = true)]
    pub eco_bags: Option<u32>,
    /// Sells reusable bags.
    #[arg(long, value_enum)]
    pub sells_reusable: Option<YesNo>,
    /// Sells eco-labelled products.
    #[arg(long, value_enum)]
    pub eco_labelled: Option<YesNo>,
    /// Notes.
    #[arg(long)]
    pub notes: Option<String>,
}

/// `survey correct` arguments: the record and the fields to change.
#[derive(Debug, Clone, Default, clap::Args, Serialize, Deserialize)]
pub struct CorrectArgs {
    /// The survey's id.
    pub id: String,
    /// New outlet id.
    #[arg(long)]
    pub outlet: Option<String>,
    /// New survey date (YYYY-MM-DD).
    #[arg(long)]
    pub date: Option<String>,
    /// New reporting year.
    #[arg(long)]
    pub year: Option<u16>,
    /// New round (market surveys).
    #[arg(long, value_enum)]
    pub round: Option<RoundArg>,
    /// New vendors total (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_total: Option<u32>,
    /// New vendors surveyed (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_surveyed: Option<u32>,
    /// New non-biodegradable kg per day (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub nonbio_kg: Option<String>,
    /// New vendors using non-biodegradable bags (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_nonbio: Option<u32>,
    /// New eco kg per day (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub eco_kg: Option<String>,
    /// New vendors using alternatives (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub vendors_alternatives: Option<u32>,
    /// New operating days per month (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub operating_days: Option<u8>,
    /// A plastic-reduction model runs at the market (market surveys).
    #[arg(long, conflicts_with = "no_reduction_model")]
    pub reduction_model: bool,
    /// No plastic-reduction model runs at the market (market surveys).
    #[arg(long)]
    pub no_reduction_model: bool,
    /// Gives non-biodegradable bags (retail surveys).
    #[arg(long, value_enum)]
    pub gives_nonbio: Option<YesNo>,
    /// Bag types offered (retail surveys).
    #[arg(long)]
    pub bag_types: Option<String>,
    /// Non-biodegradable bags per day (retail surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub nonbio_bags: Option<u32>,
    /// Eco bags per day (retail surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub eco_bags: Option<u32>,
    /// Sells reusable bags (retail surveys).
    #[arg(long, value_enum)]
    pub sells_reusable: Option<YesNo>,
    /// Sells eco-labelled products (retail surveys).
    #[arg(long, value_enum)]
    pub eco_labelled: Option<YesNo>,
    /// New notes.
    #[arg(long)]
    pub notes: Option<String>,
}

/// `campaign add` arguments.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct CampaignArgs {
    /// Date held (YYYY-MM-DD).
    #[arg(long)]
    pub date: String,
    /// Kind of activity.
    #[arg(long, value_enum)]
    pub kind: CampaignKindArg,
    /// Topic.
    #[arg(long)]
    pub topic: String,
    /// Unit credited: code or name (default: the office's unit).
    #[arg(long)]
    pub unit: Option<String>,
    /// Participants, when counted.
    #[arg(long, allow_hyphen_values = true)]
    pub participants: Option<u32>,
}

/// A command for the agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Register a facility.
    OutletAdd(OutletAddArgs),
    /// List facilities.
    OutletList,
    /// Correct a facility (appended: the daemon's JSON requests stay compatible).
    OutletCorrect(OutletCorrectArgs),
    /// Record a market survey.
    SurveyMarket(MarketArgs),
    /// Record a retail survey.
    SurveyRetail(RetailArgs),
    /// List surveys.
    SurveyList {
        /// Only those returned by the hub for correction.
        #[serde(default)]
        returned: bool,
    },
    /// Show one survey with its versions.
    SurveyShow {
        /// The survey id.
        id: String,
    },
    /// Correct a survey.
    SurveyCorrect(CorrectArgs),
    /// Retract a survey.
    SurveyRetract {
        /// The survey id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Record a campaign event.
    CampaignAdd(CampaignArgs),
    /// Sync with the hub now.
    Sync,
    /// The office's status.
    Status,
    /// The plan in force, as the hub sent it.
    Plan,
    /// Record many surveys at once, all or nothing (`survey import`).
    SurveyImport {
        /// The surveys with their file lines.
        rows: Vec<crate::import::NumberedRow>,
    },
}

/// An outlet as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutletRow {
    /// Record id.
    pub id: String,
    /// Kind.
    pub kind: OutletKind,
    /// Name.
    pub name: String,
    /// Commune code.
    pub unit: String,
    /// Commune name.
    pub unit_name: String,
    /// Address.
    pub address: String,
    /// Market class.
    pub class: Option<u8>,
    /// Market certifications.
    pub certifications: Vec<Certification>,
    /// First day open.
    pub opened: Option<Date>,
    /// Last day open.
    pub closed: Option<Date>,
    /// Withdrawn.
    pub retracted: bool,
}

/// A survey as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyRow {
    /// Record id.
    pub id: String,
    /// "market-survey" or "retail-survey".
    #[serde(rename = "type")]
    pub kind: String,
    /// Outlet id.
    pub outlet: String,
    /// Outlet name.
    pub outlet_name: String,
    /// Commune code.
    pub unit: String,
    /// The commune's name as in force on the survey's date.
    #[serde(default)]
    pub unit_name: String,
    /// Survey date.
    pub date: String,
    /// Reporting year.
    pub year: u16,
    /// Withdrawn.
    pub retracted: bool,
    /// Several heads.
    pub conflict: bool,
    /// Number of heads.
    pub heads: usize,
    /// Every own version is acknowledged by the hub.
    pub synced: bool,
    /// The winning body, none when retracted.
    pub value: Option<serde_json::Value>,
    /// Review state of the current value, as the hub decided.
    pub review: ReviewStatus,
    /// Why the hub returned it.
    pub review_reason: Option<String>,
    /// When the hub decided (RFC 3339).
    pub review_at: Option<String>,
}

/// One version of a record, for `survey show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    /// Version hash (hex).
    pub hash: String,
    /// Entry that wrote it.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
    /// Hashes it supersedes (hex).
    pub supersedes: Vec<String>,
    /// Content, none when it is a retraction.
    pub value: Option<serde_json::Value>,
    /// Retraction reason.
    pub retracted: Option<String>,
}

/// A survey in detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyDetail {
    /// The row as listed.
    pub survey: SurveyRow,
    /// Current heads, winner first.
    pub heads: Vec<VersionRow>,
    /// Every version, oldest first.
    pub history: Vec<VersionRow>,
}

/// The office's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// Author id (hex).
    pub author: String,
    /// Unit code.
    pub unit: String,
    /// Unit name (of the version it enrolled for).
    pub unit_name: String,
    /// The unit versions the office holds, with their validity, joined by "; ".
    #[serde(default)]
    pub jurisdiction: String,
    /// Hub address.
    pub hub_addr: String,
    /// Own entries not yet acknowledged.
    pub pending: u64,
    /// Last successful sync, RFC 3339.
    pub last_sync: Option<String>,
    /// Last sync error.
    pub last_error: Option<String>,
    /// The last sync met a hub whose certificate is not the one pinned at enrollment (another hub
    /// at the address, or the hub's key changed); cleared by a successful sync.
    #[serde(default)]
    pub hub_mismatch: bool,
    /// Entries held.
    pub entries: u64,
}

/// The answer to a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    /// A record was saved.
    Saved {
        /// Its id.
        id: String,
        /// Bilingual confirmation.
        message: String,
        /// Validation warnings.
        warnings: Vec<String>,
    },
    /// Outlets.
    Outlets {
        /// The rows.
        outlets: Vec<OutletRow>,
    },
    /// Surveys.
    Surveys {
        /// The rows.
        surveys: Vec<SurveyRow>,
    },
    /// One survey.
    Survey {
        /// The detail.
        detail: Box<SurveyDetail>,
    },
    /// A sync ran.
    Synced {
        /// What it did.
        report: SyncReport,
    },
    /// Status.
    Status {
        /// The status.
        status: StatusInfo,
    },
    /// The plan in force.
    Plan {
        /// The plan, none before the hub sent one.
        plan: Option<Box<PlanDef>>,
    },
    /// The command failed.
    Error {
        /// Exit code.
        code: i32,
        /// Bilingual message.
        message: String,
    },
    /// `survey import` ran: every row saved, or none when some failed its checks.
    Imported {
        /// Saved surveys in file order (empty when `errors` is not).
        saved: Vec<ImportedRow>,
        /// Rows that failed their checks (nothing was saved then).
        errors: Vec<crate::import::LineError>,
    },
}

/// A survey `survey import` saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedRow {
    /// File line.
    pub line: usize,
    /// Record id.
    pub id: String,
    /// Validation warnings.
    pub warnings: Vec<String>,
}

/// What `execute` needs besides the request.
#[derive(Clone)]
pub struct Ctx {
    /// The store.
    pub store: Store,
    /// Serialises syncs (the daemon's timer and requests).
    pub sync_lock: Arc<tokio::sync::Mutex<()>>,
    /// Told whenever a record is saved (the daemon syncs soon after).
    pub saved: Option<Arc<tokio::sync::Notify>>,
}

impl Ctx {
    /// A context over `store` with no daemon around it.
    pub fn new(store: Store) -> Self {
        Ctx {
            store,
            sync_lock: Arc::new(tokio::sync::Mutex::new(())),
            saved: None,
        }
    }
}

/// Executes one request; errors become `Response::Error`.
pub async fn execute(
    ctx: &Ctx,
    req: Request,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Response {
    match run(ctx, req, progress).await {
        Ok(r) => r,
        Err(e) => Response::Error {
            code: e.exit_code(),
            message: e.to_string(),
        },
    }
}

async fn run(
    ctx: &Ctx,
    req: Request,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Response> {
    let store = &ctx.store;
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let writes = !matches!(
        req,
        Request::OutletList
            | Request::SurveyList { .. }
            | Request::SurveyShow { .. }
            | Request::Sync
            | Request::Status
            | Request::Plan
    );
    if writes && store.restoring()? {
        return Err(store::Error::Restoring.into());
    }
    let saved = |id: Dot, what: &str, warnings: Vec<String>| {
        if let Some(n) = &ctx.saved {
            n.notify_one();
        }
        Response::Saved {
            id: id.to_string(),
            message: format!("{what}: {id}"),
            warnings,
        }
    };
    Ok(match req {
        Request::OutletAdd(a) => {
            let (op, w) = outlet_op(store, &hub, &a)?;
            let e = store.append(op, now_ms())?;
            saved(e.dot(), "Đã lưu cơ sở / Outlet saved", w)
        }
        Request::OutletCorrect(a) => {
            let (op, w) = outlet_correct_op(store, &hub, &a)?;
            let e = store.append(op, now_ms())?;
            saved(e.dot(), "Đã lưu bản sửa cơ sở / Outlet correction saved", w)
        }
        Request::SurveyMarket(a) => {
            let (op, w) = market_op(store, &units(store), &hub, &a)?;
            let e = store.append(op, now_ms())?;
            saved(e.dot(), "Đã lưu khảo sát chợ / Market survey saved", w)
        }
        Request::SurveyRetail(a) => {
            let (op, w) = retail_op(store, &units(store), &hub, &a)?;
            let e = store.append(op, now_ms())?;
            saved(e.dot(), "Đã lưu khảo sát bán lẻ / Retail survey saved", w)
        }
        Request::SurveyCorrect(a) => {
            let (op, w) = correct_op(store, &hub, &a)?;
            let e = store.append(op, now_ms())?;
            saved(e.dot(), "Đã lưu bản sửa / Correction saved", w)
        }
        Request::SurveyRetract { id, reason } => {
            let op = retract_op(store, &id, &reason)?;
            let e = store.append(op, now_ms())?;
            saved(e.dot(), "Đã rút khảo sát / Survey retracted", vec![])
        }
        Request::CampaignAdd(a) => {
            let (op, w) = campaign_op(store, &hub, &a)?;
            let e = store.append(op, now_ms())?;
            saved(e.dot(), "Đã lưu hoạt động tuyên truyền / Campaign saved", w)
        }
        Request::OutletList => Response::Outlets {
            outlets: outlets(store)?,
        },
        Request::SurveyList { returned } => Response::Surveys {
            surveys: surveys(store)?
                .into_iter()
                .filter(|s| !returned || s.review == ReviewStatus::Returned)
                .collect(),
        },
        Request::Plan => Response::Plan {
            plan: store
                .state()
                .view
                .plan
                .as_ref()
                .map(|p| Box::new(p.def.clone())),
        },
        Request::SurveyShow { id } => Response::Survey {
            detail: Box::new(show(store, &id)?),
        },
        Request::Sync => {
            let _guard = ctx.sync_lock.lock().await;
            Response::Synced {
                report: sync::sync(store, progress).await?,
            }
        }
        Request::Status => Response::Status {
            status: status(store, &hub)?,
        },
        Request::SurveyImport { rows } => {
            let r = import(store, &hub, &rows)?;
            if let (Some(n), Response::Imported { saved, .. }) = (&ctx.saved, &r) {
                if !saved.is_empty() {
                    n.notify_one();
                }
            }
            r
        }
    })
}

/// Environment variable that shifts the office's clock (the entries' clock only, not dates typed
/// by staff) by this many seconds, positive or negative: a test hook for offices whose PC clock is off.
pub const ENV_CLOCK_OFFSET: &str = "BAOBI_CLOCK_OFFSET_SECS";

/// Milliseconds since the epoch now (shifted by `BAOBI_CLOCK_OFFSET_SECS` when set).
pub fn now_ms() -> u64 {
    let offset_ms = std::env::var(ENV_CLOCK_OFFSET)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map_or(0, |s| i128::from(s) * 1000);
    let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 + offset_ms;
    ms.clamp(0, i128::from(u64::MAX)) as u64
}

/// Today's date in Vietnam (UTC+7).
pub fn today() -> Date {
    let now = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC));
    Date(now.year() as u32 * 10000 + u8::from(now.month()) as u32 * 100 + now.day() as u32)
}

fn rfc3339(unix_ms: i128) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(unix_ms * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn parse_date(field: &str, s: &str) -> Result<Date> {
    Date::parse(s).map_err(|e| invalid(field, e))
}

/// Parses a record id: `<8 hex>-<seq>` (author prefix) or `<64 hex>-<seq>`, among `authors`.
pub fn parse_id<'a>(s: &str, authors: impl IntoIterator<Item = &'a AuthorId>) -> Result<Dot> {
    let s = s.trim();
    let bad = || invalid("id", format!("'{s}' is not a record id (like 1a2b3c4d-7)"));
    let (a, n) = s.rsplit_once('-').ok_or_else(bad)?;
    let seq: u64 = n.parse().map_err(|_| bad())?;
    let a = a.to_ascii_lowercase();
    if a.is_empty() || !a.chars().all(|c| c.is_ascii_hexdigit()) || seq == 0 {
        return Err(bad());
    }
    if a.len() == 64 {
        return Ok(Dot {
            author: AuthorId::from_hex(&a).map_err(|_| bad())?,
            seq,
        });
    }
    let mut found: Vec<AuthorId> = authors
        .into_iter()
        .filter(|x| x.hex().starts_with(&a))
        .copied()
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(Dot { author: *one, seq }),
        [] => Err(invalid("id", format!("no record {s}"))),
        _ => Err(invalid(
            "id",
            format!("'{s}' is ambiguous; give the full author id"),
        )),
    }
}

fn find_record(store: &Store, field: &str, id: &str) -> Result<RecordState> {
    let st = store.state();
    let dot = parse_id(id, st.authors.iter()).map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(m.replacen("id:", &format!("{field}:"), 1)),
        o => o,
    })?;
    st.view
        .records
        .get(&dot)
        .cloned()
        .ok_or_else(|| invalid(field, format!("no record {dot}")))
}

fn units(store: &Store) -> Units {
    store.state().view.registry()
}

/// The office's jurisdiction: the hub's latest entry about it, else (before the first sync brought
/// one) the version of its unit in force today, else the latest, with the versions of the same code
/// before it (the lineage is the hub's; the hub checks again).
fn office(store: &Store, hub: &HubInfo) -> Result<OfficeUnits> {
    let me = store.author()?;
    if let Some((_, _, o)) = store.state().offices.get(&me) {
        return Ok(o.clone());
    }
    let units = units(store);
    let held = match units.pick_version(&hub.unit, today()) {
        Ok(v) => vec![baobi_proto::office::unit_ref(v)],
        Err(_) => vec![baobi_proto::wire::UnitRef {
            code: hub.unit.clone(),
            from: None,
        }],
    };
    Ok(OfficeUnits {
        office: me,
        past: baobi_proto::office::past_units(
            &units,
            &baobi_proto::units::Lineage::default(),
            &held,
        ),
        units: held,
    })
}

/// Resolves a commune of the office by code or name, preferring the version in force `today`.
fn resolve_latest(
    units: &Units,
    input: &str,
    office: &OfficeUnits,
    today: Date,
) -> Result<UnitDef> {
    Ok(units
        .resolve_office_commune("commune", input, office, today)?
        .clone())
}

fn outlet_op(store: &Store, hub: &HubInfo, a: &OutletAddArgs) -> Result<(Op, Vec<String>)> {
    let units = units(store);
    let commune = resolve_latest(&units, &a.commune, &office(store, hub)?, today())?;
    let mut certifications = vec![];
    for (kind, since, field) in [
        (CertKind::Civilized, &a.civilized_since, "civilized-since"),
        (CertKind::NewRural, &a.new_rural_since, "new-rural-since"),
    ] {
        if let Some(s) = since {
            let from = parse_date(field, s)?;
            if from > today() {
                return Err(invalid(field, format!("{from} is in the future")));
            }
            certifications.push(Certification {
                kind,
                from,
                to: None,
            });
        }
    }
    let body = Body::Outlet(OutletDef {
        kind: a.kind.into(),
        name: nfc(a.name.trim()),
        unit: commune.code.clone(),
        address: nfc(a.address.as_deref().unwrap_or("").trim()),
        market_class: a.class,
        certifications,
        opened: a
            .opened
            .as_deref()
            .map(|d| parse_date("opened", d))
            .transpose()?,
        closed: a
            .closed
            .as_deref()
            .map(|d| parse_date("closed", d))
            .transpose()?,
    });
    let w = validate::body(&body, Some(today()))?;
    Ok((Op::Record(body), w))
}

/// Sets, ends or adds a certification of `kind` from the `since`/`until` flags.
fn set_cert(
    certs: &mut Vec<Certification>,
    kind: CertKind,
    since: Option<&str>,
    until: Option<&str>,
    fields: (&str, &str),
) -> Result<()> {
    let since = since.map(|d| parse_date(fields.0, d)).transpose()?;
    let until = until.map(|d| parse_date(fields.1, d)).transpose()?;
    if let Some(from) = since {
        if from > today() {
            return Err(invalid(fields.0, format!("{from} is in the future")));
        }
        certs.retain(|c| c.kind != kind || c.from != from);
        certs.push(Certification {
            kind,
            from,
            to: until,
        });
    } else if let Some(to) = until {
        // Ends the latest certification of that kind.
        let Some(c) = certs
            .iter_mut()
            .filter(|c| c.kind == kind)
            .max_by_key(|c| c.from)
        else {
            return Err(invalid(
                fields.1,
                "the market holds no such certification to end",
            ));
        };
        c.to = Some(to);
    }
    certs.sort_by_key(|c| (c.kind, c.from));
    Ok(())
}

fn outlet_correct_op(
    store: &Store,
    hub: &HubInfo,
    a: &OutletCorrectArgs,
) -> Result<(Op, Vec<String>)> {
    let rec = find_record(store, "id", &a.id)?;
    let mut o = match rec.winner().map(|h| h.version.value) {
        Some(Value::Body(Body::Outlet(o))) => o,
        Some(Value::Retracted(_)) => {
            return Err(invalid("id", format!("{} was withdrawn", rec.id)))
        }
        _ => return Err(invalid("id", format!("{} is not an outlet", rec.id))),
    };
    if let Some(n) = &a.name {
        o.name = nfc(n.trim());
    }
    if let Some(c) = &a.commune {
        o.unit = resolve_latest(&units(store), c, &office(store, hub)?, today())?.code;
    }
    if let Some(ad) = &a.address {
        o.address = nfc(ad.trim());
    }
    if a.class.is_some() {
        o.market_class = a.class;
    }
    set_cert(
        &mut o.certifications,
        CertKind::Civilized,
        a.civilized_since.as_deref(),
        a.civilized_until.as_deref(),
        ("civilized-since", "civilized-until"),
    )?;
    set_cert(
        &mut o.certifications,
        CertKind::NewRural,
        a.new_rural_since.as_deref(),
        a.new_rural_until.as_deref(),
        ("new-rural-since", "new-rural-until"),
    )?;
    if let Some(d) = &a.opened {
        o.opened = Some(parse_date("opened", d)?);
    }
    if let Some(d) = &a.closed {
        o.closed = Some(parse_date("closed", d)?);
    }
    if a.reopened {
        o.closed = None;
    }
    let body = Body::Outlet(o);
    let w = validate::body(&body, Some(today()))?;
    Ok((Op::Correct(build_correction(&rec, body)), w))
}

/// The outlet `id` and its current definition.
fn find_outlet(store: &Store, id: &str) -> Result<(Dot, OutletDef)> {
    let rec = find_record(store, "outlet", id)?;
    match rec.winner().map(|h| h.version.value) {
        Some(Value::Body(Body::Outlet(o))) => Ok((rec.id, o)),
        Some(Value::Retracted(_)) => Err(invalid("outlet", format!("{} was withdrawn", rec.id))),
        _ => Err(invalid("outlet", format!("{} is not an outlet", rec.id))),
    }
}

/// Checks that the commune `unit` is in force on `date` and inside the office's jurisdiction.
fn check_survey_unit(units: &Units, office: &OfficeUnits, unit: &str, date: Date) -> Result<()> {
    if units.at(unit, date).is_none() && units.office_holds_any(office, unit) {
        return Err(invalid(
            "date",
            format!(
                "xã của cơ sở {} ({unit}) không có hiệu lực ngày {date} / the outlet's commune {} \
                 ({unit}) is not in force on {date}",
                units.name(unit),
                units.name(unit)
            ),
        ));
    }
    units.check_office_commune("outlet", unit, office, date)?;
    Ok(())
}

fn market_op(
    store: &Store,
    units: &Units,
    hub: &HubInfo,
    a: &MarketArgs,
) -> Result<(Op, Vec<String>)> {
    let (outlet, def) = find_outlet(store, &a.outlet)?;
    if def.kind != OutletKind::Market {
        return Err(invalid(
            "outlet",
            format!("{outlet} is not a market: use `survey retail`"),
        ));
    }
    let date = parse_date("date", &a.date)?;
    let body = Body::MarketSurvey(MarketSurvey {
        outlet,
        unit: def.unit.clone(),
        date,
        year: a.year.unwrap_or(date.year()),
        round: a.round.unwrap_or(RoundArg::Annual).into(),
        vendors_total: a.vendors_total,
        vendors_surveyed: a.vendors_surveyed,
        nonbio_g_per_day: parse_kg("nonbio-kg", &a.nonbio_kg)?,
        eco_g_per_day: a
            .eco_kg
            .as_deref()
            .map(|k| parse_kg("eco-kg", k))
            .transpose()?,
        vendors_nonbio: a.vendors_nonbio,
        vendors_alternatives: a.vendors_alternatives,
        operating_days: a.operating_days,
        reduction_model: a.reduction_model,
        notes: nfc(a.notes.as_deref().unwrap_or("").trim()),
    });
    let w = validate::body(&body, Some(today()))?;
    validate::survey_in_open_period(date, &def)?;
    check_survey_unit(units, &office(store, hub)?, &def.unit, date)?;
    Ok((Op::Record(body), w))
}

fn retail_op(
    store: &Store,
    units: &Units,
    hub: &HubInfo,
    a: &RetailArgs,
) -> Result<(Op, Vec<String>)> {
    let (outlet, def) = find_outlet(store, &a.outlet)?;
    if def.kind == OutletKind::Market {
        return Err(invalid(
            "outlet",
            format!("{outlet} is a market: use `survey market`"),
        ));
    }
    let date = parse_date("date", &a.date)?;
    let body = Body::RetailSurvey(RetailSurvey {
        outlet,
        kind: def.kind,
        unit: def.unit.clone(),
        date,
        year: a.year.unwrap_or(date.year()),
        gives_nonbio: a.gives_nonbio.into(),
        bag_types: nfc(a.bag_types.as_deref().unwrap_or("").trim()),
        nonbio_bags_per_day: a.nonbio_bags,
        eco_bags_per_day: a.eco_bags,
        sells_reusable: a.sells_reusable.map(Into::into),
        eco_labelled: a.eco_labelled.map(Into::into),
        notes: nfc(a.notes.as_deref().unwrap_or("").trim()),
    });
    let w = validate::body(&body, Some(today()))?;
    validate::survey_in_open_period(date, &def)?;
    check_survey_unit(units, &office(store, hub)?, &def.unit, date)?;
    Ok((Op::Record(body), w))
}

/// Checks every row, then (only when all pass) saves them all in one atomic batch with one flush:
/// O(rows) whatever the store holds, and all or nothing even when the process is killed midway.
fn import(store: &Store, hub: &HubInfo, rows: &[crate::import::NumberedRow]) -> Result<Response> {
    use crate::import::{ImportRow, LineError};
    let units = units(store);
    let mut checked = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for r in rows {
        let op = match &r.row {
            ImportRow::Market(a) => market_op(store, &units, hub, a),
            ImportRow::Retail(a) => retail_op(store, &units, hub, a),
        };
        match op {
            Ok((op, w)) => checked.push((r.line, op, w)),
            Err(e) => errors.push(LineError {
                line: r.line,
                message: e.to_string(),
            }),
        }
    }
    if !errors.is_empty() {
        return Ok(Response::Imported {
            saved: vec![],
            errors,
        });
    }
    let (meta, ops): (Vec<_>, Vec<_>) = checked
        .into_iter()
        .map(|(line, op, w)| ((line, w), op))
        .unzip();
    let entries = store.append_all(ops, now_ms())?;
    let saved = meta
        .into_iter()
        .zip(entries)
        .map(|((line, warnings), e)| ImportedRow {
            line,
            id: e.dot().to_string(),
            warnings,
        })
        .collect();
    Ok(Response::Imported { saved, errors })
}

/// A correction of `rec` to `body`, superseding every current head (so it also resolves conflicts).
pub fn build_correction(rec: &RecordState, body: Body) -> Correction {
    Correction {
        record: rec.id,
        supersedes: rec.heads().into_iter().map(|h| h.hash).collect(),
        body,
    }
}

fn not_for(field: &str, what: &str) -> Error {
    invalid(field, format!("does not apply to a {what}"))
}

/// Applies the flags of `a` to a survey body. Outlet changes are handled by the caller.
pub fn apply_flags(body: &Body, a: &CorrectArgs) -> Result<Body> {
    let date = a
        .date
        .as_deref()
        .map(|d| parse_date("date", d))
        .transpose()?;
    match body {
        Body::MarketSurvey(s) => {
            for (set, f) in [
                (a.gives_nonbio.is_some(), "gives-nonbio"),
                (a.bag_types.is_some(), "bag-types"),
                (a.nonbio_bags.is_some(), "nonbio-bags"),
                (a.eco_bags.is_some(), "eco-bags"),
                (a.sells_reusable.is_some(), "sells-reusable"),
                (a.eco_labelled.is_some(), "eco-labelled"),
            ] {
                if set {
                    return Err(not_for(f, "market survey"));
                }
            }
            let mut s = s.clone();
            if let Some(d) = date {
                s.date = d;
                if a.year.is_none() {
                    s.year = d.year();
                }
            }
            s.year = a.year.unwrap_or(s.year);
            s.round = a.round.map(Into::into).unwrap_or(s.round);
            s.vendors_total = a.vendors_total.unwrap_or(s.vendors_total);
            s.vendors_surveyed = a.vendors_surveyed.unwrap_or(s.vendors_surveyed);
            if let Some(k) = &a.nonbio_kg {
                s.nonbio_g_per_day = parse_kg("nonbio-kg", k)?;
            }
            s.vendors_nonbio = a.vendors_nonbio.unwrap_or(s.vendors_nonbio);
            if let Some(k) = &a.eco_kg {
                s.eco_g_per_day = Some(parse_kg("eco-kg", k)?);
            }
            if a.vendors_alternatives.is_some() {
                s.vendors_alternatives = a.vendors_alternatives;
            }
            if a.operating_days.is_some() {
                s.operating_days = a.operating_days;
            }
            if a.reduction_model {
                s.reduction_model = true;
            }
            if a.no_reduction_model {
                s.reduction_model = false;
            }
            if let Some(n) = &a.notes {
                s.notes = nfc(n.trim());
            }
            Ok(Body::MarketSurvey(s))
        }
        Body::RetailSurvey(s) => {
            for (set, f) in [
                (a.round.is_some(), "round"),
                (a.vendors_total.is_some(), "vendors-total"),
                (a.vendors_surveyed.is_some(), "vendors-surveyed"),
                (a.nonbio_kg.is_some(), "nonbio-kg"),
                (a.vendors_nonbio.is_some(), "vendors-nonbio"),
                (a.eco_kg.is_some(), "eco-kg"),
                (a.vendors_alternatives.is_some(), "vendors-alternatives"),
                (a.operating_days.is_some(), "operating-days"),
                (a.reduction_model, "reduction-model"),
                (a.no_reduction_model, "no-reduction-model"),
            ] {
                if set {
                    return Err(not_for(f, "retail survey"));
                }
            }
            let mut s = s.clone();
            if let Some(d) = date {
                s.date = d;
                if a.year.is_none() {
                    s.year = d.year();
                }
            }
            s.year = a.year.unwrap_or(s.year);
            if let Some(g) = a.gives_nonbio {
                s.gives_nonbio = g.into();
            }
            if let Some(b) = &a.bag_types {
                s.bag_types = nfc(b.trim());
            }
            if a.nonbio_bags.is_some() {
                s.nonbio_bags_per_day = a.nonbio_bags;
            } else if a.gives_nonbio == Some(YesNo::No) {
                // Correcting to "gives none" clears the count it had, as a new survey would have none.
                s.nonbio_bags_per_day = None;
            }
            if a.eco_bags.is_some() {
                s.eco_bags_per_day = a.eco_bags;
            }
            if let Some(v) = a.sells_reusable {
                s.sells_reusable = Some(v.into());
            }
            if let Some(v) = a.eco_labelled {
                s.eco_labelled = Some(v.into());
            }
            if let Some(n) = &a.notes {
                s.notes = nfc(n.trim());
            }
            Ok(Body::RetailSurvey(s))
        }
        _ => Err(invalid("id", "is not a survey")),
    }
}

fn correct_op(store: &Store, hub: &HubInfo, a: &CorrectArgs) -> Result<(Op, Vec<String>)> {
    let rec = find_record(store, "id", &a.id)?;
    let current = match rec.winner().map(|h| h.version.value) {
        Some(Value::Body(b @ (Body::MarketSurvey(_) | Body::RetailSurvey(_)))) => b,
        Some(Value::Retracted(_)) => {
            return Err(invalid("id", format!("{} was retracted", rec.id)))
        }
        _ => return Err(invalid("id", format!("{} is not a survey", rec.id))),
    };
    let mut body = apply_flags(&current, a)?;
    if let Some(o) = &a.outlet {
        let (outlet, def) = find_outlet(store, o)?;
        match &mut body {
            Body::MarketSurvey(s) => {
                if def.kind != OutletKind::Market {
                    return Err(invalid("outlet", format!("{outlet} is not a market")));
                }
                s.outlet = outlet;
                s.unit = def.unit;
            }
            Body::RetailSurvey(s) => {
                if def.kind == OutletKind::Market {
                    return Err(invalid("outlet", format!("{outlet} is a market")));
                }
                s.outlet = outlet;
                s.kind = def.kind;
                s.unit = def.unit;
            }
            _ => {}
        }
    }
    let w = validate::body(&body, Some(today()))?;
    let (unit, date, outlet) = match &body {
        Body::MarketSurvey(s) => (s.unit.clone(), s.date, s.outlet),
        Body::RetailSurvey(s) => (s.unit.clone(), s.date, s.outlet),
        _ => return Err(invalid("id", "is not a survey")),
    };
    // A new date or outlet must fit the outlet's open period; a correction of other fields of a
    // survey that an outlet correction left outside it stays possible (the report lists it in gaps).
    if a.date.is_some() || a.outlet.is_some() {
        if let Some(Value::Body(Body::Outlet(def))) = store
            .state()
            .view
            .records
            .get(&outlet)
            .and_then(|r| r.winner())
            .map(|h| h.version.value)
        {
            validate::survey_in_open_period(date, &def)?;
        }
    }
    check_survey_unit(&units(store), &office(store, hub)?, &unit, date)?;
    Ok((Op::Correct(build_correction(&rec, body)), w))
}

fn retract_op(store: &Store, id: &str, reason: &str) -> Result<Op> {
    let rec = find_record(store, "id", id)?;
    if !matches!(
        rec.original(),
        Some(Body::MarketSurvey(_) | Body::RetailSurvey(_))
    ) {
        return Err(invalid("id", format!("{} is not a survey", rec.id)));
    }
    if matches!(
        rec.winner().map(|h| h.version.value),
        Some(Value::Retracted(_))
    ) && rec.heads().len() == 1
    {
        return Err(invalid("id", format!("{} is already retracted", rec.id)));
    }
    let reason = nfc(reason.trim());
    if reason.is_empty() {
        return Err(invalid("reason", "must not be empty"));
    }
    if reason.chars().count() > baobi_proto::wire::MAX_TEXT {
        return Err(invalid("reason", "too long"));
    }
    Ok(Op::Retract(Retraction {
        record: rec.id,
        supersedes: rec.heads().into_iter().map(|h| h.hash).collect(),
        reason,
    }))
}

fn campaign_op(store: &Store, hub: &HubInfo, a: &CampaignArgs) -> Result<(Op, Vec<String>)> {
    let units = units(store);
    let office = office(store, hub)?;
    let date = parse_date("date", &a.date)?;
    let unit = match a.unit.as_deref().map(str::trim) {
        // The unit the office holds on that date (after a move, a successor of its district).
        None | Some("") => office
            .units
            .iter()
            .find(|r| {
                units
                    .version(r)
                    .is_some_and(|v| baobi_proto::units::in_force(v, date))
            })
            .or(office.units.first())
            .map_or_else(|| hub.unit.clone(), |r| r.code.clone()),
        Some(u) if u.chars().all(|c| c.is_ascii_digit()) => u.to_string(),
        Some(name) => {
            let wanted = nfc(name).to_lowercase();
            let found: Vec<&UnitDef> = units
                .iter()
                .filter(|u| baobi_proto::units::in_force(u, date))
                .filter(|u| {
                    let n = u.name.to_lowercase();
                    n == wanted || n.ends_with(&format!(" {wanted}"))
                })
                .filter(|u| units.office_holds(&office, &u.code, date))
                .collect();
            match found.as_slice() {
                [one] => one.code.clone(),
                [] => return Err(invalid("unit", format!("no unit named '{name}' on {date}"))),
                _ => {
                    return Err(invalid(
                        "unit",
                        format!("'{name}' is ambiguous; give the code"),
                    ))
                }
            }
        }
    };
    let body = Body::Campaign(CampaignEvent {
        unit: unit.clone(),
        date,
        kind: a.kind.into(),
        participants: a.participants,
        topic: nfc(a.topic.trim()),
    });
    let w = validate::body(&body, Some(today()))?;
    let Some(v) = units.at(&unit, date) else {
        return Err(invalid(
            "unit",
            match units.latest(&unit) {
                Some(l) if !units.office_holds_any(&office, &unit) => units.outside(l, &office),
                _ => format!(
                    "{} ({unit}) không có hiệu lực ngày {date} / is not in force on {date}",
                    units.name(&unit)
                ),
            },
        ));
    };
    if !units.office_holds(&office, &unit, date) {
        return Err(invalid("unit", units.outside(v, &office)));
    }
    Ok((Op::Record(body), w))
}

fn outlets(store: &Store) -> Result<Vec<OutletRow>> {
    let units = units(store);
    let st = store.state();
    let mut rows = vec![];
    for rec in st.view.records.values() {
        let Some(Body::Outlet(orig)) = rec.original() else {
            continue;
        };
        let (def, retracted) = match rec.winner().map(|h| h.version.value) {
            Some(Value::Body(Body::Outlet(o))) => (o, false),
            _ => (orig.clone(), true),
        };
        rows.push(OutletRow {
            id: rec.id.to_string(),
            kind: def.kind,
            unit_name: units.name_at(&def.unit, today()),
            name: def.name,
            unit: def.unit,
            address: def.address,
            class: def.market_class,
            certifications: def.certifications,
            opened: def.opened,
            closed: def.closed,
            retracted,
        });
    }
    Ok(rows)
}

fn survey_row(
    rec: &RecordState,
    st: &store::State,
    units: &Units,
    me: &AuthorId,
    acked: u64,
) -> Option<SurveyRow> {
    let kind = match rec.original()? {
        Body::MarketSurvey(_) => "market-survey",
        Body::RetailSurvey(_) => "retail-survey",
        _ => return None,
    };
    let heads = rec.heads();
    let winner = heads.first()?;
    let shown = match &winner.version.value {
        Value::Body(b) => b.clone(),
        Value::Retracted(_) => rec
            .versions
            .iter()
            .rev()
            .find_map(|v| match &v.version.value {
                Value::Body(b) => Some(b.clone()),
                _ => None,
            })
            .or_else(|| rec.original().cloned())?,
    };
    let (outlet, unit, date, year) = match &shown {
        Body::MarketSurvey(s) => (s.outlet, s.unit.clone(), s.date, s.year),
        Body::RetailSurvey(s) => (s.outlet, s.unit.clone(), s.date, s.year),
        _ => return None,
    };
    let outlet_name = st
        .view
        .records
        .get(&outlet)
        .and_then(|o| o.winner())
        .and_then(|h| match h.version.value {
            Value::Body(Body::Outlet(o)) => Some(o.name),
            _ => None,
        })
        .unwrap_or_default();
    let synced = rec
        .versions
        .iter()
        .all(|v| v.version.dot.author != *me || v.version.dot.seq <= acked);
    let retracted = matches!(winner.version.value, Value::Retracted(_));
    let (review, decision) = st.view.status(rec);
    Some(SurveyRow {
        id: rec.id.to_string(),
        kind: kind.into(),
        outlet: outlet.to_string(),
        outlet_name,
        unit_name: units.name_at(&unit, date),
        unit,
        date: date.to_string(),
        year,
        retracted,
        conflict: heads.len() > 1,
        heads: heads.len(),
        synced,
        value: match &winner.version.value {
            Value::Body(b) => serde_json::to_value(b).ok(),
            Value::Retracted(_) => None,
        },
        review,
        review_reason: decision
            .as_ref()
            .filter(|d| d.decision == baobi_proto::wire::Decision::Returned)
            .map(|d| d.reason.clone()),
        review_at: decision.map(|d| rfc3339(i128::from(d.hlc.millis()))),
    })
}

fn surveys(store: &Store) -> Result<Vec<SurveyRow>> {
    let me = store.author()?;
    let acked = store.acked_seq()?;
    let st = store.state();
    let units = st.view.registry();
    Ok(st
        .view
        .records
        .values()
        .filter_map(|r| survey_row(r, &st, &units, &me, acked))
        .collect())
}

fn version_row(v: &baobi_proto::view::StoredVersion) -> VersionRow {
    let hex = |h: &[u8; 32]| data_encoding::HEXLOWER.encode(&h[..8]);
    VersionRow {
        hash: hex(&RecordState::hash_of(v)),
        by: v.version.dot.to_string(),
        at: rfc3339(i128::from(v.version.hlc.millis())),
        supersedes: v.supersedes.iter().map(hex).collect(),
        value: match &v.version.value {
            Value::Body(b) => serde_json::to_value(b).ok(),
            Value::Retracted(_) => None,
        },
        retracted: match &v.version.value {
            Value::Retracted(r) => Some(r.clone()),
            Value::Body(_) => None,
        },
    }
}

fn show(store: &Store, id: &str) -> Result<SurveyDetail> {
    let rec = find_record(store, "id", id)?;
    let me = store.author()?;
    let acked = store.acked_seq()?;
    let st = store.state();
    let units = st.view.registry();
    let survey = survey_row(&rec, &st, &units, &me, acked)
        .ok_or_else(|| invalid("id", "is not a survey"))?;
    let head_hashes: Vec<[u8; 32]> = rec.heads().iter().map(|h| h.hash).collect();
    let mut heads = vec![];
    for h in &head_hashes {
        if let Some(v) = rec.versions.iter().find(|v| RecordState::hash_of(v) == *h) {
            heads.push(version_row(v));
        }
    }
    let mut versions: Vec<_> = rec.versions.iter().collect();
    versions.sort_by_key(|v| (v.version.hlc, v.version.dot));
    Ok(SurveyDetail {
        survey,
        heads,
        history: versions.into_iter().map(version_row).collect(),
    })
}

fn status(store: &Store, hub: &HubInfo) -> Result<StatusInfo> {
    let units = units(store);
    let office = office(store, hub)?;
    Ok(StatusInfo {
        author: store.author()?.hex(),
        unit: hub.unit.clone(),
        unit_name: office
            .units
            .first()
            .and_then(|r| units.version(r))
            .map_or_else(|| hub.unit_name.clone(), |v| v.name.clone()),
        jurisdiction: office
            .units
            .iter()
            .map(|r| units.describe(r))
            .collect::<Vec<_>>()
            .join("; "),
        hub_addr: hub.addr.clone(),
        pending: sync::pending(store)?,
        last_sync: store.last_sync()?.map(|s| rfc3339(i128::from(s) * 1000)),
        last_error: store.last_error()?,
        hub_mismatch: store.hub_mismatch()?,
        entries: store.state().entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::view::{apply, MemTables};
    use baobi_proto::wire::Hlc;
    use baobi_proto::Keypair;

    #[test]
    fn ids_parse_short_and_full() {
        let a = AuthorId([0x1a; 32]);
        let b = AuthorId([0x2b; 32]);
        let authors = [a, b];
        assert_eq!(
            parse_id("1a1a1a1a-7", authors.iter()).unwrap(),
            Dot { author: a, seq: 7 }
        );
        assert_eq!(
            parse_id(&format!("{}-3", b.hex()), authors.iter()).unwrap(),
            Dot { author: b, seq: 3 }
        );
        assert!(parse_id("ffffffff-1", authors.iter()).is_err());
        assert!(parse_id("1a1a1a1a", authors.iter()).is_err());
        assert!(parse_id("1a1a1a1a-x", authors.iter()).is_err());
        assert!(parse_id("1a1a1a1a-0", authors.iter()).is_err());
        let c = AuthorId([
            0x1a, 0x1a, 0x1a, 0x1a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0,
        ]);
        let err = parse_id("1a1a1a1a-7", [a, c].iter()).unwrap_err();
        assert!(err.to_string().contains("ambiguous"), "{err}");
    }

    fn market(kg: u32) -> Body {
        Body::MarketSurvey(MarketSurvey {
            outlet: Dot {
                author: AuthorId([9; 32]),
                seq: 1,
            },
            unit: "30226".into(),
            date: Date(20250312),
            year: 2025,
            round: Round::Annual,
            vendors_total: 100,
            vendors_surveyed: 40,
            nonbio_g_per_day: kg,
            eco_g_per_day: None,
            vendors_nonbio: 30,
            vendors_alternatives: None,
            operating_days: None,
            reduction_model: false,
            notes: String::new(),
        })
    }

    #[test]
    fn correction_supersedes_every_head_and_resolves_conflict() {
        let x = Keypair::generate();
        let y = Keypair::generate();
        let mut t = MemTables::new();
        let create = x.sign_entry(1, Hlc(1), Op::Record(market(1000)));
        apply(&mut t, &create);
        let rec = t.records[&create.dot()].clone();
        let a = CorrectArgs {
            nonbio_kg: Some("2.5".into()),
            ..CorrectArgs::default()
        };
        let body = apply_flags(
            &rec.winner()
                .map(|h| match h.version.value {
                    Value::Body(b) => b,
                    Value::Retracted(_) => unreachable!(),
                })
                .unwrap(),
            &a,
        )
        .unwrap();
        let c1 = build_correction(&rec, body.clone());
        let c2 = build_correction(&rec, market(3000));
        apply(&mut t, &x.sign_entry(2, Hlc(2), Op::Correct(c1)));
        apply(&mut t, &y.sign_entry(1, Hlc(3), Op::Correct(c2)));
        let rec = t.records[&create.dot()].clone();
        assert_eq!(rec.heads().len(), 2);
        let fix = build_correction(&rec, body.clone());
        assert_eq!(fix.supersedes.len(), 2);
        apply(&mut t, &x.sign_entry(3, Hlc(4), Op::Correct(fix)));
        let rec = &t.records[&create.dot()];
        assert_eq!(rec.heads().len(), 1);
        assert_eq!(rec.winner().unwrap().version.value, Value::Body(body));
        let bad = CorrectArgs {
            gives_nonbio: Some(YesNo::Yes),
            ..CorrectArgs::default()
        };
        let err = apply_flags(&market(1), &bad).unwrap_err();
        assert!(err.to_string().contains("gives-nonbio"), "{err}");
    }

    #[test]
    fn requests_round_trip_as_json() {
        let r = Request::SurveyRetract {
            id: "1a2b3c4d-7".into(),
            reason: "nhập nhầm".into(),
        };
        let s = serde_json::to_string(&r).unwrap();
        let back: Request = serde_json::from_str(&s).unwrap();
        assert!(matches!(back, Request::SurveyRetract { id, .. } if id == "1a2b3c4d-7"));
    }
}

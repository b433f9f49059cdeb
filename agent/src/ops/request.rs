//! The commands `ops::execute` takes and what it answers, as serde enums: the one vocabulary the CLI,
//! the control socket (JSON lines) and the office app's HTTP door share.

use baobi_proto::wire::PlanDef;
use serde::{Deserialize, Serialize};

use super::*;

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
    /// Enroll with the hub using a one-time token, then sync for the first time (`init`, the app).
    Enroll {
        /// The enrollment token (baobi1.…).
        token: String,
        /// What this office calls itself (default: the host name).
        #[serde(default)]
        label: Option<String>,
    },
    /// The units the office may pick in its forms (its unit and those below, in force today).
    Units,
    /// Surveys filtered and paged, with the total count.
    SurveyPage(SurveyQuery),
    /// Facilities matching a diacritic-insensitive search, a kind and a commune.
    OutletSearch {
        /// Words to find in the name, address, commune or id.
        #[serde(default)]
        q: Option<String>,
        /// Kind of facility.
        #[serde(default)]
        kind: Option<KindArg>,
        /// Commune code or name.
        #[serde(default)]
        commune: Option<String>,
    },
    /// Record a survey; when it has warnings, only with `confirm` (else `Unconfirmed`).
    SurveyAdd {
        /// The survey, as a `survey import` row.
        survey: crate::import::ImportRow,
        /// Save despite warnings.
        #[serde(default)]
        confirm: bool,
    },
    /// Check surveys as `SurveyImport` would, saving nothing.
    SurveyImportCheck {
        /// The surveys with their file lines.
        rows: Vec<crate::import::NumberedRow>,
    },
    /// The office's own indicators, on what it holds, for its unit.
    Indicators {
        /// Reporting year (default: this year).
        #[serde(default)]
        year: Option<u16>,
    },
    /// The last sync attempts.
    SyncHistory,
    /// Write what the hub lacks to a drop file (`drop export`; an absolute path).
    DropExport {
        /// The file to write.
        out: std::path::PathBuf,
    },
    /// Take the hub's drop file for this office (`drop import`; an absolute path).
    DropImport {
        /// The file to read.
        file: std::path::PathBuf,
    },
    /// The relay commands (`relay add|list|remove|info`).
    Relay(RelayRequest),
}

/// What `relay` does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "relay", rename_all = "kebab-case")]
pub enum RelayRequest {
    /// Sync through the relay at `addr` when no hub answers.
    Add {
        /// `host:port`.
        addr: String,
        /// SHA-256 of its certificate (`relay info` on the relay), 64 hex digits.
        fingerprint: String,
    },
    /// The relays this office may use.
    List,
    /// Stop using the relay at `addr`.
    Remove {
        /// `host:port`.
        addr: String,
    },
    /// This office as a relay: its address, fingerprint and the offices it carries for.
    Info,
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
        /// The input field at fault, when invalid input names one (appended; absent before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
    /// `survey import` ran: every row saved, or none when some failed its checks.
    Imported {
        /// Saved surveys in file order (empty when `errors` is not).
        saved: Vec<ImportedRow>,
        /// Rows that failed their checks (nothing was saved then).
        errors: Vec<crate::import::LineError>,
    },
    /// Enrolled.
    Enrolled {
        /// What the hub said and the first sync did.
        enrolled: Enrolled,
    },
    /// Units to pick from.
    Units {
        /// The units.
        units: Vec<UnitRow>,
    },
    /// A page of surveys.
    SurveyPage {
        /// Surveys matching the filters.
        total: usize,
        /// The page.
        surveys: Vec<SurveyRow>,
    },
    /// Not saved: the record has warnings to confirm.
    Unconfirmed {
        /// The warnings (bilingual).
        warnings: Vec<String>,
    },
    /// Rows checked, nothing saved.
    ImportChecked {
        /// Rows that passed, with their warnings (ids empty).
        checked: Vec<ImportedRow>,
        /// Rows that failed.
        errors: Vec<crate::import::LineError>,
    },
    /// The office's indicators (a `proto::indicators::Report` plus `view` and `label`).
    Indicators {
        /// The report.
        report: serde_json::Value,
    },
    /// Recent sync attempts, newest first.
    SyncHistory {
        /// The attempts.
        attempts: Vec<crate::history::Attempt>,
    },
    /// A drop file written.
    DropExported {
        /// What it holds.
        exported: crate::drop::Exported,
    },
    /// A drop file taken.
    DropImported {
        /// What it did.
        imported: crate::drop::Imported,
    },
    /// The relays this office may use.
    Relays {
        /// The list.
        list: crate::relay::List,
    },
    /// This office as a relay.
    RelayInfo {
        /// What it shows.
        info: crate::relay::Info,
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

//! The plan's indicators, computed from plain inputs: facilities, the winning survey values, campaign
//! events, units and their lineage, the plan's targets, review states and the counting basis.
//!
//! Pure functions with no I/O and no clock (`today` is a parameter), so every formula is held to
//! hand-computed figures in the tests below. The hub gathers the inputs from its store
//! (`hub::indicators`) and serves the [`Report`] as JSON; its shape is the issue-3 contract.
//!
//! Rules, as computed (README "Indicators" says the same for users):
//! - Reference date `as_of` = 31 December of the year, or `today` when the year is the current one.
//!   Certifications, units and the grouping are judged on it; records in units no longer in force are
//!   mapped to their successors through the lineage.
//! - A record counts when the basis allows it: `submitted` counts every live record except returned
//!   ones; `verified` counts verified records only.
//! - A facility is active in Y when it was open at any time in Y: opened ≤ 31 Dec Y (or unknown) and
//!   closed ≥ 1 Jan Y (or still open).
//! - The latest survey of a facility in Y is by survey date, then clock, then record id.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::facts::{Facts, Item, Pick, STATUSES};
use crate::units::{Lineage, Located, Units};
use crate::view::{RecordState, ReviewState, ReviewStatus};
use crate::wire::{
    CertKind, Certification, Date, Dot, Hlc, IndicatorId, Level, OutletKind, PlanDef, UnitDef,
};
use crate::Error;

/// Which records indicators count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Every live record except those returned for correction.
    #[default]
    Submitted,
    /// Verified records only.
    Verified,
}

impl Basis {
    /// True when a record with this review status is counted.
    pub fn counts(self, s: ReviewStatus) -> bool {
        match self {
            Basis::Submitted => s != ReviewStatus::Returned,
            Basis::Verified => s == ReviewStatus::Verified,
        }
    }
}

/// The rule a modern-retail outlet's latest survey must meet for I1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum I1Rule {
    /// Gives no non-biodegradable bags (the default).
    #[default]
    NoNonbio,
    /// Offers eco-friendly packaging (eco bags given, or reusable bags sold), even beside plastic.
    EcoOffered,
}

/// Hub settings the computation depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Which records count.
    pub basis: Basis,
    /// The I1 rule.
    pub i1_rule: I1Rule,
}

/// A registered facility, as its current (winning, not retracted) version says.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Facility {
    /// Its record id.
    pub id: Dot,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: OutletKind,
    /// Commune code where it stands.
    pub unit: String,
    /// The date that code is read at (when the version was written).
    pub unit_date: Date,
    /// Market certifications.
    pub certifications: Vec<Certification>,
    /// First day open.
    pub opened: Option<Date>,
    /// Last day open.
    pub closed: Option<Date>,
}

/// What a survey measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Reading {
    /// A market survey.
    Market {
        /// Non-biodegradable bags, grams per operating day.
        nonbio_g: u32,
        /// True for a baseline-round survey.
        baseline_round: bool,
    },
    /// A modern-retail survey.
    Retail {
        /// Gives non-biodegradable bags.
        gives_nonbio: bool,
        /// Offers eco-friendly packaging (eco bags given or reusable bags sold).
        eco_offered: bool,
    },
}

/// A survey's current value (retracted surveys are left out by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// The survey record.
    pub record: Dot,
    /// The facility surveyed.
    pub outlet: Dot,
    /// Commune recorded on the survey.
    pub unit: String,
    /// Survey date.
    pub date: Date,
    /// Reporting year.
    pub year: u16,
    /// Clock of the winning version (orders surveys of the same day).
    pub hlc: Hlc,
    /// Clock of the entry that created the record (when it was first recorded).
    pub first_hlc: Hlc,
    /// What it measured.
    pub reading: Reading,
    /// Review status of the current value.
    pub status: ReviewStatus,
}

/// An awareness event's current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// The record.
    pub record: Dot,
    /// Unit credited.
    pub unit: String,
    /// Date held.
    pub date: Date,
    /// Clock of the entry that created the record.
    pub first_hlc: Hlc,
    /// Review status of the current value.
    pub status: ReviewStatus,
}

/// Facilities, surveys and campaigns as the view holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    /// Registered facilities (not retracted).
    pub facilities: Vec<Facility>,
    /// Surveys (not retracted).
    pub surveys: Vec<Survey>,
    /// Campaign events (not retracted).
    pub campaigns: Vec<Campaign>,
}

/// Reads the current value of every record: retracted records are left out, a record in conflict
/// counts with its winning head, and each survey or campaign carries the review status of that head.
/// Facilities count while registered, whatever their review (they are the denominators).
pub fn gather<'a>(
    records: impl IntoIterator<Item = &'a RecordState>,
    reviews: impl FnMut(&Dot) -> Vec<ReviewState>,
) -> Gathered {
    gather_with(records, reviews, |_| None)
}

/// Like [`gather`], with `created(id)` the device's wall clock (ms) when the record was made, when
/// its creating entry carries it (`Op::Created`): a record's first-recorded time is that, else its
/// creating entry's clock.
pub fn gather_with<'a>(
    records: impl IntoIterator<Item = &'a RecordState>,
    mut reviews: impl FnMut(&Dot) -> Vec<ReviewState>,
    mut created: impl FnMut(&Dot) -> Option<u64>,
) -> Gathered {
    let mut g = Gathered::default();
    for rec in records {
        match crate::facts::item(rec, &mut reviews, &mut created) {
            Some(Item::Facility(f)) => g.facilities.push(f),
            Some(Item::Survey(x)) => g.surveys.push(x),
            Some(Item::Campaign(c)) => g.campaigns.push(c),
            None => {}
        }
    }
    g
}

/// Everything the computation reads.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The hub's province code.
    pub province: &'a str,
    /// The hub's province name.
    pub province_name: &'a str,
    /// Units, every version.
    pub units: &'a Units,
    /// Old unit → new unit(s).
    pub lineage: &'a Lineage,
    /// Facilities (current values, retracted ones left out).
    pub facilities: &'a [Facility],
    /// Surveys (current values, retracted ones left out).
    pub surveys: &'a [Survey],
    /// Campaign events (current values, retracted ones left out).
    pub campaigns: &'a [Campaign],
    /// The plan in force, if any.
    pub plan: Option<&'a PlanDef>,
    /// Settings.
    pub settings: Settings,
    /// Today's date where the hub is.
    pub today: Date,
    /// The same facilities, surveys and campaigns as aggregates (a store keeps them as it merges):
    /// when given, reports read these and the lists are needed only for a scope that is no longer
    /// in force ([`needs_records`]); when none, they are built from the lists.
    pub facts: Option<&'a Facts>,
    /// With `facts`: the surveys dated outside their facility's open period, any year and status
    /// (a store finds them from the cells, [`crate::facts::cell_may_be_outside`]); read instead of
    /// `facts.outside`.
    pub outside: &'a [Survey],
}

/// A unit as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: Level,
}

/// The plan a report is measured against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRef {
    /// Plan id.
    pub id: String,
    /// Plan name.
    pub name: String,
    /// The reporting deadline in the report's year, none when the plan sets none.
    pub deadline: Option<Date>,
}

/// Surveyed / total beside an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Facilities (or markets) with the survey(s) the indicator needs.
    pub surveyed: u64,
    /// Facilities (or markets) the indicator is about.
    pub total: u64,
}

/// One indicator's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// Which indicator.
    pub id: IndicatorId,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// numerator / denominator as a fraction; none when undefined.
    pub value: Option<f64>,
    /// Numerator.
    pub numerator: f64,
    /// Denominator.
    pub denominator: f64,
    /// What numerator and denominator count: outlets, markets, kg/day or units.
    pub unit: String,
    /// The plan's threshold for the year, as a fraction.
    pub target: Option<f64>,
    /// value ≥ target, none when either is none.
    pub met: Option<bool>,
    /// Surveyed / total, where meaningful.
    pub coverage: Option<Coverage>,
    /// True when a baseline used was not a baseline-round survey.
    pub provisional: bool,
}

/// One unit directly below the scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitReport {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: Level,
    /// Any counted survey or campaign of the year is recorded in it or below it.
    pub reported: bool,
    /// Its first such record was recorded by the deadline; none when there is no deadline.
    pub on_time: Option<bool>,
    /// Date its first such record was recorded (UTC+7).
    pub first_report: Option<Date>,
    /// Its indicators.
    pub indicators: Vec<Indicator>,
}

/// A unit named in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
}

/// Who reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completeness {
    /// Units expected to report.
    pub units: u64,
    /// Units that reported.
    pub reported: u64,
    /// Units that reported by the deadline; none without a deadline.
    pub on_time: Option<u64>,
    /// The deadline.
    pub deadline: Option<Date>,
    /// Units that did not report.
    pub missing: Vec<Named>,
}

/// A data gap.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gap {
    /// `no_baseline`, `zero_baseline`, `no_current_survey`, `ambiguous_unit` or
    /// `survey_outside_open_period` (then `record` is the survey's id, `name` its facility's).
    pub kind: String,
    /// The facility's record id (`<author hex>-<seq>`).
    pub record: String,
    /// The facility's name.
    pub name: String,
    /// The unit it stands in on the reference date.
    pub unit: String,
}

/// The indicators of one year for one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The hub's province code.
    pub province: String,
    /// The hub's province name.
    pub province_name: String,
    /// Reporting year.
    pub year: u16,
    /// Reference date.
    pub as_of: Date,
    /// Which records count.
    pub basis: Basis,
    /// The plan measured against.
    pub plan: Option<PlanRef>,
    /// The scope.
    pub scope: UnitRef,
    /// The scope's indicators, in [`IndicatorId::ALL`] order.
    pub indicators: Vec<Indicator>,
    /// Units directly below the scope in force on `as_of`.
    pub units: Vec<UnitReport>,
    /// Who reported.
    pub completeness: Completeness,
    /// Data gaps.
    pub gaps: Vec<Gap>,
    /// Bilingual remarks on how figures were computed.
    pub notes: Vec<String>,
    /// Records in scope counted under a unit other than the one they were made in, as "old name →
    /// name on the reference date" ("Thị trấn Gia Ray → Xã Xuân Lộc"), distinct, sorted.
    #[serde(default)]
    pub regrouped: Vec<String>,
}

/// Bilingual names of an indicator.
pub fn names(id: IndicatorId) -> (&'static str, &'static str) {
    match id {
        IndicatorId::I1 => (
            "Tỷ lệ siêu thị, TTTM dùng bao bì thân thiện môi trường",
            "Eco-packaging rate, supermarkets and trade centres",
        ),
        IndicatorId::I1Cs => (
            "Tỷ lệ siêu thị, TTTM, cửa hàng tiện lợi dùng bao bì thân thiện môi trường",
            "Eco-packaging rate, supermarkets, trade centres and convenience stores",
        ),
        IndicatorId::I2 => (
            "Mức giảm túi ni lông khó phân hủy tại chợ đạt chuẩn văn minh",
            "Non-biodegradable bag reduction, civilized-standard markets",
        ),
        IndicatorId::I2Share => (
            "Tỷ lệ chợ đạt chuẩn văn minh đạt mức giảm mục tiêu",
            "Share of civilized-standard markets at the reduction target",
        ),
        IndicatorId::I3 => (
            "Mức giảm túi ni lông khó phân hủy tại chợ nông thôn mới",
            "Non-biodegradable bag reduction, new-rural-standard markets",
        ),
        IndicatorId::I3Share => (
            "Tỷ lệ chợ nông thôn mới đạt mức giảm mục tiêu",
            "Share of new-rural-standard markets at the reduction target",
        ),
        IndicatorId::I4 => (
            "Tỷ lệ đơn vị tổ chức tuyên truyền",
            "Campaign coverage, units holding an awareness event",
        ),
        IndicatorId::Coverage => (
            "Tỷ lệ cơ sở được khảo sát",
            "Survey coverage, facilities surveyed",
        ),
        IndicatorId::Completeness => (
            "Tỷ lệ đơn vị đã báo cáo",
            "Reporting completeness, units that reported",
        ),
        IndicatorId::Timeliness => (
            "Tỷ lệ đơn vị báo cáo đúng hạn",
            "Reporting timeliness, units that reported by the deadline",
        ),
    }
}

/// The reference date of `year`: 31 December, or `today` during the current year.
pub fn as_of(year: u16, today: Date) -> Date {
    if year == today.year() {
        today
    } else {
        Date(u32::from(year) * 10_000 + 1231)
    }
}

/// The plan's threshold for `id` in `year` (basis points): the target of the latest year ≤ `year`,
/// within the plan's period.
pub fn target_bp(plan: Option<&PlanDef>, id: IndicatorId, year: u16) -> Option<u16> {
    let p = plan?;
    if year < p.period.0 || year > p.period.1 {
        return None;
    }
    p.targets
        .iter()
        .filter(|t| t.indicator == id && t.year <= year)
        .max_by_key(|t| t.year)
        .map(|t| t.threshold_bp)
}

/// The plan's deadline in `year`.
pub fn deadline(plan: Option<&PlanDef>, year: u16) -> Option<Date> {
    let (m, d) = plan?.deadline?;
    Date::from_ymd(i32::from(year), m, d)
}

/// The calendar date (UTC+7, Vietnam) of a clock value.
pub fn hlc_date(h: Hlc) -> Date {
    let secs = (h.millis() / 1000) as i64 + 7 * 3600;
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => Date(t.year() as u32 * 10_000 + u8::from(t.month()) as u32 * 100 + t.day() as u32),
        Err(_) => Date(19_700_101),
    }
}

/// True when a facility was open at any time in `year`.
pub fn active_in(f: &Facility, year: u16) -> bool {
    let start = Date(u32::from(year) * 10_000 + 101);
    let end = Date(u32::from(year) * 10_000 + 1231);
    f.opened.is_none_or(|o| o <= end) && f.closed.is_none_or(|c| c >= start)
}

/// True when the facility holds a certification of `kind` valid on `date`.
pub fn certified(f: &Facility, kind: CertKind, date: Date) -> bool {
    f.certifications
        .iter()
        .any(|c| c.kind == kind && c.from <= date && c.to.is_none_or(|t| t >= date))
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// num/den ≥ bp/10000, exactly.
fn at_least(num: i128, den: i128, bp: u16) -> bool {
    num * 10_000 >= i128::from(bp) * den
}

/// A facility's counted surveys for one year: the baseline (first baseline-round survey of any
/// year up to it, else its first survey; true when that is not a baseline-round one), the latest of
/// the year and the latest of the year that is not the baseline.
#[derive(Debug, Clone, Copy, Default)]
struct Picks {
    baseline: Option<(Pick, bool)>,
    latest: Option<Pick>,
    current: Option<Pick>,
}

/// The counted surveys of `outlet` up to `year` (statuses `counted`), from its cells.
fn picks_of(facts: &Facts, outlet: Dot, year: u16, counted: &[u8]) -> Picks {
    let mut first: Option<Pick> = None;
    let mut base: Option<Pick> = None;
    let mut tops: Vec<Pick> = vec![];
    let earlier = |a: Pick, b: Option<Pick>| b.is_none_or(|b| a.order() < b.order());
    for ((_, y, st), c) in facts
        .surveys
        .range((outlet, 0, 0)..=(outlet, year, u8::MAX))
    {
        if !counted.contains(st) {
            continue;
        }
        if earlier(c.first, first) {
            first = Some(c.first);
        }
        if let Some(b) = c.first_baseline {
            if earlier(b, base) {
                base = Some(b);
            }
        }
        if *y == year {
            tops.push(c.last);
            tops.extend(c.second);
        }
    }
    let baseline = base.map(|b| (b, false)).or(first.map(|f| (f, true)));
    tops.sort_by_key(Pick::order);
    Picks {
        baseline,
        latest: tops.last().copied(),
        current: tops
            .iter()
            .rev()
            .find(|p| baseline.is_none_or(|(b, _)| b.record != p.record))
            .copied(),
    }
}

/// Prepared state for one year: locations on `as_of`, counted records, per-facility surveys.
struct Year<'a> {
    inp: &'a Inputs<'a>,
    year: u16,
    as_of: Date,
    /// Active facilities with their location on `as_of`.
    facilities: Vec<(&'a Facility, String)>,
    /// Counted surveys by facility.
    picks: BTreeMap<Dot, Picks>,
    /// Unit on `as_of` → when its first counted record of the year was made (a record standing for
    /// several units counts for each).
    first_by_code: BTreeMap<String, Hlc>,
    /// Units on `as_of` a counted campaign of the year stands for.
    campaign_codes: BTreeSet<String>,
    /// The campaign level on `as_of`.
    campaign_level: Level,
    ambiguous: Vec<Gap>,
    /// Counted surveys of the year dated outside their facility's open period (the facility's dates
    /// were corrected after the survey): listed as `survey_outside_open_period` gaps.
    outside: Vec<Gap>,
    /// (unit on `as_of`, "old name → name on as_of") of records counted under another unit version.
    regrouped: BTreeSet<(String, String)>,
    /// A scope not in force on `as_of`: its code and the units it stands for then.
    mapped: Option<(String, Vec<String>)>,
}

/// A report's scope not in force on its reference date: the version meant (the last one before the
/// reference date, else the first after) and the units it stands for then through the lineage.
struct Mapped<'a> {
    version: &'a crate::wire::UnitDef,
    codes: Vec<String>,
}

fn mapped_scope<'a>(inp: &'a Inputs<'a>, code: &str, as_of: Date) -> Option<Mapped<'a>> {
    if inp.units.at(code, as_of).is_some() {
        return None;
    }
    let versions = inp.units.versions(code);
    let version = versions
        .iter()
        .rev()
        .find(|v| v.valid_to.is_some_and(|t| t < as_of))
        .or_else(|| versions.first())
        .copied()?;
    let date = version.valid_to.or(version.valid_from).unwrap_or(as_of);
    let codes = inp.units.locate(inp.lineage, code, date, as_of).codes;
    (!codes.is_empty()).then_some(Mapped { version, codes })
}

/// True when the report for `year` and `unit` reads the lists of records, not only the facts: its
/// scope is no longer in force on the reference date, so only the records made in it are taken.
pub fn needs_records(inp: &Inputs<'_>, year: u16, unit: Option<&str>) -> bool {
    let as_of = as_of(year, inp.today);
    unit.and_then(|u| mapped_scope(inp, u, as_of))
        .is_some_and(|m| m.version.valid_to.is_some_and(|t| t < as_of))
}

/// Where records of `code` made on `date` stand on `as_of`, memoised by the unit version in force
/// then (all that the answer depends on), with the regrouping it implies.
struct Locator<'a> {
    units: &'a Units,
    lineage: &'a Lineage,
    as_of: Date,
    memo: BTreeMap<(&'a str, Option<Date>, bool), Place>,
}

/// Where records stand, and the (unit on `as_of`, "old name → new name") regroupings it implies.
type Place = (Located, Vec<(String, String)>);

impl<'a> Locator<'a> {
    fn locate(&mut self, code: &'a str, date: Date) -> &(Located, Vec<(String, String)>) {
        let v: Option<&UnitDef> = self.units.at_or_latest(code, date);
        let exact = self.units.at(code, date).is_some();
        let key = (code, v.map(|v| v.valid_from.unwrap_or(Date(0))), exact);
        let (units, lineage, as_of) = (self.units, self.lineage, self.as_of);
        self.memo.entry(key).or_insert_with(|| {
            let loc = units.locate(lineage, code, date, as_of);
            let mut regrouped = vec![];
            if let Some(v) = v {
                for c in &loc.codes {
                    if let Some(w) = units.at(c, as_of) {
                        if (w.code.as_str(), w.valid_from) != (v.code.as_str(), v.valid_from) {
                            regrouped.push((c.clone(), format!("{} → {}", v.name, w.name)));
                        }
                    }
                }
            }
            (loc, regrouped)
        })
    }
}

impl<'a> Year<'a> {
    /// `origin`: a scope no longer in force on the reference date; `facts` then holds only the
    /// records made in it (their unit on their own date lies within it).
    fn new(
        inp: &'a Inputs<'a>,
        facts: &'a Facts,
        outside_all: &'a [Survey],
        year: u16,
        origin: Option<&Mapped<'a>>,
    ) -> Year<'a> {
        let as_of = as_of(year, inp.today);
        let basis = inp.settings.basis;
        let counted: Vec<u8> = STATUSES
            .into_iter()
            .filter(|c| crate::facts::status_from(*c).is_some_and(|s| basis.counts(s)))
            .collect();
        let mut ambiguous = vec![];
        let mut facilities = vec![];
        let mut regrouped = BTreeSet::new();
        let ended = origin.filter(|m| m.version.valid_to.is_some_and(|t| t < as_of));
        let made_in_any = |code: &str| {
            ended.is_none_or(|m| {
                inp.units.versions(code).iter().any(|v| {
                    let d = v.valid_to.or(v.valid_from).unwrap_or(as_of);
                    inp.units.is_within(code, &m.version.code, d)
                })
            })
        };
        let mut loc = Locator {
            units: inp.units,
            lineage: inp.lineage,
            as_of,
            memo: BTreeMap::new(),
        };
        for f in facts
            .facilities
            .values()
            .filter(|f| active_in(f, year) && made_in_any(&f.unit))
        {
            // A facility carries no date of its own (`unit_date` is when it was last written): when its
            // unit code is in force on the reference date, that is its unit then, without any lineage.
            let unit_date = if inp.units.at(&f.unit, as_of).is_some() {
                as_of
            } else {
                f.unit_date
            };
            let (l, re) = loc.locate(&f.unit, unit_date);
            regrouped.extend(
                re.iter()
                    .take(1)
                    .filter(|(c, _)| l.codes.first() == Some(c))
                    .cloned(),
            );
            if l.ambiguous {
                ambiguous.push(gap("ambiguous_unit", f, l.codes.first().map_or("", |c| c)));
            }
            if let Some(code) = l.codes.first() {
                facilities.push((f, code.clone()));
            }
        }
        let mut picks = BTreeMap::new();
        for (f, _) in &facilities {
            picks.insert(f.id, picks_of(facts, f.id, year, &counted));
        }
        let mut outside = vec![];
        for s in outside_all
            .iter()
            .filter(|s| s.year == year && basis.counts(s.status))
        {
            let Some(f) = facts.facilities.get(&s.outlet) else {
                continue;
            };
            let (l, _) = loc.locate(&s.unit, s.date);
            outside.push(Gap {
                kind: "survey_outside_open_period".into(),
                record: format!("{}-{}", s.record.author.hex(), s.record.seq),
                name: f.name.clone(),
                unit: l.codes.first().cloned().unwrap_or_else(|| s.unit.clone()),
            });
        }
        let mut first_by_code: BTreeMap<String, Hlc> = BTreeMap::new();
        let mut campaign_codes = BTreeSet::new();
        let cells = facts
            .by_version
            .range((year, String::new(), 0, Date(0))..)
            .take_while(|(k, _)| k.0 == year);
        for ((_, unit, status, date), cell) in cells {
            if !counted.contains(status) {
                continue;
            }
            let (l, re) = loc.locate(unit, *date);
            regrouped.extend(re.iter().cloned());
            for c in &l.codes {
                first_by_code
                    .entry(c.clone())
                    .and_modify(|h| *h = (*h).min(cell.first))
                    .or_insert(cell.first);
                if cell.campaigns > 0 {
                    campaign_codes.insert(c.clone());
                }
            }
        }
        let districts = inp
            .units
            .iter()
            .any(|u| u.level == Level::District && crate::units::in_force(u, as_of));
        Year {
            inp,
            year,
            as_of,
            facilities,
            picks,
            first_by_code,
            campaign_codes,
            campaign_level: if districts {
                Level::District
            } else {
                Level::Commune
            },
            ambiguous,
            outside,
            regrouped,
            mapped: origin.map(|m| (m.version.code.clone(), m.codes.clone())),
        }
    }

    fn within(&self, code: &str, scope: &str) -> bool {
        match &self.mapped {
            Some((c, codes)) if c == scope => codes
                .iter()
                .any(|m| self.inp.units.is_within(code, m, self.as_of)),
            _ => self.inp.units.is_within(code, scope, self.as_of),
        }
    }

    /// Units directly below `scope` on `as_of` (a mapped scope: the units it stands for).
    fn children(&self, scope: &str) -> Vec<&'a crate::wire::UnitDef> {
        match &self.mapped {
            Some((c, codes)) if c == scope => codes
                .iter()
                .filter_map(|m| self.inp.units.at(m, self.as_of))
                .collect(),
            _ => self.inp.units.children(scope, self.as_of),
        }
    }

    /// The latest counted survey of the facility in the year.
    fn latest(&self, f: &Facility) -> Option<Pick> {
        self.picks.get(&f.id)?.latest
    }

    /// Units that report for `scope`: those directly below it, or the scope itself when it has none.
    fn reporting_units(&self, scope: &str) -> Vec<UnitRef> {
        let mut kids: Vec<UnitRef> = self.children(scope).into_iter().map(unit_ref).collect();
        kids.sort_by(|a, b| a.code.cmp(&b.code));
        kids.dedup_by(|a, b| a.code == b.code);
        if kids.is_empty() {
            if let Some(u) = self.inp.units.at(scope, self.as_of) {
                kids.push(unit_ref(u));
            }
        }
        kids
    }

    /// For unit `r`: reported, and the clock of its first counted record of the year.
    fn first_report(&self, r: &str) -> Option<Hlc> {
        self.first_by_code
            .iter()
            .filter(|(c, _)| self.within(c, r))
            .map(|(_, h)| *h)
            .min()
    }

    fn indicators(
        &self,
        scope: &str,
        gaps: &mut BTreeSet<Gap>,
        notes: &mut Notes,
    ) -> Vec<Indicator> {
        let plan = self.inp.plan;
        let fac: Vec<&(&Facility, String)> = self
            .facilities
            .iter()
            .filter(|(_, code)| self.within(code, scope))
            .collect();
        let mut out = vec![];
        for id in IndicatorId::ALL {
            let t = target_bp(plan, id, self.year);
            let mut ind = match id {
                IndicatorId::I1 => self.i1(&fac, false),
                IndicatorId::I1Cs => self.i1(&fac, true),
                IndicatorId::I2 | IndicatorId::I2Share => {
                    self.reduction(&fac, CertKind::Civilized, id, plan, gaps, notes)
                }
                IndicatorId::I3 | IndicatorId::I3Share => {
                    self.reduction(&fac, CertKind::NewRural, id, plan, gaps, notes)
                }
                IndicatorId::I4 => self.i4(scope),
                IndicatorId::Coverage => {
                    let surveyed = fac.iter().filter(|(f, _)| self.latest(f).is_some()).count();
                    base(id, surveyed as f64, fac.len() as f64, "outlets")
                }
                IndicatorId::Completeness | IndicatorId::Timeliness => {
                    let units = self.reporting_units(scope);
                    let deadline = deadline(plan, self.year);
                    let mut n = 0usize;
                    for u in &units {
                        if let Some(h) = self.first_report(&u.code) {
                            if id == IndicatorId::Completeness
                                || deadline.is_some_and(|d| hlc_date(h) <= d)
                            {
                                n += 1;
                            }
                        }
                    }
                    let mut ind = base(id, n as f64, units.len() as f64, "units");
                    if id == IndicatorId::Timeliness && deadline.is_none() {
                        ind.value = None;
                    }
                    ind
                }
            };
            // A share's value counts markets at the pooled (i2 / i3) target; its own target is
            // the plan's i2_share / i3_share threshold for that share.
            ind.target = t.map(|bp| f64::from(bp) / 10_000.0);
            ind.met = match (t, ind.value) {
                (Some(bp), Some(_)) => Some(met(&ind, bp, id)),
                _ => None,
            };
            out.push(ind);
        }
        out
    }

    fn i1(&self, fac: &[&(&Facility, String)], with_convenience: bool) -> Indicator {
        let kinds: &[OutletKind] = if with_convenience {
            &[
                OutletKind::Supermarket,
                OutletKind::TradeCentre,
                OutletKind::Convenience,
            ]
        } else {
            &[OutletKind::Supermarket, OutletKind::TradeCentre]
        };
        let mut total = 0u64;
        let mut surveyed = 0u64;
        let mut meeting = 0u64;
        for (f, _) in fac.iter().filter(|(f, _)| kinds.contains(&f.kind)) {
            total += 1;
            let Some(s) = self.latest(f) else { continue };
            surveyed += 1;
            if let Reading::Retail {
                gives_nonbio,
                eco_offered,
            } = s.reading
            {
                let rule = match self.inp.settings.i1_rule {
                    I1Rule::NoNonbio => !gives_nonbio,
                    I1Rule::EcoOffered => eco_offered,
                };
                // Decree 08/2022 Art. 64: from 2026 a supermarket or trade centre giving
                // non-biodegradable bags is non-compliant whatever the rule says.
                let decree = self.year >= 2026
                    && matches!(f.kind, OutletKind::Supermarket | OutletKind::TradeCentre)
                    && gives_nonbio;
                if rule && !decree {
                    meeting += 1;
                }
            }
        }
        let id = if with_convenience {
            IndicatorId::I1Cs
        } else {
            IndicatorId::I1
        };
        let mut ind = base(id, meeting as f64, total as f64, "outlets");
        ind.coverage = Some(Coverage { surveyed, total });
        ind
    }

    /// I2/I3 (pooled) or their shares, over markets certified `cert` on `as_of`.
    fn reduction(
        &self,
        fac: &[&(&Facility, String)],
        cert: CertKind,
        id: IndicatorId,
        plan: Option<&PlanDef>,
        gaps: &mut BTreeSet<Gap>,
        notes: &mut Notes,
    ) -> Indicator {
        let pooled_id = if cert == CertKind::Civilized {
            IndicatorId::I2
        } else {
            IndicatorId::I3
        };
        let target = target_bp(plan, pooled_id, self.year);
        let mut total = 0u64;
        let (mut sum_b, mut sum_c) = (0i128, 0i128);
        let mut pairs = vec![];
        let mut provisional = false;
        for (f, code) in fac
            .iter()
            .filter(|(f, _)| f.kind == OutletKind::Market && certified(f, cert, self.as_of))
        {
            total += 1;
            let p = self.picks.get(&f.id).copied().unwrap_or_default();
            let Some((b, prov)) = p.baseline else {
                gaps.insert(gap("no_baseline", f, code));
                continue;
            };
            let Some(c) = p.current else {
                gaps.insert(gap("no_current_survey", f, code));
                continue;
            };
            let (Reading::Market { nonbio_g: bg, .. }, Reading::Market { nonbio_g: cg, .. }) =
                (b.reading, c.reading)
            else {
                continue;
            };
            if bg == 0 {
                gaps.insert(gap("zero_baseline", f, code));
                continue;
            }
            provisional |= prov;
            sum_b += i128::from(bg);
            sum_c += i128::from(cg);
            pairs.push((i128::from(bg), i128::from(cg)));
        }
        if provisional {
            notes.provisional = true;
        }
        let coverage = Some(Coverage {
            surveyed: pairs.len() as u64,
            total,
        });
        let mut ind = if id == pooled_id {
            base(
                id,
                (sum_b - sum_c) as f64 / 1000.0,
                sum_b as f64 / 1000.0,
                "kg/day",
            )
        } else {
            let at = match target {
                Some(bp) => pairs
                    .iter()
                    .filter(|(b, c)| at_least(b - c, *b, bp))
                    .count(),
                None => 0,
            };
            let mut ind = base(id, at as f64, pairs.len() as f64, "markets");
            if target.is_none() {
                ind.value = None;
            }
            ind
        };
        ind.coverage = coverage;
        ind.provisional = provisional;
        ind
    }

    fn i4(&self, scope: &str) -> Indicator {
        let level = self.campaign_level;
        let units: Vec<&str> = self
            .inp
            .units
            .iter()
            .filter(|u| u.level == level && crate::units::in_force(u, self.as_of))
            .filter(|u| self.within(&u.code, scope))
            .map(|u| u.code.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let held = units
            .iter()
            .filter(|u| self.campaign_codes.iter().any(|c| self.within(c, u)))
            .count();
        base(IndicatorId::I4, held as f64, units.len() as f64, "units")
    }
}

fn met(ind: &Indicator, bp: u16, id: IndicatorId) -> bool {
    // Exact comparison on the integer figures: kg/day figures are whole grams / 1000.
    let scale = if id == IndicatorId::I2 || id == IndicatorId::I3 {
        1000.0
    } else {
        1.0
    };
    let num = (ind.numerator * scale).round() as i128;
    let den = (ind.denominator * scale).round() as i128;
    den > 0 && at_least(num, den, bp)
}

fn base(id: IndicatorId, numerator: f64, denominator: f64, unit: &str) -> Indicator {
    let (vi, en) = names(id);
    Indicator {
        id,
        name_vi: vi.into(),
        name_en: en.into(),
        value: ratio(numerator, denominator),
        numerator,
        denominator,
        unit: unit.into(),
        target: None,
        met: None,
        coverage: None,
        provisional: false,
    }
}

fn gap(kind: &str, f: &Facility, unit: &str) -> Gap {
    Gap {
        kind: kind.into(),
        record: format!("{}-{}", f.id.author.hex(), f.id.seq),
        name: f.name.clone(),
        unit: unit.into(),
    }
}

fn unit_ref(u: &crate::wire::UnitDef) -> UnitRef {
    UnitRef {
        code: u.code.clone(),
        name: u.name.clone(),
        level: u.level,
    }
}

#[derive(Default)]
struct Notes {
    provisional: bool,
}

/// The scope of a report on `as_of`: `unit` when given (it must be in force then and inside the
/// province), else the province-level unit in force (the hub's code preferred).
fn scope_of(inp: &Inputs<'_>, unit: Option<&str>, as_of: Date) -> Result<UnitRef, Error> {
    match unit {
        Some(code) => {
            if let Some(m) = mapped_scope(inp, code, as_of) {
                return Ok(unit_ref(m.version));
            }
            let u = inp.units.at(code, as_of).ok_or_else(|| {
                Error::Invalid(format!(
                    "unit {code} is not in force on {as_of} / đơn vị {code} không còn hiệu lực ngày {as_of}"
                ))
            })?;
            Ok(unit_ref(u))
        }
        None => {
            let mut provinces: Vec<&crate::wire::UnitDef> = inp
                .units
                .iter()
                .filter(|u| u.level == Level::Province && crate::units::in_force(u, as_of))
                .collect();
            provinces.sort_by_key(|u| u.code != inp.province);
            provinces.first().map(|u| unit_ref(u)).ok_or_else(|| {
                Error::Invalid(format!(
                    "no province unit in force on {as_of} / không có tỉnh nào hiệu lực ngày {as_of}"
                ))
            })
        }
    }
}

/// The facts of these lists, grouped under the inputs' units.
fn grouped<'a>(
    inp: &Inputs<'_>,
    surveys: impl Iterator<Item = &'a Survey>,
    campaigns: impl Iterator<Item = &'a Campaign>,
) -> Facts {
    let mut f = Facts::from_lists(inp.facilities, surveys, campaigns);
    f.group(inp.units);
    f
}

/// The report for `year` and `unit` (none: the whole province).
pub fn report(inp: &Inputs<'_>, year: u16, unit: Option<&str>) -> Result<Report, Error> {
    let as_of_y = as_of(year, inp.today);
    let mapped = unit.and_then(|u| mapped_scope(inp, u, as_of_y));
    let ended = mapped
        .as_ref()
        .filter(|m| m.version.valid_to.is_some_and(|t| t < as_of_y));
    // A scope no longer in force takes only the records made in it: from the lists, filtered.
    let built;
    let (facts, outside) = match (ended, inp.facts) {
        (None, Some(f)) => (f, inp.outside),
        (None, None) => {
            built = grouped(inp, inp.surveys.iter(), inp.campaigns.iter());
            (&built, &built.outside[..])
        }
        (Some(m), _) => {
            let made_in = |code: &str, date: Date| inp.units.is_within(code, &m.version.code, date);
            built = grouped(
                inp,
                inp.surveys.iter().filter(|s| made_in(&s.unit, s.date)),
                inp.campaigns.iter().filter(|c| made_in(&c.unit, c.date)),
            );
            (&built, &built.outside[..])
        }
    };
    let y = Year::new(inp, facts, outside, year, mapped.as_ref());
    let scope = scope_of(inp, unit, y.as_of)?;
    let mut gaps = BTreeSet::new();
    let mut notes = Notes::default();
    let indicators = y.indicators(&scope.code, &mut gaps, &mut notes);
    let deadline = deadline(inp.plan, year);
    let mut units = vec![];
    let mut missing = vec![];
    let (mut reported, mut on_time) = (0u64, 0u64);
    let children: Vec<UnitRef> = {
        let mut k: Vec<UnitRef> = y.children(&scope.code).into_iter().map(unit_ref).collect();
        k.sort_by(|a, b| a.code.cmp(&b.code));
        k.dedup_by(|a, b| a.code == b.code);
        k
    };
    for u in &children {
        let first = y.first_report(&u.code);
        let mut scratch = BTreeSet::new();
        units.push(UnitReport {
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
            reported: first.is_some(),
            on_time: deadline.map(|d| first.is_some_and(|h| hlc_date(h) <= d)),
            first_report: first.map(hlc_date),
            indicators: y.indicators(&u.code, &mut scratch, &mut Notes::default()),
        });
    }
    for u in y.reporting_units(&scope.code) {
        match y.first_report(&u.code) {
            Some(h) => {
                reported += 1;
                if deadline.is_some_and(|d| hlc_date(h) <= d) {
                    on_time += 1;
                }
            }
            None => missing.push(Named {
                code: u.code,
                name: u.name,
            }),
        }
    }
    let mut all_gaps: Vec<Gap> = gaps.into_iter().collect();
    all_gaps.extend(
        y.ambiguous
            .iter()
            .chain(&y.outside)
            .filter(|g| y.within(&g.unit, &scope.code))
            .cloned(),
    );
    let mut notes = notes_for(inp, &y, &notes, deadline);
    if let Some(m) = &mapped {
        let to: Vec<String> = y
            .children(&scope.code)
            .iter()
            .map(|u| format!("{} ({})", u.name, u.code))
            .collect();
        notes.push(format!(
            "{name} ({code}) không có hiệu lực ngày {as_of}: báo cáo các bản ghi lập tại đơn vị này, \
             tính vào {to} / {name} ({code}) is not in force on {as_of}: the records made in it \
             are reported under {to}",
            name = m.version.name,
            code = m.version.code,
            as_of = y.as_of,
            to = to.join(", ")
        ));
    }
    let regrouped: BTreeSet<String> = y
        .regrouped
        .iter()
        .filter(|(code, _)| y.within(code, &scope.code))
        .map(|(_, text)| text.clone())
        .collect();
    Ok(Report {
        province: inp.province.to_string(),
        province_name: inp.province_name.to_string(),
        year,
        as_of: y.as_of,
        basis: inp.settings.basis,
        plan: inp.plan.map(|p| PlanRef {
            id: p.id.clone(),
            name: p.name.clone(),
            deadline,
        }),
        scope,
        indicators,
        units,
        completeness: Completeness {
            units: reported + missing.len() as u64,
            reported,
            on_time: deadline.map(|_| on_time),
            deadline,
            missing,
        },
        gaps: all_gaps,
        notes,
        regrouped: regrouped.into_iter().collect(),
    })
}

fn notes_for(inp: &Inputs<'_>, y: &Year<'_>, n: &Notes, deadline: Option<Date>) -> Vec<String> {
    let mut out = vec![match inp.settings.basis {
        Basis::Submitted => "Tính trên các bản ghi đã nộp, trừ bản ghi bị trả lại / Counts submitted records, except those returned for correction".to_string(),
        Basis::Verified => "Chỉ tính các bản ghi đã xác minh / Counts verified records only".to_string(),
    }];
    out.push(format!(
        "Đơn vị hành chính và chứng nhận chợ xét tại ngày {d}; số liệu ở đơn vị cũ được quy về đơn vị kế thừa / Units and market certifications as on {d}; records in former units are mapped to their successors",
        d = y.as_of
    ));
    if inp.settings.i1_rule == I1Rule::EcoOffered {
        out.push("I1: cơ sở đạt khi có cung cấp bao bì thân thiện môi trường / I1: an outlet meets the rule when it offers eco-friendly packaging".into());
    }
    if y.year >= 2026 {
        out.push("Từ 2026, siêu thị, TTTM còn phát túi ni lông khó phân hủy là không đạt (Nghị định 08/2022, Điều 64) / From 2026 supermarkets and trade centres giving non-biodegradable bags do not comply (Decree 08/2022, Art. 64)".into());
    }
    if n.provisional {
        out.push("Có chợ chưa có khảo sát gốc: dùng khảo sát đầu tiên, số liệu tạm tính / Some markets have no baseline-round survey: their first survey is used, figures are provisional".into());
    }
    match inp.plan {
        None => out.push("Chưa nạp kế hoạch: không có chỉ tiêu, không xét đúng hạn / No plan loaded: no targets, timeliness not assessed".into()),
        Some(_) if deadline.is_none() => out.push("Kế hoạch không quy định hạn báo cáo: không xét đúng hạn / The plan sets no reporting deadline: timeliness not assessed".into()),
        Some(_) => {}
    }
    if !y.ambiguous.is_empty() {
        out.push("Một số cơ sở ở xã bị chia tách: đã gán cho xã giữ mã cũ (hoặc xã có mã nhỏ nhất) / Some facilities stand in communes that were split: assigned to the successor that kept the code (or the one with the lowest code)".into());
    }
    out
}

/// Years with data (surveys, campaigns) or a target, ascending.
pub fn years(inp: &Inputs<'_>) -> Vec<u16> {
    let mut ys: BTreeSet<u16> = match inp.facts {
        Some(f) => f.years(),
        None => {
            let mut ys: BTreeSet<u16> = inp.surveys.iter().map(|s| s.year).collect();
            ys.extend(inp.campaigns.iter().map(|c| c.date.year()));
            ys
        }
    };
    if let Some(p) = inp.plan {
        ys.extend(p.targets.iter().map(|t| t.year));
    }
    ys.into_iter().collect()
}

/// One report per year with data or a target, ascending; years in which `unit` is not in force are
/// left out.
pub fn trend(inp: &Inputs<'_>, unit: Option<&str>) -> Result<Vec<Report>, Error> {
    let built;
    let mut with = *inp;
    if inp.facts.is_none() {
        built = grouped(inp, inp.surveys.iter(), inp.campaigns.iter());
        with.facts = Some(&built);
        with.outside = &built.outside;
    }
    let mut out = vec![];
    for y in years(&with) {
        match report(&with, y, unit) {
            Ok(r) => out.push(r),
            Err(Error::Invalid(_)) if unit.is_some() => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "indicators_tests.rs"]
mod tests;

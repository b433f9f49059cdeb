//! The facts the indicators read, as aggregates a store can keep up to date as it merges, so a report
//! costs O(facilities + cells) instead of O(records) (issue 13).
//!
//! Every record contributes at most one [`Item`] (its current value: a facility, a survey or a
//! campaign, with the review status of that value). The indicators need, per facility, its surveys'
//! extremes (the first, the first baseline-round one, the two latest) per (facility, year, status):
//! a [`SurveyCell`]; and, per (year, unit recorded, date, status), when the first record was made and
//! whether a campaign was held: a [`ReportCell`]. A cell is a function of its members' items, so a
//! store adds an item to a cell in place and, when one leaves, recomputes the cell from the members
//! it keeps (a survey cell's as keys of their own, a report cell's inline: they are few) ([`SurveyCell::of`], [`ReportCell::of`]). [`Facts::from_lists`] is the same from scratch;
//! `indicators::report` reads only [`Facts`] (built from the lists when it is given none).
//!
//! Status is kept as a byte ([`status_code`]) so the cells encode with the wire codec.

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};

use crate::indicators::{hlc_date, Campaign, Facility, Reading, Survey};
use crate::units::Units;
use crate::view::{status_of, RecordState, ReviewState, ReviewStatus, Value};
use crate::wire::{Body, Date, Dot, Hlc, Round};

/// A review status as one byte.
pub fn status_code(s: ReviewStatus) -> u8 {
    match s {
        ReviewStatus::Submitted => 0,
        ReviewStatus::Verified => 1,
        ReviewStatus::Returned => 2,
    }
}

/// The review status of a byte from [`status_code`] (anything else: none).
pub fn status_from(c: u8) -> Option<ReviewStatus> {
    match c {
        0 => Some(ReviewStatus::Submitted),
        1 => Some(ReviewStatus::Verified),
        2 => Some(ReviewStatus::Returned),
        _ => None,
    }
}

/// Every status, as bytes.
pub const STATUSES: [u8; 3] = [0, 1, 2];

/// What one record contributes to the indicators: its current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A registered facility.
    Facility(Facility),
    /// A survey.
    Survey(Survey),
    /// An awareness campaign.
    Campaign(Campaign),
}

/// The item of a record: none when it has no live value (retracted). `reviews` and `created` (the
/// device's wall clock in ms when its creating entry carries one) are asked only for surveys and
/// campaigns. A record's first-recorded time is that wall clock, else its creating entry's clock.
pub fn item(
    rec: &RecordState,
    reviews: impl FnOnce(&Dot) -> Vec<ReviewState>,
    created: impl FnOnce(&Dot) -> Option<u64>,
) -> Option<Item> {
    let w = rec.winning()?;
    let Value::Body(body) = &w.version.value else {
        return None;
    };
    if let Body::Outlet(o) = body {
        return Some(Item::Facility(Facility {
            id: rec.id,
            name: o.name.clone(),
            kind: o.kind,
            unit: o.unit.clone(),
            unit_date: hlc_date(w.version.hlc),
            certifications: o.certifications.clone(),
            opened: o.opened,
            closed: o.closed,
        }));
    }
    let first_hlc = match created(&rec.id) {
        Some(ms) => Hlc(ms.min((1 << 48) - 1) << 16),
        None => rec
            .versions
            .iter()
            .find(|v| v.version.dot == rec.id)
            .map_or(w.version.hlc, |v| v.version.hlc),
    };
    // A record with no decision is submitted whatever its hash: hash only when there are some.
    let reviews = reviews(&rec.id);
    let status = if reviews.is_empty() {
        ReviewStatus::Submitted
    } else {
        status_of(&RecordState::hash_of(w), &reviews)
    };
    Some(match body {
        Body::Outlet(_) => return None,
        Body::MarketSurvey(s) => Item::Survey(Survey {
            record: rec.id,
            outlet: s.outlet,
            unit: s.unit.clone(),
            date: s.date,
            year: s.year,
            hlc: w.version.hlc,
            first_hlc,
            reading: Reading::Market {
                nonbio_g: s.nonbio_g_per_day,
                baseline_round: s.round == Round::Baseline,
            },
            status,
        }),
        Body::RetailSurvey(s) => Item::Survey(Survey {
            record: rec.id,
            outlet: s.outlet,
            unit: s.unit.clone(),
            date: s.date,
            year: s.year,
            hlc: w.version.hlc,
            first_hlc,
            reading: Reading::Retail {
                gives_nonbio: s.gives_nonbio,
                eco_offered: s.eco_bags_per_day.is_some_and(|n| n > 0)
                    || s.sells_reusable == Some(true),
            },
            status,
        }),
        Body::Campaign(c) => Item::Campaign(Campaign {
            record: rec.id,
            unit: c.unit.clone(),
            date: c.date,
            first_hlc,
            status,
        }),
    })
}

/// One survey as a cell keeps it: what orders it and what it measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Pick {
    /// Survey date.
    pub date: Date,
    /// Clock of its current value.
    pub hlc: Hlc,
    /// The survey record.
    pub record: Dot,
    /// What it measured.
    pub reading: Reading,
}

impl Pick {
    /// The pick of a survey.
    pub fn of(s: &Survey) -> Pick {
        Pick {
            date: s.date,
            hlc: s.hlc,
            record: s.record,
            reading: s.reading,
        }
    }

    /// Which survey is first: by date, then clock, then record id.
    pub fn order(&self) -> (Date, Hlc, Dot) {
        (self.date, self.hlc, self.record)
    }

    fn baseline_round(&self) -> bool {
        matches!(
            self.reading,
            Reading::Market {
                baseline_round: true,
                ..
            }
        )
    }
}

/// A survey as a store keeps it under its cell's key (which holds its outlet, year and status).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SurveyMember {
    /// Commune recorded on the survey.
    pub unit: String,
    /// Survey date.
    pub date: Date,
    /// Clock of its current value.
    pub hlc: Hlc,
    /// When it was first recorded.
    pub first_hlc: Hlc,
    /// What it measured.
    pub reading: Reading,
}

impl SurveyMember {
    /// What a store keeps of a survey.
    pub fn of(s: &Survey) -> SurveyMember {
        SurveyMember {
            unit: s.unit.clone(),
            date: s.date,
            hlc: s.hlc,
            first_hlc: s.first_hlc,
            reading: s.reading,
        }
    }

    /// The survey back, from its cell's key and its record id (none for a bad status byte).
    pub fn survey(self, key: &SurveyKey, record: Dot) -> Option<Survey> {
        Some(Survey {
            record,
            outlet: key.0,
            unit: self.unit,
            date: self.date,
            year: key.1,
            hlc: self.hlc,
            first_hlc: self.first_hlc,
            reading: self.reading,
            status: status_from(key.2)?,
        })
    }
}

/// A (facility, year, status) cell: `(outlet, year, status byte)`.
pub type SurveyKey = (Dot, u16, u8);

/// The cell of a survey.
pub fn survey_key(s: &Survey) -> SurveyKey {
    (s.outlet, s.year, status_code(s.status))
}

/// The surveys of one facility in one reporting year with one review status, as extremes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct SurveyCell {
    /// Members.
    pub count: u32,
    /// The first (lowest order).
    pub first: Pick,
    /// The first baseline-round survey.
    pub first_baseline: Option<Pick>,
    /// The latest (highest order).
    pub last: Pick,
    /// The one before the latest.
    pub second: Option<Pick>,
    /// Earliest survey date.
    pub min_date: Date,
    /// Latest survey date.
    pub max_date: Date,
}

impl SurveyCell {
    /// The cell of one survey.
    pub fn new(s: &Survey) -> SurveyCell {
        let p = Pick::of(s);
        SurveyCell {
            count: 1,
            first: p,
            first_baseline: p.baseline_round().then_some(p),
            last: p,
            second: None,
            min_date: s.date,
            max_date: s.date,
        }
    }

    /// Adds a survey (not already a member).
    pub fn add(&mut self, s: &Survey) {
        let p = Pick::of(s);
        self.count += 1;
        if p.order() < self.first.order() {
            self.first = p;
        }
        if p.baseline_round() && self.first_baseline.is_none_or(|b| p.order() < b.order()) {
            self.first_baseline = Some(p);
        }
        if p.order() > self.last.order() {
            self.second = Some(self.last);
            self.last = p;
        } else if self.second.is_none_or(|b| p.order() > b.order()) {
            self.second = Some(p);
        }
        self.min_date = self.min_date.min(s.date);
        self.max_date = self.max_date.max(s.date);
    }

    /// The cell of these surveys (none when there are none).
    pub fn of<'a>(members: impl IntoIterator<Item = &'a Survey>) -> Option<SurveyCell> {
        let mut it = members.into_iter();
        let mut c = SurveyCell::new(it.next()?);
        for s in it {
            c.add(s);
        }
        Some(c)
    }
}

/// A (year, unit recorded, date, status) cell.
pub type ReportKey = (u16, String, Date, u8);

/// What one survey or campaign adds to its report cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub struct ReportMember {
    /// When it was first recorded.
    pub first: Hlc,
    /// A campaign (else a survey).
    pub campaign: bool,
}

/// The report cell of an item and what it adds (facilities have none).
pub fn report_of(item: &Item) -> Option<(ReportKey, ReportMember)> {
    match item {
        Item::Facility(_) => None,
        Item::Survey(s) => Some((
            (s.year, s.unit.clone(), s.date, status_code(s.status)),
            ReportMember {
                first: s.first_hlc,
                campaign: false,
            },
        )),
        Item::Campaign(c) => Some((
            (c.date.year(), c.unit.clone(), c.date, status_code(c.status)),
            ReportMember {
                first: c.first_hlc,
                campaign: true,
            },
        )),
    }
}

/// The records of one year recorded in one unit on one date with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct ReportCell {
    /// Surveys.
    pub surveys: u32,
    /// Campaigns.
    pub campaigns: u32,
    /// When the first of them was recorded.
    pub first: Hlc,
}

impl ReportCell {
    /// The cell of one member.
    pub fn new(m: &ReportMember) -> ReportCell {
        ReportCell {
            surveys: u32::from(!m.campaign),
            campaigns: u32::from(m.campaign),
            first: m.first,
        }
    }

    /// Adds a member.
    pub fn add(&mut self, m: &ReportMember) {
        if m.campaign {
            self.campaigns += 1;
        } else {
            self.surveys += 1;
        }
        self.first = self.first.min(m.first);
    }

    /// The cell of these members (none when there are none).
    pub fn of<'a>(members: impl IntoIterator<Item = &'a ReportMember>) -> Option<ReportCell> {
        let mut it = members.into_iter();
        let mut c = ReportCell::new(it.next()?);
        for m in it {
            c.add(m);
        }
        Some(c)
    }
}

/// A report cell's group: (year, unit recorded, status, the first day of the unit version in force on
/// the records' date, `Date(0)` for a version in force since always or an unknown unit). Where records
/// stand on a reference date depends on their date only through that version, so reports read these
/// groups, O(unit versions), instead of one cell per date.
pub type VersionKey = (u16, String, u8, Date);

/// The group of a report cell under `units`.
pub fn version_key(units: &Units, k: &ReportKey) -> VersionKey {
    let from = units
        .at_or_latest(&k.1, k.2)
        .map_or(Date(0), |v| v.valid_from.unwrap_or(Date(0)));
    (k.0, k.1.clone(), k.3, from)
}

/// `into` with `c`'s members added.
pub fn merge_cell(into: &mut ReportCell, c: &ReportCell) {
    into.surveys += c.surveys;
    into.campaigns += c.campaigns;
    into.first = into.first.min(c.first);
}

/// True when the survey is dated outside its facility's open period.
pub fn outside_open_period(f: &Facility, s: &Survey) -> bool {
    f.opened.is_some_and(|o| s.date < o) || f.closed.is_some_and(|c| s.date > c)
}

/// True when some survey of the cell may be dated outside the facility's open period.
pub fn cell_may_be_outside(f: &Facility, c: &SurveyCell) -> bool {
    f.opened.is_some_and(|o| c.min_date < o) || f.closed.is_some_and(|c2| c.max_date > c2)
}

/// Everything the indicators read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Registered facilities by id.
    pub facilities: BTreeMap<Dot, Facility>,
    /// Survey cells.
    pub surveys: BTreeMap<SurveyKey, SurveyCell>,
    /// Report cells.
    pub reports: BTreeMap<ReportKey, ReportCell>,
    /// Surveys dated outside their facility's open period (any year, any status), by record id.
    pub outside: Vec<Survey>,
    /// The report cells by group ([`Facts::group`]): what reports read.
    pub by_version: BTreeMap<VersionKey, ReportCell>,
}

impl Facts {
    /// The facts of these current values, from scratch.
    pub fn from_lists<'a>(
        facilities: &[Facility],
        surveys: impl IntoIterator<Item = &'a Survey>,
        campaigns: impl IntoIterator<Item = &'a Campaign>,
    ) -> Facts {
        let mut f = Facts {
            facilities: facilities.iter().map(|x| (x.id, x.clone())).collect(),
            ..Facts::default()
        };
        for s in surveys {
            f.add(&Item::Survey(s.clone()));
            if let Some(fac) = f.facilities.get(&s.outlet) {
                if outside_open_period(fac, s) {
                    f.outside.push(s.clone());
                }
            }
        }
        for c in campaigns {
            f.add(&Item::Campaign(c.clone()));
        }
        f.outside.sort_by_key(|s| s.record);
        f
    }

    /// Computes [`Facts::by_version`] from the report cells under `units`.
    pub fn group(&mut self, units: &Units) {
        self.by_version.clear();
        for (k, c) in &self.reports {
            self.by_version
                .entry(version_key(units, k))
                .and_modify(|g| merge_cell(g, c))
                .or_insert(*c);
        }
    }

    /// The report cell `key` becomes `new` (none: deleted): the cell and its group under `units`
    /// change accordingly, the group recomputed from its cells only when its first record left.
    pub fn set_report(&mut self, units: &Units, key: ReportKey, new: Option<ReportCell>) {
        let old = match new {
            Some(c) => self.reports.insert(key.clone(), c),
            None => self.reports.remove(&key),
        };
        let vk = version_key(units, &key);
        let group = self.by_version.get(&vk).copied();
        let recompute = match (old, group) {
            (Some(o), Some(g)) => o.first == g.first && new.is_none_or(|n| n.first > o.first),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if recompute {
            let lo = (key.0, key.1.clone(), Date(0), 0);
            let hi = (key.0, key.1.clone(), Date(u32::MAX), u8::MAX);
            let mut g: Option<ReportCell> = None;
            for (k, c) in self.reports.range(lo..=hi) {
                if k.3 == key.3 && version_key(units, k) == vk {
                    match &mut g {
                        Some(g) => merge_cell(g, c),
                        None => g = Some(*c),
                    }
                }
            }
            match g {
                Some(g) => self.by_version.insert(vk, g),
                None => self.by_version.remove(&vk),
            };
            return;
        }
        let mut g = group.unwrap_or(ReportCell {
            surveys: 0,
            campaigns: 0,
            first: Hlc(u64::MAX),
        });
        if let Some(o) = old {
            g.surveys -= o.surveys.min(g.surveys);
            g.campaigns -= o.campaigns.min(g.campaigns);
        }
        if let Some(n) = new {
            merge_cell(&mut g, &n);
        }
        if g.surveys + g.campaigns == 0 {
            self.by_version.remove(&vk);
        } else {
            self.by_version.insert(vk, g);
        }
    }

    /// Adds an item to its cells (facilities are replaced; `outside` is not kept here).
    pub fn add(&mut self, item: &Item) {
        match item {
            Item::Facility(x) => {
                self.facilities.insert(x.id, x.clone());
            }
            Item::Survey(s) => {
                self.surveys
                    .entry(survey_key(s))
                    .and_modify(|c| c.add(s))
                    .or_insert_with(|| SurveyCell::new(s));
            }
            Item::Campaign(_) => {}
        }
        if let Some((k, m)) = report_of(item) {
            self.reports
                .entry(k)
                .and_modify(|c| c.add(&m))
                .or_insert_with(|| ReportCell::new(&m));
        }
    }

    /// Years with surveys or campaigns (any status), ascending.
    ///
    /// Read from the report cells.
    pub fn years(&self) -> BTreeSet<u16> {
        let mut out = BTreeSet::new();
        let mut next = self.reports.keys().next().map(|k| k.0);
        while let Some(y) = next {
            out.insert(y);
            next = y.checked_add(1).and_then(|n| {
                self.reports
                    .range((n, String::new(), Date(0), 0)..)
                    .next()
                    .map(|(k, _)| k.0)
            });
        }
        out
    }
}

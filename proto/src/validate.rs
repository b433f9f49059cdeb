//! Field rules for what people record, shared by the agent (before saving) and the hub (on receipt).
//!
//! Every error names the field it is about, in the words the CLI uses for its flags, so a user sees
//! exactly what to fix. Rules come from the domain notes: counts cannot exceed their totals, bag
//! weights are 0-1,000 kg per day, dates are real and not in the future. Warnings flag unusual but
//! legal values (more than 0.5 kg of bags per vendor per day) without refusing them.

use unicode_normalization::UnicodeNormalization;

use crate::wire::{
    Body, CampaignEvent, Date, IndicatorId, MarketSurvey, OutletDef, OutletKind, PlanDef,
    RetailSurvey, MAX_TEXT,
};
use crate::Error;

/// Normalizes text to Unicode NFC (what every stored name and note is).
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

impl Date {
    /// Parses `YYYY-MM-DD`, checking the calendar.
    pub fn parse(s: &str) -> Result<Date, Error> {
        let bad = || Error::Invalid(format!("'{s}' is not a date (YYYY-MM-DD)"));
        let mut parts = s.trim().splitn(3, '-');
        let (y, m, d) = (
            parts
                .next()
                .and_then(|p| p.parse::<i32>().ok())
                .ok_or_else(bad)?,
            parts
                .next()
                .and_then(|p| p.parse::<u8>().ok())
                .ok_or_else(bad)?,
            parts
                .next()
                .and_then(|p| p.parse::<u8>().ok())
                .ok_or_else(bad)?,
        );
        Date::from_ymd(y, m, d).ok_or_else(bad)
    }

    /// A date from its parts, when they make a real calendar day in 1900-2199.
    pub fn from_ymd(y: i32, m: u8, d: u8) -> Option<Date> {
        if !(1900..2200).contains(&y) {
            return None;
        }
        let month = time::Month::try_from(m).ok()?;
        time::Date::from_calendar_date(y, month, d).ok()?;
        Some(Date(y as u32 * 10000 + m as u32 * 100 + d as u32))
    }

    /// The year.
    pub fn year(self) -> u16 {
        (self.0 / 10000) as u16
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0 / 10000,
            self.0 / 100 % 100,
            self.0 % 100
        )
    }
}

fn field(field: &str, message: impl Into<String>) -> Error {
    Error::Field {
        field: field.into(),
        message: message.into(),
    }
}

fn text(name: &str, s: &str, required: bool) -> Result<(), Error> {
    if required && s.trim().is_empty() {
        return Err(field(name, "must not be empty"));
    }
    if s.chars().count() > MAX_TEXT {
        return Err(field(name, format!("longer than {MAX_TEXT} characters")));
    }
    Ok(())
}

fn date_rules(name: &str, date: Date, today: Option<Date>) -> Result<(), Error> {
    if Date::from_ymd(
        date.year() as i32,
        (date.0 / 100 % 100) as u8,
        (date.0 % 100) as u8,
    )
    .is_none()
    {
        return Err(field(name, format!("{} is not a calendar date", date.0)));
    }
    if let Some(today) = today {
        if date > today {
            return Err(field(
                name,
                format!("{date} is in the future (today is {today})"),
            ));
        }
    }
    Ok(())
}

fn year_rules(year: u16, date: Date) -> Result<(), Error> {
    // A survey made early in a year may report on the year before; never on a later year.
    if year > date.year() || year + 1 < date.year() {
        return Err(field(
            "year",
            format!(
                "reporting year {year} does not fit survey date {date} (use {} or {})",
                date.year() - 1,
                date.year()
            ),
        ));
    }
    Ok(())
}

/// Checks a record body. `today` is the recorder's date (None at the hub, whose clock may differ).
/// Returns warnings for unusual but acceptable values.
pub fn body(b: &Body, today: Option<Date>) -> Result<Vec<String>, Error> {
    match b {
        Body::Outlet(o) => outlet(o).map(|_| vec![]),
        Body::MarketSurvey(s) => market(s, today),
        Body::RetailSurvey(s) => retail(s, today).map(|_| vec![]),
        Body::Campaign(c) => campaign(c, today).map(|_| vec![]),
    }
}

/// A survey's date against its outlet's open period (`opened` to `closed`, both days inside, either
/// end open when unknown): outside it the survey is refused, naming `date`. The agent checks it at
/// entry against the outlet as it knows it; the hub against every version of the outlet it holds.
pub fn survey_in_open_period(date: Date, outlet: &OutletDef) -> Result<(), Error> {
    if let Some(o) = outlet.opened.filter(|&o| date < o) {
        return Err(field(
            "date",
            format!(
                "ngày khảo sát {date} trước ngày cơ sở mở cửa {o} / survey date {date} is before \
                 the outlet opened on {o}"
            ),
        ));
    }
    if let Some(c) = outlet.closed.filter(|&c| date > c) {
        return Err(field(
            "date",
            format!(
                "ngày khảo sát {date} sau ngày cơ sở đóng cửa {c} / survey date {date} is after \
                 the outlet closed on {c}"
            ),
        ));
    }
    Ok(())
}

fn outlet(o: &OutletDef) -> Result<(), Error> {
    text("name", &o.name, true)?;
    text("address", &o.address, false)?;
    match (o.kind, o.market_class) {
        (OutletKind::Market, Some(1..=3)) | (OutletKind::Market, None) => {}
        (OutletKind::Market, Some(c)) => {
            return Err(field("class", format!("market class {c} is not 1, 2 or 3")))
        }
        (_, Some(_)) => return Err(field("class", "only markets have a class")),
        (_, None) => {}
    }
    for (name, d) in [("opened", o.opened), ("closed", o.closed)] {
        if let Some(d) = d {
            date_rules(name, d, None)?;
        }
    }
    if let (Some(a), Some(b)) = (o.opened, o.closed) {
        if b < a {
            return Err(field("closed", format!("{b} is before opened {a}")));
        }
    }
    if o.kind != OutletKind::Market && !o.certifications.is_empty() {
        return Err(field("certification", "only markets are certified"));
    }
    for c in &o.certifications {
        date_rules("certification date", c.from, None)?;
        if let Some(to) = c.to {
            if to < c.from {
                return Err(field(
                    "certification date",
                    format!("ends {to} before it starts {}", c.from),
                ));
            }
        }
    }
    Ok(())
}

fn market(s: &MarketSurvey, today: Option<Date>) -> Result<Vec<String>, Error> {
    date_rules("date", s.date, today)?;
    year_rules(s.year, s.date)?;
    if s.vendors_total == 0 {
        return Err(field("vendors-total", "must be at least 1"));
    }
    if s.vendors_surveyed == 0 {
        return Err(field("vendors-surveyed", "must be at least 1"));
    }
    if s.vendors_surveyed > s.vendors_total {
        return Err(field(
            "vendors-surveyed",
            format!(
                "{} is more than vendors-total {}",
                s.vendors_surveyed, s.vendors_total
            ),
        ));
    }
    if s.vendors_nonbio > s.vendors_surveyed {
        return Err(field(
            "vendors-nonbio",
            format!(
                "{} is more than vendors-surveyed {}",
                s.vendors_nonbio, s.vendors_surveyed
            ),
        ));
    }
    if let Some(alt) = s.vendors_alternatives {
        if alt > s.vendors_surveyed {
            return Err(field(
                "vendors-alternatives",
                format!("{alt} is more than vendors-surveyed {}", s.vendors_surveyed),
            ));
        }
    }
    if s.nonbio_g_per_day > 1_000_000 {
        return Err(field("nonbio-kg", "must be between 0 and 1000 kg per day"));
    }
    if s.eco_g_per_day.is_some_and(|g| g > 1_000_000) {
        return Err(field("eco-kg", "must be between 0 and 1000 kg per day"));
    }
    if let Some(d) = s.operating_days {
        if !(1..=31).contains(&d) {
            return Err(field(
                "operating-days",
                format!("{d} is not between 1 and 31"),
            ));
        }
    }
    text("notes", &s.notes, false)?;
    let mut warnings = vec![];
    // 0.5 kg per vendor per day, in grams: warn, do not refuse.
    if u64::from(s.nonbio_g_per_day) * 2 > u64::from(s.vendors_surveyed) * 1000 {
        warnings.push(format!(
            "nonbio-kg: {} kg/day from {} vendors surveyed is more than 0.5 kg per vendor; check the figure",
            kg(s.nonbio_g_per_day),
            s.vendors_surveyed
        ));
    }
    Ok(warnings)
}

fn retail(s: &RetailSurvey, today: Option<Date>) -> Result<(), Error> {
    if s.kind == OutletKind::Market {
        return Err(field("outlet", "is a market: use a market survey"));
    }
    date_rules("date", s.date, today)?;
    year_rules(s.year, s.date)?;
    if s.nonbio_bags_per_day.is_some_and(|n| n > 1_000_000) {
        return Err(field("nonbio-bags", "more than 1,000,000 bags a day"));
    }
    if s.eco_bags_per_day.is_some_and(|n| n > 1_000_000) {
        return Err(field("eco-bags", "more than 1,000,000 bags a day"));
    }
    if !s.gives_nonbio && s.nonbio_bags_per_day.is_some_and(|n| n > 0) {
        return Err(field(
            "nonbio-bags",
            "is above 0 but the outlet is recorded as giving no non-biodegradable bags",
        ));
    }
    text("bag-types", &s.bag_types, false)?;
    text("notes", &s.notes, false)?;
    Ok(())
}

fn campaign(c: &CampaignEvent, today: Option<Date>) -> Result<(), Error> {
    date_rules("date", c.date, today)?;
    if c.participants.is_some_and(|p| p > 10_000_000) {
        return Err(field("participants", "implausibly large"));
    }
    text("topic", &c.topic, true)
}

/// Checks a plan: id, names, period, deadline, thresholds within 0..=10000 basis points, target years
/// inside the period, one target per indicator and year. Errors name the plan file's field.
pub fn plan(p: &PlanDef) -> Result<(), Error> {
    if p.id.is_empty()
        || p.id.len() > 64
        || !p
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(field(
            "id",
            format!(
                "'{}' is not a plan id (lowercase letters, digits, '-')",
                p.id
            ),
        ));
    }
    text("name", &p.name, true)?;
    text("name_en", &p.name_en, false)?;
    text("source", &p.source, false)?;
    if p.province.is_empty() || !p.province.chars().all(|c| c.is_ascii_digit()) {
        return Err(field(
            "province",
            format!("'{}' is not a province code", p.province),
        ));
    }
    let (a, b) = p.period;
    if !(2000..=2100).contains(&a) || !(2000..=2100).contains(&b) || b < a {
        return Err(field(
            "period",
            format!("{a}-{b} is not a period of years (2000-2100, first ≤ last)"),
        ));
    }
    if let Some((m, d)) = p.deadline {
        // 2024 is a leap year: 29 February is a possible deadline.
        if Date::from_ymd(2024, m, d).is_none() {
            return Err(field(
                "deadline",
                format!("{m:02}-{d:02} is not a day of the year (MM-DD)"),
            ));
        }
    }
    if p.notes.len() > 64 {
        return Err(field("notes", "more than 64 notes"));
    }
    for n in &p.notes {
        text("notes", n, false)?;
    }
    if p.targets.len() > 256 {
        return Err(field("targets", "more than 256 targets"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in &p.targets {
        let what = format!("targets ({} {})", t.indicator.as_str(), t.year);
        if t.threshold_bp > 10_000 {
            return Err(field(
                &what,
                format!(
                    "threshold {} is outside 0..1",
                    f64::from(t.threshold_bp) / 10_000.0
                ),
            ));
        }
        if t.year < a || t.year > b {
            return Err(field(
                &what,
                format!("year {} is outside the plan's period {a}-{b}", t.year),
            ));
        }
        if !seen.insert((t.indicator, t.year)) {
            return Err(field(&what, "set twice"));
        }
    }
    // A share counts the markets individually at the pooled target: without one in force there is
    // nothing to count them against.
    for t in &p.targets {
        let pooled = match t.indicator {
            IndicatorId::I2Share => IndicatorId::I2,
            IndicatorId::I3Share => IndicatorId::I3,
            _ => continue,
        };
        if !p
            .targets
            .iter()
            .any(|u| u.indicator == pooled && u.year <= t.year)
        {
            let (s, q) = (t.indicator.as_str(), pooled.as_str());
            return Err(field(
                &format!("targets ({s} {})", t.year),
                format!(
                    "chỉ tiêu {s} cần chỉ tiêu {q} từ năm {y} trở về trước (mỗi chợ được xét theo mức {q}) / \
                     a {s} target needs an {q} target from {y} or earlier (each market is judged against the {q} target)",
                    y = t.year
                ),
            ));
        }
    }
    Ok(())
}

/// Grams as a kilogram figure for display (up to 3 decimals, no trailing zeros).
pub fn kg(grams: u32) -> String {
    kg_u64(u64::from(grams))
}

/// Grams (possibly a large sum) as kilograms for display.
pub fn kg_u64(grams: u64) -> String {
    let s = format!("{}.{:03}", grams / 1000, grams % 1000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Parses a kilogram figure (up to 3 decimals, `.` or `,` as separator) into grams; the error names `name`.
pub fn parse_kg(name: &str, s: &str) -> Result<u32, Error> {
    let s = s.trim().replace(',', ".");
    let bad = || field(name, format!("'{s}' is not a weight in kg (e.g. 12.5)"));
    if s.starts_with('-') {
        return Err(field(name, "must not be negative"));
    }
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 3
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    let grams = whole
        .checked_mul(1000)
        .and_then(|g| g.checked_add(frac))
        .ok_or_else(bad)?;
    if grams > 1_000_000 {
        return Err(field(name, "must be between 0 and 1000 kg per day"));
    }
    Ok(grams as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthorId;
    use crate::wire::{Dot, Round};

    fn survey() -> MarketSurvey {
        MarketSurvey {
            outlet: Dot {
                author: AuthorId([1; 32]),
                seq: 1,
            },
            unit: "30226".into(),
            date: Date(20250312),
            year: 2025,
            round: Round::Baseline,
            vendors_total: 120,
            vendors_surveyed: 40,
            nonbio_g_per_day: 18_500,
            eco_g_per_day: Some(2_000),
            vendors_nonbio: 35,
            vendors_alternatives: Some(5),
            operating_days: Some(30),
            reduction_model: false,
            notes: String::new(),
        }
    }

    fn err_field(r: Result<Vec<String>, Error>) -> String {
        match r {
            Err(Error::Field { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn dates_parse_and_reject_nonsense() {
        assert_eq!(Date::parse("2025-02-28").unwrap(), Date(20250228));
        assert!(Date::parse("2025-02-29").is_err());
        assert!(Date::parse("2024-13-01").is_err());
        assert!(Date::parse("yesterday").is_err());
        assert_eq!(Date(20240229).to_string(), "2024-02-29");
    }

    #[test]
    fn market_rules_name_the_field() {
        let today = Some(Date(20251121));
        assert!(body(&Body::MarketSurvey(survey()), today)
            .unwrap()
            .is_empty());
        let mut s = survey();
        s.vendors_surveyed = 121;
        assert_eq!(
            err_field(body(&Body::MarketSurvey(s), today)),
            "vendors-surveyed"
        );
        let mut s = survey();
        s.date = Date(20251122);
        assert_eq!(err_field(body(&Body::MarketSurvey(s), today)), "date");
        let mut s = survey();
        s.nonbio_g_per_day = 1_000_001;
        assert_eq!(err_field(body(&Body::MarketSurvey(s), today)), "nonbio-kg");
        let mut s = survey();
        s.year = 2026;
        assert_eq!(err_field(body(&Body::MarketSurvey(s), today)), "year");
        let mut s = survey();
        s.vendors_nonbio = 41;
        assert_eq!(
            err_field(body(&Body::MarketSurvey(s), today)),
            "vendors-nonbio"
        );
        let mut s = survey();
        s.nonbio_g_per_day = 40 * 600;
        assert_eq!(body(&Body::MarketSurvey(s), today).unwrap().len(), 1);
    }

    #[test]
    fn kg_parses_exactly() {
        assert_eq!(parse_kg("k", "12.5").unwrap(), 12_500);
        assert_eq!(parse_kg("k", "0,125").unwrap(), 125);
        assert_eq!(parse_kg("k", "1000").unwrap(), 1_000_000);
        assert!(parse_kg("k", "1000.001").is_err());
        assert!(parse_kg("k", "-1").is_err());
        assert!(parse_kg("k", "1.2345").is_err());
        assert!(parse_kg("k", "abc").is_err());
        assert_eq!(kg(12_500), "12.5");
        assert_eq!(kg(3_000), "3");
    }
}

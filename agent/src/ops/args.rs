//! The arguments of each operation, as the CLI parses them and the control socket carries them (clap
//! and serde derive on the same types, so the doors cannot drift apart).

use super::*;

/// An unsigned whole number a flag takes (a count, a year, a class).
pub trait Whole: TryFrom<u64> + Into<u64> + Copy + Send + Sync + 'static {
    /// The largest value the field holds.
    const MAX: Self;
}

impl Whole for u8 {
    const MAX: Self = u8::MAX;
}
impl Whole for u16 {
    const MAX: Self = u16::MAX;
}
impl Whole for u32 {
    const MAX: Self = u32::MAX;
}

/// The value parser of every number flag: a negative, fractional, non-numeric or too large value is
/// refused with the message every other invalid field gets ([`Error::Invalid`], naming the field as
/// `proto::validate` does: `vendors-total`), exit code 2, before anything is opened.
#[derive(Debug, Clone, Copy)]
pub struct WholeParser<T>(std::marker::PhantomData<T>);

/// [`WholeParser`] for `T`.
pub fn whole<T>() -> WholeParser<T> {
    WholeParser(std::marker::PhantomData)
}

/// Parses `text` as the field `field`; the error is the field's bilingual message.
pub fn parse_whole<T: Whole>(field: &str, text: &str) -> Result<T> {
    let t = text.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if t.strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    {
        return Err(invalid(field, "must not be negative"));
    }
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(field, format!("'{t}' is not a whole number")));
    }
    let too_large = || invalid(field, format!("must be at most {}", T::MAX.into()));
    let n: u64 = digits.parse().map_err(|_| too_large())?;
    T::try_from(n).map_err(|_| too_large())
}

impl<T: Whole> clap::builder::TypedValueParser for WholeParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<T, clap::Error> {
        let field = arg.and_then(clap::Arg::get_long).map_or_else(
            || arg.map_or("value".into(), |a| a.get_id().to_string()),
            str::to_string,
        );
        let text = value.to_string_lossy();
        parse_whole(&field, &text)
            .map_err(|e| baobi_cli::invalid_value(cmd, arg, &text, e.to_string()))
    }
}

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
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u8>())]
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
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u8>())]
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
    #[serde(default)]
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
    #[arg(long, allow_negative_numbers = true, value_parser = whole::<u16>())]
    pub year: Option<u16>,
    /// Survey round (default: annual).
    #[arg(long, value_enum)]
    pub round: Option<RoundArg>,
    /// Vendors at the market.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_total: u32,
    /// Vendors surveyed.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_surveyed: u32,
    /// Non-biodegradable bags used per operating day, in kg (e.g. 12.5).
    #[arg(long, allow_hyphen_values = true)]
    pub nonbio_kg: String,
    /// Vendors using non-biodegradable bags.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_nonbio: u32,
    /// Eco-friendly bags used per operating day, in kg.
    #[arg(long, allow_hyphen_values = true)]
    pub eco_kg: Option<String>,
    /// Vendors using alternatives to plastic bags.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_alternatives: Option<u32>,
    /// Operating days per month.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u8>())]
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
    #[arg(long, allow_negative_numbers = true, value_parser = whole::<u16>())]
    pub year: Option<u16>,
    /// Gives non-biodegradable bags to customers.
    #[arg(long, value_enum)]
    pub gives_nonbio: YesNo,
    /// Bag types offered.
    #[arg(long)]
    pub bag_types: Option<String>,
    /// Non-biodegradable bags given per day.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub nonbio_bags: Option<u32>,
    /// Eco-friendly bags given per day.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
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
    #[arg(long, allow_negative_numbers = true, value_parser = whole::<u16>())]
    pub year: Option<u16>,
    /// New round (market surveys).
    #[arg(long, value_enum)]
    pub round: Option<RoundArg>,
    /// New vendors total (market surveys).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_total: Option<u32>,
    /// New vendors surveyed (market surveys).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_surveyed: Option<u32>,
    /// New non-biodegradable kg per day (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub nonbio_kg: Option<String>,
    /// New vendors using non-biodegradable bags (market surveys).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_nonbio: Option<u32>,
    /// New eco kg per day (market surveys).
    #[arg(long, allow_hyphen_values = true)]
    pub eco_kg: Option<String>,
    /// New vendors using alternatives (market surveys).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub vendors_alternatives: Option<u32>,
    /// New operating days per month (market surveys).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u8>())]
    pub operating_days: Option<u8>,
    /// A plastic-reduction model runs at the market (market surveys).
    #[arg(long, conflicts_with = "no_reduction_model")]
    #[serde(default)]
    pub reduction_model: bool,
    /// No plastic-reduction model runs at the market (market surveys).
    #[arg(long)]
    #[serde(default)]
    pub no_reduction_model: bool,
    /// Gives non-biodegradable bags (retail surveys).
    #[arg(long, value_enum)]
    pub gives_nonbio: Option<YesNo>,
    /// Bag types offered (retail surveys).
    #[arg(long)]
    pub bag_types: Option<String>,
    /// Non-biodegradable bags per day (retail surveys).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub nonbio_bags: Option<u32>,
    /// Eco bags per day (retail surveys).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
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
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u32>())]
    pub participants: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_flag_names_its_field_in_the_invalid_input_message() {
        assert_eq!(parse_whole::<u32>("vendors-total", " 12 ").unwrap(), 12);
        assert_eq!(parse_whole::<u8>("operating-days", "+30").unwrap(), 30);
        for (text, why) in [
            ("-3", "must not be negative"),
            ("-0.5", "must not be negative"),
            ("abc", "'abc' is not a whole number"),
            ("2.5", "'2.5' is not a whole number"),
            ("", "'' is not a whole number"),
            ("-x", "'-x' is not a whole number"),
            ("4294967296", "must be at most 4294967295"),
            ("99999999999999999999999", "must be at most 4294967295"),
        ] {
            let e = parse_whole::<u32>("vendors-total", text).unwrap_err();
            assert_eq!(e.exit_code(), EXIT_INVALID);
            assert_eq!(
                e.to_string(),
                Error::Invalid {
                    field: Some("vendors-total".into()),
                    message: why.into()
                }
                .to_string(),
                "{text:?}"
            );
        }
        let e = parse_whole::<u8>("operating-days", "256").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("operating-days: must be at most 255"),
            "{e}"
        );
    }
}

//! What the read operations answer: the rows of outlets and surveys, a record's history, the
//! office's status, as the CLI prints them and the control socket carries them.

use super::*;

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
    /// Not at the hub yet, but every own version is held by a relay (`relay add`): on its way.
    #[serde(default)]
    pub at_relay: bool,
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
    /// Own entries the hub holds, acknowledged by the hub directly or by its receipt ("tại máy chủ
    /// / at the hub").
    #[serde(default)]
    pub at_hub: u64,
    /// Own entries a relay acknowledged that no receipt of the hub covers yet ("tại trạm chuyển
    /// tiếp / at the relay"); they are also counted in `pending`.
    #[serde(default)]
    pub at_relay: u64,
}

pub(super) fn outlets(store: &Store) -> Result<Vec<OutletRow>> {
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

pub(super) fn survey_row(
    rec: &RecordState,
    st: &store::State,
    units: &Units,
    me: &AuthorId,
    (acked, relayed): (u64, u64),
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
    let held_to = |mark: u64| {
        rec.versions
            .iter()
            .all(|v| v.version.dot.author != *me || v.version.dot.seq <= mark)
    };
    let synced = held_to(acked);
    let at_relay = !synced && held_to(relayed);
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
        at_relay,
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

pub(super) fn surveys(store: &Store) -> Result<Vec<SurveyRow>> {
    let me = store.author()?;
    let acked = store.acked_seq()?;
    let relayed = crate::relay::relayed_seq(store)?;
    let st = store.state();
    let units = st.view.registry();
    Ok(st
        .view
        .records
        .values()
        .filter_map(|r| survey_row(r, &st, &units, &me, (acked, relayed)))
        .collect())
}

pub(super) fn version_row(v: &baobi_proto::view::StoredVersion) -> VersionRow {
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

pub(super) fn show(store: &Store, id: &str) -> Result<SurveyDetail> {
    let rec = find_record(store, "id", id)?;
    let me = store.author()?;
    let acked = store.acked_seq()?;
    let relayed = crate::relay::relayed_seq(store)?;
    let st = store.state();
    let units = st.view.registry();
    let survey = survey_row(&rec, &st, &units, &me, (acked, relayed))
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

pub(super) fn status(store: &Store, hub: &HubInfo) -> Result<StatusInfo> {
    let units = units(store);
    let office = office(store, hub)?;
    // Read before the state's lock is taken below (`store.state()` lives to the end of the literal).
    let at_hub = store.acked_seq()?.min(store.own_seq()?);
    let at_relay = crate::relay::at_relay(store)?;
    let entries = store.state().entries;
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
        entries,
        at_hub,
        at_relay,
    })
}

//! The operations the office app needed beyond the CLI's (appended to `Request`, so the control
//! socket has them too): enrollment as an operation (the CLI's `init` uses it), the units the office
//! may pick, a filtered and paged survey list, a diacritic-insensitive outlet search, a survey saved
//! only once its warnings are confirmed, an import checked without saving, the office's own
//! indicators and the sync history.

use super::*;

/// Enrollment result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolled {
    /// Author id (hex).
    pub author: String,
    /// Unit code.
    pub unit: String,
    /// Unit name.
    pub unit_name: String,
    /// Province code.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// The hub's address.
    pub hub_addr: String,
    /// Entries received by the first sync, none when it failed.
    pub received: Option<u64>,
    /// Why the first sync failed (bilingual), when it did.
    pub warning: Option<String>,
}

/// A unit the office may pick in a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitRow {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level (`province`, `district`, `commune`).
    pub level: baobi_proto::wire::Level,
    /// Parent code.
    pub parent: Option<String>,
}

/// Filters and page of `Request::SurveyPage`; absent filters match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SurveyQuery {
    /// `market` or `retail`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Reporting year.
    #[serde(default)]
    pub year: Option<u16>,
    /// Review state: `submitted`, `verified`, `returned`.
    #[serde(default)]
    pub review: Option<ReviewStatus>,
    /// Only (true) or no (false) conflicts.
    #[serde(default)]
    pub conflict: Option<bool>,
    /// Only (true) or no (false) records with versions not yet acknowledged by the hub.
    #[serde(default)]
    pub unsent: Option<bool>,
    /// Rows skipped (newest survey date first).
    #[serde(default)]
    pub offset: usize,
    /// Rows at most (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Largest page.
pub const MAX_PAGE: usize = 500;

/// Folds text for searching: NFD, combining marks dropped, đ → d, lowercase ("Lai Vung" and
/// "lai vung", "Đồng" and "dong" fold alike).
pub fn fold(s: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

pub(super) async fn enroll(
    ctx: &Ctx,
    token: &str,
    label: Option<&str>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Response> {
    let token = baobi_proto::Token::from_text(token.trim()).map_err(|e| Error::Invalid {
        field: Some("token".into()),
        message: format!("Mã đăng ký không hợp lệ / Invalid token: {e}"),
    })?;
    let label = label
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|s| s.trim().to_string())
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "baobi-agent".into())
        });
    let store = &ctx.store;
    let reply = {
        let _guard = ctx.sync_lock.lock().await;
        sync::enroll(store, &token, &label).await?
    };
    let first = {
        let _guard = ctx.sync_lock.lock().await;
        let r = sync::sync(store, progress).await;
        crate::history::record(store, &r);
        r
    };
    if let Some(n) = &ctx.saved {
        // Wakes the daemon's sync loop, which waits for an enrollment.
        n.notify_one();
    }
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let (received, warning) = match first {
        Ok(r) => (Some(r.received), None),
        Err(e) => (None, Some(Error::Sync(e).to_string())),
    };
    Ok(Response::Enrolled {
        enrolled: Enrolled {
            author: store.author()?.hex(),
            unit: reply.unit,
            unit_name: reply.unit_name,
            province: reply.province,
            province_name: reply.province_name,
            hub_addr: hub.addr,
            received,
            warning,
        },
    })
}

pub(super) fn unit_rows(store: &Store, hub: &HubInfo) -> Result<Vec<UnitRow>> {
    let units = units(store);
    let office = office(store, hub)?;
    let day = today();
    let mut rows: Vec<UnitRow> = units
        .iter()
        .filter(|u| baobi_proto::units::in_force(u, day))
        .filter(|u| {
            office
                .units
                .iter()
                .any(|o| units.is_within(&u.code, &o.code, day))
        })
        .map(|u| UnitRow {
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
            parent: u.parent.clone(),
        })
        .collect();
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    rows.dedup_by(|a, b| a.code == b.code);
    Ok(rows)
}

pub(super) fn outlet_search(
    store: &Store,
    q: Option<&str>,
    kind: Option<KindArg>,
    commune: Option<&str>,
) -> Result<Vec<OutletRow>> {
    let q = q.map(fold).filter(|q| !q.trim().is_empty());
    let commune = commune.map(str::trim).filter(|c| !c.is_empty()).map(fold);
    let kind = kind.map(OutletKind::from);
    Ok(outlets(store)?
        .into_iter()
        .filter(|o| kind.is_none_or(|k| o.kind == k))
        .filter(|o| {
            commune
                .as_ref()
                .is_none_or(|c| o.unit == *c || fold(&o.unit_name) == *c)
        })
        .filter(|o| {
            q.as_ref().is_none_or(|q| {
                let hay = fold(&format!(
                    "{} {} {} {}",
                    o.name, o.address, o.unit_name, o.id
                ));
                q.split_whitespace().all(|w| hay.contains(w))
            })
        })
        .collect())
}

/// A survey value's date and reporting year (none for a retraction or another body).
fn date_year(v: &Value) -> Option<(Date, u16)> {
    match v {
        Value::Body(Body::MarketSurvey(s)) => Some((s.date, s.year)),
        Value::Body(Body::RetailSurvey(s)) => Some((s.date, s.year)),
        _ => None,
    }
}

pub(super) fn survey_page(store: &Store, q: &SurveyQuery) -> Result<(usize, Vec<SurveyRow>)> {
    let kind = match q.kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("market") | Some("market-survey") => Some(true),
        Some("retail") | Some("retail-survey") => Some(false),
        Some(k) => {
            return Err(invalid(
                "kind",
                format!("'{k}' không phải market hoặc retail / is not market or retail"),
            ))
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let me = store.author()?;
    let acked = store.acked_seq()?;
    let relayed = crate::relay::relayed_seq(store)?;
    let st = store.state();
    // Cheap filters on the record first, rows built only for the page.
    let mut hits: Vec<(Date, &RecordState)> = vec![];
    for rec in st.view.records.values() {
        let market = match rec.original() {
            Some(Body::MarketSurvey(_)) => true,
            Some(Body::RetailSurvey(_)) => false,
            _ => continue,
        };
        if kind.is_some_and(|k| k != market) {
            continue;
        }
        // Most records have one version: that is the head, without rebuilding the register
        // (hashing every version), which dominates a list of 10,000 records otherwise.
        let (date, year, n_heads) = if rec.versions.len() == 1 {
            match date_year(&rec.versions[0].version.value) {
                Some((d, y)) => (d, y, 1),
                None => continue,
            }
        } else {
            let heads = rec.heads();
            let Some(winner) = heads.first() else {
                continue;
            };
            let shown = date_year(&winner.version.value).or_else(|| {
                rec.versions
                    .iter()
                    .rev()
                    .find_map(|v| date_year(&v.version.value))
            });
            match shown {
                Some((d, y)) => (d, y, heads.len()),
                None => continue,
            }
        };
        if q.year.is_some_and(|y| y != year) {
            continue;
        }
        if q.conflict.is_some_and(|c| c != (n_heads > 1)) {
            continue;
        }
        if let Some(u) = q.unsent {
            let unsent = rec
                .versions
                .iter()
                .any(|v| v.version.dot.author == me && v.version.dot.seq > acked);
            if u != unsent {
                continue;
            }
        }
        if let Some(r) = q.review {
            // No decision on the record: submitted, without computing its heads.
            let status = if st.view.reviews.get(&rec.id).is_none_or(|l| l.is_empty()) {
                ReviewStatus::Submitted
            } else {
                st.view.status(rec).0
            };
            if status != r {
                continue;
            }
        }
        hits.push((date, rec));
    }
    let total = hits.len();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
    let units = st.view.registry();
    let rows = hits
        .into_iter()
        .skip(q.offset)
        .take(limit)
        .filter_map(|(_, rec)| survey_row(rec, &st, &units, &me, (acked, relayed)))
        .collect();
    Ok((total, rows))
}

/// Builds the survey of `row` without saving it.
pub(super) fn survey_op(
    store: &Store,
    hub: &HubInfo,
    row: &crate::import::ImportRow,
) -> Result<(Op, Vec<String>, &'static str)> {
    use crate::import::ImportRow;
    let units = units(store);
    Ok(match row {
        ImportRow::Market(a) => {
            let (op, w) = market_op(store, &units, hub, a)?;
            (op, w, "Đã lưu khảo sát chợ / Market survey saved")
        }
        ImportRow::Retail(a) => {
            let (op, w) = retail_op(store, &units, hub, a)?;
            (op, w, "Đã lưu khảo sát bán lẻ / Retail survey saved")
        }
    })
}

/// Checks every row as `survey import` would, saving nothing.
pub(super) fn import_check(
    store: &Store,
    hub: &HubInfo,
    rows: &[crate::import::NumberedRow],
) -> Result<Response> {
    let mut checked = vec![];
    let mut errors = vec![];
    for r in rows {
        match survey_op(store, hub, &r.row) {
            Ok((_, warnings, _)) => checked.push(ImportedRow {
                line: r.line,
                id: String::new(),
                warnings,
            }),
            Err(e) => errors.push(crate::import::LineError {
                line: r.line,
                field: e.field().map(|f| f.replace('-', "_")),
                message: e.to_string(),
            }),
        }
    }
    Ok(Response::ImportChecked { checked, errors })
}

/// The office's own indicators for `year` (default: the current year), scoped to its unit; when that
/// unit is not in force then (an office of a unit the 2025 reform ended), to the successor units it
/// holds, else for the last year its unit was in force.
pub(super) fn indicators(
    store: &Store,
    hub: &HubInfo,
    year: Option<u16>,
) -> Result<serde_json::Value> {
    use baobi_proto::indicators::{self as ind, Inputs, Settings};
    let day = today();
    let year = year.unwrap_or((day.0 / 10000) as u16);
    // Before the view's lock: `office` takes it too.
    let held = office(store, hub)?;
    let mut codes = vec![hub.unit.clone()];
    for u in &held.units {
        if !codes.contains(&u.code) {
            codes.push(u.code.clone());
        }
    }
    let st = store.state();
    let units = st.view.registry();
    let g = ind::gather(st.view.records.values(), |d| {
        st.view.reviews.get(d).cloned().unwrap_or_default()
    });
    let lineage = baobi_proto::units::Lineage::default();
    let plan = st.view.plan.as_ref().map(|p| &p.def);
    let inp = Inputs {
        province: &hub.province,
        province_name: &hub.province_name,
        units: &units,
        lineage: &lineage,
        facilities: &g.facilities,
        surveys: &g.surveys,
        campaigns: &g.campaigns,
        plan,
        settings: Settings::default(),
        today: day,
        // An office holds few records: the facts are built from the lists.
        facts: None,
        outside: &[],
    };
    let mut tries: Vec<(u16, &str)> = codes.iter().map(|c| (year, c.as_str())).collect();
    for c in &codes {
        let end = units.versions_of(c).iter().filter_map(|v| v.valid_to).max();
        if let Some(end) = end {
            // The last year whose reference date (31 December) the unit was still in force on.
            let y = (end.0 / 10000) as u16 - u16::from(end.0 % 10000 != 1231);
            if y < year {
                tries.push((y, c.as_str()));
            }
        }
    }
    let mut last = None;
    for (y, code) in tries {
        match ind::report(&inp, y, Some(code)) {
            Ok(report) => {
                let mut v = serde_json::to_value(&report).map_err(|e| invalid("year", e))?;
                v["view"] = serde_json::json!("office");
                v["label"] = serde_json::json!(
                    "Số liệu của văn phòng, trên dữ liệu văn phòng đang giữ (không phải số liệu của tỉnh) / \
                     The office's view, on the data this office holds (not the province's figures)"
                );
                return Ok(v);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| invalid("unit", "no unit"), Error::from))
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn search_folds_case_and_diacritics() {
        assert_eq!(fold("Thị trấn Lai Vung"), "thi tran lai vung");
        assert_eq!(fold("Chợ Đồng Tháp"), "cho dong thap");
        // Composed and decomposed input fold alike.
        assert_eq!(fold("Tha\u{0301}p"), fold("Tháp"));
        assert!(fold("Bách hóa Xanh").contains(&fold("BACH HOA")));
    }
}

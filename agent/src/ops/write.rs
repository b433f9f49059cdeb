//! The operations that write: each builds the entry to append (outlets, surveys, corrections,
//! retractions, campaigns, imports) after the same checks, whichever door the request came through.

use super::*;

pub(super) fn outlet_op(
    store: &Store,
    hub: &HubInfo,
    a: &OutletAddArgs,
) -> Result<(Op, Vec<String>)> {
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
pub(super) fn set_cert(
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

pub(super) fn outlet_correct_op(
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
pub(super) fn find_outlet(store: &Store, id: &str) -> Result<(Dot, OutletDef)> {
    let rec = find_record(store, "outlet", id)?;
    match rec.winner().map(|h| h.version.value) {
        Some(Value::Body(Body::Outlet(o))) => Ok((rec.id, o)),
        Some(Value::Retracted(_)) => Err(invalid("outlet", format!("{} was withdrawn", rec.id))),
        _ => Err(invalid("outlet", format!("{} is not an outlet", rec.id))),
    }
}

/// Checks that the commune `unit` is in force on `date` and inside the office's jurisdiction.
pub(super) fn check_survey_unit(
    units: &Units,
    office: &OfficeUnits,
    unit: &str,
    date: Date,
) -> Result<()> {
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

pub(super) fn market_op(
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

pub(super) fn retail_op(
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
pub(super) fn import(
    store: &Store,
    hub: &HubInfo,
    rows: &[crate::import::NumberedRow],
) -> Result<Response> {
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
                field: e.field().map(|f| f.replace('-', "_")),
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

pub(super) fn not_for(field: &str, what: &str) -> Error {
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

pub(super) fn correct_op(
    store: &Store,
    hub: &HubInfo,
    a: &CorrectArgs,
) -> Result<(Op, Vec<String>)> {
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

pub(super) fn retract_op(store: &Store, id: &str, reason: &str) -> Result<Op> {
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

pub(super) fn campaign_op(
    store: &Store,
    hub: &HubInfo,
    a: &CampaignArgs,
) -> Result<(Op, Vec<String>)> {
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

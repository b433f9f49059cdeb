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
    MarketSurvey, Op, OutletDef, OutletKind, RetailSurvey, Retraction, Round, UnitDef,
};
use baobi_proto::AuthorId;
use serde::{Deserialize, Serialize};

use crate::store::{self, HubInfo, Store};
use crate::sync::{self, Progress, SyncReport};

mod args;
mod error;
mod office;
mod read;
mod request;
mod write;

pub use args::*;
use error::invalid;
pub use error::*;
pub use office::{fold, Enrolled, SurveyQuery, UnitRow, MAX_PAGE};
pub use read::*;
pub use request::*;
use write::*;
pub use write::{apply_flags, build_correction};

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
            field: e.field().map(str::to_string),
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
    if let Request::Enroll { token, label } = &req {
        return office::enroll(ctx, token, label.as_deref(), progress).await;
    }
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let writes = !matches!(
        req,
        Request::OutletList
            | Request::SurveyList { .. }
            | Request::SurveyShow { .. }
            | Request::Sync
            | Request::Status
            | Request::Plan
            | Request::Units
            | Request::SurveyPage(_)
            | Request::OutletSearch { .. }
            | Request::SurveyImportCheck { .. }
            | Request::Indicators { .. }
            | Request::SyncHistory
            | Request::DropExport { .. }
            | Request::Relay(RelayRequest::List | RelayRequest::Info)
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
            let r = sync::sync(store, progress).await;
            crate::history::record(store, &r);
            Response::Synced { report: r? }
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
        // Handled before the enrollment check.
        Request::Enroll { .. } => return Err(Error::NotEnrolled),
        Request::Units => Response::Units {
            units: office::unit_rows(store, &hub)?,
        },
        Request::SurveyPage(q) => {
            let (total, surveys) = office::survey_page(store, &q)?;
            Response::SurveyPage { total, surveys }
        }
        Request::OutletSearch { q, kind, commune } => Response::Outlets {
            outlets: office::outlet_search(store, q.as_deref(), kind, commune.as_deref())?,
        },
        Request::SurveyAdd { survey, confirm } => {
            let (op, w, what) = office::survey_op(store, &hub, &survey)?;
            if !w.is_empty() && !confirm {
                return Ok(Response::Unconfirmed { warnings: w });
            }
            let e = store.append(op, now_ms())?;
            saved(e.dot(), what, w)
        }
        Request::SurveyImportCheck { rows } => office::import_check(store, &hub, &rows)?,
        Request::Indicators { year } => Response::Indicators {
            report: office::indicators(store, &hub, year)?,
        },
        Request::SyncHistory => Response::SyncHistory {
            attempts: crate::history::list(store)?,
        },
        Request::DropExport { out } => Response::DropExported {
            exported: crate::drop::export(store, &out)?,
        },
        Request::DropImport { file } => {
            let _guard = ctx.sync_lock.lock().await;
            Response::DropImported {
                imported: crate::drop::import(store, &file)?,
            }
        }
        Request::Relay(r) => relay(store, r)?,
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
        Error::Invalid {
            field: Some(f),
            message,
        } if f == "id" => Error::Invalid {
            field: Some(field.to_string()),
            message,
        },
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

fn relay(store: &Store, r: RelayRequest) -> Result<Response> {
    use crate::relay;
    Ok(match r {
        RelayRequest::Add { addr, fingerprint } => {
            if addr.trim().is_empty() || !addr.contains(':') {
                return Err(Error::Invalid {
                    field: Some("addr".into()),
                    message: format!(
                        "địa chỉ trạm chuyển tiếp phải có dạng máy:cổng / the relay's address must \
                         be host:port, not '{addr}'"
                    ),
                });
            }
            let Some(fp) = relay::parse_fingerprint(&fingerprint) else {
                return Err(Error::Invalid {
                    field: Some("fingerprint".into()),
                    message: "dấu vân tay phải là 64 chữ số hex (`baobi-agent relay info` trên trạm \
                              chuyển tiếp) / the fingerprint must be 64 hex digits (`baobi-agent relay \
                              info` on the relay)"
                        .into(),
                });
            };
            relay::add_pin(
                store,
                baobi_proto::identity::PeerPin {
                    addr: addr.trim().to_string(),
                    fingerprint: fp,
                },
            )?;
            Response::Relays {
                list: relay::list(store)?,
            }
        }
        RelayRequest::List => Response::Relays {
            list: relay::list(store)?,
        },
        RelayRequest::Remove { addr } => {
            if !relay::remove_pin(store, &addr)? {
                return Err(Error::Invalid {
                    field: Some("addr".into()),
                    message: format!(
                        "không có trạm chuyển tiếp nào tại {addr} / no relay at {addr}"
                    ),
                });
            }
            Response::Relays {
                list: relay::list(store)?,
            }
        }
        RelayRequest::Info => Response::RelayInfo {
            info: relay::info(store)?,
        },
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

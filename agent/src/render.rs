//! Rendering the agent's responses for people and scripts: tables and bilingual lines on stdout, JSON
//! with `--json`, diagnostics on stderr. Split from `cli.rs`, which parses and routes.

use baobi_agent::ops::{self, Response, SurveyDetail, SurveyRow};
use baobi_proto::validate::kg;
use baobi_proto::view::ReviewStatus;
use baobi_proto::wire::PlanDef;

pub(crate) fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => out!("{s}"),
        Err(e) => note!("Lỗi / Error: {e}"),
    }
}

pub(crate) fn render(resp: Response, json: bool) -> i32 {
    match resp {
        Response::Error { code, message, .. } => {
            note!("{message}");
            return code;
        }
        Response::Enrolled { enrolled } => render_enrolled(&enrolled, json),
        Response::Units { units } => print_json(&units),
        Response::SurveyPage { total, surveys } => {
            if json {
                print_json(&serde_json::json!({ "total": total, "surveys": surveys }));
            } else {
                out!("{}", survey_table(&surveys));
            }
        }
        Response::Unconfirmed { warnings } => {
            for w in warnings {
                note!("Cảnh báo / Warning: {w}");
            }
            note!("Chưa lưu / Not saved: cần xác nhận / needs confirming");
            return ops::EXIT_INVALID;
        }
        Response::ImportChecked { checked, errors } => {
            for e in &errors {
                note!("dòng / line {}: {}", e.line, e.message);
            }
            if json {
                print_json(&checked);
            }
            if !errors.is_empty() {
                return ops::EXIT_INVALID;
            }
        }
        Response::Indicators { report } => print_json(&report),
        Response::SyncHistory { attempts } => print_json(&attempts),
        Response::DropExported { exported: e } => {
            if json {
                print_json(&e);
            } else {
                out!("{}", e.path);
                note!(
                    "Đã ghi {} mục ({} byte) cho máy chủ tỉnh / Wrote {} entries ({} bytes) for the hub",
                    e.entries,
                    e.bytes,
                    e.entries,
                    e.bytes
                );
            }
        }
        Response::Relays { list } => {
            if json {
                print_json(&list);
            } else {
                for r in &list.relays {
                    out!("{}  {}", r.addr, r.fingerprint);
                }
                if list.relays.is_empty() {
                    note!("Chưa có trạm chuyển tiếp / No relay configured");
                }
                out!("Tại trạm chuyển tiếp / At the relay: {}", list.at_relay);
            }
        }
        Response::RelayInfo { info } => {
            if json {
                print_json(&info);
            } else {
                out!(
                    "Địa chỉ / Address: {}",
                    info.addr
                        .as_deref()
                        .unwrap_or("- (chưa chạy `daemon --relay` / `daemon --relay` not run yet)")
                );
                out!("Dấu vân tay / Fingerprint: {}", info.fingerprint);
                for o in &info.offices {
                    out!(
                        "{}  giữ / held {}  chờ máy chủ / waiting {}  biên nhận / receipt {}  {}{}",
                        &o.office[..16.min(o.office.len())],
                        o.held,
                        o.waiting,
                        o.receipt_seq,
                        o.last_seen,
                        o.refused
                            .as_deref()
                            .map(|r| format!("  từ chối / refused: {r}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        Response::DropImported { imported: i } => {
            if json {
                print_json(&i);
            } else {
                out!(
                    "Đã nhận {} mục ({} mới), {} biên nhận / Received {} entries ({} new), {} receipts",
                    i.entries,
                    i.new,
                    i.receipts,
                    i.entries,
                    i.new,
                    i.receipts
                );
                out!(
                    "Đã ở máy chủ tỉnh {}, chờ gửi {} / At the hub {}, pending {}",
                    i.at_hub,
                    i.pending,
                    i.at_hub,
                    i.pending
                );
            }
        }
        Response::Saved {
            id,
            message,
            warnings,
        } => {
            if json {
                out!("{}", serde_json::json!({ "id": id }));
            } else {
                out!("{id}");
            }
            note!("{message}");
            for w in warnings {
                note!("Cảnh báo / Warning: {w}");
            }
        }
        Response::Outlets { outlets } => {
            if json {
                print_json(&outlets);
            } else {
                let mut t = comfy_table::Table::new();
                t.set_header(vec![
                    "ID",
                    "Loại / Kind",
                    "Tên / Name",
                    "Xã / Commune",
                    "Địa chỉ / Address",
                    "Hạng / Class",
                ]);
                for o in outlets {
                    let kind = serde_json::to_value(o.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    let name = if o.retracted {
                        format!("{} (đã rút / withdrawn)", o.name)
                    } else if let Some(c) = o.closed {
                        format!("{} (đóng cửa / closed {c})", o.name)
                    } else {
                        o.name
                    };
                    t.add_row(vec![
                        o.id,
                        kind,
                        name,
                        format!("{} ({})", o.unit_name, o.unit),
                        o.address,
                        o.class.map(|c| c.to_string()).unwrap_or_default(),
                    ]);
                }
                out!("{t}");
            }
        }
        Response::Surveys { surveys } => {
            if json {
                print_json(&surveys);
            } else {
                out!("{}", survey_table(&surveys));
            }
        }
        Response::Survey { detail } => {
            if json {
                print_json(&detail);
            } else {
                print_detail(&detail);
            }
        }
        Response::Synced { report } => {
            if json {
                print_json(&report);
            } else {
                out!(
                    "Đã gửi {}, đã nhận {} / Sent {}, received {}",
                    report.sent,
                    report.received,
                    report.sent,
                    report.received
                );
                if report.up_to_date {
                    note!("Đã cập nhật / Already up to date");
                }
            }
        }
        Response::Plan { plan } => {
            if json {
                print_json(&plan);
            } else {
                print_plan(plan.as_deref());
            }
        }
        Response::Imported { saved, errors } => {
            if !errors.is_empty() {
                for e in &errors {
                    note!("dòng / line {}: {}", e.line, e.message);
                }
                note!(
                    "Không lưu gì / Nothing saved: {} dòng lỗi / bad lines",
                    errors.len()
                );
                return ops::EXIT_INVALID;
            }
            if json {
                print_json(&saved);
            } else {
                for r in &saved {
                    out!("{}", r.id);
                }
            }
            for r in &saved {
                for w in &r.warnings {
                    note!("Cảnh báo / Warning: dòng / line {}: {w}", r.line);
                }
            }
            note!(
                "Đã lưu {} khảo sát / Saved {} surveys",
                saved.len(),
                saved.len()
            );
        }
        Response::Status { status } => {
            if json {
                print_json(&status);
            } else {
                if status.jurisdiction.is_empty() {
                    out!("Đơn vị / Unit: {} ({})", status.unit_name, status.unit);
                } else {
                    out!("Đơn vị / Unit: {}", status.jurisdiction);
                }
                out!("Mã tác giả / Author: {}", status.author);
                out!("Máy chủ tỉnh / Hub: {}", status.hub_addr);
                out!("Chờ gửi / Pending: {}", status.pending);
                if status.at_relay > 0 {
                    out!(
                        "Tại trạm chuyển tiếp / At the relay: {} (chưa có biên nhận của máy chủ / no hub receipt yet)",
                        status.at_relay
                    );
                }
                out!("Tại máy chủ / At the hub: {}", status.at_hub);
                out!("Số bản ghi / Entries held: {}", status.entries);
                out!(
                    "Đồng bộ gần nhất / Last sync: {}",
                    status.last_sync.as_deref().unwrap_or("chưa / never")
                );
                if let Some(e) = &status.last_error {
                    out!("Lỗi gần nhất / Last error: {e}");
                }
                if status.hub_mismatch {
                    out!(
                        "Cảnh báo / Warning: máy chủ tại địa chỉ này không phải máy chủ đã đăng ký; không thử lại liên tục / the hub at this address is not the one this office enrolled with; not retried as a link failure"
                    );
                }
            }
        }
    }
    0
}

fn key_figure(s: &SurveyRow) -> String {
    let Some(v) = &s.value else {
        return String::new();
    };
    match s.kind.as_str() {
        "market-survey" => v
            .get("nonbio_g_per_day")
            .and_then(|g| g.as_u64())
            .map(|g| format!("{} kg/ngày/day", kg(g as u32)))
            .unwrap_or_default(),
        _ => match v.get("gives_nonbio").and_then(|g| g.as_bool()) {
            Some(false) => "không túi / no bags".into(),
            _ => v
                .get("nonbio_bags_per_day")
                .and_then(|g| g.as_u64())
                .map(|n| format!("{n} túi/ngày / bags/day"))
                .unwrap_or_else(|| "có túi / gives bags".into()),
        },
    }
}

fn state_of(s: &SurveyRow) -> &'static str {
    if s.retracted {
        "đã rút / retracted"
    } else if s.conflict {
        "xung đột / conflict"
    } else if s.synced {
        "đã gửi / synced"
    } else if s.at_relay {
        "tại trạm chuyển tiếp / at the relay"
    } else {
        "chờ gửi / pending"
    }
}

fn review_of(s: &SurveyRow) -> String {
    match s.review {
        ReviewStatus::Submitted => "đã nộp / submitted".into(),
        ReviewStatus::Verified => "đã xác minh / verified".into(),
        ReviewStatus::Returned => format!(
            "trả lại / returned: {}",
            s.review_reason.as_deref().unwrap_or("")
        ),
    }
}

fn print_plan(plan: Option<&PlanDef>) {
    let Some(p) = plan else {
        out!("Máy chủ tỉnh chưa gửi kế hoạch / The hub has sent no plan yet");
        return;
    };
    out!("{} ({})", p.name, p.id);
    if !p.name_en.is_empty() {
        out!("{}", p.name_en);
    }
    out!(
        "Giai đoạn / Period: {}-{} — hạn báo cáo / reporting deadline: {}",
        p.period.0,
        p.period.1,
        p.deadline
            .map_or("không quy định / none".into(), |(m, d)| format!(
                "{d:02}/{m:02}"
            ))
    );
    for t in &p.targets {
        let (vi, en) = baobi_proto::indicators::names(t.indicator);
        out!(
            "  {:>9} từ năm / from {}: {}% — {vi} / {en}",
            t.indicator.as_str(),
            t.year,
            f64::from(t.threshold_bp) / 100.0
        );
    }
    for n in &p.notes {
        out!("  • {n}");
    }
}

fn survey_table(surveys: &[SurveyRow]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.set_header(vec![
        "ID",
        "Loại / Kind",
        "Cơ sở / Outlet",
        "Xã / Commune",
        "Ngày / Date",
        "Năm / Year",
        "Số liệu / Figure",
        "Trạng thái / State",
        "Xét duyệt / Review",
    ]);
    for s in surveys {
        t.add_row(vec![
            s.id.clone(),
            if s.kind == "market-survey" {
                "chợ / market".into()
            } else {
                "bán lẻ / retail".to_string()
            },
            s.outlet_name.clone(),
            if s.unit_name.is_empty() {
                s.unit.clone()
            } else {
                format!("{} ({})", s.unit_name, s.unit)
            },
            s.date.clone(),
            s.year.to_string(),
            key_figure(s),
            state_of(s).into(),
            review_of(s),
        ]);
    }
    t
}

fn print_detail(d: &SurveyDetail) {
    out!("{}", survey_table(std::slice::from_ref(&d.survey)));
    out!(
        "Xét duyệt / Review: {}{}",
        review_of(&d.survey),
        d.survey
            .review_at
            .as_deref()
            .map_or(String::new(), |at| format!(" ({at})"))
    );
    out!("Phiên bản hiện hành / Current heads: {}", d.heads.len());
    for h in &d.heads {
        out!("  [{}] {} {}", h.hash, h.by, h.at);
        match (&h.value, &h.retracted) {
            (_, Some(r)) => out!("    đã rút / retracted: {r}"),
            (Some(v), None) => out!("    {v}"),
            _ => {}
        }
    }
    out!("Lịch sử / History:");
    for v in &d.history {
        let what = match &v.retracted {
            Some(r) => format!("rút / retract: {r}"),
            None => "nội dung / content".into(),
        };
        let sup = if v.supersedes.is_empty() {
            String::new()
        } else {
            format!(" thay / supersedes {}", v.supersedes.join(", "))
        };
        out!("  [{}] {} {} {what}{sup}", v.hash, v.by, v.at);
    }
}

pub(crate) fn render_enrolled(e: &ops::Enrolled, json: bool) {
    note!(
        "Đã đăng ký với máy chủ tỉnh / Enrolled with the hub: {} ({}), {}",
        e.unit_name,
        e.unit,
        e.province_name
    );
    match (&e.received, &e.warning) {
        (Some(n), _) => note!("Đã đồng bộ lần đầu / First sync done: received {n}"),
        (None, Some(w)) => note!("Cảnh báo / Warning: {w}; run `baobi-agent sync` later"),
        (None, None) => {}
    }
    if json {
        out!(
            "{}",
            serde_json::json!({
                "author": e.author,
                "unit": e.unit,
                "unit_name": e.unit_name,
                "province": e.province,
                "province_name": e.province_name,
                "received": e.received,
            })
        );
    } else {
        out!("{}", e.author);
    }
}

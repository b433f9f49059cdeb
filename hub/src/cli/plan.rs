//! `baobi-hub plan list|set|show`: the plan of targets the indicators are measured against, read as a
//! built-in id or a TOML file, loaded through the control socket or the stopped store, and printed.

use super::*;

/// Reads a plan given as a built-in id or a file path.
pub fn plan_text(arg: &str) -> anyhow::Result<String> {
    let p = Path::new(arg);
    if p.exists() {
        return std::fs::read_to_string(p).with_context(|| format!("reading plan file {arg}"));
    }
    match crate::plan::builtin(arg) {
        Some(t) => Ok(t.to_string()),
        None => Err(Usage(format!(
            "'{arg}' is neither a plan file nor a built-in plan ({}) / không tìm thấy kế hoạch",
            crate::plan::BUILTIN.map(|(id, _)| id).join(", ")
        ))
        .into()),
    }
}

fn print_plan(plan: &Option<baobi_proto::wire::PlanDef>) -> anyhow::Result<()> {
    let Some(p) = plan else {
        out!("Chưa nạp kế hoạch / No plan loaded");
        return Ok(());
    };
    out!("{} ({})", p.name, p.id);
    if !p.name_en.is_empty() {
        out!("{}", p.name_en);
    }
    out!(
        "Tỉnh / Province: {} — giai đoạn / period {}-{} — hạn báo cáo / deadline: {}",
        p.province,
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
            "  {} từ / from {}: {}% — {vi} / {en} [{}]",
            t.indicator.as_str(),
            t.year,
            f64::from(t.threshold_bp) / 100.0,
            crate::plan::covers(t.indicator)[0].join(", ")
        );
    }
    for n in &p.notes {
        out!("  • {n}");
    }
    Ok(())
}

pub(super) fn run_plan(cli_data: &Option<PathBuf>, cmd: PlanCmd) -> anyhow::Result<()> {
    match cmd {
        PlanCmd::List => {
            for (id, text) in crate::plan::BUILTIN {
                let name = crate::plan::parse(text).map(|p| p.name).unwrap_or_default();
                out!("{id}\t{name}");
            }
        }
        PlanCmd::Set { file, json: j } => {
            let dir = data(cli_data)?;
            let text = plan_text(&file)?;
            let Response::Plan { plan, .. } = call(dir, Request::PlanSet { text })? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&plan)?);
            } else {
                print_plan(&plan)?;
            }
            note!(
                "Đã nạp kế hoạch; các văn phòng nhận ở lần đồng bộ sau / Plan loaded; offices receive it at their next sync"
            );
        }
        PlanCmd::Show { json: j, toml } => {
            let dir = data(cli_data)?;
            let Response::Plan { plan, toml: text } = call(dir, Request::PlanShow)? else {
                bail!("unexpected answer from the hub");
            };
            if toml {
                match text {
                    Some(t) => out!(raw "{t}"),
                    None => return Err(Usage("no plan loaded / chưa nạp kế hoạch".into()).into()),
                }
            } else if j {
                out!("{}", json(&plan)?);
            } else {
                print_plan(&plan)?;
            }
        }
    }
    Ok(())
}

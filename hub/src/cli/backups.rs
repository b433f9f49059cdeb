//! `baobi-hub backup`, `restore --from` and `verify`: what they print, through the serving hub's
//! control socket or on a stopped store (the work is `crate::backup` and `crate::verify`).

use super::*;

/// Exit code when `verify` finds a problem.
pub const EXIT_PROBLEMS: i32 = 3;

/// `verify` found problems (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Problems(pub String);

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("path {}", p.display()))
}

pub(super) fn backup(dir: &Path, out: &Path, j: bool) -> anyhow::Result<()> {
    let out = absolute(out)?;
    let req = Request::Backup { out: out.clone() };
    note!("Đang sao lưu… / Backing up…");
    let written = match control::request(dir, &req) {
        Some(r) => match r.with_context(|| format!("hub data in {}", dir.display()))? {
            Response::Backup(w) => *w,
            Response::Error { message, invalid } => {
                if invalid {
                    return Err(Usage(message).into());
                }
                bail!(message)
            }
            _ => bail!("unexpected answer from the hub"),
        },
        None => {
            let hub = Hub::open(dir).map_err(|e| match e {
                crate::Error::Invalid(m) => anyhow::Error::from(Usage(m)),
                e => anyhow::Error::from(e).context(format!("hub data in {}", dir.display())),
            })?;
            crate::backup::write(&hub, &out, &mut |s| {
                if let crate::backup::Step::Written(n) = s {
                    note!("  {n} khóa / keys");
                }
            })
            .map_err(|e| match e {
                crate::Error::Invalid(m) => anyhow::Error::from(Usage(m)),
                e => anyhow::Error::from(e).context(format!("writing {}", out.display())),
            })?
        }
    };
    if j {
        out!("{}", json(&written)?);
    } else {
        let h = &written.header;
        out!("{}", written.path);
        out!(
            "Tỉnh / Province: {} ({}) — {} mục / entries, {} văn phòng / offices, {} khóa / keys, \
             {} byte / bytes, {} ms",
            h.province_name,
            h.province,
            h.entries,
            h.agents,
            h.keys,
            written.bytes,
            written.millis
        );
    }
    note!(
        "Đã sao lưu; tệp chứa khóa bí mật của máy chủ, hãy cất giữ cẩn thận / Backup written; the \
         file holds the hub's secret key, keep it safe"
    );
    Ok(())
}

pub(super) fn restore_backup(dir: &Path, from: &Path, j: bool) -> anyhow::Result<()> {
    let mut last = std::time::Instant::now();
    let r = crate::backup::restore(from, dir, &mut |s| {
        if last.elapsed() >= std::time::Duration::from_secs(1) {
            last = std::time::Instant::now();
            match s {
                crate::backup::Step::Replayed(n) => {
                    note!("  {n} mục đã nạp / entries replayed")
                }
                crate::backup::Step::Verify(_) => note!("  đang kiểm tra / verifying…"),
                crate::backup::Step::Written(_) => {}
            }
        }
    })
    .map_err(|e| match e {
        crate::Error::Invalid(m) => anyhow::Error::from(Usage(m)),
        e => anyhow::Error::from(e).context(format!("restoring into {}", dir.display())),
    })?;
    if j {
        out!("{}", json(&r)?);
    } else {
        let h = &r.header;
        out!(
            "Tỉnh / Province: {} ({}) — bản sao lưu lúc / backup of {}",
            h.province_name,
            h.province,
            h.created_at
        );
        out!(
            "{} mục / entries, {} bản ghi / records, {} văn phòng / offices ({} ms)",
            r.verify.entries,
            r.verify.records,
            h.agents,
            r.millis
        );
    }
    note!(
        "Đã khôi phục máy chủ vào {} và kiểm tra không lỗi; chạy `baobi-hub serve` trên cùng địa chỉ, \
         các văn phòng sẽ gửi lại những gì bản sao lưu thiếu / Hub restored into {} and verified; \
         serve it on the same address and offices re-send what the backup lacks",
        dir.display(),
        dir.display()
    );
    Ok(())
}

pub(super) fn verify(dir: &Path, j: bool) -> anyhow::Result<()> {
    let Response::Verify(r) = call(dir, Request::Verify)? else {
        bail!("unexpected answer from the hub");
    };
    if j {
        out!("{}", json(&r)?);
    } else {
        out!(raw "{}", crate::verify::render(&r));
    }
    if !r.ok {
        let n = r.problems.len() as u64 + r.more_problems;
        return Err(Problems(format!(
            "kiểm tra phát hiện {n} lỗi / verification found {n} problems"
        ))
        .into());
    }
    Ok(())
}

//! A province by drop file: `baobi-hub national export --out FILE` at the province writes every
//! run it holds (its own log first), sealed, with its registry of offices, signed by the province
//! hub (`proto::national`); `baobi-hub province import FILE` at the nation merges it into that
//! province's store with the checks a pull makes (`Hub::merge_followed`). A foreign, altered or
//! truncated file is refused before anything is read into the store; importing it twice changes
//! nothing. The file carries the province's indicator settings (version 2), taken unless a pull
//! or a newer file brought them since; a version 1 file has none and leaves them as they are.

use std::collections::VecDeque;

use baobi_proto::drop::DropError;
use baobi_proto::national::{self as fmt, NationalBody, NationalHeader};
use baobi_proto::Summary;
use serde::{Deserialize, Serialize};

use crate::store::standby::Role;
use crate::{Error, Hub, Result};

/// Meta of a province's store at the nation: when the newest drop file imported was written
/// (Unix seconds).
pub const META_LAST_DROP: &str = "national_last_drop";

/// What `national export` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    /// The file.
    pub path: String,
    /// Province code.
    pub province: String,
    /// Entries carried.
    pub entries: u64,
    /// Runs carried.
    pub runs: u64,
    /// Offices of the registry carried.
    pub offices: u64,
    /// Size of the file.
    pub bytes: u64,
}

/// What `province import` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// Province code.
    pub province: String,
    /// Entries in the file.
    pub entries: u64,
    /// New entries stored.
    pub new: u64,
    /// Offices of the registry added or changed.
    pub offices: u64,
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!(
        "Tệp dữ liệu tỉnh / National drop file: {msg}; không thay đổi gì / nothing changed"
    ))
}

/// Reads a national drop file (every check but which province store takes it).
pub fn read(bytes: &[u8]) -> Result<(NationalHeader, NationalBody)> {
    fmt::decode(bytes).map_err(invalid)
}

/// The province's national drop file: every run, its own log first, and its registry.
pub fn export_bytes(hub: &Hub) -> Result<(Vec<u8>, Exported)> {
    let me = hub.keypair().author();
    let summary = {
        let _g = hub.lock();
        hub.summary()?
    };
    let mut ranges = summary.missing_in(&Summary::default());
    ranges.sort_by_key(|r| r.author != me);
    let mut q: VecDeque<_> = ranges.into();
    let mut runs = vec![];
    loop {
        let batch = crate::server::next_batch(hub, &mut q, Ok)?;
        if batch.is_empty() {
            break;
        }
        runs.extend(batch);
    }
    let registry = hub.registry()?;
    let header = NationalHeader {
        producer: me,
        province: hub.province().to_string(),
        national: None,
        created_ms: crate::now_ms(),
    };
    let exported = Exported {
        path: String::new(),
        province: header.province.clone(),
        entries: runs.iter().map(|r| r.items.len() as u64).sum(),
        runs: runs.len() as u64,
        offices: registry.offices.len() as u64,
        bytes: 0,
    };
    let body = NationalBody {
        registry,
        runs,
        summary: summary.to_wire(),
        settings: Some(crate::store::settings_wire(&hub.settings()?)),
    };
    let bytes = fmt::encode(hub.keypair(), &header, &body).map_err(invalid)?;
    Ok((
        bytes.clone(),
        Exported {
            bytes: bytes.len() as u64,
            ..exported
        },
    ))
}

/// Writes the province's national drop file to `out`, durably.
pub fn export(hub: &Hub, out: &std::path::Path) -> Result<Exported> {
    let (bytes, mut e) = export_bytes(hub)?;
    baobi_storage::write_durably(out, &bytes).map_err(|e| {
        Error::Invalid(format!(
            "không ghi được tệp / cannot write {}: {e}",
            out.display()
        ))
    })?;
    e.path = out.display().to_string();
    Ok(e)
}

/// Reads a file (refused before reading when too large).
pub fn read_file(file: &std::path::Path) -> Result<Vec<u8>> {
    let cannot = |e: std::io::Error| {
        Error::Invalid(format!(
            "không đọc được tệp / cannot read {}: {e}",
            file.display()
        ))
    };
    let len = std::fs::metadata(file).map_err(cannot)?.len();
    if len > baobi_proto::drop::MAX_FILE as u64 {
        return Err(invalid(DropError::TooLarge {
            len: len as usize,
            limit: baobi_proto::drop::MAX_FILE,
        }));
    }
    std::fs::read(file).map_err(cannot)
}

/// Merges a national drop file into `hub`, the nation's store of that province: the file must be
/// signed by the province hub this store follows (and written for this national hub when it
/// names one); the registry is taken, then the runs are checked and stored as a pull's are.
pub fn import_bytes(hub: &Hub, bytes: &[u8]) -> Result<Imported> {
    let (h, body) = read(bytes)?;
    let Role::Standby { author, .. } = hub.role()? else {
        return Err(invalid(
            "this store is not a province followed by a national hub",
        ));
    };
    if h.province != hub.province() || h.producer != author {
        return Err(invalid(DropError::Foreign(format!(
            "ký bởi {} cho tỉnh {} / signed by {} for province {}",
            h.producer.short(),
            h.province,
            h.producer.short(),
            h.province
        ))));
    }
    if h.national.is_some_and(|n| n != hub.keypair().author()) {
        return Err(invalid(DropError::Foreign(
            "viết cho máy chủ quốc gia khác / written for another national hub".into(),
        )));
    }
    // The province's settings, unless a pull or a file newer than this one brought them already.
    let settings = body
        .settings
        .as_ref()
        .map(crate::store::settings_from_wire)
        .transpose()
        .map_err(|e| invalid(format!("settings: {e}")))?;
    let offices = hub.import_registry(&body.registry)? as u64;
    let entries = body.runs.iter().map(|r| r.items.len() as u64).sum();
    let mut new = 0;
    for chunk in body.runs.chunks(64) {
        match hub.merge_followed(&author, chunk)? {
            Ok(n) => new += n,
            Err(r) => {
                tracing::warn!(province = %h.province, code = ?r.code, message = %r.message,
                    "national drop file refused");
                return Err(Error::Invalid(format!(
                    "Tệp dữ liệu tỉnh bị từ chối / National drop file refused ({:?}): {}; các \
                     mục trước đó đã lưu / {new} earlier entries were stored",
                    r.code, r.message
                )));
            }
        }
    }
    let at = (h.created_ms / 1000) as i64;
    let last = hub
        .meta(META_LAST_DROP)?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let pulled = hub
        .meta(super::META_LAST_OK)?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if let Some(s) = settings {
        if at >= last.max(pulled) && hub.settings()? != s {
            hub.set_settings(&s)?;
        }
    }
    if at > last {
        hub.set_meta(META_LAST_DROP, &at.to_string())?;
    }
    Ok(Imported {
        province: h.province,
        entries,
        new,
        offices,
    })
}

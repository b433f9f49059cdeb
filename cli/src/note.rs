//! The command lines' diagnostic line on stderr: as it is, or as a JSON object under
//! `--log-format json`, so a log collector reading stderr gets nothing else. Moved here from the two
//! binaries, which had each their own copy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Set once at start when logs are JSON.
static JSON_NOTES: AtomicBool = AtomicBool::new(false);
/// The `target` the JSON lines name (`baobi_agent::cli`, `baobi_hub::cli`).
static TARGET: OnceLock<&'static str> = OnceLock::new();

/// Makes [`note`] write JSON lines (for `--log-format json`) naming `target` as their `target`.
pub fn set_json_notes(on: bool, target: &'static str) {
    let _ = TARGET.set(target);
    JSON_NOTES.store(on, Ordering::Relaxed);
}

/// Writes one diagnostic line to stderr: as it is, or under `--log-format json` as a JSON object
/// shaped like the log lines (`timestamp`, `level`, `fields.message`, `target`).
pub fn note(msg: &str) {
    if !JSON_NOTES.load(Ordering::Relaxed) {
        eprintln!("{msg}");
        return;
    }
    eprintln!("{}", json_line(msg));
}

fn json_line(msg: &str) -> serde_json::Value {
    let level = if msg.starts_with("Lỗi") {
        "ERROR"
    } else if msg.trim_start().starts_with("Cảnh báo") {
        "WARN"
    } else {
        "INFO"
    };
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    serde_json::json!({
        "timestamp": timestamp,
        "level": level,
        "fields": { "message": msg },
        "target": TARGET.get().copied().unwrap_or("baobi::cli"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_the_level_the_message_starts_with() {
        assert_eq!(json_line("Lỗi / Error: x")["level"], "ERROR");
        assert_eq!(json_line("  Cảnh báo / Warning: x")["level"], "WARN");
        assert_eq!(json_line("Đã lưu / Saved")["level"], "INFO");
        assert_eq!(
            json_line("Đã lưu / Saved")["fields"]["message"],
            "Đã lưu / Saved"
        );
    }
}

//! `survey import FILE`: records many market and retail surveys from a CSV or JSON Lines file, with the
//! same checks as `survey market` / `survey retail`, all or nothing.
//!
//! Offices that keep their surveys in a spreadsheet want this, and the link tests need thousands of
//! real records without thousands of processes. Parsing happens in the CLI (so errors name file lines);
//! checking and saving happen in `ops::execute`, in the daemon when one runs. Every row is checked
//! before any is saved: a file with one bad line changes nothing, so fixing it and importing again never
//! creates duplicates. The rows are saved in one atomic batch with one flush (`Store::append_all`), so
//! a kill or a power cut midway leaves all of them or none, and the cost is O(rows) whatever the store
//! holds; the ids are reported once that batch is durable.

use std::path::Path;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::ops::{MarketArgs, RetailArgs};

/// One survey to import.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ImportRow {
    /// A market survey (fields as `survey market`'s flags, in snake_case).
    Market(MarketArgs),
    /// A retail survey (fields as `survey retail`'s flags, in snake_case).
    Retail(RetailArgs),
}

/// A survey and the file line it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NumberedRow {
    /// 1-based line in the file.
    pub line: usize,
    /// The survey.
    pub row: ImportRow,
}

/// A line that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line in the file.
    pub line: usize,
    /// The field at fault, when known (snake_case or as the check names it; appended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Bilingual reason.
    pub message: String,
}

/// What can go wrong reading an import file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("Không đọc được tệp / Cannot read the file {0}: {1}")]
    Read(String, std::io::Error),
    /// Some lines are malformed (nothing is imported).
    #[error("{} dòng lỗi / {} bad lines", .0.len(), .0.len())]
    Lines(Vec<LineError>),
}

/// Largest file `survey import` reads.
pub const MAX_FILE: u64 = 64 << 20;

/// Reads `path` as CSV (`.csv`) or JSON Lines (anything else) into rows, or every line's error.
pub fn parse_file(path: &Path) -> Result<Vec<NumberedRow>, Error> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::Read(shown.clone(), e))?;
    if meta.len() > MAX_FILE {
        return Err(Error::Read(
            shown,
            std::io::Error::other(format!("larger than {} MiB", MAX_FILE >> 20)),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::Read(shown, e))?;
    let is_csv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        parse_csv(&text)
    } else {
        parse_jsonl(&text)
    }
}

/// Parses JSON Lines: one object per line with a `type` of `market` or `retail`; blank lines and lines
/// starting with `#` are skipped.
pub fn parse_jsonl(text: &str) -> Result<Vec<NumberedRow>, Error> {
    let (rows, errors) = parse_jsonl_all(text);
    done(rows, errors)
}

/// Like [`parse_jsonl`], the good rows and the bad lines both (the app checks the good rows too, to
/// show every bad row at once).
pub fn parse_jsonl_all(text: &str) -> (Vec<NumberedRow>, Vec<LineError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some((field, message)) = bad_number(l) {
            errors.push(LineError {
                line: i + 1,
                field: Some(field),
                message,
            });
            continue;
        }
        match serde_json::from_str::<ImportRow>(l) {
            Ok(row) => rows.push(NumberedRow { line: i + 1, row }),
            Err(e) => errors.push(LineError {
                line: i + 1,
                field: None,
                message: format!("JSON không hợp lệ / invalid JSON: {e}"),
            }),
        }
    }
    (rows, errors)
}

/// The number fields of a JSON line, with their largest value: a negative, fractional or too large
/// one gets the message the flag gives on the command line (naming the field), not serde's.
const NUMBER_FIELDS: &[(&str, u64)] = &[
    ("year", u16::MAX as u64),
    ("vendors_total", u32::MAX as u64),
    ("vendors_surveyed", u32::MAX as u64),
    ("vendors_nonbio", u32::MAX as u64),
    ("vendors_alternatives", u32::MAX as u64),
    ("operating_days", u8::MAX as u64),
    ("nonbio_bags", u32::MAX as u64),
    ("eco_bags", u32::MAX as u64),
];

/// The field message for the first bad number field of a JSON line, if any.
fn bad_number(line: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    for (key, max) in NUMBER_FIELDS {
        let Some(n) = object.get(*key).filter(|v| v.is_number()) else {
            continue;
        };
        let field = key.replace('_', "-");
        let text = n.to_string();
        let result = match *max {
            m if m == u64::from(u8::MAX) => crate::ops::parse_whole::<u8>(&field, &text).err(),
            m if m == u64::from(u16::MAX) => crate::ops::parse_whole::<u16>(&field, &text).err(),
            _ => crate::ops::parse_whole::<u32>(&field, &text).err(),
        };
        if let Some(e) = result {
            return Some((key.to_string(), e.to_string()));
        }
    }
    None
}

/// `survey market` flags as a parser of their own, for CSV rows.
#[derive(Debug, Parser)]
#[command(name = "market", no_binary_name = true)]
struct MarketLine {
    /// The fields.
    #[command(flatten)]
    args: MarketArgs,
}

/// `survey retail` flags as a parser of their own, for CSV rows.
#[derive(Debug, Parser)]
#[command(name = "retail", no_binary_name = true)]
struct RetailLine {
    /// The fields.
    #[command(flatten)]
    args: RetailArgs,
}

/// Columns that are on/off flags rather than values.
const FLAGS: &[&str] = &["reduction_model"];

/// Parses CSV with a header: a `type` column (`market` or `retail`) and one column per field, named as
/// the flags of `survey market` / `survey retail` (`vendors_total` or `vendors-total`). Empty cells are
/// absent fields. Each row goes through the same flag parser as the commands.
pub fn parse_csv(text: &str) -> Result<Vec<NumberedRow>, Error> {
    let (rows, errors) = parse_csv_all(text);
    done(rows, errors)
}

/// Like [`parse_csv`], the good rows and the bad lines both.
pub fn parse_csv_all(text: &str) -> (Vec<NumberedRow>, Vec<LineError>) {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.replace('_', "-").to_lowercase())
            .collect(),
        Err(e) => {
            return (
                vec![],
                vec![LineError {
                    line: 1,
                    field: None,
                    message: format!("tiêu đề CSV không hợp lệ / invalid CSV header: {e}"),
                }],
            )
        }
    };
    let Some(type_col) = headers.iter().position(|h| h == "type") else {
        return (
            vec![],
            vec![LineError {
                line: 1,
                field: None,
                message: "thiếu cột `type` / missing the `type` column (market or retail)".into(),
            }],
        );
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(text, p.byte()));
                errors.push(LineError {
                    line,
                    field: None,
                    message: format!("CSV không hợp lệ / invalid CSV: {e}"),
                });
                continue;
            }
        };
        // csv's own line count skips comment lines: count from the byte offset instead.
        let line = rec.position().map_or(0, |p| line_at(text, p.byte()));
        let mut argv: Vec<String> = Vec::new();
        for (i, cell) in rec.iter().enumerate() {
            if i == type_col || cell.is_empty() {
                continue;
            }
            let Some(name) = headers.get(i) else {
                continue;
            };
            if FLAGS.contains(&name.replace('-', "_").as_str()) {
                match cell.to_lowercase().as_str() {
                    "yes" | "true" | "1" | "có" => argv.push(format!("--{name}")),
                    "no" | "false" | "0" | "không" => {}
                    other => errors.push(LineError {
                        line,
                        field: Some(name.replace('-', "_")),
                        message: format!("{name}: '{other}' không phải có/không / is not yes/no"),
                    }),
                }
                continue;
            }
            argv.push(format!("--{name}"));
            argv.push(cell.to_string());
        }
        let parsed = match rec.get(type_col).map(str::to_lowercase).as_deref() {
            Some("market") => MarketLine::try_parse_from(&argv).map(|l| ImportRow::Market(l.args)),
            Some("retail") => RetailLine::try_parse_from(&argv).map(|l| ImportRow::Retail(l.args)),
            other => {
                errors.push(LineError {
                    line,
                    field: Some("type".into()),
                    message: format!(
                        "type '{}' phải là market hoặc retail / must be market or retail",
                        other.unwrap_or_default()
                    ),
                });
                continue;
            }
        };
        match parsed {
            Ok(row) => rows.push(NumberedRow { line, row }),
            Err(e) => errors.push(LineError {
                line,
                field: clap_field(&e),
                message: clap_first_line(&e),
            }),
        }
    }
    (rows, errors)
}

/// The 1-based line of the record starting at byte `offset` of `text`: csv reports the offset where it
/// started reading, before the comment and blank lines it skipped.
fn line_at(text: &str, offset: u64) -> usize {
    let mut at = (offset as usize).min(text.len());
    let mut line = text.as_bytes()[..at]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1;
    while let Some(rest) = text.get(at..) {
        let this = rest.split('\n').next().unwrap_or_default().trim();
        if !(this.is_empty() || this.starts_with('#')) || rest.len() == this.len() {
            break;
        }
        at += rest.find('\n').map_or(rest.len(), |i| i + 1);
        line += 1;
    }
    line
}

/// The field a clap error is about (`--vendors-total <N>` → `vendors_total`), when it names one.
fn clap_field(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let v = e
        .get(ContextKind::InvalidArg)
        .or_else(|| e.get(ContextKind::InvalidSubcommand))?;
    let s = match v {
        ContextValue::String(s) => s.clone(),
        ContextValue::Strings(v) => v.first()?.clone(),
        _ => return None,
    };
    let name = s.trim_start_matches('-');
    let name = name.split([' ', '=', '<']).next().unwrap_or(name);
    Some(name.replace('-', "_")).filter(|n| !n.is_empty())
}

/// A clap error on one line, without its `error:` prefix and the usage text after it.
fn clap_first_line(e: &clap::Error) -> String {
    // A number flag's parser gives the field's complete message (ops::args::WholeParser).
    if let Some(clap::error::ContextValue::String(m)) = e.get(clap::error::ContextKind::Custom) {
        return m.clone();
    }
    let text = e.to_string();
    let what: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    format!(
        "Dữ liệu không hợp lệ / Invalid input: {}",
        what.join(" ").trim_start_matches("error: ")
    )
}

/// Rows when no line failed, otherwise every line's error.
fn done(rows: Vec<NumberedRow>, errors: Vec<LineError>) -> Result<Vec<NumberedRow>, Error> {
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(Error::Lines(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_parse_through_the_command_flags() {
        let csv = "type,outlet,date,vendors_total,vendors-surveyed,nonbio_kg,vendors_nonbio,reduction_model,notes\n\
                   market,1a2b3c4d-3,2024-05-02,180,60,12.5,45,yes,\"Chợ, sáng\"\n\
                   # a comment\n\
                   retail,1a2b3c4d-4,2024-05-02,,,,,,\n";
        let err = parse_csv(csv).unwrap_err();
        // The retail row lacks --gives-nonbio; the market row is fine.
        let Error::Lines(errs) = err else {
            panic!("expected line errors")
        };
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 4);
        assert!(
            errs[0].message.contains("gives-nonbio"),
            "{}",
            errs[0].message
        );

        let ok = parse_csv(
            "type,outlet,date,vendors_total,vendors_surveyed,nonbio_kg,vendors_nonbio,reduction_model\n\
             market,1a2b3c4d-3,2024-05-02,180,60,12.5,45,yes\n",
        )
        .unwrap();
        match &ok[0].row {
            ImportRow::Market(m) => {
                assert_eq!(m.nonbio_kg, "12.5");
                assert!(m.reduction_model);
                assert_eq!(m.vendors_total, 180);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_negative_count_in_a_csv_row_gets_the_field_s_message() {
        let csv = "type,outlet,date,vendors_total,vendors_surveyed,nonbio_kg,vendors_nonbio\n\
                   market,1a2b3c4d-3,2024-05-02,-3,60,12.5,45\n\
                   market,1a2b3c4d-3,2024-05-02,180,many,12.5,45\n";
        let Err(Error::Lines(errs)) = parse_csv(csv) else {
            panic!("expected line errors")
        };
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (2, "Dữ liệu không hợp lệ / Invalid input: vendors-total: must not be negative"),
                (
                    3,
                    "Dữ liệu không hợp lệ / Invalid input: vendors-surveyed: 'many' is not a whole number"
                ),
            ]
        );
    }

    #[test]
    fn a_negative_count_in_a_json_line_gets_the_field_s_message() {
        let text = r#"{"type":"market","outlet":"x-2","date":"2024-05-02","vendors_total":-3,"vendors_surveyed":1,"nonbio_kg":"1","vendors_nonbio":1}
{"type":"market","outlet":"x-2","date":"2024-05-02","vendors_total":3,"vendors_surveyed":1.5,"nonbio_kg":"1","vendors_nonbio":1}
{"type":"market","outlet":"x-2","date":"2024-05-02","vendors_total":3,"vendors_surveyed":1,"nonbio_kg":"1","vendors_nonbio":1,"operating_days":300}
"#;
        let Err(Error::Lines(errs)) = parse_jsonl(text) else {
            panic!("expected errors")
        };
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (1, "Dữ liệu không hợp lệ / Invalid input: vendors-total: must not be negative"),
                (2, "Dữ liệu không hợp lệ / Invalid input: vendors-surveyed: '1.5' is not a whole number"),
                (3, "Dữ liệu không hợp lệ / Invalid input: operating-days: must be at most 255"),
            ]
        );
    }

    #[test]
    fn jsonl_reports_every_bad_line_with_its_number() {
        let text = r#"{"type":"retail","outlet":"x-1","date":"2024-01-02","gives_nonbio":"no"}

{"type":"market","outlet":"x-2"}
not json
"#;
        let Err(Error::Lines(errs)) = parse_jsonl(text) else {
            panic!("expected errors")
        };
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4]);
    }
}

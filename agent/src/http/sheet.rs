//! Upload bodies for `POST /api/import` to import rows: CSV (UTF-8, a BOM allowed), JSON Lines, or an
//! Excel workbook (XLSX, its first sheet, read with calamine). A sheet becomes the same CSV text
//! `survey import` parses, one sheet row a line (blank rows and rows above the data as comment
//! lines), so every error names the row number the clerk sees in Excel.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use super::ApiError;
use crate::import::{self, LineError, NumberedRow};

fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.replace(['\r', '\n'], " "),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => excel_date(d.as_f64()),
        Data::DateTimeIso(s) => s.chars().take(10).collect(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// An Excel serial day (1900 system) as YYYY-MM-DD.
fn excel_date(serial: f64) -> String {
    let base = time::Date::from_calendar_date(1899, time::Month::December, 30)
        .map(|d| d.to_julian_day())
        .unwrap_or(0);
    time::Date::from_julian_day(base + serial.floor() as i32)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_else(|_| serial.to_string())
}

/// The first sheet of an XLSX workbook as CSV text, line n = sheet row n.
pub fn xlsx_to_csv(bytes: &[u8]) -> Result<String, ApiError> {
    let bad = |e: String| {
        ApiError::bad(format!(
            "Không đọc được tệp Excel / Cannot read the Excel file: {e}"
        ))
    };
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e: calamine::XlsxError| bad(e.to_string()))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| bad("không có trang tính / no sheet".into()))?
        .map_err(|e| bad(e.to_string()))?;
    let mut out = String::new();
    let first = range.start().map_or(0, |(r, _)| r);
    for _ in 0..first {
        out.push_str("#\n");
    }
    let lead = range.start().map_or(0, |(_, c)| c) as usize;
    for row in range.rows() {
        if row.iter().all(|c| matches!(c, Data::Empty)) {
            out.push_str("#\n");
            continue;
        }
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(vec![]);
        let cells: Vec<String> = std::iter::repeat_n(String::new(), lead)
            .chain(row.iter().map(cell_text))
            .collect();
        w.write_record(&cells).map_err(|e| bad(e.to_string()))?;
        let line = w.into_inner().map_err(|e| bad(e.to_string()))?;
        out.push_str(&String::from_utf8_lossy(&line));
    }
    Ok(out)
}

/// The rows of an upload that parse, and the lines that do not (`{line, field?, message}`).
pub fn rows_of(body: &[u8]) -> Result<(Vec<NumberedRow>, Vec<LineError>), ApiError> {
    let text = if body.starts_with(b"PK\x03\x04") {
        xlsx_to_csv(body)?
    } else {
        let t = std::str::from_utf8(body).map_err(|_| {
            ApiError::bad(
                "Tệp không phải UTF-8, CSV hay Excel / The file is not UTF-8 text, CSV or Excel",
            )
        })?;
        t.strip_prefix('\u{feff}').unwrap_or(t).to_string()
    };
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        None => Err(ApiError::bad("Tệp trống / The file holds no rows")),
        Some(l) if l.starts_with('{') => Ok(import::parse_jsonl_all(&text)),
        Some(_) => Ok(import::parse_csv_all(&text)),
    }
}

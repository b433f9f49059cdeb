//! Request bodies to typed arguments, naming the field at fault: a form's JSON object is normalised
//! (empty strings are absent fields, counts typed as text become numbers, kg as numbers become text,
//! `yes`/`no` fields take booleans, `vendors-total` is `vendors_total`), then deserialized into the
//! same `ops` argument structs the CLI parses, and a serde error is mapped back to the field whose
//! value it points at (serde_json reports a position, not a field).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ApiError;

/// Whole-number fields.
const INT_KEYS: &[&str] = &[
    "vendors_total",
    "vendors_surveyed",
    "vendors_nonbio",
    "vendors_alternatives",
    "operating_days",
    "year",
    "nonbio_bags",
    "eco_bags",
    "participants",
    "class",
];
/// Decimal fields carried as text (`"12.5"`), as the CLI's flags.
const TEXT_NUM_KEYS: &[&str] = &["nonbio_kg", "eco_kg"];
/// Yes/no fields (`"yes"`/`"no"`).
const YES_NO_KEYS: &[&str] = &["gives_nonbio", "sells_reusable", "eco_labelled"];

/// The body as a JSON object (an empty body is an empty object).
pub fn fields_of(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad(
            "Thân yêu cầu phải là một đối tượng JSON / The body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad(format!(
            "JSON không hợp lệ / Invalid JSON: {e}"
        ))),
    }
}

fn normalise(obj: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        let k = k.replace('-', "_");
        let v = match v {
            Value::String(s) if s.trim().is_empty() => continue,
            Value::Null => continue,
            Value::String(s) if INT_KEYS.contains(&k.as_str()) => match s.trim().parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => Value::String(s),
            },
            Value::Number(n) if TEXT_NUM_KEYS.contains(&k.as_str()) => Value::String(n.to_string()),
            Value::Bool(b) if YES_NO_KEYS.contains(&k.as_str()) => {
                Value::String(if b { "yes" } else { "no" }.into())
            }
            v => v,
        };
        out.insert(k, v);
    }
    out
}

fn what_is_wrong(field: &str) -> &'static str {
    if INT_KEYS.contains(&field) {
        "phải là số nguyên từ 0 trở lên / must be a whole number, 0 or more"
    } else if YES_NO_KEYS.contains(&field) {
        "phải là yes hoặc no / must be yes or no"
    } else {
        "giá trị không hợp lệ / invalid value"
    }
}

/// Deserializes `obj` into `T`; a bad value is 400 `{"error","field"}` naming its field.
pub fn typed<T: DeserializeOwned>(obj: Map<String, Value>) -> Result<T, ApiError> {
    let obj = normalise(obj);
    let mut text = String::from("{");
    let mut spans: Vec<(usize, usize, String)> = vec![];
    for (i, (k, v)) in obj.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let start = text.len();
        text.push_str(&Value::String(k.clone()).to_string());
        text.push(':');
        text.push_str(&v.to_string());
        spans.push((start, text.len(), k.clone()));
    }
    text.push('}');
    let e = match serde_json::from_str::<T>(&text) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let f = rest.split('`').next().unwrap_or_default().to_string();
        return Err(ApiError::field(
            &f,
            format!("Dữ liệu không hợp lệ / Invalid input: {f}: thiếu, bắt buộc phải có / missing, required"),
        ));
    }
    let at = e.column().saturating_sub(1);
    let field = spans
        .iter()
        .find(|(s, end, _)| *s < at && at <= *end)
        .map(|(_, _, k)| k.clone());
    Err(match field {
        Some(f) => ApiError::field(
            &f,
            format!(
                "Dữ liệu không hợp lệ / Invalid input: {f}: {} ({})",
                what_is_wrong(&f),
                msg.split(" at line").next().unwrap_or(&msg)
            ),
        ),
        None => ApiError::bad(format!("Dữ liệu không hợp lệ / Invalid input: {msg}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::MarketArgs;
    use serde_json::json;

    fn market(v: Value) -> Result<MarketArgs, ApiError> {
        match v {
            Value::Object(m) => typed(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let good = json!({"outlet":"1a2b3c4d-1","date":"2025-03-12","vendors_total":"100",
            "vendors_surveyed":40,"nonbio_kg":12.5,"vendors_nonbio":30,"notes":""});
        let a = market(good.clone()).unwrap();
        assert_eq!((a.vendors_total, a.nonbio_kg.as_str()), (100, "12.5"));
        assert!(a.notes.is_none());
        for (field, bad) in [
            ("vendors_total", json!(-5)),
            ("vendors_surveyed", json!("abc")),
            ("vendors_nonbio", json!(1.5)),
            ("operating_days", json!(300)),
            ("round", json!("weekly")),
        ] {
            let mut v = good.clone();
            v[field] = bad.clone();
            let e = market(v).unwrap_err();
            assert_eq!(
                e.field.as_deref(),
                Some(field),
                "{field}={bad}: {}",
                e.message
            );
            assert!(e.message.contains("Invalid input"), "{}", e.message);
        }
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove("vendors_nonbio");
        assert_eq!(
            market(v).unwrap_err().field.as_deref(),
            Some("vendors_nonbio")
        );
    }
}

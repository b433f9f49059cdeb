//! The dashboard's two languages: Vietnamese (default) and English, one JSON dictionary each
//! (`assets/vi.json`, `assets/en.json`, embedded), used by the pages' JS and by the server-rendered
//! exports and printable report. A request's language is `?lang=` if given, else the `baobi_lang`
//! cookie, else Vietnamese.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::HeaderMap;

/// Vietnamese dictionary (JSON object, key → text).
pub const VI_JSON: &str = include_str!("assets/vi.json");
/// English dictionary.
pub const EN_JSON: &str = include_str!("assets/en.json");
/// Cookie that remembers the language.
pub const LANG_COOKIE: &str = "baobi_lang";

/// A dashboard language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Tiếng Việt.
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// `vi` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// Parses `vi` / `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// From `?lang=` (already extracted), else the cookie, else Vietnamese.
    pub fn of(query: Option<&str>, headers: &HeaderMap) -> Lang {
        query
            .and_then(Lang::parse)
            .or_else(|| super::auth::cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)))
            .unwrap_or_default()
    }

    /// True for English.
    pub fn en(self) -> bool {
        self == Lang::En
    }

    /// The dictionary's raw JSON.
    pub fn json(self) -> &'static str {
        match self {
            Lang::Vi => VI_JSON,
            Lang::En => EN_JSON,
        }
    }

    /// The text for `key` (the key itself when missing, which a unit test forbids).
    pub fn t(self, key: &str) -> &'static str {
        static DICTS: OnceLock<[BTreeMap<String, String>; 2]> = OnceLock::new();
        let d = DICTS.get_or_init(|| {
            [
                serde_json::from_str(VI_JSON).unwrap_or_default(),
                serde_json::from_str(EN_JSON).unwrap_or_default(),
            ]
        });
        let i = usize::from(self.en());
        match d[i].get(key) {
            Some(v) => v.as_str(),
            None => {
                tracing::warn!(key, "missing dashboard text");
                "?"
            }
        }
    }
}

/// A fraction as a percentage with one decimal, in the language's number format.
pub fn percent(v: Option<f64>, lang: Lang) -> String {
    match v {
        None => "—".into(),
        Some(v) => {
            let s = format!("{:.1}", v * 100.0);
            match lang {
                Lang::Vi => format!("{} %", s.replace('.', ",")),
                Lang::En => format!("{s}%"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::is_nfc;

    fn dict(s: &str) -> BTreeMap<String, String> {
        serde_json::from_str(s).expect("dictionary parses")
    }

    #[test]
    fn both_dictionaries_have_the_same_keys_nfc_and_nonempty() {
        let (vi, en) = (dict(VI_JSON), dict(EN_JSON));
        let vk: Vec<_> = vi.keys().collect();
        let ek: Vec<_> = en.keys().collect();
        assert_eq!(vk, ek, "same keys in vi.json and en.json");
        for (k, v) in vi.iter().chain(en.iter()) {
            assert!(!v.trim().is_empty(), "{k} is empty");
            assert!(is_nfc(v), "{k} is not NFC");
        }
        // Vietnamese is really Vietnamese: the words carry their diacritics.
        assert_eq!(vi["nav_overview"], "Tổng quan");
        assert_eq!(en["nav_overview"], "Overview");
    }

    #[test]
    fn every_key_the_code_uses_exists() {
        let vi = dict(VI_JSON);
        let sources = [
            include_str!("assets/app.js"),
            include_str!("export.rs"),
            include_str!("pages.rs"),
        ];
        let mut missing = vec![];
        for src in sources {
            // JS: t("key"); Rust: lang.t("key"). Not get("name") and the like.
            for (at, _) in src.match_indices("t(\"") {
                let before = src[..at].chars().next_back().unwrap_or(' ');
                if before.is_ascii_alphanumeric() || before == '_' {
                    continue;
                }
                let part = &src[at + 3..];
                let key: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let rest = &part[key.len()..];
                let known = if rest.starts_with("\" +") {
                    // A computed key (t("type_" + x)): its prefix must start some key.
                    vi.keys().any(|k| k.starts_with(&key))
                } else {
                    !rest.starts_with('"') || vi.contains_key(&key)
                };
                if !known {
                    missing.push(key);
                }
            }
        }
        assert!(missing.is_empty(), "keys missing from vi.json: {missing:?}");
    }

    #[test]
    fn language_choice_and_percentages() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(None, &h), Lang::Vi);
        h.insert("cookie", "baobi_lang=en".parse().unwrap());
        assert_eq!(Lang::of(None, &h), Lang::En);
        assert_eq!(Lang::of(Some("vi"), &h), Lang::Vi);
        assert_eq!(percent(Some(2.0 / 3.0), Lang::Vi), "66,7 %");
        assert_eq!(percent(Some(2.0 / 3.0), Lang::En), "66.7%");
        assert_eq!(percent(None, Lang::En), "—");
        assert_eq!(Lang::Vi.t("nav_overview"), "Tổng quan");
    }
}

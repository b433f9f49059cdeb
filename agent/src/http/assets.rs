//! The office app's static files, embedded in the binary (no CDN, no build step): one table, so that
//! adding a page's file is one line here. Served at `/assets/{name}`; `index.html` is also `GET /`.

/// One embedded file: its name under `/assets/`, its content type, its bytes.
pub struct Asset {
    /// File name as requested (`/assets/{name}`).
    pub name: &'static str,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// Every file the app serves.
#[rustfmt::skip]
pub const ASSETS: &[Asset] = &[
    Asset { name: "index.html", content_type: HTML, body: include_bytes!("assets/index.html") },
    Asset { name: "core.js", content_type: JS, body: include_bytes!("assets/core.js") },
    Asset { name: "forms.js", content_type: JS, body: include_bytes!("assets/forms.js") },
    Asset { name: "records.js", content_type: JS, body: include_bytes!("assets/records.js") },
    Asset { name: "app.js", content_type: JS, body: include_bytes!("assets/app.js") },
    Asset { name: "app.css", content_type: CSS, body: include_bytes!("assets/app.css") },
    Asset { name: "vi.json", content_type: JSON, body: include_bytes!("assets/vi.json") },
    Asset { name: "en.json", content_type: JSON, body: include_bytes!("assets/en.json") },
];

/// The embedded file called `name`.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn index_is_embedded_and_names_are_unique() {
        assert!(super::find("index.html").is_some_and(|a| !a.body.is_empty()));
        let mut names: Vec<_> = super::ASSETS.iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), super::ASSETS.len());
    }
}

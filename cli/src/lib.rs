//! What baobi's two command lines (`baobi-agent`, `baobi-hub`) share, so they speak alike.
//!
//! - [`Lang`]: the language of the command line, Vietnamese by default, English with `--lang en` or
//!   `BAOBI_LANG=en`.
//! - [`localize`]: clap has no localisation (clap-rs/clap#380), so the English in the doc comments is
//!   the `--lang en` text and each binary keeps ONE table of Vietnamese lines, keyed by command path and
//!   arg id ([`Entry`]); [`localize`] applies it to the `clap::Command` at run time, along with
//!   Vietnamese headings, template, `--help`/`--version` lines and default/env/value notes.
//!   [`missing`] and [`not_nfc`] let each binary's unit tests fail when a command or flag has no
//!   Vietnamese line, or a line is not NFC.
//! - [`render_error`]: clap's parse errors rendered per `ErrorKind` from their context, bilingual
//!   ("tiếng Việt / English") by default, English alone under `--lang en`; [`invalid_value`] makes an
//!   error whose message is already complete (the one ops gives for a bad field).
//! - [`note`]: the one diagnostic line on stderr, plain or JSON (`--log-format json`).

mod errors;
mod localize;
mod note;

pub use errors::{invalid_value, render_error};
pub use localize::{assert_complete, lang_arg, localize, missing, not_nfc, Entry};
pub use note::{note, set_json_notes};

use std::ffi::{OsStr, OsString};

/// Environment variable choosing the language when `--lang` is not given.
pub const LANG_ENV: &str = "BAOBI_LANG";

/// The language of the command line's help and parse errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese (the default); parse errors give the English beside it.
    #[default]
    Vi,
    /// English alone.
    En,
}

impl Lang {
    /// `vi` or `en` (case-insensitive; `vi-VN`, `en_US.UTF-8` and the like count by their language).
    pub fn parse(s: &str) -> Option<Lang> {
        let code = s
            .split(['-', '_', '.'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match code.as_str() {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language asked for by `--lang X` / `--lang=X` among `args` (before a `--`), else by `env`
    /// (the value of `BAOBI_LANG`), else Vietnamese. An unknown value counts as Vietnamese here; the
    /// parser then refuses it with a clear error.
    pub fn choose(args: &[OsString], env: Option<&OsStr>) -> Lang {
        let mut it = args.iter().skip(1);
        while let Some(a) = it.next() {
            let Some(a) = a.to_str() else { continue };
            if a == "--" {
                break;
            }
            let value = if a == "--lang" {
                it.next().and_then(|v| v.to_str())
            } else {
                a.strip_prefix("--lang=")
            };
            if let Some(v) = value {
                return Lang::parse(v).unwrap_or_default();
            }
        }
        env.and_then(OsStr::to_str)
            .and_then(Lang::parse)
            .unwrap_or_default()
    }

    /// The language for this process: its arguments and `BAOBI_LANG`.
    pub fn detect() -> Lang {
        let args: Vec<OsString> = std::env::args_os().collect();
        Lang::choose(&args, std::env::var_os(LANG_ENV).as_deref())
    }

    /// Picks the text for this language: `vi` joined with the English (`vi / en`) or `en` alone.
    pub fn both(self, vi: &str, en: &str) -> String {
        match self {
            Lang::Vi => format!("{vi} / {en}"),
            Lang::En => en.to_string(),
        }
    }
}

/// Parses this process's arguments into `T` with the command localized by `table` in the language
/// [`Lang::detect`] chose. On a parse error prints it ([`render_error`]) and exits with clap's code
/// (2, or 0 for `--help` / `--version`, whose text goes to stdout).
pub fn parse<T: clap::Parser>(table: &[Entry]) -> (T, Lang) {
    let lang = Lang::detect();
    let mut cmd = localize(T::command(), lang, table);
    let parsed = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|mut m| T::from_arg_matches_mut(&mut m));
    match parsed {
        Ok(t) => (t, lang),
        Err(e) => {
            let e = e.with_cmd(&cmd);
            exit_with(&e, lang)
        }
    }
}

/// Prints a parse error (or the help or version it carries) as [`render_error`] does and exits.
pub fn exit_with(e: &clap::Error, lang: Lang) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        // Help and version: clap prints them (already localized) and exits 0; the help shown when a
        // command is missing goes to stderr with code 2.
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            note(render_error(e, lang).trim_end());
            std::process::exit(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_flag_wins_over_the_environment_and_vietnamese_is_the_default() {
        assert_eq!(Lang::choose(&args(&["x", "status"]), None), Lang::Vi);
        assert_eq!(
            Lang::choose(&args(&["x", "status"]), Some(OsStr::new("en"))),
            Lang::En
        );
        assert_eq!(
            Lang::choose(&args(&["x", "--lang", "vi"]), Some(OsStr::new("en"))),
            Lang::Vi
        );
        assert_eq!(
            Lang::choose(&args(&["x", "survey", "--lang=en", "list"]), None),
            Lang::En
        );
        assert_eq!(
            Lang::choose(&args(&["x", "status", "--lang", "EN"]), None),
            Lang::En
        );
        // After `--` it is a value, not the flag.
        assert_eq!(
            Lang::choose(&args(&["x", "--", "--lang", "en"]), None),
            Lang::Vi
        );
        assert_eq!(
            Lang::choose(&args(&["x"]), Some(OsStr::new("en_US.UTF-8"))),
            Lang::En
        );
        assert_eq!(
            Lang::choose(&args(&["x"]), Some(OsStr::new("fr"))),
            Lang::Vi
        );
    }
}

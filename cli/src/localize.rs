//! Vietnamese for a `clap::Command` at run time, from one table per binary.
//!
//! clap has no localisation (clap-rs/clap#380): every string is English, from the doc comments or
//! built into clap. So the doc comments stay the English (`--lang en`) text and, for Vietnamese,
//! [`localize`] walks the command tree twice: before clap builds it, it replaces each command's
//! about and each arg's help from the table and writes the notes clap would add in English
//! (`[default: …]`, `[env: …]`, `[possible values: …]`) in Vietnamese, hiding clap's own; after
//! the build (when clap has added `--help`, `--version` and the `help` command) it translates those
//! and sets the Vietnamese template ("Cách dùng:") and headings ("Lệnh:", "Tham số:", "Tùy chọn:").
//! [`missing`] is what each binary's unit test calls so that a command, flag or value added without
//! a Vietnamese line fails CI.

use std::collections::HashMap;

use clap::builder::{PossibleValue, StyledStr};
use clap::{Arg, ArgAction, Command};
use unicode_normalization::UnicodeNormalization;

use crate::Lang;

/// One Vietnamese line: (command path, arg id, text).
///
/// The command path is the subcommand names joined by spaces (`""` for the binary itself,
/// `"survey market"`). The arg id is `""` for the command's own description, the arg's id
/// (`"vendors_total"`) for its help, or `id=value` (`"kind=market"`) for one value of a
/// value-enum arg. A global arg is keyed at the command that defines it. A text with a blank line
/// is a long help: its first paragraph is the short help (`-h`).
pub type Entry = (&'static str, &'static str, &'static str);

/// Vietnamese for what this crate adds itself (the `--lang` flag).
const BUILTIN: &[Entry] = &[(
    "",
    "lang",
    "Ngôn ngữ của dòng lệnh: vi (tiếng Việt, mặc định) hoặc en (tiếng Anh)",
)];

/// Template of the help page (clap's default, with the heading in Vietnamese).
const TEMPLATE_VI: &str = "\
{before-help}{about-with-newline}
Cách dùng: {usage}

{all-args}{after-help}";

/// clap's own texts (`_check_help_and_version`) and their Vietnamese.
const CLAP_TEXTS: &[(&str, &str)] = &[
    ("Print help", "In trợ giúp"),
    (
        "Print help (see more with '--help')",
        "In trợ giúp (xem đầy đủ với '--help')",
    ),
    (
        "Print help (see a summary with '-h')",
        "In trợ giúp (xem tóm tắt với '-h')",
    ),
    ("Print version", "In phiên bản"),
    (
        "Print this message or the help of the given subcommand(s)",
        "In trợ giúp này hoặc trợ giúp của (các) lệnh đã nêu",
    ),
    (
        "Print help for the subcommand(s)",
        "In trợ giúp của (các) lệnh",
    ),
];

/// The global `--lang` flag both binaries take (before or after the subcommand).
pub fn lang_arg() -> Arg {
    Arg::new("lang")
        .long("lang")
        .global(true)
        .env(crate::LANG_ENV)
        .value_name("LANG")
        // Empty (`BAOBI_LANG=` in an environment file) means the default, as if unset.
        .value_parser(|s: &str| match Lang::parse(s) {
            Some(_) => Ok(s.to_string()),
            None if s.trim().is_empty() => Ok(String::new()),
            None => Err("phải là vi hoặc en / must be vi or en".to_string()),
        })
        .help("Language of the command line: vi (Vietnamese, the default) or en (English)")
}

type Map<'a> = HashMap<(&'a str, &'a str), &'a str>;

fn index<'a>(table: &'a [Entry]) -> Map<'a> {
    BUILTIN
        .iter()
        .chain(table)
        .map(|(path, id, text)| ((*path, *id), *text))
        .collect()
}

/// The command with the global `--lang` flag, built, and in Vietnamese from `table` when `lang` is
/// Vietnamese (as clap wrote it, in English, otherwise).
pub fn localize(cmd: Command, lang: Lang, table: &[Entry]) -> Command {
    let mut cmd = cmd.arg(lang_arg());
    if lang == Lang::Vi {
        cmd = before_build(cmd, "", &index(table));
    }
    cmd.build();
    if lang == Lang::Vi {
        cmd = after_build(cmd);
    }
    cmd
}

fn sub_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path} {name}")
    }
}

/// Splits a text into the short help (first paragraph) and the long help (all of it, when there is
/// more than one paragraph).
fn short_long(text: &str) -> (String, Option<String>) {
    match text.split_once("\n\n") {
        Some((first, _)) => (first.to_string(), Some(text.to_string())),
        None => (text.to_string(), None),
    }
}

fn before_build(mut cmd: Command, path: &str, map: &Map) -> Command {
    if let Some(text) = map.get(&(path, "")) {
        let (short, long) = short_long(text);
        cmd = match long {
            Some(l) => cmd.about(short).long_about(l),
            None => cmd.about(short).long_about(None::<&str>),
        };
    }
    cmd = cmd.mut_args(|a| arg_before_build(a, path, map));
    if cmd.has_subcommands() {
        // `<COMMAND>` in the usage line.
        cmd = cmd.subcommand_value_name("LỆNH");
    }
    for sc in cmd.get_subcommands_mut() {
        let path = sub_path(path, sc.get_name());
        *sc = before_build(std::mem::take(sc), &path, map);
    }
    cmd
}

fn takes_values(a: &Arg) -> bool {
    a.get_num_args().is_none_or(|n| n.takes_values()) && a.get_action().takes_values()
}

fn visible_values(a: &Arg) -> Vec<PossibleValue> {
    if !takes_values(a) || a.is_hide_possible_values_set() {
        return Vec::new();
    }
    a.get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .collect()
}

fn arg_before_build(a: Arg, path: &str, map: &Map) -> Arg {
    let id = a.get_id().as_str().to_string();
    let (mut short, mut long) = match map.get(&(path, id.as_str())) {
        Some(text) => short_long(text),
        None => (
            a.get_help().map(StyledStr::to_string).unwrap_or_default(),
            a.get_long_help().map(StyledStr::to_string),
        ),
    };
    let mut notes = Vec::new();
    let short_text = short.clone();
    let mut a = a;
    let values = visible_values(&a);
    let mut long_values = String::new();
    if !values.is_empty() {
        let names: Vec<&str> = values.iter().map(PossibleValue::get_name).collect();
        notes.push(format!("giá trị: {}", names.join(", ")));
        long_values.push_str("\n\nGiá trị:");
        for v in &values {
            let key = format!("{id}={}", v.get_name());
            match map.get(&(path, key.as_str())) {
                Some(vi) => long_values.push_str(&format!("\n  - {}: {vi}", v.get_name())),
                None => long_values.push_str(&format!("\n  - {}", v.get_name())),
            }
        }
        a = a.hide_possible_values(true);
    }
    if takes_values(&a) && !a.is_hide_default_value_set() && !a.get_default_values().is_empty() {
        let d: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        notes.push(format!("mặc định: {}", d.join(", ")));
        a = a.hide_default_value(true);
    }
    if let Some(env) = a.get_env().filter(|_| !a.is_hide_env_set()) {
        notes.push(format!("biến môi trường: {}", env.to_string_lossy()));
        a = a.hide_env(true);
    }
    if !notes.is_empty() {
        short.push_str(&format!(" [{}]", notes.join("] [")));
    }
    if long.is_some() || !long_values.is_empty() {
        // The long help (`--help`) as clap lays it out: the text, the values with their meanings,
        // then the notes one a line.
        let mut l = long.unwrap_or_else(|| short_text.clone());
        l.push_str(&long_values);
        // The values are listed above already.
        let rest: Vec<&str> = notes
            .iter()
            .map(String::as_str)
            .filter(|n| !n.starts_with("giá trị:"))
            .collect();
        if !rest.is_empty() {
            l.push_str(&format!("\n\n[{}]", rest.join("]\n[")));
        }
        long = Some(l);
    }
    match long {
        Some(l) => a.help(short).long_help(l),
        None => a.help(short).long_help(None::<&str>),
    }
}

fn clap_text(en: &str) -> Option<&'static str> {
    CLAP_TEXTS.iter().find(|(e, _)| *e == en).map(|(_, vi)| *vi)
}

/// clap's usage line with its English placeholders in Vietnamese (clap writes `[OPTIONS]` itself).
fn usage_vi(cmd: &mut Command) -> String {
    let usage = cmd.render_usage().to_string();
    let usage = usage.trim();
    usage
        .strip_prefix("Usage:")
        .unwrap_or(usage)
        .trim()
        .replace("[OPTIONS]", "[TÙY_CHỌN]")
        // The `help` command clap adds has no Vietnamese value name of its own.
        .replace("[COMMAND]", "[LỆNH]")
}

fn after_build(mut cmd: Command) -> Command {
    let usage = usage_vi(&mut cmd);
    cmd = cmd
        .help_template(TEMPLATE_VI)
        .subcommand_help_heading("Lệnh")
        .override_usage(usage);
    if cmd.get_name() == "help" {
        if let Some(vi) = cmd.get_about().and_then(|a| clap_text(&a.to_string())) {
            cmd = cmd.about(vi);
        }
    }
    cmd = cmd.mut_args(|mut a| {
        if matches!(
            a.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        ) || a.get_id() == "subcommand"
        {
            if let Some(vi) = a.get_help().and_then(|h| clap_text(&h.to_string())) {
                a = a.help(vi);
            }
            if let Some(vi) = a.get_long_help().and_then(|h| clap_text(&h.to_string())) {
                a = a.long_help(vi);
            }
        }
        if a.get_help_heading().is_none() {
            let heading = if a.is_positional() {
                "Tham số"
            } else {
                "Tùy chọn"
            };
            a = a.help_heading(heading);
        }
        a
    });
    for sc in cmd.get_subcommands_mut() {
        *sc = after_build(std::mem::take(sc));
    }
    cmd
}

/// What `table` lacks for `cmd` (each command, arg and value-enum value not hidden, `--lang`
/// included) and what it has that matches nothing (a typo, or a flag since removed), one line each;
/// empty when the table is complete.
pub fn missing(cmd: Command, table: &[Entry]) -> Vec<String> {
    let cmd = cmd.arg(lang_arg());
    let map = index(table);
    let mut wanted = Vec::new();
    walk(&cmd, "", &mut wanted);
    let mut problems: Vec<String> = wanted
        .iter()
        .filter(|k| !map.contains_key(&(k.0.as_str(), k.1.as_str())))
        .map(|(p, id)| format!("no Vietnamese for command '{p}' arg '{id}'"))
        .collect();
    for (path, id, _) in BUILTIN.iter().chain(table) {
        if !wanted.iter().any(|(p, i)| p == path && i == id) {
            problems.push(format!(
                "Vietnamese for command '{path}' arg '{id}', which does not exist"
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (path, id, _) in table {
        if !seen.insert((path, id)) {
            problems.push(format!(
                "two Vietnamese lines for command '{path}' arg '{id}'"
            ));
        }
    }
    problems
}

fn walk(cmd: &Command, path: &str, out: &mut Vec<(String, String)>) {
    out.push((path.to_string(), String::new()));
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let id = a.get_id().as_str();
        out.push((path.to_string(), id.to_string()));
        for v in visible_values(a) {
            out.push((path.to_string(), format!("{id}={}", v.get_name())));
        }
    }
    for sc in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        walk(sc, &sub_path(path, sc.get_name()), out);
    }
}

/// For a binary's unit test: panics, naming `file`, when any command, arg or value of `cmd` lacks
/// its Vietnamese line in `table` or a line matches nothing ([`missing`]), or a line is not NFC
/// ([`not_nfc`]). A flag added without its Vietnamese so fails CI.
pub fn assert_complete(cmd: Command, table: &[Entry], file: &str) {
    let problems = missing(cmd, table);
    assert!(
        problems.is_empty(),
        "add them to {file}:\n{}",
        problems.join("\n")
    );
    assert_eq!(not_nfc(table), Vec::<String>::new(), "{file}: not NFC");
}

/// The lines of `table` (and of this crate's own) that are not in Unicode NFC, as the Vietnamese
/// must be (a decomposed "ệ" looks the same but does not compare or search the same).
pub fn not_nfc(table: &[Entry]) -> Vec<String> {
    BUILTIN
        .iter()
        .chain(table)
        .map(|(_, _, t)| *t)
        .chain(CLAP_TEXTS.iter().map(|(_, vi)| *vi))
        .chain([TEMPLATE_VI, "Lệnh", "Tham số", "Tùy chọn"])
        .filter(|t| t.nfc().collect::<String>() != *t)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, clap::ValueEnum)]
    enum Colour {
        /// Red.
        Red,
        /// Green.
        Green,
    }

    fn test_cmd() -> Command {
        Command::new("demo")
            .version("1.0")
            .about("A demo.")
            .arg(
                Arg::new("data")
                    .long("data")
                    .global(true)
                    .env("DEMO_DATA")
                    .default_value("./d")
                    .help("Data directory."),
            )
            .subcommand(
                Command::new("paint")
                    .about("Paint something.")
                    .arg(Arg::new("what").required(true).help("What to paint."))
                    .arg(
                        Arg::new("dry")
                            .long("dry")
                            .action(ArgAction::SetTrue)
                            .help("Do not paint."),
                    )
                    .arg(
                        Arg::new("colour")
                            .long("colour")
                            .value_parser(clap::value_parser!(Colour))
                            .help("Colour."),
                    ),
            )
    }

    const TABLE: &[Entry] = &[
        ("", "", "Một ví dụ."),
        ("", "data", "Thư mục dữ liệu."),
        ("paint", "", "Sơn một thứ."),
        ("paint", "what", "Sơn gì."),
        ("paint", "dry", "Không sơn."),
        ("paint", "colour", "Màu."),
        ("paint", "colour=red", "đỏ"),
        ("paint", "colour=green", "xanh lá"),
    ];

    fn help(mut cmd: Command, args: &[&str]) -> String {
        let e = cmd.try_get_matches_from_mut(args).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        e.render().to_string()
    }

    #[test]
    fn vietnamese_help_has_the_table_the_headings_and_clap_s_own_lines_translated() {
        let root = help(localize(test_cmd(), Lang::Vi, TABLE), &["demo", "--help"]);
        for s in [
            "Một ví dụ.",
            "Cách dùng: demo [TÙY_CHỌN] [LỆNH]",
            "Lệnh:",
            "Tùy chọn:",
            "Sơn một thứ.",
            "Thư mục dữ liệu. [mặc định: ./d] [biến môi trường: DEMO_DATA]",
            "In trợ giúp",
            "In phiên bản",
            "In trợ giúp này hoặc trợ giúp của (các) lệnh đã nêu",
            "Ngôn ngữ của dòng lệnh",
        ] {
            assert!(root.contains(s), "no {s:?} in:\n{root}");
        }
        for s in [
            "Usage:",
            "Options:",
            "Commands:",
            "Print help",
            "[default:",
            "[env:",
        ] {
            assert!(!root.contains(s), "{s:?} left in:\n{root}");
        }
        let sub = help(
            localize(test_cmd(), Lang::Vi, TABLE),
            &["demo", "paint", "--help"],
        );
        for s in [
            "Tham số:",
            "Sơn gì.",
            "Giá trị:",
            "- red: đỏ",
            "- green: xanh lá",
            // The global flag, propagated to the subcommand, in Vietnamese there too.
            "Thư mục dữ liệu.",
        ] {
            assert!(sub.contains(s), "no {s:?} in:\n{sub}");
        }
        assert!(!sub.contains("possible values"), "{sub}");
        let short = help(
            localize(test_cmd(), Lang::Vi, TABLE),
            &["demo", "paint", "-h"],
        );
        assert!(short.contains("Màu. [giá trị: red, green]"), "{short}");
        assert!(!short.contains("[possible values"), "{short}");
    }

    #[test]
    fn english_help_is_clap_s_own() {
        let root = help(localize(test_cmd(), Lang::En, TABLE), &["demo", "--help"]);
        for s in ["A demo.", "Usage: demo", "Options:", "Print help", "--lang"] {
            assert!(root.contains(s), "no {s:?} in:\n{root}");
        }
        assert!(!root.contains("Cách dùng"), "{root}");
    }

    #[test]
    fn missing_names_what_lacks_vietnamese_and_what_matches_nothing() {
        assert_eq!(missing(test_cmd(), TABLE), Vec::<String>::new());
        let lacking: Vec<Entry> = TABLE
            .iter()
            .copied()
            .filter(|e| e.1 != "colour=green")
            .chain([("paint", "color", "Màu.")])
            .collect();
        let problems = missing(test_cmd(), &lacking);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("'paint' arg 'colour=green'"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("'color', which does not exist"),
            "{problems:?}"
        );
    }

    #[test]
    fn not_nfc_finds_a_decomposed_line() {
        assert_eq!(not_nfc(TABLE), Vec::<String>::new());
        let decomposed = "Sơn gi\u{0300}."; // "gì" with a combining grave accent
        let table = [("paint", "what", decomposed)];
        assert_eq!(not_nfc(&table), vec![decomposed.to_string()]);
    }
}

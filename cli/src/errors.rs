//! clap's parse errors in baobi's voice: per `ErrorKind`, from the error's context (the arg, the
//! value, the suggestions), "tiếng Việt / English" by default and English alone under `--lang en`,
//! laid out as clap lays them out (the error, tips, the usage, where to read more).

use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::Lang;

/// A value-validation error whose message is already complete (and bilingual), such as the one the
/// agent gives for any invalid field ("Dữ liệu không hợp lệ / Invalid input: vendors-total: …"):
/// [`render_error`] prints it as it is. For use in a clap `TypedValueParser`.
pub fn invalid_value(
    cmd: &clap::Command,
    arg: Option<&clap::Arg>,
    value: &str,
    message: String,
) -> clap::Error {
    let mut e = clap::Error::new(ErrorKind::ValueValidation).with_cmd(cmd);
    if let Some(a) = arg {
        e.insert(ContextKind::InvalidArg, ContextValue::String(a.to_string()));
    }
    e.insert(
        ContextKind::InvalidValue,
        ContextValue::String(value.to_string()),
    );
    e.insert(ContextKind::Custom, ContextValue::String(message));
    e
}

fn text(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => Some(v.join(", ")),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        ContextValue::StyledStrs(v) => Some(
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ContextValue::Number(n) => Some(n.to_string()),
        ContextValue::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn quoted_list(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::Strings(v) if !v.is_empty() => Some(
            v.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ContextValue::String(s) => Some(format!("'{s}'")),
        _ => None,
    }
}

/// clap's "to pass 'X' as a value, use '-- X'" in this language; other tips as they are.
fn suggested_tip(tip: &str, lang: Lang) -> String {
    let parsed = tip
        .strip_prefix("to pass '")
        .and_then(|rest| rest.split_once("' as a value, use '"))
        .and_then(|(value, rest)| Some((value, rest.strip_suffix('\'')?)));
    match parsed {
        Some((value, usage)) => lang.both(
            &format!("để truyền '{value}' làm giá trị, hãy viết '{usage}'"),
            tip,
        ),
        None => tip.to_string(),
    }
}

/// The error as the user reads it on stderr (ends with a newline).
pub fn render_error(e: &clap::Error, lang: Lang) -> String {
    if let Some(ContextValue::String(m)) = e.get(ContextKind::Custom) {
        return format!("{m}\n");
    }
    let arg = text(e, ContextKind::InvalidArg).unwrap_or_default();
    let value = text(e, ContextKind::InvalidValue).unwrap_or_default();
    let (vi, en): (String, String) = match e.kind() {
        ErrorKind::UnknownArgument => (
            format!("tham số không có trong lệnh này '{arg}'"),
            format!("unexpected argument '{arg}' found"),
        ),
        ErrorKind::InvalidSubcommand => {
            let sub = text(e, ContextKind::InvalidSubcommand).unwrap_or_default();
            (
                format!("không có lệnh '{sub}'"),
                format!("unrecognized subcommand '{sub}'"),
            )
        }
        ErrorKind::InvalidValue if value.is_empty() => (
            format!("'{arg}' cần một giá trị nhưng không có"),
            format!("a value is required for '{arg}' but none was supplied"),
        ),
        ErrorKind::InvalidValue => (
            format!("giá trị '{value}' không hợp lệ cho '{arg}'"),
            format!("invalid value '{value}' for '{arg}'"),
        ),
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e)
                .map(ToString::to_string)
                .unwrap_or_default();
            // The reason comes from the value parser, once, after both halves.
            (
                format!("giá trị '{value}' không hợp lệ cho '{arg}'"),
                format!("invalid value '{value}' for '{arg}': {why}"),
            )
        }
        ErrorKind::NoEquals => (
            format!("cần dấu '=' để gán giá trị cho '{arg}'"),
            format!("equal sign is needed when assigning values to '{arg}'"),
        ),
        ErrorKind::TooManyValues => (
            format!("thừa giá trị '{value}' cho '{arg}'"),
            format!("unexpected value '{value}' for '{arg}' found; no more were expected"),
        ),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            let want = text(e, ContextKind::ExpectedNumValues)
                .or_else(|| text(e, ContextKind::MinValues))
                .unwrap_or_default();
            let got = text(e, ContextKind::ActualNumValues).unwrap_or_default();
            (
                format!("'{arg}' cần {want} giá trị, mới có {got}"),
                format!("{want} values required by '{arg}'; only {got} were provided"),
            )
        }
        ErrorKind::ArgumentConflict => match quoted_list(e, ContextKind::PriorArg) {
            Some(prior) => (
                format!("không dùng được '{arg}' cùng với {prior}"),
                format!("the argument '{arg}' cannot be used with {prior}"),
            ),
            None => (
                format!("không dùng được '{arg}' cùng với các tham số đã cho"),
                format!("the argument '{arg}' cannot be used with one or more of the other specified arguments"),
            ),
        },
        ErrorKind::MissingRequiredArgument => {
            let list = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v
                    .iter()
                    .map(|s| format!("\n  {s}"))
                    .collect::<String>(),
                _ => format!("\n  {arg}"),
            };
            (
                "thiếu các tham số bắt buộc sau".to_string(),
                format!("the following required arguments were not provided:{list}"),
            )
        }
        ErrorKind::MissingSubcommand => {
            let name = text(e, ContextKind::InvalidSubcommand).unwrap_or_default();
            (
                format!("'{name}' cần một lệnh con"),
                format!("'{name}' requires a subcommand but one was not provided"),
            )
        }
        ErrorKind::InvalidUtf8 => (
            "tham số có ký tự không phải UTF-8".to_string(),
            "invalid UTF-8 was detected in one or more arguments".to_string(),
        ),
        _ => {
            let en = e.kind().as_str().unwrap_or("invalid command line").to_string();
            ("dòng lệnh không hợp lệ".to_string(), en)
        }
    };
    let mut out = match lang {
        Lang::Vi => format!("Lỗi / Error: {vi} / {en}\n"),
        Lang::En => format!("error: {en}\n"),
    };
    let mut tips = Vec::new();
    if let Some(v) = quoted_list(e, ContextKind::SuggestedArg) {
        tips.push(lang.both(
            &format!("có tham số gần giống: {v}"),
            &format!("a similar argument exists: {v}"),
        ));
    }
    if let Some(v) = quoted_list(e, ContextKind::SuggestedSubcommand) {
        tips.push(lang.both(
            &format!("có lệnh gần giống: {v}"),
            &format!("a similar subcommand exists: {v}"),
        ));
    }
    if let Some(v) = quoted_list(e, ContextKind::SuggestedValue) {
        tips.push(lang.both(
            &format!("có giá trị gần giống: {v}"),
            &format!("a similar value exists: {v}"),
        ));
    }
    if let Some(ContextValue::StyledStrs(v)) = e.get(ContextKind::Suggested) {
        // clap's own tips come as finished English sentences; the one seen in practice ("to pass
        // '-3' as a value, use '-- -3'") is translated, any other stays in English.
        tips.extend(v.iter().map(|t| suggested_tip(&t.to_string(), lang)));
    }
    let valid = quoted_list(e, ContextKind::ValidValue);
    let subs = quoted_list(e, ContextKind::ValidSubcommand);
    if valid.is_some() || subs.is_some() || !tips.is_empty() {
        out.push('\n');
    }
    if let Some(v) = valid {
        out.push_str(&format!(
            "  {}\n",
            lang.both(
                &format!("giá trị hợp lệ: {v}"),
                &format!("possible values: {v}")
            )
        ));
    }
    if let Some(v) = subs {
        out.push_str(&format!(
            "  {}\n",
            lang.both(&format!("các lệnh: {v}"), &format!("subcommands: {v}"))
        ));
    }
    for t in tips {
        out.push_str(&format!("  {}: {t}\n", lang.both("gợi ý", "tip")));
    }
    if let Some(usage) = text(e, ContextKind::Usage) {
        let usage = usage.trim();
        let line = usage.strip_prefix("Usage:").map_or(usage.to_string(), |u| {
            format!("{}:{u}", lang.both("Cách dùng", "Usage"))
        });
        out.push_str(&format!("\n{line}\n"));
        out.push_str(&format!(
            "\n{}\n",
            lang.both(
                "Xem thêm với '--help'",
                "For more information, try '--help'."
            )
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn cmd() -> Command {
        Command::new("demo")
            .arg(Arg::new("json").long("json").action(ArgAction::SetTrue))
            .subcommand(
                Command::new("paint")
                    .arg(Arg::new("what"))
                    .arg(Arg::new("token").long("token").required(true))
                    .arg(
                        Arg::new("colour")
                            .long("colour")
                            .value_parser(["red", "green"]),
                    )
                    .arg(
                        Arg::new("count")
                            .long("count")
                            .value_parser(clap::value_parser!(u32)),
                    )
                    .arg(
                        Arg::new("quiet")
                            .long("quiet")
                            .action(ArgAction::SetTrue)
                            .conflicts_with("json2"),
                    )
                    .arg(Arg::new("json2").long("json2").action(ArgAction::SetTrue)),
            )
    }

    fn err(args: &[&str]) -> clap::Error {
        cmd().try_get_matches_from(args).unwrap_err()
    }

    #[test]
    fn each_kind_reads_in_vietnamese_with_the_english_beside_it() {
        let cases: &[(&[&str], ErrorKind, &[&str])] = &[
            (
                &["demo", "--jsn"],
                ErrorKind::UnknownArgument,
                &[
                    "Lỗi / Error: tham số không có trong lệnh này '--jsn' / unexpected argument '--jsn' found",
                    "gợi ý / tip: có tham số gần giống: '--json' / a similar argument exists: '--json'",
                    "Cách dùng / Usage: demo",
                    "Xem thêm với '--help' / For more information, try '--help'.",
                ],
            ),
            (
                &["demo", "pant"],
                ErrorKind::InvalidSubcommand,
                &["không có lệnh 'pant' / unrecognized subcommand 'pant'", "'paint'"],
            ),
            (
                &["demo", "paint"],
                ErrorKind::MissingRequiredArgument,
                &["thiếu các tham số bắt buộc sau / the following required arguments were not provided:\n  --token <token>"],
            ),
            (
                &["demo", "paint", "--token"],
                ErrorKind::InvalidValue,
                &["'--token <token>' cần một giá trị nhưng không có / a value is required for '--token <token>' but none was supplied"],
            ),
            (
                &["demo", "paint", "--token", "t", "--colour", "blue"],
                ErrorKind::InvalidValue,
                &[
                    "giá trị 'blue' không hợp lệ cho '--colour <colour>'",
                    "giá trị hợp lệ: 'red', 'green' / possible values: 'red', 'green'",
                ],
            ),
            (
                &["demo", "paint", "--token", "t", "--count", "x"],
                ErrorKind::ValueValidation,
                &["giá trị 'x' không hợp lệ cho '--count <count>' / invalid value 'x' for '--count <count>': invalid digit found in string"],
            ),
            (
                &["demo", "paint", "--token", "t", "--quiet", "--json2"],
                ErrorKind::ArgumentConflict,
                &["không dùng được '--quiet' cùng với '--json2' / the argument '--quiet' cannot be used with '--json2'"],
            ),
        ];
        for (args, kind, want) in cases {
            let e = err(args);
            assert_eq!(e.kind(), *kind, "{args:?}");
            let vi = render_error(&e, Lang::Vi);
            for w in *want {
                assert!(vi.contains(w), "{args:?}: no {w:?} in:\n{vi}");
            }
            let en = render_error(&e, Lang::En);
            assert!(en.starts_with("error: "), "{en}");
            assert!(!en.contains("Lỗi"), "{en}");
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn clap_s_tip_for_a_hyphen_value_is_translated() {
        let e = err(&["demo", "paint", "--token", "t", "-3"]);
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        let vi = render_error(&e, Lang::Vi);
        assert!(
            vi.contains("gợi ý / tip: để truyền '-3' làm giá trị, hãy viết '-- -3' / to pass '-3' as a value, use '-- -3'"),
            "{vi}"
        );
        let en = render_error(&e, Lang::En);
        assert!(
            en.contains("tip: to pass '-3' as a value, use '-- -3'"),
            "{en}"
        );
    }

    #[test]
    fn english_alone_reads_as_clap_does() {
        let en = render_error(&err(&["demo", "--jsn"]), Lang::En);
        assert!(
            en.starts_with("error: unexpected argument '--jsn' found\n"),
            "{en}"
        );
        assert!(
            en.contains("tip: a similar argument exists: '--json'"),
            "{en}"
        );
        assert!(en.contains("\nUsage: demo"), "{en}");
        assert!(
            en.ends_with("For more information, try '--help'.\n"),
            "{en}"
        );
    }

    #[test]
    fn a_complete_message_is_printed_as_it_is() {
        let c = cmd();
        let e = invalid_value(
            &c,
            None,
            "-3",
            "Dữ liệu không hợp lệ / Invalid input: n: x".into(),
        );
        assert_eq!(
            render_error(&e, Lang::Vi),
            "Dữ liệu không hợp lệ / Invalid input: n: x\n"
        );
        assert_eq!(render_error(&e, Lang::En), render_error(&e, Lang::Vi));
        assert_eq!(e.exit_code(), 2);
    }
}

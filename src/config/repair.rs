//! Key repair: an unknown key (a typo) is reported with the closest
//! allowed one ("did you mean") and taken out of the document, so that the
//! rest of the file is still read and checked in the same run; every
//! problem is placed by `position` (1-based line and column).

use serde::Deserialize;

use super::Problem;
use super::raw::RawConfig;

/// Reads the raw config out of the parsed document. Each unknown key is
/// removed and becomes a problem (with "did you mean"), up to 100 of them;
/// `Err` when the document still does not fit (every problem so far, the
/// one that stopped it last). `Ok` carries the unknown-key problems.
pub(super) fn read_raw(
    mut root: toml::Spanned<toml::de::DeTable<'_>>,
    text: &str,
) -> Result<(RawConfig, Vec<Problem>), Vec<Problem>> {
    let mut unknown = Vec::new();
    loop {
        match RawConfig::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(raw) => return Ok((raw, unknown)),
            Err(e) => {
                let removed = match (unknown_key(&e), e.span()) {
                    (Some(hint), Some(span)) if unknown.len() < 100 => {
                        remove_key(root.get_mut(), &span, "").map(|path| (hint, span, path))
                    }
                    _ => None,
                };
                let Some((hint, span, path)) = removed else {
                    unknown.push(toml_problem(text, &e));
                    return Err(unknown);
                };
                let (line, column) = position(text, span.start);
                unknown.push(Problem {
                    line,
                    column,
                    key: path,
                    message: hint.message,
                });
            }
        }
    }
}

/// A TOML or serde error as a problem, where it is (1:1 without a span).
pub(super) fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    let (line, column) = e.span().map_or((1, 1), |s| position(text, s.start));
    Problem {
        line,
        column,
        key: String::new(),
        message: e.message().trim().to_owned(),
    }
}

/// The closest of `allowed` to `word`, when it is close enough to be what
/// was meant (a third of its length, at least 2 edits).
pub(super) fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(word, a), *a))
        .min()
        .filter(|(d, a)| *d <= (a.len() / 3).max(2))
        .map(|(_, a)| a)
}

/// What to say about an unknown key.
struct UnknownKey {
    message: String,
}

/// Reads serde's "unknown field `x`, expected one of `a`, `b`" and suggests
/// the closest allowed key.
fn unknown_key(e: &toml::de::Error) -> Option<UnknownKey> {
    let message = e.message();
    let rest = message.strip_prefix("unknown field ")?;
    let mut quoted = rest.split('`').skip(1).step_by(2);
    let key = quoted.next()?.to_owned();
    let allowed: Vec<&str> = quoted.collect();
    let message = match closest(&key, &allowed) {
        Some(a) => format!("unknown key `{key}`; did you mean `{a}`?"),
        None => format!("unknown key `{key}`; allowed here: {}", allowed.join(", ")),
    };
    Some(UnknownKey { message })
}

/// Levenshtein distance (keys are short).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Removes the key whose name sits at `span`, wherever it is nested;
/// returns its dotted path (`api.requests_per_secnd`,
/// `policy.nightly.keep_lst`).
fn remove_key(
    table: &mut toml::de::DeTable<'_>,
    span: &std::ops::Range<usize>,
    path: &str,
) -> Option<String> {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let found = table.keys().find(|k| k.span() == *span).cloned();
    if let Some(key) = found {
        table.remove(&key);
        return Some(join(key.get_ref()));
    }
    table.iter_mut().find_map(|(k, v)| {
        let here = join(k.get_ref());
        match v.get_mut() {
            toml::de::DeValue::Table(t) => remove_key(t, span, &here),
            toml::de::DeValue::Array(items) => items.iter_mut().find_map(|item| {
                let toml::de::DeValue::Table(t) = item.get_mut() else {
                    return None;
                };
                let named = match t.get("name").map(|n| n.get_ref()) {
                    Some(toml::de::DeValue::String(name)) => format!("{here}.{name}"),
                    _ => here.clone(),
                };
                remove_key(t, span, &named)
            }),
            _ => None,
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

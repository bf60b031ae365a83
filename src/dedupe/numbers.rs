//! Words with numbers in one style: "fourteen", "14" and "14.0" are one token, "3.1 percent"
//! and "3.1%" are one, "£4.2m" and "4.2 million pounds" are one. Outlets restyle numbers
//! when they copy a story; near-duplicate detection compares the restyled words.

use std::borrow::Cow;

/// A word of text, or a number however it was written.
#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    /// A word that is not part of a number, as written.
    Word(&'a str),
    /// A number's value.
    Number(f64),
}

impl Token<'_> {
    /// The token as text: the word lower-cased, a number as `#` and its shortest decimal
    /// form (`#14`, `#3.1`, `#4200000`).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Token::Word(w) => lowercase(w),
            Token::Number(n) => Cow::Owned(number_text(*n)),
        }
    }
}

/// `w` lower-cased, with the typographic apostrophe as `'` (`Council’s` and `council's`
/// are one word).
pub fn lowercase(w: &str) -> Cow<'_, str> {
    if w.bytes()
        .all(|b| b.is_ascii_lowercase() || !b.is_ascii_alphabetic() && b.is_ascii())
    {
        return Cow::Borrowed(w);
    }
    Cow::Owned(w.to_lowercase().replace('\u{2019}', "'"))
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("#{}", n as i64)
    } else {
        // Four decimals at most: a ratio written two ways rounds the same.
        let s = format!("{n:.4}");
        format!("#{}", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// Number words below twenty, and the tens.
fn small(w: &str) -> Option<f64> {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(n) = UNITS.iter().position(|u| *u == w) {
        return Some(n as f64);
    }
    TENS.iter()
        .position(|t| *t == w)
        .map(|n| (n as f64 + 2.0) * 10.0)
}

/// Scale words after a number ("2 million", "three thousand").
fn scale(w: &str) -> Option<f64> {
    match w {
        "hundred" => Some(1e2),
        "thousand" => Some(1e3),
        "million" | "millions" => Some(1e6),
        "billion" | "billions" => Some(1e9),
        _ => None,
    }
}

/// Words that only say how a number is meant and which outlets write as a sign or leave out:
/// "percent", "pounds", "euros", "dollars".
fn unit(w: &str) -> bool {
    matches!(
        w,
        "percent"
            | "pc"
            | "pounds"
            | "pound"
            | "euros"
            | "euro"
            | "dollars"
            | "dollar"
            | "sterling"
    )
}

/// A number written with digits: `14`, `1,200`, `3.1`, and `4.2m`, `2.8bn`, `300k`, `5pc`.
/// Other letters after the digits (`a614`, `65s`, `13th`) make it a word.
fn digits(w: &str) -> Option<f64> {
    let end = w
        .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .unwrap_or(w.len());
    let (number, suffix) = w.split_at(end);
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let value: f64 = number.replace(',', "").parse().ok()?;
    let times = match suffix {
        "" | "pc" => 1.0,
        "k" => 1e3,
        "m" | "mn" => 1e6,
        "bn" => 1e9,
        _ => return None,
    };
    Some(value * times)
}

/// The longest word a number can be written as ("seventeen", "1,000,000"); longer words are
/// words.
const MAX_NUMBER_WORD: usize = 12;

/// `f` of `w` lower-cased, when `w` is ASCII and short enough to be a number: no allocation
/// for the words of a whole article, nearly all of which are not numbers.
fn with_lower<T>(w: &str, f: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    let b = w.as_bytes();
    if b.len() > MAX_NUMBER_WORD || !w.is_ascii() {
        return None;
    }
    let mut buf = [0u8; MAX_NUMBER_WORD];
    for (d, s) in buf.iter_mut().zip(b) {
        *d = s.to_ascii_lowercase();
    }
    // ASCII in, ASCII out.
    std::str::from_utf8(&buf[..b.len()]).ok().and_then(f)
}

/// The tokens of `words`, numbers in one style: runs of number words become their value
/// ("three hundred and fifty" is 350, "twenty-five" 25), a scale word multiplies the number
/// before it ("1.2 million"), and unit words after a number ("percent", "pounds", "per
/// cent") are left out.
pub fn tokens<'a>(words: &[&'a str]) -> Vec<Token<'a>> {
    let mut out = Vec::with_capacity(words.len());
    let mut at = 0;
    while at < words.len() {
        let value = with_lower(words[at], |w| {
            if w.starts_with(|c: char| c.is_ascii_digit()) {
                digits(w).map(|v| (v, at + 1))
            } else {
                spelled(words, at)
            }
        });
        let Some((mut value, mut next)) = value else {
            out.push(Token::Word(words[at]));
            at += 1;
            continue;
        };
        if let Some(times) = words.get(next).and_then(|w| with_lower(w, scale)) {
            value *= times;
            next += 1;
        }
        loop {
            let is = |n: usize, what: fn(&str) -> bool| {
                words
                    .get(n)
                    .and_then(|w| with_lower(w, |w| what(w).then_some(())))
                    .is_some()
            };
            if is(next, unit) {
                next += 1;
            } else if is(next, |w| w == "per") && is(next + 1, |w| w == "cent") {
                next += 2;
            } else {
                break;
            }
        }
        out.push(Token::Number(value));
        at = next;
    }
    out
}

/// A number spelled out from `words[at]`, and the index after it.
fn spelled(words: &[&str], at: usize) -> Option<(f64, usize)> {
    let (mut total, mut current, mut any, mut scaled) = (0.0, 0.0, false, false);
    let mut next = at;
    while let Some(w) = words.get(next) {
        let step = with_lower(w, |w| {
            if let Some(v) = small(w) {
                current += v;
                Some(false)
            } else if w == "hundred" && any {
                current = current.max(1.0) * 100.0;
                Some(true)
            } else if let (Some(s), true) = (scale(w), any) {
                total += current.max(1.0) * s;
                current = 0.0;
                Some(true)
            } else if w == "and"
                && scaled
                && words
                    .get(next + 1)
                    .and_then(|n| with_lower(n, small))
                    .is_some()
            {
                // "three hundred and fifty", not "two and three"
                Some(false)
            } else {
                None
            }
        });
        let Some(step) = step else {
            break;
        };
        scaled = step;
        any = true;
        next += 1;
    }
    any.then_some((total + current, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        let words: Vec<&str> = crate::words::words(s);
        tokens(&words)
            .iter()
            .map(|t| t.text().into_owned())
            .collect()
    }

    #[test]
    fn numbers_written_either_way_are_one_token() {
        let same = [
            ("fourteen jobs", "14 jobs"),
            ("three hundred and fifty jobs", "350 jobs"),
            ("twenty-five years", "25 years"),
            ("3.1 percent", "3.1%"),
            ("3.1 per cent rise", "3.1% rise"),
            ("4.2 million pounds", "£4.2m"),
            ("2.8 billion", "2.8bn"),
            ("1,200 homes", "1200 homes"),
            ("two million customers", "2m customers"),
        ];
        for (a, b) in same {
            assert_eq!(texts(a), texts(b), "{a} / {b}");
        }
        assert_eq!(
            texts("Day 3 of the strike"),
            ["day", "#3", "of", "the", "strike"]
        );
        assert_eq!(texts("up 0.40 percent"), ["up", "#0.4"]);
        assert_ne!(texts("day three"), texts("day four"));
        assert_eq!(texts("two and three"), ["#2", "and", "#3"]);
        // Letters after digits make a word; a lone "and" is a word.
        assert_eq!(texts("A614 and the 1990s"), ["a614", "and", "the", "1990s"]);
        assert_eq!(texts("Council’s"), texts("council's"));
    }
}

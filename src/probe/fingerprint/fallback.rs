//! Token-level fingerprints for SQL that sqlparser cannot parse (vendor syntax,
//! procedural blocks, truncated text): the same strict rules applied to the
//! token stream. When even the tokenizer fails (an unterminated quote), only
//! the leading keywords survive, so a literal can never leak.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{Fingerprint, READABLE_MAX_CHARS, SqlDialect, StatementClass, truncate};

/// Fingerprints each `;`-separated statement of `sql` from its tokens.
pub(super) fn fingerprint_tokens(sql: &str, dialect: SqlDialect) -> Vec<Fingerprint> {
    let tokens = match Tokenizer::new(dialect.parser_dialect(), sql).tokenize() {
        Ok(tokens) => tokens,
        Err(_) => return vec![untokenizable(sql)],
    };
    tokens
        .split(|token| matches!(token, Token::SemiColon))
        .filter_map(fingerprint_statement)
        .collect()
}

/// A normalised token: what the strict text prints for it.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Placeholder,
    /// A keyword, upper case.
    Word(String),
    /// An identifier as written (quoted or not); a `(` right after it is glued.
    Name(String),
    Punct(String),
}

fn fingerprint_statement(tokens: &[Token]) -> Option<Fingerprint> {
    let mut pieces: Vec<Piece> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let piece = match token {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::Word(word)
                if word.quote_style.is_none() && word.keyword != Keyword::NoKeyword =>
            {
                Piece::Word(word.value.to_ascii_uppercase())
            }
            Token::Word(word) => Piece::Name(token_text(word)),
            Token::Number(..)
            | Token::Placeholder(_)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::CopyData { .. } => Piece::Placeholder,
            other => Piece::Punct(other.to_string()),
        };
        pieces.push(piece);
    }
    if pieces.is_empty() {
        return None;
    }
    anonymise_names(&mut pieces);
    let pieces = collapse_lists(&pieces);
    let strict = render(&pieces);
    let class = StatementClass::of_strict(&strict);
    let readable = truncate(render(&elide_projection(pieces)));
    Some(Fingerprint {
        strict,
        readable,
        class,
    })
}

fn token_text(word: &sqlparser::tokenizer::Word) -> String {
    match word.quote_style {
        Some(quote) => {
            let close = if quote == '[' { ']' } else { quote };
            format!("{quote}{}{close}", word.value)
        }
        None => word.value.clone(),
    }
}

/// Replaces savepoint and cursor names with `?`.
fn anonymise_names(pieces: &mut [Piece]) {
    let word = |piece: &Piece, expected: &str| matches!(piece, Piece::Word(w) if w == expected);
    let name_at = match pieces {
        [first, ..] if word(first, "SAVEPOINT") => Some(1),
        [first, second, ..] if word(first, "RELEASE") && word(second, "SAVEPOINT") => Some(2),
        [first, ..] if word(first, "RELEASE") => Some(1),
        [first, second, third, ..]
            if word(first, "ROLLBACK") && word(second, "TO") && word(third, "SAVEPOINT") =>
        {
            Some(3)
        }
        [first, second, ..] if word(first, "ROLLBACK") && word(second, "TO") => Some(2),
        [first, ..] if word(first, "DECLARE") || word(first, "CLOSE") => Some(1),
        _ => None,
    };
    if let Some(index) = name_at
        && index < pieces.len()
    {
        pieces[index] = Piece::Placeholder;
    }
}

/// `( ?, ?, ? )` becomes `(?)`, and repeated `, (?)` rows after it disappear.
fn collapse_lists(pieces: &[Piece]) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    let mut index = 0;
    while index < pieces.len() {
        if let Some(end) = placeholder_list_end(pieces, index) {
            let is_repeat = out.len() >= 4
                && matches!(&out[out.len() - 1], Piece::Punct(p) if p == ",")
                && out[out.len() - 4..out.len() - 1] == placeholder_list();
            if is_repeat {
                out.pop();
            } else {
                out.extend(placeholder_list());
            }
            index = end + 1;
        } else {
            out.push(pieces[index].clone());
            index += 1;
        }
    }
    out
}

fn placeholder_list() -> [Piece; 3] {
    [
        Piece::Punct("(".to_owned()),
        Piece::Placeholder,
        Piece::Punct(")".to_owned()),
    ]
}

/// If `pieces[start..]` opens a parenthesised list of only placeholders, the index of its `)`.
fn placeholder_list_end(pieces: &[Piece], start: usize) -> Option<usize> {
    if !matches!(&pieces[start], Piece::Punct(p) if p == "(") {
        return None;
    }
    let mut expect_value = true;
    for (offset, piece) in pieces[start + 1..].iter().enumerate() {
        match piece {
            Piece::Placeholder if expect_value => expect_value = false,
            Piece::Punct(p) if p == "," && !expect_value => expect_value = true,
            Piece::Punct(p) if p == ")" && !expect_value => return Some(start + 1 + offset),
            _ => return None,
        }
    }
    None
}

/// Replaces what lies between a leading SELECT and its top-level FROM with `...`.
fn elide_projection(pieces: Vec<Piece>) -> Vec<Piece> {
    if !matches!(pieces.first(), Some(Piece::Word(w)) if w == "SELECT") {
        return pieces;
    }
    let mut depth = 0usize;
    let mut from_at = None;
    for (index, piece) in pieces.iter().enumerate().skip(1) {
        match piece {
            Piece::Punct(p) if p == "(" => depth += 1,
            Piece::Punct(p) if p == ")" => depth = depth.saturating_sub(1),
            Piece::Word(w) if w == "FROM" && depth == 0 => {
                from_at = Some(index);
                break;
            }
            _ => {}
        }
    }
    let Some(from_at) = from_at else {
        return pieces;
    };
    let mut out = Vec::with_capacity(pieces.len());
    let mut rest = pieces.into_iter();
    out.extend(rest.next());
    out.push(Piece::Word("...".to_owned()));
    out.extend(rest.skip(from_at - 1));
    out
}

/// Prints pieces with single spaces, none inside parentheses or before `,` `.`.
fn render(pieces: &[Piece]) -> String {
    let mut out = String::with_capacity(pieces.len() * 6);
    let mut glue_next = true;
    let mut after_name = false;
    for piece in pieces {
        let text = match piece {
            Piece::Placeholder => "?",
            Piece::Word(w) | Piece::Name(w) => w.as_str(),
            Piece::Punct(p) => p.as_str(),
        };
        let glue_before =
            matches!(text, "," | ")" | "." | "::" | "]") || (after_name && text == "(");
        if !glue_next && !glue_before {
            out.push(' ');
        }
        out.push_str(text);
        glue_next = matches!(text, "(" | "." | "::" | "[");
        after_name = matches!(piece, Piece::Name(_));
    }
    out
}

/// Last resort when the tokenizer rejects `sql`: keep only the leading keywords
/// (letters and underscores), never anything that could be a value.
fn untokenizable(sql: &str) -> Fingerprint {
    let keywords: Vec<String> = sql
        .split_whitespace()
        .take_while(|word| word.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    let strict = format!("{} ?", keywords.join(" ")).trim_start().to_owned();
    let class = StatementClass::of_strict(&strict);
    let mut readable = strict.clone();
    readable.truncate(READABLE_MAX_CHARS);
    Fingerprint {
        strict,
        readable,
        class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unterminated_quote_keeps_only_leading_keywords() {
        let fingerprint = untokenizable("SELECT 'secret");
        assert_eq!(fingerprint.strict, "SELECT ?");
        assert!(!fingerprint.strict.contains("secret"));
    }

    #[test]
    fn render_glues_punctuation() {
        let pieces = vec![
            Piece::Name("f".to_owned()),
            Piece::Punct("(".to_owned()),
            Piece::Placeholder,
            Piece::Punct(",".to_owned()),
            Piece::Placeholder,
            Piece::Punct(")".to_owned()),
        ];
        assert_eq!(render(&pieces), "f(?, ?)");
    }
}

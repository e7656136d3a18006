//! Splits a multi-statement query string at its top-level `;`, the way the
//! server will execute it, so each statement is counted and paired with its own
//! completion. A lexer, not a parser: it only knows quotes, comments and
//! dollar-quoting, which is all it takes to find statement boundaries fast.

use super::DbKind;

/// The statements of `sql`, trimmed. Pieces holding only whitespace or comments
/// are dropped, as the server drops them; when nothing is left the whole string
/// is returned once (the server answers it with an empty-query response).
pub(super) fn split_statements(sql: &str, kind: DbKind) -> Vec<&str> {
    let bytes = sql.as_bytes();
    if !bytes.contains(&b';') {
        // The usual case, one statement: it has code unless it opens with a comment.
        let trimmed = sql.trim();
        let opens_comment = trimmed.starts_with("--")
            || trimmed.starts_with("/*")
            || (kind == DbKind::Mysql && trimmed.starts_with('#'));
        if !trimmed.is_empty() && !opens_comment {
            return vec![trimmed];
        }
    }
    let mut statements = Vec::new();
    let mut piece_start = 0;
    let mut piece_has_code = false;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b';' => {
                if piece_has_code {
                    statements.push(sql[piece_start..index].trim());
                }
                piece_start = index + 1;
                piece_has_code = false;
                index += 1;
            }
            b'\'' | b'"' | b'`' => {
                let backslash_escapes = kind == DbKind::Mysql
                    || (byte == b'\'' && index > 0 && matches!(bytes[index - 1], b'E' | b'e'));
                index = skip_quoted(bytes, index, byte, backslash_escapes);
                piece_has_code = true;
            }
            b'-' if bytes.get(index + 1) == Some(&b'-') => index = skip_line(bytes, index),
            b'#' if kind == DbKind::Mysql => index = skip_line(bytes, index),
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = skip_block_comment(bytes, index, kind)
            }
            b'$' if kind == DbKind::Postgres => {
                match dollar_tag_end(bytes, index) {
                    Some(tag_end) => index = skip_dollar_quoted(bytes, index, tag_end),
                    None => index += 1,
                }
                piece_has_code = true;
            }
            _ => {
                if !byte.is_ascii_whitespace() {
                    piece_has_code = true;
                }
                index += 1;
            }
        }
    }
    if piece_has_code {
        statements.push(sql[piece_start..].trim());
    }
    if statements.is_empty() {
        statements.push(sql);
    }
    statements
}

/// Index just past the closing `quote` (doubled quotes stay inside).
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut index = open + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if backslash_escapes => index += 2,
            byte if byte == quote => {
                if bytes.get(index + 1) == Some(&quote) {
                    index += 2;
                } else {
                    return index + 1;
                }
            }
            _ => index += 1,
        }
    }
    bytes.len()
}

fn skip_line(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |offset| start + offset + 1)
}

/// PostgreSQL block comments nest; MySQL's do not.
fn skip_block_comment(bytes: &[u8], start: usize, kind: DbKind) -> usize {
    let mut depth = 0usize;
    let mut index = start;
    while index + 1 < bytes.len() {
        match (bytes[index], bytes[index + 1]) {
            (b'/', b'*') if depth == 0 || kind == DbKind::Postgres => {
                depth += 1;
                index += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                index += 2;
                if depth == 0 {
                    return index;
                }
            }
            _ => index += 1,
        }
    }
    bytes.len()
}

/// If a dollar-quote tag (`$$` or `$name$`) opens at `start`, the index past it.
fn dollar_tag_end(bytes: &[u8], start: usize) -> Option<usize> {
    let preceded_by_word =
        start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
    if preceded_by_word {
        return None;
    }
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'$' => return Some(index + 1),
            b if b.is_ascii_alphabetic()
                || b == b'_'
                || (b.is_ascii_digit() && index > start + 1) =>
            {
                index += 1
            }
            _ => return None,
        }
    }
    None
}

fn skip_dollar_quoted(bytes: &[u8], start: usize, tag_end: usize) -> usize {
    let tag = &bytes[start..tag_end];
    bytes[tag_end..]
        .windows(tag.len())
        .position(|window| window == tag)
        .map_or(bytes.len(), |offset| tag_end + offset + tag.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(
            split_statements("BEGIN; SELECT 1;COMMIT;", DbKind::Postgres),
            ["BEGIN", "SELECT 1", "COMMIT"]
        );
    }

    #[test]
    fn semicolons_inside_quotes_and_comments_do_not_split() {
        let sql = "SELECT 'a;b', \"c;d\" -- e;f\n FROM t /* g; /* h; */ i; */ WHERE x = $q$j;k$q$; SELECT $1";
        assert_eq!(split_statements(sql, DbKind::Postgres).len(), 2);
        let mysql = "SELECT 'it\\'s;', `a;b` # c;d\n FROM t; SELECT 2";
        assert_eq!(split_statements(mysql, DbKind::Mysql).len(), 2);
    }

    #[test]
    fn comment_only_pieces_are_dropped_but_an_empty_query_is_kept() {
        assert_eq!(
            split_statements("SELECT 1; -- done", DbKind::Postgres),
            ["SELECT 1"]
        );
        assert_eq!(
            split_statements("/* SQLx ping */", DbKind::Postgres),
            ["/* SQLx ping */"]
        );
        assert_eq!(split_statements("", DbKind::Postgres), [""]);
    }

    #[test]
    fn a_single_statement_is_trimmed_and_comment_only_text_kept_whole() {
        assert_eq!(
            split_statements("  SELECT 1 -- x\n ", DbKind::Postgres),
            ["SELECT 1 -- x"]
        );
        assert_eq!(split_statements(" # ping\n", DbKind::Mysql), [" # ping\n"]);
        assert_eq!(
            split_statements("-- a\nSELECT 1", DbKind::Postgres),
            ["-- a\nSELECT 1"]
        );
        assert_eq!(split_statements("   ", DbKind::Postgres), ["   "]);
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(
            split_statements("SELECT $1; SELECT $2", DbKind::Postgres),
            ["SELECT $1", "SELECT $2"]
        );
    }
}

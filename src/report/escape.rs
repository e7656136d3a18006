//! Escaping of untrusted text (benchmark names, endpoints, fingerprints, branch
//! names, warnings) for each output language, so that nothing in a pull request
//! can inject Markdown, HTML, XML, workflow commands or terminal escapes.

/// Characters that must never reach a report as themselves: control characters
/// (newlines included) and the Unicode bidirectional overrides that can make text
/// read differently from what it is.
fn is_hazardous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text for HTML element content or a quoted attribute value.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\n' | '\t' => escaped.push(c),
            c if is_hazardous(c) => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Text for XML 1.0 element content or a quoted attribute value. Characters XML
/// cannot carry become U+FFFD; line breaks in attributes stay line breaks.
pub fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' => escaped.push_str("&#9;"),
            '\u{FFFE}' | '\u{FFFF}' => escaped.push('\u{FFFD}'),
            c if is_hazardous(c) => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Inline Markdown text (also safe in a table cell): line breaks become spaces,
/// `< > &` become entities, every Markdown metacharacter is backslash-escaped and
/// `@` / `#` get a zero-width joiner so they mention or link nobody.
pub fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '@' => escaped.push_str("@\u{200D}"),
            '#' => escaped.push_str("\\#\u{200D}"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '+' | '-' | '.' | '!'
            | '|' | '~' | '$' | ':' | '^' => {
                escaped.push('\\');
                escaped.push(c);
            }
            c if is_hazardous(c) => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A Markdown code span showing `text` literally. Backticks inside are handled by
/// a longer fence; in a table cell `|` is escaped, and text with a backslash falls
/// back to [`escape_markdown`] because a table cannot escape `\|` inside code.
/// `@` gets a zero-width joiner here too, should a renderer ever see through the span.
pub fn markdown_code_span(text: &str, in_table: bool) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if is_hazardous(c) { ' ' } else { c })
        .collect::<String>()
        .replace('@', "@\u{200D}");
    if cleaned.trim().is_empty() || (in_table && cleaned.contains('\\')) {
        return escape_markdown(text);
    }
    let longest_backtick_run = cleaned.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_backtick_run + 1);
    let content = if in_table {
        cleaned.replace('|', "\\|")
    } else {
        cleaned
    };
    let needs_padding = content.starts_with(['`', ' ']) || content.ends_with(['`', ' ']);
    let pad = if needs_padding { " " } else { "" };
    format!("{fence}{pad}{content}{pad}{fence}")
}

/// The message part of a GitHub workflow command (`::error ...::MESSAGE`).
pub fn escape_workflow_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value of a GitHub workflow command (`title=VALUE`).
pub fn escape_workflow_property(text: &str) -> String {
    escape_workflow_data(text)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// Text for a terminal: control characters (escape sequences, line breaks) are
/// shown as Rust escapes instead of being interpreted.
pub fn sanitize_terminal(text: &str) -> String {
    let mut sanitized = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hazardous(c) {
            sanitized.extend(c.escape_default());
        } else {
            sanitized.push(c);
        }
    }
    sanitized
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<img src=x onerror=alert(1)> @everyone `x` a|b\nnext";

    #[test]
    fn markdown_escapes_html_mentions_pipes_backticks_and_newlines() {
        let escaped = escape_markdown(HOSTILE);
        assert!(!escaped.contains('<') && !escaped.contains('\n'));
        assert!(!escaped.contains("@everyone"));
        assert!(escaped.contains("a\\|b") && escaped.contains("\\`x\\`"));
        assert!(escaped.contains("&lt;img src=x onerror=alert\\(1\\)&gt;"));
    }

    #[test]
    fn code_spans_use_a_longer_fence_than_the_content() {
        assert_eq!(markdown_code_span("a ` b", false), "``a ` b``");
        assert_eq!(markdown_code_span("`x`", false), "`` `x` ``");
        assert_eq!(markdown_code_span("a|b", true), "`a\\|b`");
        assert_eq!(markdown_code_span("a\\|b", true), "a\\\\\\|b");
        assert_eq!(markdown_code_span("one\ntwo", false), "`one two`");
    }

    #[test]
    fn workflow_commands_escape_percent_line_breaks_and_property_separators() {
        assert_eq!(escape_workflow_data("50%\r\nx"), "50%25%0D%0Ax");
        assert_eq!(escape_workflow_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn xml_and_html_escape_markup_and_drop_control_characters() {
        assert_eq!(
            escape_xml("<a & \"b\"\u{1}>"),
            "&lt;a &amp; &quot;b&quot;\u{FFFD}&gt;"
        );
        assert_eq!(escape_html("<script>"), "&lt;script&gt;");
    }

    #[test]
    fn terminal_text_shows_escape_sequences_instead_of_running_them() {
        assert_eq!(sanitize_terminal("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}

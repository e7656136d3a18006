//! Request templates and captures. A probe's path, header values and body may
//! hold `{name}`, a value an earlier probe captured from its JSON response
//! with `capture = { name = "/json/pointer" }`, and `{env:NAME}`, an
//! environment variable of perfguard. Captured values are secrets as far as
//! perfguard knows: they are sent, never written to a report or a message.

use std::collections::BTreeMap;

use super::ProbeError;

/// A `{...}` reference in a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// `{name}`: a captured value.
    Captured(String),
    /// `{env:NAME}`: an environment variable.
    Env(String),
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every reference in `text`, with its byte range. Braces that do not hold a
/// name (JSON bodies, `{}`) are left alone.
fn scan(text: &str) -> Vec<(std::ops::Range<usize>, Reference)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| from + i) {
        let Some(close) = text[open + 1..].find(['}', '{']).map(|i| open + 1 + i) else {
            break;
        };
        if text.as_bytes()[close] == b'{' {
            from = close;
            continue;
        }
        let inner = &text[open + 1..close];
        let reference = match inner.strip_prefix("env:") {
            Some(variable) if is_name(variable) => Some(Reference::Env(variable.to_string())),
            None if is_name(inner) => Some(Reference::Captured(inner.to_string())),
            _ => None,
        };
        if let Some(reference) = reference {
            found.push((open..close + 1, reference));
        }
        from = close + 1;
    }
    found
}

/// The references of a template.
pub fn references(text: &str) -> Vec<Reference> {
    scan(text).into_iter().map(|(_, r)| r).collect()
}

/// Fill a template; `probe` names the probe in errors.
pub fn fill(
    text: &str,
    captured: &BTreeMap<String, String>,
    probe: &str,
) -> Result<String, ProbeError> {
    let mut filled = String::with_capacity(text.len());
    let mut last = 0;
    for (range, reference) in scan(text) {
        filled.push_str(&text[last..range.start]);
        match &reference {
            Reference::Captured(name) => match captured.get(name) {
                Some(value) => filled.push_str(value),
                None => {
                    return Err(ProbeError::BadRequest {
                        probe: probe.to_string(),
                        message: format!(
                            "{{{name}}} is not captured by an earlier probe; add `capture = {{ {name} = \"/json/pointer\" }}` to a probe above this one"
                        ),
                    });
                }
            },
            Reference::Env(variable) => match std::env::var(variable) {
                Ok(value) => filled.push_str(&value),
                Err(_) => {
                    return Err(ProbeError::BadRequest {
                        probe: probe.to_string(),
                        message: format!(
                            "{{env:{variable}}}: the environment variable {variable} is not set (or not UTF-8); set it for perfguard"
                        ),
                    });
                }
            },
        }
        last = range.end;
    }
    filled.push_str(&text[last..]);
    Ok(filled)
}

/// The values `capture` names, read from a JSON response body.
pub fn capture(
    probe: &str,
    pointers: &BTreeMap<String, String>,
    body: &str,
) -> Result<Vec<(String, String)>, ProbeError> {
    if pointers.is_empty() {
        return Ok(Vec::new());
    }
    let missing = |name: &str, pointer: &str, why: String| ProbeError::CaptureFailed {
        probe: probe.to_string(),
        name: name.to_string(),
        pointer: pointer.to_string(),
        why,
    };
    let json: serde_json::Value = match serde_json::from_str(body) {
        Ok(json) => json,
        Err(error) => {
            let (name, pointer) = pointers.iter().next().expect("not empty");
            return Err(missing(
                name,
                pointer,
                format!("the response is not JSON ({error})"),
            ));
        }
    };
    pointers
        .iter()
        .map(|(name, pointer)| {
            let value = json.pointer(pointer).ok_or_else(|| {
                let keys = json
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                missing(
                    name,
                    pointer,
                    if keys.is_empty() {
                        "the response has nothing there".to_string()
                    } else {
                        format!("the response has nothing there (its top-level keys: {keys})")
                    },
                )
            })?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => {
                    return Err(missing(name, pointer, "the value there is null".into()));
                }
                other => other.to_string(),
            };
            Ok((name.clone(), text))
        })
        .collect()
}

/// `text` with every captured value replaced, for a message that quotes a response.
pub fn redact(text: &str, captured: &BTreeMap<String, String>) -> String {
    captured
        .iter()
        .filter(|(_, value)| value.len() >= 4)
        .fold(text.to_string(), |text, (name, value)| {
            text.replace(value.as_str(), &format!("{{{name}}}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn references_skip_json_braces() {
        assert_eq!(
            references(r#"{"user": "{user}", "n": {"a": 1}} {env:HOME} {} {1x}"#),
            vec![
                Reference::Captured("user".into()),
                Reference::Env("HOME".into())
            ]
        );
    }

    #[test]
    fn templates_fill_captured_and_env_values() {
        let captured = values(&[("token", "abc.def"), ("id", "42")]);
        assert_eq!(
            fill("Bearer {token}", &captured, "p").unwrap(),
            "Bearer abc.def"
        );
        assert_eq!(
            fill("/orders/{id}/lines?x={id}", &captured, "p").unwrap(),
            "/orders/42/lines?x=42"
        );
        let path = std::env::var("PATH").unwrap();
        assert_eq!(fill("{env:PATH}", &captured, "p").unwrap(), path);
        let message = fill("{session}", &captured, "orders")
            .unwrap_err()
            .to_string();
        assert!(message.contains("\"orders\""), "{message}");
        assert!(message.contains("{session} is not captured"), "{message}");
        let message = fill("{env:PERFGUARD_SURELY_UNSET_VARIABLE}", &captured, "orders")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("PERFGUARD_SURELY_UNSET_VARIABLE is not set"),
            "{message}"
        );
    }

    #[test]
    fn captures_follow_json_pointers() {
        let pointers = values(&[("token", "/token"), ("first", "/items/0/id")]);
        let got = capture(
            "login",
            &pointers,
            r#"{"token": "s3cret", "items": [{"id": 7}]}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("first".to_string(), "7".to_string()),
                ("token".to_string(), "s3cret".to_string())
            ]
        );
        let message = capture(
            "login",
            &values(&[("token", "/access_token")]),
            r#"{"token": "x"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(message.contains("\"login\""), "{message}");
        assert!(message.contains("/access_token"), "{message}");
        assert!(message.contains("top-level keys: token"), "{message}");
        assert!(
            !message.contains("\"x\""),
            "a captured value never shows: {message}"
        );
        let message = capture("login", &pointers, "<html>")
            .unwrap_err()
            .to_string();
        assert!(message.contains("not JSON"), "{message}");
    }

    #[test]
    fn redaction_hides_captured_values() {
        let captured = values(&[("token", "s3cret-token")]);
        assert_eq!(
            redact("invalid token s3cret-token", &captured),
            "invalid token {token}"
        );
    }
}

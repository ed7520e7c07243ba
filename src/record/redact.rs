//! Secrets never reach a recording. Tokens are `Secret`s that cannot be printed, so they
//! should never be in a message at all; this is the second line: whatever an error text
//! quotes (a URL with a password, a `token=` query, an `Authorization` header) is masked
//! before the line is written.

use std::borrow::Cow;

const MASK: &str = "***";

/// Markers after which the value up to the next delimiter is a secret.
const MARKERS: [&str; 8] = [
    "bearer ",
    "token=",
    "password=",
    "passwd=",
    "secret=",
    "x-consul-token: ",
    "authorization: ",
    "api_key=",
];

fn ends_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '&' | ',' | ';' | ')' | '\'' | '\\')
}

/// `line` with secrets masked.
pub fn redact(line: &str) -> Cow<'_, str> {
    let lower = line.to_ascii_lowercase();
    let has_userinfo = lower.contains("://") && line.contains('@');
    if !has_userinfo && !MARKERS.iter().any(|m| lower.contains(m)) {
        return Cow::Borrowed(line);
    }
    let mut out = line.to_string();
    for m in MARKERS {
        let mut from = 0;
        loop {
            let low = out.to_ascii_lowercase();
            let Some(i) = low[from..].find(m).map(|i| i + from + m.len()) else {
                break;
            };
            let end = out[i..]
                .find(ends_value)
                .map(|e| i + e)
                .unwrap_or(out.len());
            if end > i && &out[i..end] != MASK {
                out.replace_range(i..end, MASK);
            }
            from = i + MASK.len().min(out.len() - i);
        }
    }
    // scheme://user:password@host → scheme://***@host
    let mut from = 0;
    while let Some(s) = out[from..].find("://").map(|i| i + from + 3) {
        let rest = &out[s..];
        let stop = rest
            .find(|c: char| ends_value(c) || c == '/')
            .unwrap_or(rest.len());
        match rest[..stop].rfind('@') {
            Some(at) if &rest[..at] != MASK => {
                out.replace_range(s..s + at, MASK);
                from = s + MASK.len();
            }
            _ => from = s,
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_tokens_passwords_and_userinfo() {
        let l = r#"{"error":"GET https://admin:hunter2@consul:8500/v1?token=s3cr3t&x=1: Bearer abc.def failed, Authorization: xyz"}"#;
        let r = redact(l);
        for s in ["hunter2", "admin", "s3cr3t", "abc.def", "xyz"] {
            assert!(!r.contains(s), "{s} leaked: {r}");
        }
        assert!(r.contains("consul:8500/v1?token=***&x=1"), "{r}");
        let plain = r#"{"msg":"http://127.0.0.1:8080 weight 20%"}"#;
        assert!(matches!(redact(plain), Cow::Borrowed(_)));
    }
}

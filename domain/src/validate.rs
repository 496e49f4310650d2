//! Input checks shared by the commands: emails, names, lengths. Each returns
//! a [`FieldError`] with a stable code.

use crate::errors::FieldError;

pub const MAX_NAME: usize = 100;
pub const MAX_DESCRIPTION: usize = 1_000;
pub const MAX_EMAIL: usize = 254;
pub const MAX_URL: usize = 2_048;

/// A required, trimmed, bounded name without control characters.
pub fn name(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(
            field,
            "empty",
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Optional text (a description): bounded, control characters other than
/// newlines and tabs refused.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// An email address: one `@`, a non-empty local part and a domain of
/// dot-separated labels (a single label such as `localhost` is allowed).
pub fn email(field: &str, value: &str) -> Result<(), FieldError> {
    let bad = |why: &str| {
        Err(FieldError::new(
            field,
            "invalid_email",
            format!("{value:?} is not a valid email: {why}"),
        ))
    };
    if value.len() > MAX_EMAIL {
        return bad("longer than 254 characters");
    }
    let Some((local, domain)) = value.split_once('@') else {
        return bad("missing @");
    };
    if local.is_empty() || local.len() > 64 {
        return bad("the part before @ must be 1 to 64 characters");
    }
    if domain.contains('@') {
        return bad("more than one @");
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("invalid characters before @");
    }
    if domain.is_empty()
        || !domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
    {
        return bad("invalid domain");
    }
    Ok(())
}

/// A username: 1-100 of letters, digits, `.`, `_` and `-`.
pub fn username(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > MAX_NAME {
        return Err(FieldError::new(
            field,
            "invalid_username",
            "a username has 1 to 100 characters",
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(FieldError::new(
            field,
            "invalid_username",
            format!("{value:?}: a username may contain only letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

/// An http(s) URL, bounded.
pub fn url(field: &str, value: &str) -> Result<(), FieldError> {
    if value.len() > MAX_URL
        || !(value.starts_with("https://") || value.starts_with("http://"))
        || value.contains(char::is_whitespace)
    {
        return Err(FieldError::new(
            field,
            "invalid_url",
            format!("{field} must be an http(s) URL without spaces"),
        ));
    }
    Ok(())
}

/// The username inferred from an email's local part: lower-cased, with
/// characters a username may not hold replaced by `-`.
pub fn username_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    let mut name: String = local
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NAME - 6)
        .collect();
    if name.is_empty() {
        name.push_str("user");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in [
            "alice@example.com",
            "admin@localhost",
            "a.b+c@sub.example.org",
        ] {
            assert!(email("email", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@@b.c",
            "a b@c.d",
            "a@-b.c",
            "a@b..c",
            ".a@b.c",
        ] {
            assert_eq!(
                email("email", bad).unwrap_err().code,
                "invalid_email",
                "{bad}"
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(name("name", "  ", 10).unwrap_err().code, "empty");
        assert_eq!(
            name("name", "abcdefghijk", 10).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            name("name", "a\u{0}b", 10).unwrap_err().code,
            "invalid_characters"
        );
        assert!(name("name", "Web, \"quoted\"", 100).is_ok());
    }

    #[test]
    fn inferred_usernames() {
        assert_eq!(
            username_from_email("Alice.Smith+ci@example.com"),
            "alice.smith-ci"
        );
        assert!(username("u", &username_from_email("ünï@x.y")).is_ok());
    }
}

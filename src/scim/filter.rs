//! SCIM filters (RFC 7644 §3.4.2.2): parsed into a [`Filter`] and matched
//! against a resource's SCIM JSON. Attribute names and operators are
//! case-insensitive; string comparisons too, except for the case-exact
//! attributes (`id`, `externalId`). Precedence: `not` over `and` over `or`;
//! parentheses group. Besides the RFC's grammar, a value path may end in a
//! sub-attribute that is compared (`emails[type eq "work"].value eq "x"`),
//! as Okta sends it.
//!
//! Hand-written (a recursive descent of a dozen rules) rather than a crate:
//! the one SCIM filter crate on crates.io matches by serializing every
//! resource, unmaintained since 2024, and a lookup by `userName` must use
//! the organization's index instead (see [`Filter::equality`]).

use serde_json::Value;

/// Why a filter was refused: 400 with `scimType` `invalidFilter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter: {0}")]
pub struct InvalidFilter(pub String);

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

/// An attribute path: `attr` or `attr.sub`, lower-cased, the schema URN
/// prefix removed; with a value filter on a multi-valued attribute
/// (`emails[type eq "work"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub attr: String,
    pub sub: Option<String>,
    pub elements: Option<Box<Filter>>,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: Path,
        op: Op,
        value: Value,
    },
    Present(Path),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some element of `attr` matches `filter`.
    Elements {
        attr: String,
        filter: Box<Filter>,
    },
}

/// The attributes a resource type can be filtered on: `(attr, sub)` pairs,
/// lower-case; `sub` empty for the attribute itself.
pub type Known = &'static [(&'static str, &'static str)];

impl Filter {
    /// Parses `text`; every attribute must be one of `known`.
    pub fn parse(text: &str, known: Known) -> Result<Filter, InvalidFilter> {
        let mut p = Parser::new(text, known)?;
        let f = p.or()?;
        if p.at != p.tokens.len() {
            return Err(InvalidFilter(format!(
                "unexpected {} after a complete filter",
                p.tokens[p.at].describe()
            )));
        }
        Ok(f)
    }

    /// Parses a PATCH operation's `path` (RFC 7644 §3.5.2): `attr`,
    /// `attr.sub`, `attr[filter]` or `attr[filter].sub`; every attribute
    /// must be one of `known`.
    pub fn parse_path(text: &str, known: Known) -> Result<Path, InvalidFilter> {
        let mut p = Parser::new(text, known)?;
        let path = p.attribute_path()?;
        if p.at != p.tokens.len() {
            return Err(InvalidFilter(format!(
                "unexpected {} after the path",
                p.tokens[p.at].describe()
            )));
        }
        Ok(path)
    }

    /// If the filter is `attr eq "value"` on a plain attribute (or `and`ed
    /// with others), the attribute and value: what an index can answer
    /// before the rest is matched.
    pub fn equality(&self) -> Option<(&str, &str)> {
        match self {
            Filter::Compare {
                path:
                    Path {
                        attr,
                        sub,
                        elements: None,
                    },
                op: Op::Eq,
                value: Value::String(v),
            } => Some((
                match sub {
                    Some(s) if attr == "emails" && s == "value" => "emails.value",
                    Some(_) => return None,
                    None => attr.as_str(),
                },
                v.as_str(),
            )),
            Filter::Compare {
                path:
                    Path {
                        attr,
                        sub: Some(s),
                        elements: Some(_),
                    },
                op: Op::Eq,
                value: Value::String(v),
            } if attr == "emails" && s == "value" => Some(("emails.value", v.as_str())),
            Filter::And(a, b) => a.equality().or_else(|| b.equality()),
            _ => None,
        }
    }

    /// Whether `resource` (a SCIM JSON object) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(f) => !f.matches(resource),
            Filter::Elements { attr, filter } => {
                elements(resource, attr).iter().any(|e| filter.matches(e))
            }
            Filter::Present(path) => values(resource, path).iter().any(|v| match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(items) => !items.is_empty(),
                Value::Object(members) => !members.is_empty(),
                _ => true,
            }),
            Filter::Compare { path, op, value } => {
                let exact = is_case_exact(path);
                values(resource, path)
                    .iter()
                    .any(|v| compare(v, *op, value, exact))
            }
        }
    }
}

fn is_case_exact(path: &Path) -> bool {
    path.sub.is_none() && matches!(path.attr.as_str(), "id" | "externalid")
}

/// The object's member named `name`, compared case-insensitively.
pub(crate) fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The elements of a (multi-valued) attribute: an array's items, or the
/// single value.
fn elements<'a>(resource: &'a Value, attr: &str) -> Vec<&'a Value> {
    match member(resource, attr) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Null) | None => vec![],
        Some(v) => vec![v],
    }
}

/// The values a path reaches in `resource`.
fn values<'a>(resource: &'a Value, path: &Path) -> Vec<&'a Value> {
    let mut items = elements(resource, &path.attr);
    if let Some(f) = &path.elements {
        items.retain(|e| f.matches(e));
    }
    match &path.sub {
        None => items,
        Some(sub) => items.into_iter().filter_map(|e| member(e, sub)).collect(),
    }
}

fn compare(actual: &Value, op: Op, wanted: &Value, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, wanted) {
        (Value::String(a), Value::String(w)) => {
            let (a, w) = if case_exact {
                (a.clone(), w.clone())
            } else {
                (a.to_lowercase(), w.to_lowercase())
            };
            match op {
                Op::Co => return a.contains(&w),
                Op::Sw => return a.starts_with(&w),
                Op::Ew => return a.ends_with(&w),
                _ => Some(a.cmp(&w)),
            }
        }
        (Value::Number(a), Value::Number(w)) => a
            .as_f64()
            .zip(w.as_f64())
            .and_then(|(a, w)| a.partial_cmp(&w)),
        (Value::Bool(a), Value::Bool(w)) => match op {
            Op::Eq => return a == w,
            Op::Ne => return a != w,
            _ => return false,
        },
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ordering) {
        (Op::Ne, None) => true,
        (_, None) => false,
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Co | Op::Sw | Op::Ew, Some(_)) => false,
    }
}

// ---- tokens ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// An attribute path, an operator or a keyword (`and`, `true`, …).
    Word(String),
    Str(String),
    Number(serde_json::Number),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    /// `.sub` right after `]`.
    Dot,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Str(s) => format!("string \"{s}\""),
            Token::Number(n) => format!("number {n}"),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::OpenBracket => "'['".into(),
            Token::CloseBracket => "']'".into(),
            Token::Dot => "'.'".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, InvalidFilter> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '.' if out.last() == Some(&Token::CloseBracket) => {
                chars.next();
                out.push(Token::Dot);
            }
            '"' => {
                // A JSON string: escapes as JSON writes them.
                let mut end = None;
                let mut escaped = false;
                chars.next();
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let end = end.ok_or_else(|| InvalidFilter("a string is not closed".into()))?;
                let s: String = serde_json::from_str(&text[i..=end])
                    .map_err(|e| InvalidFilter(format!("a malformed string: {e}")))?;
                out.push(Token::Str(s));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let mut end = i;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_digit() || matches!(d, '-' | '+' | '.' | 'e' | 'E') {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let n: serde_json::Number = text[i..end]
                    .parse()
                    .map_err(|_| InvalidFilter(format!("'{}' is not a number", &text[i..end])))?;
                out.push(Token::Number(n));
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut end = i;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_alphanumeric() || matches!(d, '_' | '$' | '-' | '.' | ':') {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(text[i..end].to_string()));
            }
            other => {
                return Err(InvalidFilter(format!(
                    "unexpected character '{other}' at {i}"
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(InvalidFilter("the filter is empty".into()));
    }
    Ok(out)
}

// ---- parser ---------------------------------------------------------------

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    known: Known,
    /// Inside `attr[...]`: `attr`.
    parent: Option<String>,
    /// How many `(` and `not (` are open: at most [`MAX_DEPTH`].
    depth: usize,
}

/// The deepest nesting of parentheses a filter may have (deeper ones are
/// refused rather than recursed into).
const MAX_DEPTH: usize = 32;

/// The URN prefixes of the core schemas, removed from attribute paths.
const SCHEMA_PREFIXES: &[&str] = &[
    "urn:ietf:params:scim:schemas:core:2.0:user:",
    "urn:ietf:params:scim:schemas:core:2.0:group:",
];

impl Parser {
    fn new(text: &str, known: Known) -> Result<Parser, InvalidFilter> {
        Ok(Parser {
            tokens: tokenize(text)?,
            at: 0,
            known,
            parent: None,
            depth: 0,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter, InvalidFilter> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, InvalidFilter> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, InvalidFilter> {
        if self.keyword("not") || self.peek() == Some(&Token::Open) {
            if self.depth == MAX_DEPTH {
                return Err(InvalidFilter(format!(
                    "more than {MAX_DEPTH} nested parentheses"
                )));
            }
            self.depth += 1;
            let f = self.grouped();
            self.depth -= 1;
            return f;
        }
        self.attribute_expression()
    }

    /// `not (filter)` or `(filter)`.
    fn grouped(&mut self) -> Result<Filter, InvalidFilter> {
        if self.keyword("not") {
            self.at += 1;
            return match self.next() {
                Some(Token::Open) => {
                    let f = self.or()?;
                    self.expect(Token::Close)?;
                    Ok(Filter::Not(Box::new(f)))
                }
                _ => Err(InvalidFilter("'not' must be followed by '('".into())),
            };
        }
        self.expect(Token::Open)?;
        let f = self.or()?;
        self.expect(Token::Close)?;
        Ok(f)
    }

    fn expect(&mut self, wanted: Token) -> Result<(), InvalidFilter> {
        match self.next() {
            Some(t) if t == wanted => Ok(()),
            Some(t) => Err(InvalidFilter(format!(
                "expected {} but found {}",
                wanted.describe(),
                t.describe()
            ))),
            None => Err(InvalidFilter(format!(
                "expected {} at the end",
                wanted.describe()
            ))),
        }
    }

    /// `attrPath pr`, `attrPath op value`, `attr[filter]` or
    /// `attr[filter].sub op value`.
    fn attribute_expression(&mut self) -> Result<Filter, InvalidFilter> {
        let path = self.attribute_path()?;
        if let (Some(filter), None) = (&path.elements, &path.sub) {
            return Ok(Filter::Elements {
                attr: path.attr,
                filter: filter.clone(),
            });
        }
        let op = match self.next() {
            Some(Token::Word(w)) => w.to_lowercase(),
            Some(t) => {
                return Err(InvalidFilter(format!(
                    "expected an operator but found {}",
                    t.describe()
                )))
            }
            None => return Err(InvalidFilter("expected an operator at the end".into())),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "lt" => Op::Lt,
            "ge" => Op::Ge,
            "le" => Op::Le,
            other => return Err(InvalidFilter(format!("unknown operator '{other}'"))),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Number(n)) => Value::Number(n),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
            Some(t) => {
                return Err(InvalidFilter(format!(
                    "expected a value (a string in double quotes, a number, true, false or null) but found {}",
                    t.describe()
                )))
            }
            None => return Err(InvalidFilter("expected a value at the end".into())),
        };
        Ok(Filter::Compare { path, op, value })
    }

    /// `attr`, `attr.sub`, `attr[filter]` (elements, no sub) or
    /// `attr[filter].sub`.
    fn attribute_path(&mut self) -> Result<Path, InvalidFilter> {
        let name = match self.next() {
            Some(Token::Word(w)) => w,
            Some(t) => {
                return Err(InvalidFilter(format!(
                    "expected an attribute but found {}",
                    t.describe()
                )))
            }
            None => return Err(InvalidFilter("expected an attribute at the end".into())),
        };
        let (attr, sub) = self.split_path(&name)?;
        let mut path = Path {
            attr,
            sub,
            elements: None,
        };
        if self.peek() == Some(&Token::OpenBracket) {
            if path.sub.is_some() {
                return Err(InvalidFilter(format!(
                    "'{name}' has a sub-attribute before '['"
                )));
            }
            self.at += 1;
            let inner = self.with_parent(&path.attr, |p| p.or())?;
            self.expect(Token::CloseBracket)?;
            path.elements = Some(Box::new(inner));
            if self.peek() == Some(&Token::Dot) {
                self.at += 1;
                let sub = match self.next() {
                    Some(Token::Word(w)) => w.to_lowercase(),
                    _ => return Err(InvalidFilter("expected a sub-attribute after '].'".into())),
                };
                self.check_known(&path.attr, &sub)?;
                path.sub = Some(sub);
            }
        }
        Ok(path)
    }

    /// Parses the filter inside `[...]`: its attributes are `parent`'s
    /// sub-attributes.
    fn with_parent<T>(
        &mut self,
        parent: &str,
        f: impl FnOnce(&mut Parser) -> Result<T, InvalidFilter>,
    ) -> Result<T, InvalidFilter> {
        if self.parent.is_some() {
            return Err(InvalidFilter("'[' inside '[...]'".into()));
        }
        if !self
            .known
            .iter()
            .any(|(a, s)| *a == parent && !s.is_empty())
        {
            return Err(InvalidFilter(format!(
                "'{parent}' has no sub-attributes to filter on"
            )));
        }
        self.parent = Some(parent.to_string());
        let result = f(self);
        self.parent = None;
        result
    }

    /// `attr` or `attr.sub` (a schema URN prefix removed), checked against
    /// the known attributes.
    fn split_path(&self, name: &str) -> Result<(String, Option<String>), InvalidFilter> {
        let lower = name.to_lowercase();
        let bare = SCHEMA_PREFIXES
            .iter()
            .find_map(|p| lower.strip_prefix(p))
            .unwrap_or(&lower);
        if bare.contains(':') {
            return Err(InvalidFilter(format!("unknown schema in '{name}'")));
        }
        let (attr, sub) = match bare.split_once('.') {
            Some((a, s)) => (a.to_string(), Some(s.to_string())),
            None => (bare.to_string(), None),
        };
        match &self.parent {
            // Inside `parent[...]`: a sub-attribute of the parent.
            Some(parent) if sub.is_none() => self.check_known(parent, &attr)?,
            Some(_) => return Err(InvalidFilter(format!("'{name}' inside '[...]'"))),
            None => self.check_known(&attr, sub.as_deref().unwrap_or(""))?,
        }
        Ok((attr, sub))
    }

    fn check_known(&self, attr: &str, sub: &str) -> Result<(), InvalidFilter> {
        if self.known.iter().any(|(a, s)| *a == attr && *s == sub) {
            Ok(())
        } else if sub.is_empty() {
            Err(InvalidFilter(format!("unknown attribute '{attr}'")))
        } else if self.parent.is_some() {
            Err(InvalidFilter(format!("unknown attribute '{sub}'")))
        } else {
            Err(InvalidFilter(format!("unknown attribute '{attr}.{sub}'")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: Known = &[
        ("id", ""),
        ("externalid", ""),
        ("username", ""),
        ("active", ""),
        ("name", ""),
        ("name", "givenname"),
        ("name", "familyname"),
        ("emails", ""),
        ("emails", "value"),
        ("emails", "type"),
        ("emails", "primary"),
        ("meta", "created"),
    ];

    fn alice() -> Value {
        json!({
            "id": "7f9c", "externalId": "00u1AbC", "userName": "Alice@Example.com",
            "active": true, "name": {"givenName": "Alice", "familyName": "Liddell"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true},
                       {"value": "al@home.example", "type": "home"}],
            "meta": {"created": "2026-01-02T03:04:05Z"}
        })
    }

    fn matches(filter: &str) -> bool {
        Filter::parse(filter, USER).unwrap().matches(&alice())
    }

    #[test]
    fn okta_lookups() {
        assert!(matches(r#"userName eq "alice@example.com""#));
        assert!(!matches(r#"userName eq "bob@example.com""#));
        assert!(matches(
            r#"emails[type eq "work"].value eq "ALICE@example.com""#
        ));
        assert!(!matches(
            r#"emails[type eq "home"].value eq "alice@example.com""#
        ));
        assert!(matches(r#"emails[type eq "work" and value co "@example"]"#));
        assert!(matches(r#"externalId eq "00u1AbC""#));
        // externalId is case-exact.
        assert!(!matches(r#"externalId eq "00u1abc""#));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ALICE""#
        ));
    }

    #[test]
    fn logic_precedence_and_grouping() {
        // not > and > or: false and true or true = true.
        assert!(matches(
            r#"userName eq "x" and active eq true or name.givenName eq "alice""#
        ));
        assert!(!matches(
            r#"userName eq "x" and (active eq true or name.givenName eq "alice")"#
        ));
        assert!(matches(r#"not (userName eq "x") and active eq true"#));
        assert!(matches(
            r#"name.familyName pr and emails.value ew ".example""#
        ));
        assert!(!matches(r#"externalId eq null"#));
        assert!(matches(r#"meta.created gt "2026-01-01T00:00:00Z""#));
        assert!(matches(r#"active ne false"#));
    }

    #[test]
    fn an_index_can_answer_equalities() {
        let f = Filter::parse(r#"userName eq "a@b.c" and active eq true"#, USER).unwrap();
        assert_eq!(f.equality(), Some(("username", "a@b.c")));
        let f = Filter::parse(r#"emails[type eq "work"].value eq "a@b.c""#, USER).unwrap();
        assert_eq!(f.equality(), Some(("emails.value", "a@b.c")));
        let f = Filter::parse(r#"userName eq "a" or userName eq "b""#, USER).unwrap();
        assert_eq!(f.equality(), None);
    }

    proptest::proptest! {
        /// Any text, hostile or not, is parsed or refused with a reason:
        /// never a panic, never a stack overflow; what parses matches
        /// without panicking either.
        #[test]
        fn any_text_is_parsed_or_refused(text in r#"[a-zA-Z.\[\]()" :\\-]{0,80}"#) {
            if let Ok(f) = Filter::parse(&text, USER) {
                let _ = f.matches(&alice());
            }
        }

        #[test]
        fn any_nesting_is_bounded(depth in 0usize..200) {
            let text = format!("{}userName pr{}", "(".repeat(depth), ")".repeat(depth));
            proptest::prop_assert_eq!(Filter::parse(&text, USER).is_ok(), depth <= MAX_DEPTH);
        }
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        for (filter, why) in [
            ("", "empty"),
            ("userName", "expected an operator"),
            ("userName eq", "expected a value"),
            (r#"userName eq "open"#, "not closed"),
            (r#"userName xx "a""#, "unknown operator 'xx'"),
            (r#"nickName eq "a""#, "unknown attribute 'nickname'"),
            (
                r#"emails.colour eq "a""#,
                "unknown attribute 'emails.colour'",
            ),
            (r#"emails[colour eq "a"]"#, "unknown attribute 'colour'"),
            (r#"(userName eq "a""#, "expected ')'"),
            (r#"userName eq "a" )"#, "unexpected ')'"),
            (r#"userName eq "a" and"#, "expected an attribute"),
            (r#"userName eq alice"#, "expected a value"),
            (r#"urn:other:schema:userName eq "a""#, "unknown schema"),
            (r#"not userName eq "a""#, "'not' must be followed by '('"),
            ("userName eq \"a\" ; drop", "unexpected character ';'"),
            (deep.as_str(), "nested"),
        ] {
            let err = Filter::parse(filter, USER).unwrap_err();
            assert!(err.0.contains(why), "{filter:?}: {err}");
        }
    }
}

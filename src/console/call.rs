//! The API's handlers called in process, their answers read back for a
//! page: the body of a success, the problem of a refusal. The pages build
//! the handlers' request types from form fields through serde (the same
//! field names and checks as a JSON body).

use axum::body::to_bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::problem::Problem;

/// A handler's refusal, as its problem document says it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    /// The whole problem document (`projects`, `sources`, `errors`, …).
    pub body: Value,
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Refusal {
        let status = p.status;
        let (code, detail) = (p.code.to_string(), p.detail.clone());
        let mut body = p.extra;
        body.insert("code".into(), Value::String(code.clone()));
        body.insert("detail".into(), Value::String(detail.clone()));
        let body = Value::Object(body);
        Refusal {
            status,
            code,
            detail,
            body,
        }
    }
}

/// What a handler answered: its JSON body on a 2xx (`null` for 204), its
/// problem otherwise; and the position of the command it ran, if any (its
/// `Rolebook-Position`).
pub async fn answer(r: impl IntoResponse) -> (Result<Value, Refusal>, Option<u64>) {
    let response = r.into_response();
    let position = response
        .headers()
        .get("rolebook-position")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (read(response).await, position)
}

async fn read(response: axum::response::Response) -> Result<Value, Refusal> {
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 8 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    Err(Refusal {
        status,
        code: body["code"].as_str().unwrap_or("refused").to_string(),
        detail: body["detail"]
            .as_str()
            .unwrap_or("the request was refused")
            .to_string(),
        body,
    })
}

/// One of the API's request types (a body or a query) built from `value`;
/// 400 `invalid_form` naming what serde refused.
pub fn request<T: DeserializeOwned>(value: Value) -> Result<T, Refusal> {
    serde_json::from_value(value).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_form",
            format!("the form is not valid: {e}"),
        )
        .into()
    })
}

/// The query of a read as of now (`at_least` none: the session's own
/// writes are waited for anyway).
pub fn latest() -> axum::extract::Query<crate::http::routes::AtLeast> {
    axum::extract::Query(crate::http::routes::AtLeast { at_least: None })
}

/// A form's optional text field: `None` when left empty.
pub fn filled(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A form's list field: one item per line (or separated by commas).
pub fn lines(v: &str) -> Vec<String> {
    v.split(['\n', '\r', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A posted form as its fields in order (checkboxes repeat a name).
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name` (empty when absent).
    pub fn one(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The first value of `name`, `None` when absent or blank.
    pub fn opt(&self, name: &str) -> Option<String> {
        filled(&Some(self.one(name)))
    }

    /// Every value of `name` (the checked boxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox `name` was checked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

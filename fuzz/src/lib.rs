//! The fuzz targets' bodies (issue 23, part 4). Each takes the fuzzer's
//! bytes, hands them to one of rolebook's parsers or writers, and checks
//! what must hold whatever the input: no panic, and where a value can be
//! written back, writing it back gives what was read.
//!
//! - [`stored_event`]: the stored-event decoder (every event type, every
//!   schema version, the envelope's metadata);
//! - [`path_and_cursor`]: path parameters (ids, and names resolved against
//!   an organization) and the lists' and the audit log's cursors;
//! - [`audit_filter`]: the audit log's filters, run against a real audit
//!   view: every entry answered matches the filter, pages are ordered and
//!   bounded, the CSV export reads back;
//! - [`csv_row`]: the audit CSV writer: every cell reads back as written
//!   (with the formula guard);
//! - [`scim_filter`] and [`scim_patch`]: SCIM's filter language and PATCH
//!   (all or nothing: a refused PATCH leaves the resource as it was).
//!
//! `fuzz_targets/*.rs` feed libFuzzer's inputs to them (`scripts/fuzz`);
//! the workspace's `tests/fuzz_corpus.rs` runs every file of `corpus/` and
//! `regressions/` through them on every CI run.

use std::fmt::Debug;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use domain::ids::{GroupId, OrgId, ProjectId, RoleId, TokenId, UserId};
use domain::Event;
use projections::audit::{self, AuditError, AuditFilter, CsvRow, CsvRows, Operation, ResourceType};
use serde_json::{json, Value};

/// The fields of an input: its text (invalid UTF-8 replaced) split at the
/// unit separator (0x1F).
fn fields(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\u{1f}')
        .map(str::to_string)
        .collect()
}

// ---- stored events ---------------------------------------------------------

/// Input: a byte picking the event type, a byte picking the schema version
/// (0 to one past the current), the stored JSON.
pub fn stored_event(data: &[u8]) {
    let [pick, version, rest @ ..] = data else {
        return;
    };
    let Ok(json) = std::str::from_utf8(rest) else {
        return;
    };
    let types = Event::types();
    let (event_type, known) = types[usize::from(*pick) % types.len()];
    let version = u32::from(*version) % (known + 2);
    if let Ok(event) = Event::decode(event_type, version, json) {
        assert_eq!(event.event_type(), event_type);
        let again = Event::decode(event_type, event.schema_version(), &event.to_json())
            .expect("an event's own JSON decodes");
        assert_eq!(again, event, "an event survives writing and reading back");
    }
    // The envelope's metadata, as the audit projection reads it.
    if let Ok(meta) = serde_json::from_str::<domain::events::EventMetadata>(json) {
        let again: domain::events::EventMetadata =
            serde_json::from_str(&serde_json::to_string(&meta).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&meta).unwrap()
        );
    }
}

// ---- path parameters and cursors -----------------------------------------

fn id_round_trip<T>(text: &str)
where
    T: FromStr + ToString + PartialEq + Debug,
{
    if let Ok(id) = text.parse::<T>() {
        assert_eq!(id.to_string().parse::<T>().ok(), Some(id));
    }
}

/// A generated organization to resolve names against.
fn organization() -> &'static domain::Organization {
    static ORG: OnceLock<domain::Organization> = OnceLock::new();
    ORG.get_or_init(|| testkit::Workload::organization("fuzz", testkit::Size::SMALL, 1).state)
}

/// Input: one path parameter or cursor, as text.
pub fn path_and_cursor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    id_round_trip::<OrgId>(text);
    id_round_trip::<UserId>(text);
    id_round_trip::<GroupId>(text);
    id_round_trip::<ProjectId>(text);
    id_round_trip::<RoleId>(text);
    id_round_trip::<TokenId>(text);

    // Names (or ids) in paths, resolved as the routes do: found, or a
    // problem; never a panic.
    use rolebook::http::resolve;
    let org = organization();
    if let Ok(user) = resolve::user(org, text) {
        assert!(org.users.contains_key(&user), "resolved to someone there");
    }
    let _ = resolve::group(org, text);
    let _ = resolve::project(org, text);
    let _ = resolve::subject(org, text);
    for scope in [
        domain::permissions::Scope::Organization,
        domain::permissions::Scope::Project,
    ] {
        let _ = resolve::role(org, text, scope);
    }

    // The lists' cursors: hex of the last key served.
    use rolebook::http::paging;
    if let Ok(Some(key)) = paging::after(Some(text)) {
        assert_eq!(
            paging::after(Some(&paging::cursor(&key))).ok(),
            Some(Some(key))
        );
    }
    // The audit log's cursor: a position.
    if let Ok(position) = audit::decode_cursor(text) {
        assert_eq!(
            audit::decode_cursor(&audit::encode_cursor(position)).ok(),
            Some(position)
        );
    }
}

// ---- audit filters ---------------------------------------------------------

/// A real audit view: a generated organization's history in an event store,
/// folded by the audit projection, in a directory kept for the process.
struct AuditView {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    org: OrgId,
    users: Vec<UserId>,
}

fn audit_view() -> &'static AuditView {
    static VIEW: OnceLock<AuditView> = OnceLock::new();
    VIEW.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut w = testkit::Workload::organization("fuzz", testkit::Size::SMALL, 2);
        w.churn_to(1_500);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = projections::db::path_in(dir.path());
        runtime.block_on(async {
            use domain::store::{EventStore, ExpectedVersion};
            let store = infra::SqliteEventStore::open_in_dir(dir.path())
                .await
                .unwrap();
            for chunk in w.envelopes().chunks(500) {
                store
                    .append(&w.org_id.stream(), ExpectedVersion::Any, chunk.to_vec())
                    .await
                    .unwrap();
            }
            let mut runner =
                projections::runner::Runner::open(audit::AuditProjection::new(), &db).unwrap();
            loop {
                let page = store.read_all(runner.position() + 1, 1_000).await.unwrap();
                let Some(last) = page.last().map(|e| e.global_position) else {
                    break;
                };
                runner
                    .apply_page(&projections::runner::decode(page).unwrap(), last)
                    .unwrap();
            }
        });
        AuditView {
            db,
            org: w.org_id,
            users: w.users.clone(),
            _dir: dir,
        }
    })
}

fn instant(text: &str) -> Option<Option<DateTime<Utc>>> {
    if text.is_empty() {
        return Some(None);
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| Some(t.with_timezone(&Utc)))
}

/// Input: `from`, `to`, actor (an id, or a digit picking one of the
/// organization's people), resource type, resource id, action, limit,
/// cursor, separated by 0x1F; an empty field is no filter. Values the HTTP
/// layer refuses (a bad time, type, action or limit) end the run.
pub fn audit_filter(data: &[u8]) {
    let f = fields(data);
    let field = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
    let view = audit_view();
    let mut filter = AuditFilter::new(view.org);
    let (Some(from), Some(to)) = (instant(field(0)), instant(field(1))) else {
        return;
    };
    filter.from = from;
    filter.to = to;
    filter.actor = match field(2) {
        "" => None,
        a => match a.parse::<UserId>() {
            Ok(id) => Some(id),
            Err(_) => Some(view.users[usize::from(a.as_bytes()[0]) % view.users.len()]),
        },
    };
    filter.resource_type = match field(3) {
        "" => None,
        t => match ResourceType::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(t))
        {
            Some(r) => Some(r),
            None => return,
        },
    };
    filter.resource_id = Some(field(4).to_string()).filter(|s| !s.is_empty());
    filter.operation = match field(5) {
        "" => None,
        a => match Operation::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(a))
        {
            Some(o) => Some(o),
            None => return,
        },
    };
    filter.limit = match field(6).parse::<usize>() {
        Ok(l) if (1..=audit::MAX_LIMIT).contains(&l) => l,
        Ok(_) => return,
        Err(_) => audit::DEFAULT_LIMIT,
    };
    filter.cursor = Some(field(7).to_string()).filter(|s| !s.is_empty());
    let before = filter
        .cursor
        .as_deref()
        .map(|c| audit::decode_cursor(c).ok());

    let conn = projections::db::open_read_only(&view.db).unwrap();
    let page = match audit::page(&conn, &filter) {
        Ok(page) => page,
        Err(AuditError::InvalidCursor(_) | AuditError::InvalidFilter { .. }) => return,
        Err(e) => panic!("the audit view failed on {filter:?}: {e}"),
    };
    assert!(page.entries.len() <= filter.limit);
    assert!(
        page.entries
            .windows(2)
            .all(|w| w[0].position > w[1].position),
        "newest first"
    );
    for e in &page.entries {
        assert_eq!(e.org_id, view.org);
        assert!(
            filter.from.is_none_or(|from| e.occurred_at >= from),
            "{e:?}"
        );
        assert!(filter.to.is_none_or(|to| e.occurred_at < to), "{e:?}");
        assert!(filter.actor.is_none_or(|a| e.actor_id == Some(a)), "{e:?}");
        assert!(
            filter.resource_type.is_none_or(|t| e.resource_type == t),
            "{e:?}"
        );
        assert!(filter.operation.is_none_or(|o| e.operation == o), "{e:?}");
        assert!(
            filter
                .resource_id
                .as_deref()
                .is_none_or(|id| e.resource_id == id),
            "{e:?}"
        );
        if let Some(Some(before)) = before {
            assert!(e.position < before, "after the cursor");
        }
    }
    // The CSV export of the same filter reads back: a header and at least
    // the first page's rows (it ignores the cursor and the limit).
    let mut out = Vec::new();
    let rows = match audit::export(&conn, &filter, &mut out) {
        Ok(rows) => rows,
        Err(AuditError::InvalidFilter { .. }) => return,
        Err(e) => panic!("the export failed on {filter:?}: {e}"),
    };
    let read: Vec<csv::StringRecord> = csv::Reader::from_reader(out.as_slice())
        .records()
        .collect::<Result<_, _>>()
        .expect("the export is CSV");
    assert_eq!(read.len() as u64, rows);
    if filter.cursor.is_none() {
        assert!(rows as usize >= page.entries.len());
    }
}

// ---- the CSV writer --------------------------------------------------------

/// Input: the text cells of one audit row, separated by 0x1F, then a
/// position and a time from the input's length.
pub fn csv_row(data: &[u8]) {
    let f = fields(data);
    let cell = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
    let optional = |i: usize| f.get(i).map(String::as_str).filter(|s| !s.is_empty());
    let row = CsvRow {
        position: data.len() as i64 + 1,
        occurred_at: 1_767_225_600_000_000 + data.len() as i64 * 1_000_003,
        actor_id: None,
        actor_username: cell(0),
        resource_type: cell(1),
        operation: cell(2),
        resource_id: cell(3),
        resource_name: cell(4),
        description: cell(5),
        medium: cell(6),
        ip: optional(7),
        user_agent: optional(8),
        request_id: optional(9),
        metadata: cell(10),
    };
    let mut out = Vec::new();
    {
        let mut w = CsvRows::new(&mut out);
        w.header().unwrap();
        w.row(row).unwrap();
        w.finish().unwrap();
    }
    let mut reader = csv::ReaderBuilder::new().from_reader(out.as_slice());
    let header = reader.headers().expect("a header").clone();
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("the writer's output is CSV");
    assert_eq!(records.len(), 1, "one row, whatever its cells hold");
    let record = &records[0];
    assert_eq!(record.len(), header.len());
    let guarded = |text: &str| {
        if audit::is_formula_like(text.as_bytes()) {
            format!("'{text}")
        } else {
            text.to_string()
        }
    };
    let column = |name: &str| {
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name}"));
        record.get(i).unwrap().to_string()
    };
    for (name, value) in [
        ("Resource Type", cell(1)),
        ("Operation", cell(2)),
        ("Resource ID", cell(3)),
        ("Resource Name", cell(4)),
        ("Description", cell(5)),
        ("Medium", cell(6)),
    ] {
        if header.iter().any(|h| h == name) {
            assert_eq!(column(name), guarded(value), "{name}");
        }
    }
}

// ---- SCIM -------------------------------------------------------------------

fn scim_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "0190f5c8-0000-7000-8000-000000000001",
        "externalId": "00u1abcd",
        "userName": "ada@acme.example",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "displayName": "Ada Lovelace",
        "active": true,
        "emails": [
            {"value": "ada@acme.example", "type": "work", "primary": true},
            {"value": "ada@home.example", "type": "home"}
        ],
        "groups": [{"value": "0190f5c8-0000-7000-8000-000000000002", "display": "Ops"}],
        "meta": {"resourceType": "User", "location": "/Users/0190f5c8-0000-7000-8000-000000000001"}
    })
}

/// Input: a filter (as in `?filter=`), tried on Users' and Groups'
/// attributes, and as a PATCH path.
pub fn scim_filter(data: &[u8]) {
    use rolebook::scim::filter::Filter;
    use rolebook::scim::{group, user};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = Filter::parse(text, user::ATTRIBUTES) {
        let _ = f.matches(&scim_user());
        let _ = f.equality();
    }
    if let Ok(f) = Filter::parse(text, group::ATTRIBUTES) {
        let _ = f.matches(&json!({"displayName": "Ops", "members": [{"value": "x"}]}));
    }
    let _ = Filter::parse_path(text, user::ATTRIBUTES);
}

/// Input: a PATCH body (JSON), applied to a User.
pub fn scim_patch(data: &[u8]) {
    use rolebook::scim::{patch, user};
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let original = scim_user();
    let mut resource = original.clone();
    match patch::apply(&mut resource, &body, user::ATTRIBUTES, user::READ_ONLY) {
        Err(_) => assert_eq!(resource, original, "a refused PATCH changes nothing"),
        Ok(()) => {
            for attribute in ["id", "meta"] {
                assert_eq!(
                    resource[attribute], original[attribute],
                    "{attribute} is read-only"
                );
            }
        }
    }
}

// ---- seeds -------------------------------------------------------------------

/// A target's body.
pub type Body = fn(&[u8]);

/// The targets, by name, with their bodies.
pub const TARGETS: &[(&str, Body)] = &[
    ("stored_event", stored_event),
    ("path_and_cursor", path_and_cursor),
    ("audit_filter", audit_filter),
    ("csv_row", csv_row),
    ("scim_filter", scim_filter),
    ("scim_patch", scim_patch),
];

/// Valid inputs of `target` made from real data (a generated
/// organization's events, ids, names and cursors, sample filters and
/// PATCH bodies): where a fuzzing run starts (`scripts/fuzz` writes them
/// into `corpus/<target>/` when it is empty).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let join = |parts: &[&str]| parts.join("\u{1f}").into_bytes();
    match target {
        "stored_event" => {
            let mut w = testkit::Workload::organization("seed", testkit::Size::SMALL, 3);
            w.random_history(400);
            let types = Event::types();
            let mut seen = std::collections::BTreeSet::new();
            let mut out = Vec::new();
            for e in &w.events {
                if seen.insert(e.event_type()) {
                    let pick = types.iter().position(|(t, _)| *t == e.event_type()).unwrap();
                    let mut input = vec![pick as u8, e.schema_version() as u8];
                    input.extend_from_slice(e.to_json().as_bytes());
                    out.push(input);
                }
            }
            let meta = domain::events::EventMetadata::new(
                domain::events::Actor::system(),
                domain::events::Medium::Api,
                Utc::now(),
            );
            let mut input = vec![0, 1];
            input.extend_from_slice(serde_json::to_string(&meta).unwrap().as_bytes());
            out.push(input);
            out
        }
        "path_and_cursor" => {
            let org = organization();
            let mut out: Vec<Vec<u8>> = Vec::new();
            for (id, u) in org.users.iter().take(3) {
                out.push(id.to_string().into_bytes());
                out.push(u.username.clone().into_bytes());
                out.extend(u.email.clone().map(String::into_bytes));
            }
            for (id, g) in org.groups.iter().take(2) {
                out.push(id.to_string().into_bytes());
                out.push(g.name.clone().into_bytes());
            }
            for (id, p) in org.projects.iter().take(2) {
                out.push(id.to_string().into_bytes());
                out.push(p.name.clone().into_bytes());
            }
            out.push(b"Admin".to_vec());
            out.push(b"group:ops".to_vec());
            out.push(rolebook::http::paging::cursor("ada@acme.example").into_bytes());
            out.push(audit::encode_cursor(4_242).into_bytes());
            out
        }
        "audit_filter" => vec![
            join(&[]),
            join(&["2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]),
            join(&["", "", "7", "User", "", "Added", "10"]),
            join(&["", "", "", "Group", "", "Modified", "3", &audit::encode_cursor(900)]),
            join(&["", "", "", "Role", "", "", "1000"]),
        ],
        "csv_row" => vec![
            join(&[
                "ada", "User", "Added", "u-1", "Ada Lovelace", "Ada was invited", "API",
                "203.0.113.7", "curl/8.5", "req-1", "{\"event_type\":\"UserInvited\"}",
            ]),
            join(&["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\"quoted\", comma", "line\nbreak"]),
        ],
        "scim_filter" => [
            "userName eq \"ada@acme.example\"",
            "emails[type eq \"work\"].value eq \"ada@acme.example\"",
            "externalId eq \"00u1abcd\" and active eq true",
            "not (name.familyName sw \"Love\") or displayName co \"Ada\"",
            "meta.lastModified gt \"2026-01-01T00:00:00Z\"",
            "emails[type eq \"work\"].value",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        "scim_patch" => [
            json!({"schemas": [rolebook::scim::patch::SCHEMA], "Operations": [
                {"op": "replace", "path": "active", "value": false}]}),
            json!({"schemas": [rolebook::scim::patch::SCHEMA], "Operations": [
                {"op": "replace", "value": {"name": {"givenName": "Augusta"}, "active": true}}]}),
            json!({"schemas": [rolebook::scim::patch::SCHEMA], "Operations": [
                {"op": "add", "path": "emails", "value": [{"value": "a@b.example", "type": "other"}]},
                {"op": "remove", "path": "emails[type eq \"home\"]"}]}),
            json!({"schemas": [rolebook::scim::patch::SCHEMA], "Operations": [
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"}]}),
        ]
        .iter()
        .map(|v| serde_json::to_vec(v).unwrap())
        .collect(),
        other => panic!("no fuzz target {other}"),
    }
}

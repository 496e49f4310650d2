//! `replay::verify` against logs written by the real command service, then
//! tampered with directly in the SQLite file.

mod common;

use chrono::{DateTime, Utc};
use common::{event_at, fixture, raw, stream_len, total_events, Fixture};
use domain::hash::chain_hash;
use domain::store::StreamId;
use replay::verify::{BreakKind, Report};
use replay::VerifyOptions;
use rusqlite::params;

/// Verifies in one pass, and in 2 to 9 segments linked at their seams:
/// the reports must be the same.
async fn verify(f: &Fixture, stream: Option<StreamId>) -> Report {
    let options = VerifyOptions::sqlite(&f.events_db(), stream.clone()).unwrap();
    let report = replay::verify(f.store.clone(), options, &replay::progress::hidden())
        .await
        .unwrap();
    if stream.is_none() {
        for segments in 2..=9 {
            let mut options = VerifyOptions::sqlite(&f.events_db(), None).unwrap();
            options.segments = Some(segments);
            let split = replay::verify(f.store.clone(), options, &replay::progress::hidden())
                .await
                .unwrap();
            assert_eq!(split, report, "in {segments} segments");
        }
    }
    report
}

/// Asserts the report's first broken link.
fn assert_first(
    report: &Report,
    stream: &StreamId,
    version: u64,
    position: Option<u64>,
    kind: BreakKind,
) {
    assert!(!report.ok, "{report:#?}");
    let first = report.first.as_ref().expect("a first broken link");
    assert_eq!(
        (&first.stream, first.version, first.position, first.kind),
        (stream, version, position, kind),
        "{report:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intact_log_passes_with_its_counts() {
    let f = fixture().await;
    let conn = raw(&f.events_db());
    let report = verify(&f, None).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.streams, 3, "the registry and two organizations");
    assert_eq!(report.events, total_events(&conn));
    assert!(report.first.is_none() && report.broken.is_empty());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"ok": true, "streams": 3, "events": report.events})
    );

    let one = verify(&f, Some(f.acme.stream())).await;
    assert!(one.ok, "{one:#?}");
    assert_eq!(
        (one.streams, one.events),
        (1, stream_len(&conn, &f.acme.stream()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_event_is_named_by_its_version_and_position() {
    let f = fixture().await;
    let stream = f.acme.stream();
    let conn = raw(&f.events_db());
    let (position, _) = event_at(&conn, &stream, 5);
    let changed = conn
        .execute(
            "UPDATE events SET data = replace(data, 'p', 'q') WHERE stream_id = ?1 AND stream_version = 5",
            [stream.as_str()],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let report = verify(&f, None).await;
    assert_first(&report, &stream, 5, Some(position), BreakKind::HashMismatch);
    assert_eq!(report.broken.len(), 1, "only that stream is broken");
    let one = verify(&f, Some(stream.clone())).await;
    assert_first(&one, &stream, 5, Some(position), BreakKind::HashMismatch);
    // The other organization is intact.
    assert!(verify(&f, Some(f.globex.stream())).await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_timestamp_in_the_metadata_is_caught() {
    let f = fixture().await;
    let stream = f.globex.stream();
    let conn = raw(&f.events_db());
    let (position, _) = event_at(&conn, &stream, 2);
    conn.execute(
        "UPDATE events SET metadata = json_set(metadata, '$.occurred_at', '2020-01-01T00:00:00Z')
         WHERE stream_id = ?1 AND stream_version = 2",
        [stream.as_str()],
    )
    .unwrap();
    assert_first(
        &verify(&f, None).await,
        &stream,
        2,
        Some(position),
        BreakKind::HashMismatch,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_event_is_named_where_the_chain_breaks_and_its_position_is_missing() {
    let f = fixture().await;
    let stream = f.acme.stream();
    let conn = raw(&f.events_db());
    let (removed, _) = event_at(&conn, &stream, 4);
    let (next, _) = event_at(&conn, &stream, 5);
    conn.execute(
        "DELETE FROM events WHERE stream_id = ?1 AND stream_version = 4",
        [stream.as_str()],
    )
    .unwrap();

    let report = verify(&f, None).await;
    assert_first(
        &report,
        &stream,
        4,
        Some(next),
        BreakKind::UnexpectedVersion,
    );
    assert_eq!(report.missing_positions, vec![removed]);
    assert_eq!(report.missing_position_count, 1);
    let one = verify(&f, Some(stream.clone())).await;
    assert_first(&one, &stream, 4, Some(next), BreakKind::UnexpectedVersion);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_last_event_is_a_truncated_stream() {
    let f = fixture().await;
    let stream = f.globex.stream();
    let conn = raw(&f.events_db());
    let n = stream_len(&conn, &stream);
    let (removed, _) = event_at(&conn, &stream, n);
    conn.execute(
        "DELETE FROM events WHERE stream_id = ?1 AND stream_version = ?2",
        params![stream.as_str(), n as i64],
    )
    .unwrap();
    let report = verify(&f, None).await;
    assert_first(&report, &stream, n, None, BreakKind::Truncated);
    assert_eq!(report.missing_positions, vec![removed]);
    let one = verify(&f, Some(stream.clone())).await;
    assert_first(&one, &stream, n, None, BreakKind::Truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_contents_are_caught_at_the_earlier_event() {
    let f = fixture().await;
    let stream = f.acme.stream();
    let conn = raw(&f.events_db());
    let (p3, _) = event_at(&conn, &stream, 3);
    // Swap everything but the envelope's place: type, shape, data, metadata.
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE a AS SELECT event_type, schema_version, data, metadata FROM events
             WHERE stream_id = '{s}' AND stream_version = 3;
         CREATE TEMP TABLE b AS SELECT event_type, schema_version, data, metadata FROM events
             WHERE stream_id = '{s}' AND stream_version = 6;
         UPDATE events SET (event_type, schema_version, data, metadata) = (SELECT * FROM b)
             WHERE stream_id = '{s}' AND stream_version = 3;
         UPDATE events SET (event_type, schema_version, data, metadata) = (SELECT * FROM a)
             WHERE stream_id = '{s}' AND stream_version = 6;",
        s = stream.as_str()
    ))
    .unwrap();
    assert_first(
        &verify(&f, None).await,
        &stream,
        3,
        Some(p3),
        BreakKind::HashMismatch,
    );
    assert_first(
        &verify(&f, Some(stream.clone())).await,
        &stream,
        3,
        Some(p3),
        BreakKind::HashMismatch,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_events_are_caught_where_the_order_first_breaks() {
    let f = fixture().await;
    let stream = f.acme.stream();
    let conn = raw(&f.events_db());
    let (p3, _) = event_at(&conn, &stream, 3);
    let (p7, _) = event_at(&conn, &stream, 7);
    // Whole rows change places in the global order (versions 3 and 7
    // exchange positions).
    conn.execute_batch(&format!(
        "UPDATE events SET global_position = -1 WHERE global_position = {p3};
         UPDATE events SET global_position = {p3} WHERE global_position = {p7};
         UPDATE events SET global_position = {p7} WHERE global_position = -1;"
    ))
    .unwrap();
    assert_first(
        &verify(&f, None).await,
        &stream,
        3,
        Some(p3),
        BreakKind::UnexpectedVersion,
    );
    // In version order the chain holds, but the positions go back.
    let one = verify(&f, Some(stream.clone())).await;
    assert!(!one.ok);
    let first = one.first.unwrap();
    assert_eq!(
        (first.kind, first.version, first.position),
        (BreakKind::OutOfOrder, 3, Some(p7)),
        "{}",
        first.detail
    );
}

/// The columns of an event row, to forge one like it.
struct Row {
    event_type: String,
    schema_version: i64,
    data: String,
    metadata: String,
    recorded_at: i64,
}

fn row(conn: &rusqlite::Connection, stream: &StreamId, version: u64) -> Row {
    conn.query_row(
        "SELECT event_type, schema_version, data, metadata, recorded_at FROM events
         WHERE stream_id = ?1 AND stream_version = ?2",
        params![stream.as_str(), version as i64],
        |r| {
            Ok(Row {
                event_type: r.get(0)?,
                schema_version: r.get(1)?,
                data: r.get(2)?,
                metadata: r.get(3)?,
                recorded_at: r.get(4)?,
            })
        },
    )
    .unwrap()
}

/// Inserts a forged event whose hash is correctly computed from its
/// content and the given `prev_hash`: as plausible as a forger can make it
/// without rewriting everything after it.
fn forge(
    conn: &rusqlite::Connection,
    stream: &StreamId,
    version: u64,
    position: Option<u64>,
    prev_hash: [u8; 32],
    like: &Row,
) {
    let event_id = uuid::Uuid::now_v7();
    let data = like.data.replace("Contributor", "Admin");
    let recorded_at = DateTime::<Utc>::from_timestamp_micros(like.recorded_at).unwrap();
    let hash = chain_hash(
        &prev_hash,
        stream,
        version,
        &event_id,
        &like.event_type,
        like.schema_version as u32,
        &data,
        &like.metadata,
        &recorded_at,
    );
    conn.execute(
        "INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type,
             schema_version, data, metadata, recorded_at, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            position.map(|p| p as i64),
            stream.as_str(),
            version as i64,
            &event_id.as_bytes()[..],
            like.event_type,
            like.schema_version,
            data,
            like.metadata,
            like.recorded_at,
            &prev_hash[..],
            &hash[..]
        ],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_event_appended_with_a_valid_hash_is_not_in_the_stream_record() {
    let f = fixture().await;
    let stream = f.acme.stream();
    let conn = raw(&f.events_db());
    let n = stream_len(&conn, &stream);
    let (_, last_hash) = event_at(&conn, &stream, n);
    let like = row(&conn, &stream, n);
    forge(&conn, &stream, n + 1, None, last_hash, &like);
    let (position, _) = event_at(&conn, &stream, n + 1);

    let report = verify(&f, None).await;
    assert_first(
        &report,
        &stream,
        n + 1,
        Some(position),
        BreakKind::UnrecordedEvent,
    );
    assert_first(
        &verify(&f, Some(stream.clone())).await,
        &stream,
        n + 1,
        Some(position),
        BreakKind::UnrecordedEvent,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_event_inserted_in_place_of_another_breaks_the_next_link() {
    let f = fixture().await;
    let stream = f.globex.stream();
    let conn = raw(&f.events_db());
    let (p5, _) = event_at(&conn, &stream, 5);
    let (p6, _) = event_at(&conn, &stream, 6);
    let (_, h4) = event_at(&conn, &stream, 4);
    let like = row(&conn, &stream, 5);
    conn.execute(
        "DELETE FROM events WHERE stream_id = ?1 AND stream_version = 5",
        [stream.as_str()],
    )
    .unwrap();
    // Same place, same predecessor, a hash that is right for its content:
    // only the next event's link can tell.
    forge(&conn, &stream, 5, Some(p5), h4, &like);
    let report = verify(&f, None).await;
    assert_first(&report, &stream, 6, Some(p6), BreakKind::PrevHashMismatch);
    assert!(report.missing_positions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_stream_is_unknown_to_the_store() {
    let f = fixture().await;
    let conn = raw(&f.events_db());
    let like = row(&conn, &f.acme.stream(), 1);
    let fake = StreamId::new("org-00000000-0000-7000-8000-000000000abc");
    forge(&conn, &fake, 1, None, [0; 32], &like);
    let (position, _) = event_at(&conn, &fake, 1);
    assert_first(
        &verify(&f, None).await,
        &fake,
        1,
        Some(position),
        BreakKind::UnknownStream,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_during_a_verification_are_not_tampering() {
    let f = fixture().await;
    // The record is read first; events committed after it are left out.
    let options = VerifyOptions::sqlite(&f.events_db(), None).unwrap();
    let before = options.recorded.as_ref().unwrap().head_position;
    common::some_history(&f.service, f.acme, "late").await;
    let report = replay::verify(f.store.clone(), options, &replay::progress::hidden())
        .await
        .unwrap();
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.events, before);
}

//! The Parquet export into a directory, read back by pyarrow (an
//! independent reader): schema, row counts and every value equal the audit
//! view; re-running rewrites the same objects; the digest check passes on
//! the export and fails on a changed object, a changed digest, or a log
//! that moved on.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use replay::export::{self, Selection, Target};
use serde_json::{json, Value};
use support::{day, logged, python_json};

/// Every file under `dir`, relative path -> contents.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn selection(log: &support::Logged, today: &str) -> Selection {
    let mut s = Selection::finished_days(vec![log.acme, log.globex]);
    s.today = day(today);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_reads_back_exactly_the_audit_view() {
    // Three past days and "today" (2026-03-04), which is not finished.
    let log = logged(
        &["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"],
        900,
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let target = Target::dir(out.path());
    let report = export::export(
        log.store.clone(),
        &log.read_db(),
        &target,
        &selection(&log, "2026-03-04"),
        &replay::progress::hidden(),
    )
    .await
    .unwrap();

    // acme's three finished days and globex's one; not today.
    let written: Vec<(String, String)> = report
        .days
        .iter()
        .map(|d| (d.org_id.to_string(), d.date.to_string()))
        .collect();
    let (acme, globex) = (log.acme.to_string(), log.globex.to_string());
    assert_eq!(
        written,
        vec![
            (acme.clone(), "2026-03-01".into()),
            (acme.clone(), "2026-03-02".into()),
            (acme.clone(), "2026-03-03".into()),
            (globex.clone(), "2026-03-01".into()),
        ]
    );
    assert_eq!(report.objects, 8);
    let on_disk = files(out.path());
    let keys: Vec<&String> = on_disk.keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    for (org, date) in &written {
        for name in ["audit.parquet", "audit.digest.json"] {
            let key = format!("org={org}/date={date}/{name}");
            assert!(on_disk.contains_key(&key), "{key} missing: {keys:?}");
        }
    }

    let expected_schema = json!([
        {"name": "org_id", "type": "string", "nullable": false},
        {"name": "position", "type": "int64", "nullable": false},
        {"name": "occurred_at", "type": "timestamp[us, tz=UTC]", "nullable": false},
        {"name": "actor_id", "type": "string", "nullable": true},
        {"name": "actor_username", "type": "string", "nullable": false},
        {"name": "resource_type", "type": "string", "nullable": false},
        {"name": "operation", "type": "string", "nullable": false},
        {"name": "resource_id", "type": "string", "nullable": false},
        {"name": "resource_name", "type": "string", "nullable": false},
        {"name": "description", "type": "string", "nullable": false},
        {"name": "medium", "type": "string", "nullable": false},
        {"name": "ip", "type": "string", "nullable": true},
        {"name": "user_agent", "type": "string", "nullable": true},
        {"name": "request_id", "type": "string", "nullable": true},
        {"name": "metadata", "type": "string", "nullable": false},
    ]);
    let mut total = 0;
    for d in &report.days {
        let file = out
            .path()
            .join(export::target::parquet_key(d.org_id, d.date));
        let read = python_json("read_parquet.py", &[file.to_str().unwrap()]);
        assert_eq!(read["schema"], expected_schema);
        assert_eq!(read["compression"], json!(["ZSTD"]));
        let view = support::audit_view(&log.read_db(), d.org_id, d.date);
        assert!(!view.is_empty());
        assert_eq!(
            read["num_rows"],
            json!(view.len()),
            "{} {}",
            d.org_id,
            d.date
        );
        assert_eq!(d.rows as usize, view.len());
        let rows = read["rows"].as_array().unwrap();
        assert_eq!(rows.len(), view.len());
        for (row, e) in rows.iter().zip(&view) {
            let expected = json!({
                "org_id": e.org_id.to_string(),
                "position": e.position,
                "occurred_at": e.occurred_at.timestamp_micros(),
                "actor_id": e.actor_id.map(|a| a.to_string()),
                "actor_username": e.actor_username,
                "resource_type": e.resource_type.as_str(),
                "operation": e.operation.as_str(),
                "resource_id": e.resource_id,
                "resource_name": e.resource_name,
                "description": e.description,
                "medium": e.medium,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "request_id": e.request_id,
                "metadata": e.metadata,
            });
            assert_eq!(row, &expected);
        }
        // Nullable columns hold both values and nulls.
        assert!(rows.iter().any(|r| r["ip"].is_null()));
        assert!(rows.iter().any(|r| r["ip"].is_string()));
        assert_eq!(d.first_position, view[0].position);
        assert_eq!(d.last_position, view.last().unwrap().position);
        total += view.len();
    }
    // The directory read as one hive-partitioned dataset.
    let dataset = python_json(
        "read_parquet.py",
        &["--dataset", out.path().to_str().unwrap()],
    );
    assert_eq!(dataset["rows"], json!(total));
    assert_eq!(dataset["partitions"].as_array().unwrap().len(), 4);

    // The digests name the chain hash at each day's last event.
    for d in &report.days {
        let digest: Value =
            serde_json::from_slice(&on_disk[&export::target::digest_key(d.org_id, d.date)])
                .unwrap();
        let event = log
            .store
            .read_all(d.last_position, 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(
            digest["chain_hash"],
            json!(domain::hash::to_hex(&event.hash))
        );
        assert_eq!(digest["rows"], json!(d.rows));
        assert_eq!(digest["last_stream_version"], json!(event.stream_version));
    }

    // Asked for, today is exported too.
    let mut with_today = selection(&log, "2026-03-04");
    with_today.include_today = true;
    with_today.from = Some(day("2026-03-04"));
    let today = export::export(
        log.store.clone(),
        &log.read_db(),
        &target,
        &with_today,
        &replay::progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(today.days.len(), 1);
    assert_eq!(today.days[0].date, day("2026-03-04"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerunning_rewrites_identical_objects_and_the_check_catches_changes() {
    let log = logged(&["2026-03-01", "2026-03-02", "2026-03-03"], 700).await;
    let out = tempfile::tempdir().unwrap();
    let target = Target::dir(out.path());
    let sel = selection(&log, "2026-03-10");
    let db = log.read_db();
    let bar = replay::progress::hidden();
    let run = || export::export(log.store.clone(), &db, &target, &sel, &bar);
    let first = run().await.unwrap();
    assert_eq!((first.objects, first.kept_days), (8, 0));
    let before = files(out.path());
    // Run again: every day is there as the log says, and is kept.
    let second = run().await.unwrap();
    assert_eq!((second.objects, second.kept_days), (0, 4));
    assert!(second.days.iter().all(|d| d.kept && d.bytes == 0));
    // Asked to rewrite: the same keys with the same bytes.
    let rewrite = Selection {
        rewrite: true,
        ..sel.clone()
    };
    let third = export::export(log.store.clone(), &db, &target, &rewrite, &bar)
        .await
        .unwrap();
    assert_eq!((third.objects, third.kept_days), (8, 0));
    let after = files(out.path());
    assert_eq!(first.days.len(), 4);
    assert_eq!(
        before, after,
        "a re-run writes the same keys with the same bytes"
    );
    // An interrupted day (its digest not written yet, or its object cut
    // short) is written again by the next run, as is one whose object
    // changed; the others are kept.
    let day2 = day("2026-03-02");
    std::fs::remove_file(out.path().join(export::target::digest_key(log.acme, day2))).unwrap();
    let day3 = out
        .path()
        .join(export::target::parquet_key(log.acme, day("2026-03-03")));
    let whole = std::fs::read(&day3).unwrap();
    std::fs::write(&day3, &whole[..whole.len() / 2]).unwrap();
    let resumed = run().await.unwrap();
    assert_eq!((resumed.objects, resumed.kept_days), (4, 2));
    assert_eq!(files(out.path()), before, "resumed: the same bytes");
    assert_eq!(
        first
            .days
            .iter()
            .map(|d| &d.parquet_sha256)
            .collect::<Vec<_>>(),
        second
            .days
            .iter()
            .map(|d| &d.parquet_sha256)
            .collect::<Vec<_>>()
    );

    let check = || export::check(log.store.clone(), &db, &target, &sel);
    let ok = check().await.unwrap();
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.checked, 4);

    // One byte of one object changed: that day fails on its SHA-256.
    let victim = out
        .path()
        .join(export::target::parquet_key(log.acme, day("2026-03-02")));
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();
    let bad = check().await.unwrap();
    assert!(!bad.ok);
    assert_eq!(bad.failed, 1);
    let failed = bad.days.iter().find(|d| !d.ok).unwrap();
    assert_eq!(failed.date, day("2026-03-02"));
    assert!(
        failed.problems.iter().any(|p| p.contains("SHA-256")),
        "{:?}",
        failed.problems
    );
    let one = export::check_day(
        log.store.as_ref(),
        &log.read_db(),
        &target,
        log.acme,
        day("2026-03-01"),
    )
    .await
    .unwrap();
    assert!(one.ok, "{:?}", one.problems);

    // A digest edited to match a forged object still disagrees with the log.
    run().await.unwrap();
    let digest_path = out
        .path()
        .join(export::target::digest_key(log.acme, day("2026-03-03")));
    let mut digest: Value = serde_json::from_slice(&std::fs::read(&digest_path).unwrap()).unwrap();
    digest["rows"] = json!(digest["rows"].as_u64().unwrap() - 1);
    std::fs::write(&digest_path, serde_json::to_vec(&digest).unwrap()).unwrap();
    let bad = check().await.unwrap();
    let failed = bad.days.iter().find(|d| !d.ok).unwrap();
    assert_eq!(failed.date, day("2026-03-03"));
    assert!(
        failed
            .problems
            .iter()
            .any(|p| p.contains("the audit log's row count")),
        "{:?}",
        failed.problems
    );

    // A missing object is a problem too.
    std::fs::remove_file(
        out.path()
            .join(export::target::parquet_key(log.globex, day("2026-03-01"))),
    )
    .unwrap();
    let bad = check().await.unwrap();
    assert_eq!(bad.failed, 2);
    assert!(bad.days.iter().any(|d| d
        .problems
        .iter()
        .any(|p| p.starts_with("no Parquet object"))));
}

/// The two ways of reading a day's rows (scanning the table over a range of
/// positions, or through `audit_by_org`) give the same batches, each with
/// only the organization's entries of that day, even over a range that
/// spans the whole log (other days, the other organization).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_scan_and_the_index_read_the_same_rows() {
    use replay::export::rows::{self, Access};
    let log = logged(&["2026-03-01", "2026-03-02"], 600).await;
    let conn = projections::db::open_read_only(&log.read_db()).unwrap();
    let (last, total): (i64, usize) = conn
        .query_row("SELECT MAX(position), COUNT(*) FROM audit_log", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let read = |org, date, range, access| {
        let mut batches = Vec::new();
        let stats = rows::read_range(&conn, org, date, range, access, |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
        (stats, batches)
    };
    let mut seen = 0;
    for (org, days) in [(log.acme, &log.days[..]), (log.globex, &log.days[..1])] {
        for &date in days {
            let span = rows::day_stats(&conn, org, date).unwrap();
            assert!(span.rows > 0, "{org} {date}");
            for range in [(span.first_position, span.last_position), (1, last as u64)] {
                let (by_table, table_batches) = read(org, date, range, Access::Table);
                let (by_index, index_batches) = read(org, date, range, Access::Index);
                assert_eq!(by_table, span, "{org} {date} {range:?}");
                assert_eq!(by_index, span, "{org} {date} {range:?}");
                assert_eq!(table_batches, index_batches, "{org} {date} {range:?}");
                let entries = support::audit_view(&log.read_db(), org, date);
                let positions: Vec<i64> = table_batches
                    .iter()
                    .flat_map(|b| {
                        b.column(1)
                            .as_any()
                            .downcast_ref::<arrow_array::Int64Array>()
                            .unwrap()
                            .values()
                            .to_vec()
                    })
                    .collect();
                let expected: Vec<i64> = entries.iter().map(|e| e.position as i64).collect();
                assert_eq!(positions, expected, "{org} {date} {range:?}");
                seen += positions.len();
            }
        }
    }
    // Every entry, once per range.
    assert_eq!(seen, 2 * total);
}

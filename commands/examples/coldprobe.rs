use domain::store::EventStore;
use domain::{Event, Organization};
use infra::SqliteEventStore;
use std::time::Instant;
use testkit::{Size, Workload};
#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let mut w = Workload::organization("bench", Size::BENCHMARK, 1);
    w.churn_to(1_000_000);
    let store = SqliteEventStore::open(&dir.path().join("x.db"))
        .await
        .unwrap();
    let env = w.envelopes();
    let mut v = 0;
    for c in env.chunks(5000) {
        let r = store
            .append(
                &w.org_id.stream(),
                if v == 0 {
                    domain::store::ExpectedVersion::NoStream
                } else {
                    domain::store::ExpectedVersion::Exact(v)
                },
                c.to_vec(),
            )
            .await
            .unwrap();
        v = r.stream_version;
    }
    let t = Instant::now();
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let page = store
            .read_stream(&w.org_id.stream(), from, 10_000)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        from += page.len() as u64;
        all.extend(page);
    }
    println!("read {} in {:?}", all.len(), t.elapsed());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", dir.path().join("x.db").display()))
        .await
        .unwrap();
    let t = Instant::now();
    let mut n = 0usize;
    let mut from = 1i64;
    loop {
        let rows: Vec<(String, i64, String)> = sqlx::query_as("SELECT event_type, schema_version, data FROM events WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version LIMIT 10000").bind(w.org_id.stream().as_str()).bind(from).fetch_all(&pool).await.unwrap();
        if rows.is_empty() {
            break;
        }
        n += rows.len();
        from += rows.len() as i64;
    }
    println!("slim sqlx read {} in {:?}", n, t.elapsed());
    let t = Instant::now();
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT stream_version FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    println!("one-col sqlx read {} in {:?}", rows.len(), t.elapsed());
    let t = Instant::now();
    let evs: Vec<Event> = all
        .iter()
        .map(|e| Event::decode(&e.event_type, e.schema_version, &e.data).unwrap())
        .collect();
    println!("decode in {:?}", t.elapsed());
    let t = Instant::now();
    let mut o = Organization::new();
    for e in &evs {
        o.evolve(e);
    }
    println!("evolve in {:?}", t.elapsed());
}

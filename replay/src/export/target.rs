//! Where exported objects go: an object storage target
//! (`infra::object_storage`: a directory or an S3-compatible bucket), under
//! keys `org=<id>/date=YYYY-MM-DD/audit.parquet` and
//! `.../audit.digest.json` below the target's prefix.

use chrono::NaiveDate;
use domain::ids::OrgId;
pub use infra::object_storage::{BucketSettings, Provider, Target, GCS_ENDPOINT};

/// The key of a day's Parquet object, relative to the target's prefix.
pub fn parquet_key(org: OrgId, date: NaiveDate) -> String {
    format!("org={org}/date={}/audit.parquet", date.format("%Y-%m-%d"))
}

/// The key of a day's digest, relative to the target's prefix.
pub fn digest_key(org: OrgId, date: NaiveDate) -> String {
    format!(
        "org={org}/date={}/audit.digest.json",
        date.format("%Y-%m-%d")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_partitioned_by_org_and_day() {
        let org: OrgId = "0190f5c8-0000-7000-8000-000000000001".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        assert_eq!(
            parquet_key(org, day),
            "org=0190f5c8-0000-7000-8000-000000000001/date=2026-01-31/audit.parquet"
        );
        assert!(digest_key(org, day).ends_with("date=2026-01-31/audit.digest.json"));
    }
}

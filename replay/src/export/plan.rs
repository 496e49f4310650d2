//! Which organization-days an export writes: the UTC days on which each
//! organization has audit entries, within `--from`/`--to` (inclusive), and
//! only finished days (before today, UTC) unless today is asked for. A day
//! without entries gets no object.
//!
//! **Resuming.** Each day is written whole, its Parquet object first and
//! its digest last, so a digest in the target marks a day done: an
//! interrupted export run again keeps every day whose digest matches the
//! log (rows, positions, chain hash) and whose object has the digest's
//! size and SHA-256, and writes the rest (`rewrite` writes every day again; the bytes
//! are the same). Bucket streaming keeps its own list of days done
//! (`src/streaming`).

use chrono::NaiveDate;
use domain::ids::OrgId;
use rusqlite::Connection;

use super::rows;
use super::ExportError;

/// What to export: organizations and a range of UTC days.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The organizations, in this order.
    pub orgs: Vec<OrgId>,
    /// First day (inclusive); `None`: from the first entry.
    pub from: Option<NaiveDate>,
    /// Last day (inclusive); `None`: up to the last finished day.
    pub to: Option<NaiveDate>,
    /// Also export today's (unfinished) day, as it stands.
    pub include_today: bool,
    /// Today's date (UTC); a parameter so tests can move the clock.
    pub today: NaiveDate,
    /// Write every day again, even those the target holds already (see
    /// the module doc).
    pub rewrite: bool,
}

impl Selection {
    /// Every finished day of `orgs`, as of the current UTC date.
    pub fn finished_days(orgs: Vec<OrgId>) -> Selection {
        Selection {
            orgs,
            from: None,
            to: None,
            include_today: false,
            today: chrono::Utc::now().date_naive(),
            rewrite: false,
        }
    }

    /// The last day this selection may export.
    fn last_day(&self) -> Option<NaiveDate> {
        let limit = if self.include_today {
            Some(self.today)
        } else {
            self.today.pred_opt()
        };
        match (self.to, limit) {
            (Some(to), Some(limit)) => Some(to.min(limit)),
            (to, limit) => to.or(limit),
        }
    }
}

/// The organization-days to write, organization by organization, oldest day
/// first. Fails with [`ExportError::Invalid`] when `from` is after `to`, and
/// [`ExportError::Database`] when the audit log cannot be read.
pub fn plan(
    conn: &Connection,
    selection: &Selection,
) -> Result<Vec<(OrgId, NaiveDate)>, ExportError> {
    if let (Some(from), Some(to)) = (selection.from, selection.to) {
        if from > to {
            return Err(ExportError::Invalid(format!(
                "--from ({from}) is after --to ({to})"
            )));
        }
    }
    let last = selection.last_day();
    let mut days = Vec::new();
    for &org in &selection.orgs {
        for day in rows::days_with_entries(conn, org, selection.from, last)? {
            days.push((org, day));
        }
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn today_is_left_out_unless_asked() {
        let mut s = Selection::finished_days(vec![]);
        s.today = d("2026-02-10");
        assert_eq!(s.last_day(), Some(d("2026-02-09")));
        s.include_today = true;
        assert_eq!(s.last_day(), Some(d("2026-02-10")));
        s.to = Some(d("2026-02-01"));
        assert_eq!(s.last_day(), Some(d("2026-02-01")));
        s.to = Some(d("2026-03-01"));
        s.include_today = false;
        assert_eq!(s.last_day(), Some(d("2026-02-09")));
    }
}

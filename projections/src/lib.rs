//! rolebook's read side: what users query, folded from the log.
//!
//! - [`runner`]: feeds projections exactly once and publishes positions;
//! - [`access`]: the in-memory access model (check, explain, who-can);
//! - [`rbac`]: the RBAC tables in SQL;
//! - [`audit`]: the audit-log view, its filters and its CSV export.

pub mod access;
pub mod audit;
pub mod db;
pub mod postgres;
pub mod rbac;
pub mod runner;

//! The read models in PostgreSQL, for the shared server deployment
//! (`rolebook serve --database-url postgres://…`): the audit-log view and
//! the RBAC tables live in the same schema as the log, beside their
//! checkpoints, so every rolebook process on the database serves the same
//! audit log and SQL consumers read one set of RBAC tables.
//!
//! - [`runner`]: the runner (each page's rows and the checkpoint in one
//!   transaction; several processes write each event's rows once);
//! - [`audit`]: the audit view, its pages and its CSV export;
//! - [`rbac`]: the RBAC tables and the in-memory access model.
//!
//! Each projection's tables are one numbered migration
//! (`infra::postgres::migrations`, rows in `schema_version`).

pub mod audit;
pub mod rbac;
pub mod runner;

pub use audit::{CsvExport, PgAuditProjection};
pub use rbac::PgRbacProjection;
pub use runner::{PgProjection, PgRunner};

//! The audit-log view (RBAC.md, "Audit log"): every organization event is an
//! entry — group changes included — with who did it, through what, to which
//! resource, and a sentence for humans.
//!
//! - [`AuditProjection`] folds the log into the `audit_log` table (run it with
//!   the projection runner; checkpoint name `audit`);
//! - [`audit_entry`] is the pure mapping from an event to its entry, naming
//!   things through the [`Names`] registry;
//! - [`page`] answers auditors' filtered queries, newest first, with keyset
//!   paging ([`AuditFilter`], [`AuditPage`]);
//! - [`export`] streams the same filters as CSV in Semaphore's column order.
//!
//! Every fallible function returns [`AuditError`].

mod csv;
mod entry;
mod error;
mod keys;
mod names;
pub(crate) mod projection;
mod query;

pub use self::csv::{explain_export, export, is_formula_like, CsvRow, CsvRows, HEADER};
pub use entry::{
    audit_entry, describe, metadata_json, AuditEntry, Described, Operation, ResourceType,
    UnknownWord,
};
pub use error::AuditError;
pub use names::{Names, OrgNames};
pub use projection::{AuditProjection, SCHEMA};
pub use query::{
    decode_cursor, encode_cursor, explain_page, page, since, AuditFilter, AuditPage, DEFAULT_LIMIT,
    MAX_LIMIT,
};

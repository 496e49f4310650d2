//! The audit log's one error type.

/// Why an audit-log operation failed. Each variant has a stable
/// [`code`](AuditError::code) for problem+json answers.
///
/// - [`InvalidCursor`](AuditError::InvalidCursor) and
///   [`InvalidFilter`](AuditError::InvalidFilter) are the caller's mistakes
///   (HTTP 400);
/// - [`NotAnOrganizationStream`](AuditError::NotAnOrganizationStream) means an
///   event from outside an organization's stream was handed to the audit log;
/// - [`Corrupt`](AuditError::Corrupt) means a stored row or event could not be
///   read back;
/// - [`Database`](AuditError::Database), [`Csv`](AuditError::Csv) and
///   [`Io`](AuditError::Io) are failures of SQLite or of the output.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The paging cursor was not one this server handed out.
    #[error("invalid cursor {0:?}: pass back the next_cursor of a previous page")]
    InvalidCursor(String),
    /// A filter value makes no sense (for example `from` after `to`).
    #[error("invalid filter {field}: {reason}")]
    InvalidFilter { field: &'static str, reason: String },
    /// The event does not belong to an `org-<uuid>` stream.
    #[error("stream {0} is not an organization's stream")]
    NotAnOrganizationStream(String),
    /// A stored audit row or event metadata could not be read back.
    #[error("corrupt audit data at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("audit database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL view's server failed.
    #[error("audit database (PostgreSQL): {0}")]
    Postgres(Box<sqlx::Error>),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

impl AuditError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::InvalidCursor(_) => "invalid_cursor",
            AuditError::InvalidFilter { .. } => "invalid_filter",
            AuditError::NotAnOrganizationStream(_) => "not_an_organization_stream",
            AuditError::Corrupt { .. } => "corrupt_audit_data",
            AuditError::Database(_) | AuditError::Postgres(_) => "database",
            AuditError::Csv(_) | AuditError::Io(_) => "export_failed",
        }
    }

    /// Whether the output went away (a closed pipe, `| head`): not a failure
    /// of the export itself.
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            AuditError::Io(e) => Some(e),
            AuditError::Csv(e) => match e.kind() {
                csv::ErrorKind::Io(e) => Some(e),
                _ => None,
            },
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

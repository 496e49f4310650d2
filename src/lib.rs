//! The server, as a library the binary and the tests share: [`http`], the
//! HTTP API (its router, handlers, authentication and problems);
//! [`streaming`], the task that exports each finished day of the audit log
//! to the organization's bucket, with its ledger and its credentials
//! sealed at rest; [`scim`], the SCIM protocol's pure parts. The binary
//! (`src/main.rs`) holds the CLI and wires them together.

pub mod console;
pub mod http;
pub mod notifications;
pub mod scim;
pub mod sso;
pub mod streaming;

//! The server's parts that run beside the HTTP API and that tests reach
//! without the binary: [`streaming`], the task that exports each finished
//! day of the audit log to the organization's bucket, with its ledger and
//! its credentials sealed at rest; [`scim`], the SCIM protocol's pure
//! parts. The binary (`src/main.rs`) holds the HTTP API and the CLI.

pub mod scim;
pub mod streaming;

//! SCIM 2.0 (RFC 7643 / 7644), the protocol identity providers such as
//! Okta provision an organization's people and groups with: the pure
//! parts the HTTP handlers (`src/http/scim/`) call. [`filter`] parses and
//! matches `filter=`; [`patch`] applies PATCH operations to a resource's
//! JSON; [`user`] and [`group`] render resources from the organization's
//! state and read them from bodies; [`list`] pages them; [`discovery`]
//! describes the server; [`error`] is the `Error` message.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod group;
pub mod list;
pub mod patch;
pub mod user;

pub use error::{ScimError, CONTENT_TYPE};

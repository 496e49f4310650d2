//! SCIM 2.0 (RFC 7643 / 7644), the protocol identity providers such as Okta
//! provision an organization's people and groups with. Here: what does not
//! need the server, [`filter`] (parsing and matching `filter=` queries).
//! The endpoints are not built yet (issue 17).

pub mod filter;

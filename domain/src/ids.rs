//! Typed identifiers. Every entity id is a UUID v7 (time-ordered), generated
//! by the caller of `decide` so the domain stays deterministic.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

id_type!(
    /// An organization (tenant); its events live in stream `org-<id>`.
    OrgId
);
id_type!(
    /// A user of an organization: a person or a service account.
    UserId
);
id_type!(
    /// A group of users.
    GroupId
);
id_type!(
    /// A role, predefined or custom.
    RoleId
);
id_type!(
    /// A project.
    ProjectId
);
id_type!(
    /// An API token or a service-account token (the secret itself is never in
    /// the log, only this id).
    TokenId
);
id_type!(
    /// A notification target (a Slack or generic webhook).
    NotificationId
);

impl OrgId {
    /// The stream that holds this organization's events.
    pub fn stream(&self) -> crate::store::StreamId {
        crate::store::StreamId(format!("org-{}", self.0))
    }

    /// The organization whose stream this is (`org-<uuid>`), if any.
    pub fn of_stream(stream: &crate::store::StreamId) -> Option<OrgId> {
        stream.as_str().strip_prefix("org-")?.parse().ok()
    }
}

/// The identity the organization's SCIM token is kept under in the
/// credentials store: not a user of the organization (nothing in the log
/// names it), derived from the organization's id so that revoking every
/// token of it ends that organization's SCIM token and no other's.
pub fn scim_identity(org: OrgId) -> UserId {
    const SCIM: u128 = u128::from_be_bytes(*b"rolebook:scim:id");
    UserId(Uuid::from_u128(org.0.as_u128() ^ SCIM))
}

/// The subject of a role binding: a user or a group. Written `user:<id>` or
/// `group:<id>` in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Subject {
    User(UserId),
    Group(GroupId),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::User(u) => write!(f, "user:{u}"),
            Subject::Group(g) => write!(f, "group:{g}"),
        }
    }
}

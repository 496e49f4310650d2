//! rolebook's write side: the command service (authorize, decide, append with
//! optimistic concurrency and group commit, retry), and the credentials kept
//! outside the log (argon2id password hashes, hashed bearer tokens).

pub mod answers;
pub mod credentials;
pub mod secrets;
pub mod service;

pub use answers::{Answer, AnswerKey, Idempotency, Whole};
pub use credentials::Credentials;
pub use service::{
    CommandContext, CommandService, CreatedOrganization, CreatedUser, Outcome, ServiceError,
};

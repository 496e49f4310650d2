//! The client's errors as the port's: a wrong expected version is the
//! port's typed conflict (with the version the stream is at), everything
//! else a backend failure naming what was being done, with the client's
//! error as its source.

use domain::store::{ExpectedVersion, StoreError, StreamId};

use super::position;

/// `e`, raised while doing `context` on `stream` expecting `expected`.
pub fn store_error(
    e: kurrentdb::Error,
    context: &str,
    stream: &StreamId,
    expected: ExpectedVersion,
) -> StoreError {
    match e {
        kurrentdb::Error::WrongExpectedVersion { current, .. } => {
            StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                actual: position::current_version(&current),
            }
        }
        other => backend(other, context),
    }
}

/// `e` as a backend failure while doing `context`.
pub fn backend(e: kurrentdb::Error, context: &str) -> StoreError {
    StoreError::backend(format!("KurrentDB: {context}"), e)
}

/// Whether retrying may help (the connection, the leader, a deadline).
pub fn transient(e: &kurrentdb::Error) -> bool {
    matches!(
        e,
        kurrentdb::Error::ConnectionClosed
            | kurrentdb::Error::GrpcConnectionError(_)
            | kurrentdb::Error::NotLeaderException(_)
            | kurrentdb::Error::DeadlineExceeded
            | kurrentdb::Error::ServerError(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurrentdb::{CurrentRevision, StreamState};

    #[test]
    fn a_wrong_expected_version_is_the_ports_conflict_with_the_actual_version() {
        let s = StreamId::new("org-1");
        let e = kurrentdb::Error::WrongExpectedVersion {
            expected: StreamState::StreamRevision(2),
            current: CurrentRevision::Current(4),
        };
        assert_eq!(
            store_error(e, "append", &s, ExpectedVersion::Exact(3)),
            StoreError::WrongExpectedVersion {
                stream: s.clone(),
                expected: ExpectedVersion::Exact(3),
                actual: 5
            }
        );
        let e = kurrentdb::Error::WrongExpectedVersion {
            expected: StreamState::StreamRevision(0),
            current: CurrentRevision::NoStream,
        };
        assert!(matches!(
            store_error(e, "append", &s, ExpectedVersion::Exact(1)),
            StoreError::WrongExpectedVersion { actual: 0, .. }
        ));
    }

    #[test]
    fn other_errors_are_backend_failures_naming_the_operation() {
        let s = StreamId::new("org-1");
        let e = store_error(
            kurrentdb::Error::AccessDenied,
            "append to org-1",
            &s,
            ExpectedVersion::Any,
        );
        match e {
            StoreError::Backend { context, source } => {
                assert_eq!(context, "KurrentDB: append to org-1");
                assert_eq!(source.unwrap().to_string(), "Access denied error");
            }
            other => panic!("{other:?}"),
        }
        assert!(transient(&kurrentdb::Error::ConnectionClosed));
        assert!(transient(&kurrentdb::Error::DeadlineExceeded));
        assert!(!transient(&kurrentdb::Error::AccessDenied));
        assert!(!transient(&kurrentdb::Error::ResourceNotFound));
    }
}

//! Object storage: a local directory, or an S3-compatible bucket through
//! `object_store` (AWS S3 with region and keys; Google Cloud Storage
//! through its S3-compatible endpoint with HMAC keys; any endpoint URL).
//!
//! Writing a key again replaces the object whole: in a directory through a
//! temporary file renamed over it, in a bucket by one PUT (atomic in S3).
//! Requests are signed (SigV4); plain `http://` endpoints are accepted for
//! loopback addresses only (a local test server), anything else must be
//! `https://`. The secret key never appears in errors, logs or `Debug`
//! output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

/// Why an object could not be written or read, or a target not set up.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStorageError {
    /// The settings cannot make a target (empty bucket or keys, a plain
    /// `http://` endpoint that is not loopback, an unknown provider).
    #[error("invalid export target: {0}")]
    InvalidTarget(String),
    /// The bucket refused or could not be reached (after retries).
    #[error("cannot write or read {key}: {source}")]
    Request {
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    /// A directory target's file could not be written or read.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The bucket's flavour: how region and endpoint default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// AWS S3 (or any S3-compatible server given an endpoint).
    S3,
    /// Google Cloud Storage through `https://storage.googleapis.com` with
    /// HMAC keys.
    Gcs,
}

impl Provider {
    /// `s3` or `gcs`.
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "s3" => Some(Provider::S3),
            "gcs" => Some(Provider::Gcs),
            _ => None,
        }
    }
}

/// The endpoint of GCS's S3-compatible (XML) API.
pub const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

/// How to reach a bucket. `Debug` shows the secret as `***`.
#[derive(Clone)]
pub struct BucketSettings {
    pub provider: Provider,
    pub bucket: String,
    /// Keys go under it (no leading or trailing `/` needed).
    pub prefix: String,
    /// Default: `us-east-1` for S3, `auto` for GCS.
    pub region: Option<String>,
    /// Default: AWS's endpoint for the region, or [`GCS_ENDPOINT`].
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of a failed request (with backoff) before giving up.
    pub max_retries: usize,
}

impl fmt::Debug for BucketSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BucketSettings")
            .field("provider", &self.provider)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

impl BucketSettings {
    /// Settings with the defaults: 60 s per request, 3 retries.
    pub fn new(provider: Provider, bucket: &str, prefix: &str, key_id: &str, secret: &str) -> Self {
        BucketSettings {
            provider,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            region: None,
            endpoint: None,
            access_key_id: key_id.to_string(),
            secret_access_key: secret.to_string(),
            timeout: Duration::from_secs(60),
            max_retries: 3,
        }
    }
}

/// Whether `endpoint` is `http://` to a loopback host.
fn loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The object a connection test ([`Target::probe`]) writes.
pub const PROBE_KEY: &str = "rolebook-connection-test.txt";

/// Where objects go: a directory or a bucket (see the module doc).
#[derive(Clone)]
pub enum Target {
    Dir(PathBuf),
    Bucket {
        store: Arc<dyn ObjectStore>,
        bucket: String,
        prefix: String,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(""))
    }
}

impl Target {
    /// A local directory (created on the first write).
    pub fn dir(path: impl Into<PathBuf>) -> Target {
        Target::Dir(path.into())
    }

    /// A bucket. Fails with [`ObjectStorageError::InvalidTarget`] for an empty
    /// bucket name or keys, an `http://` endpoint that is not loopback, or
    /// settings `object_store` refuses.
    pub fn bucket(s: &BucketSettings) -> Result<Target, ObjectStorageError> {
        let invalid = |m: &str| ObjectStorageError::InvalidTarget(m.to_string());
        if s.bucket.trim().is_empty() {
            return Err(invalid("the bucket name is empty"));
        }
        if s.access_key_id.is_empty() || s.secret_access_key.is_empty() {
            return Err(invalid(
                "the bucket needs an access key id and a secret access key",
            ));
        }
        let endpoint = match (&s.endpoint, s.provider) {
            (Some(e), _) => Some(e.trim_end_matches('/').to_string()),
            (None, Provider::Gcs) => Some(GCS_ENDPOINT.to_string()),
            (None, Provider::S3) => None,
        };
        let region = s.region.clone().unwrap_or_else(|| match s.provider {
            Provider::S3 => "us-east-1".into(),
            Provider::Gcs => "auto".into(),
        });
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(&s.secret_access_key)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(s.timeout)
                    .with_connect_timeout(Duration::from_secs(10)),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: s.max_retries,
                retry_timeout: s.timeout * 3,
            });
        if let Some(e) = &endpoint {
            if e.starts_with("http://") {
                if !loopback_http(e) {
                    return Err(ObjectStorageError::InvalidTarget(format!(
                        "endpoint {e}: plain http is allowed for loopback addresses only; use https"
                    )));
                }
                b = b.with_allow_http(true);
            } else if !e.starts_with("https://") {
                return Err(ObjectStorageError::InvalidTarget(format!(
                    "endpoint {e}: expected an https:// URL"
                )));
            }
            b = b.with_endpoint(e);
        }
        // The builder's errors name settings, never the secret.
        let store = b
            .build()
            .map_err(|e| ObjectStorageError::InvalidTarget(format!("bucket {}: {e}", s.bucket)))?;
        Ok(Target::Bucket {
            store: Arc::new(store),
            bucket: s.bucket.clone(),
            prefix: s.prefix.trim_matches('/').to_string(),
        })
    }

    /// `s3://BUCKET/PREFIX` (with the other settings from `settings`, whose
    /// bucket and prefix it replaces), or a directory path.
    pub fn parse(
        out: &str,
        settings: Option<BucketSettings>,
    ) -> Result<Target, ObjectStorageError> {
        match out.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let mut s = settings.ok_or_else(|| {
                    ObjectStorageError::InvalidTarget(
                        "an s3:// target needs an access key id and a secret access key".into(),
                    )
                })?;
                s.bucket = bucket.to_string();
                s.prefix = prefix.trim_matches('/').to_string();
                Target::bucket(&s)
            }
            None if out.contains("://") => Err(ObjectStorageError::InvalidTarget(format!(
                "{out}: expected a directory or s3://BUCKET/PREFIX"
            ))),
            None => Ok(Target::dir(out)),
        }
    }

    fn full_key(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}/{key}")
        }
    }

    /// Where `key` is, for people: a path or `s3://bucket/prefix/key`.
    pub fn describe(&self, key: &str) -> String {
        match self {
            Target::Dir(d) => d.join(key).display().to_string(),
            Target::Bucket { bucket, prefix, .. } => {
                format!("s3://{bucket}/{}", Self::full_key(prefix, key))
            }
        }
    }

    /// Writes (or replaces) the object at `key`.
    ///
    /// Fails with [`ObjectStorageError::Io`] or
    /// [`ObjectStorageError::Request`].
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectStorageError> {
        match self {
            Target::Dir(dir) => {
                let path = dir.join(key);
                blocking(move || write_atomically(&path, &bytes)).await
            }
            Target::Bucket { store, prefix, .. } => {
                let location = ObjectPath::from(Self::full_key(prefix, key));
                store
                    .put(&location, PutPayload::from(bytes))
                    .await
                    .map_err(|source| ObjectStorageError::Request {
                        key: self.describe(key),
                        source: Box::new(source),
                    })?;
                Ok(())
            }
        }
    }

    /// A connection test: writes a small object at [`PROBE_KEY`] and reads
    /// it back; the place it wrote (`s3://…`). Fails like [`Target::put`]
    /// and [`Target::get`], or with [`ObjectStorageError::InvalidTarget`]
    /// when what it reads back is not what it wrote.
    pub async fn probe(&self) -> Result<String, ObjectStorageError> {
        let written = format!("rolebook connection test {}", uuid::Uuid::now_v7()).into_bytes();
        self.put(PROBE_KEY, written.clone()).await?;
        match self.get(PROBE_KEY).await? {
            Some(read) if read == written => Ok(self.describe(PROBE_KEY)),
            _ => Err(ObjectStorageError::InvalidTarget(format!(
                "{} was written but not read back the same",
                self.describe(PROBE_KEY)
            ))),
        }
    }

    /// Reads the object at `key`; `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectStorageError> {
        match self {
            Target::Dir(dir) => {
                let path = dir.join(key);
                blocking(move || match std::fs::read(&path) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(ObjectStorageError::Io {
                        context: format!("cannot read {}", path.display()),
                        source,
                    }),
                })
                .await
            }
            Target::Bucket { store, prefix, .. } => {
                let location = ObjectPath::from(Self::full_key(prefix, key));
                let failed = |source| ObjectStorageError::Request {
                    key: self.describe(key),
                    source: Box::new(source),
                };
                match store.get(&location).await {
                    Ok(r) => Ok(Some(r.bytes().await.map_err(failed)?.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(failed(e)),
                }
            }
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it
/// over `path`: readers see the old object or the new one, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ObjectStorageError> {
    use std::io::Write;
    let io = |context: String| move |source| ObjectStorageError::Io { context, source };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("cannot write {}", path.display())))?;
    Ok(())
}

/// Runs file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ObjectStorageError> + Send + 'static,
) -> Result<T, ObjectStorageError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ObjectStorageError::Io {
            context: "object storage task".into(),
            source: std::io::Error::other(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_be_plain_http() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
            "http://127.3.4.5",
        ] {
            assert!(loopback_http(ok), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:9000",
            "http://example.com",
            "https://127.0.0.1",
            "http://127.0.0.1.example.com",
        ] {
            assert!(!loopback_http(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = BucketSettings::new(Provider::S3, "b", "p", "AKIA", "very-secret");
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}

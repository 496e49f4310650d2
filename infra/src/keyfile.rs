//! Key files: 32 random bytes in a file of mode 0600 beside the databases,
//! created on first use. The server's sealing keys (bucket credentials,
//! kept answers) live in such files, never in a database.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;

/// Why a key file could not be used; the message names the file and what
/// to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{context} {path}")]
    Io {
        context: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds {len} bytes, not a 32-byte key: restore it from a backup (data sealed with it cannot be opened without it)")]
    WrongLength { path: String, len: usize },
}

/// Reads the key in `path`, or creates the file (0600, synced) with a new
/// random key. A file readable by others is made 0600 (with a warning).
pub fn load_or_create(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let fail = |context: &'static str| {
        let path = path.display().to_string();
        move |source| KeyFileError::Io {
            context,
            path,
            source,
        }
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            f.write_all(&key)
                .and_then(|_| f.sync_all())
                .map_err(fail("cannot write"))?;
            return Ok(key);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail("cannot create")(e)),
    }
    let mut f = std::fs::File::open(path).map_err(fail("cannot open"))?;
    let mode = f
        .metadata()
        .map_err(fail("cannot read"))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(file = %path.display(), "the key file was readable by others: made 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(fail("cannot restrict"))?;
    }
    let mut bytes = Vec::with_capacity(32);
    f.read_to_end(&mut bytes).map_err(fail("cannot read"))?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::WrongLength {
            path: path.display().to_string(),
            len: bytes.len(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.key");
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), first);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "made private again");
        std::fs::write(&path, b"short").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("5 bytes"), "{err}");
    }
}

//! Secret material: argon2id password hashes, temporary passwords and bearer
//! tokens. Nothing here touches the event log; only hashes are stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// Length of a temporary password (RBAC.md: 20 random characters).
pub const TEMPORARY_PASSWORD_LEN: usize = 20;
/// Shortest password a user may choose.
pub const MIN_PASSWORD_LEN: usize = 12;

/// A fresh temporary password: 20 random letters and digits from the OS RNG.
pub fn temporary_password() -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(TEMPORARY_PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// Hashes a password with argon2id (OWASP parameters: 19 MiB, 2 passes) and
/// a random salt, in PHC string form. CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters cannot fail")
        .to_string()
}

/// Whether `password` matches a PHC hash. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Why a chosen password is refused (`weak_password`).
pub fn check_password_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > 1024 {
        return Err("a password has at most 1024 bytes".to_string());
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 2 {
        return Err("mix at least two of: lower case, upper case, digits, symbols".to_string());
    }
    Ok(())
}

/// A new bearer token: 256 random bits, hex-encoded, with a `rb_` prefix so
/// that secret scanners recognise it.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("rb_{}", hex::encode(bytes))
}

/// The SHA-256 of a token: what the database keeps. Tokens carry 256 bits of
/// entropy, so a fast hash is enough (no brute force is possible).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_passwords_are_20_random_alphanumerics() {
        let a = temporary_password();
        let b = temporary_password();
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn argon2id_hash_verifies_only_the_right_password() {
        let h = hash_password("correct horse 1");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse 1", &h));
        assert!(!verify_password("correct horse 2", &h));
        assert!(!verify_password("correct horse 1", "not a hash"));
    }

    #[test]
    fn strength() {
        assert!(check_password_strength("short1A").is_err());
        assert!(check_password_strength("alllowercaseletters").is_err());
        assert!(check_password_strength("Lower and Upper").is_ok());
    }

    #[test]
    fn tokens_are_256_bit_and_hashed() {
        let t = new_token();
        assert_eq!(t.len(), 3 + 64);
        assert_eq!(token_hash(&t).len(), 32);
        assert_ne!(new_token(), t);
    }
}

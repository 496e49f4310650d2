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

/// The prefix of a temporary password's hash.
const TEMPORARY_PREFIX: &str = "$rb-temporary-sha256$";

/// Hashes a temporary password (one [`temporary_password`] made: 20 random
/// letters and digits, about 119 bits): SHA-256 over a random salt and the
/// password. A secret of that entropy cannot be guessed however fast the
/// hash, so it needs no slow one; argon2id stays for the passwords people
/// choose. Inviting 1,000 people then costs microseconds, not minutes.
pub fn hash_temporary_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    format!(
        "{TEMPORARY_PREFIX}{}${}",
        hex::encode(salt),
        hex::encode(salted_sha256(&salt, password))
    )
}

fn salted_sha256(salt: &[u8], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

/// Whether `password` matches a stored hash: an argon2id PHC string, or a
/// temporary password's ([`hash_temporary_password`]). A malformed hash
/// never matches. Checking a temporary password also pays one argon2id
/// verification, so that a login's timing does not tell whether the user
/// still has a temporary password.
pub fn verify_password(password: &str, stored: &str) -> bool {
    if let Some(rest) = stored.strip_prefix(TEMPORARY_PREFIX) {
        let matches = verify_temporary(password, rest);
        let _ = verify_argon2(password, &EQUAL_TIMING_HASH);
        return matches;
    }
    verify_argon2(password, stored)
}

fn verify_argon2(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn verify_temporary(password: &str, salt_and_digest: &str) -> bool {
    let Some((salt, digest)) = salt_and_digest.split_once('$') else {
        return false;
    };
    let (Ok(salt), Ok(digest)) = (hex::decode(salt), hex::decode(digest)) else {
        return false;
    };
    let actual = salted_sha256(&salt, password);
    // Constant time: every byte compared whatever the first difference.
    bool::from(subtle::ConstantTimeEq::ct_eq(
        digest.as_slice(),
        actual.as_slice(),
    ))
}

/// An argon2id hash of a random password nobody knows.
static EQUAL_TIMING_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&temporary_password()));

/// Spends what checking a password against an argon2id hash costs, for a
/// login that has no hash to check (an unknown user), so that its timing
/// does not tell whether the login exists.
pub fn spend_password_check(password: &str) {
    let _ = verify_argon2(password, &EQUAL_TIMING_HASH);
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
    fn temporary_hash_verifies_only_the_right_password() {
        let p = temporary_password();
        let h = hash_temporary_password(&p);
        assert!(h.starts_with(TEMPORARY_PREFIX));
        assert_ne!(h, hash_temporary_password(&p), "salted");
        assert!(verify_password(&p, &h));
        assert!(!verify_password(&temporary_password(), &h));
        assert!(!verify_password(&p, "$rb-temporary-sha256$zz$00"));
        assert!(!verify_password(&p, "$rb-temporary-sha256$"));
        // An argon2id hash is still checked as one.
        assert!(!verify_password(&p, &hash_password("another one 1")));
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

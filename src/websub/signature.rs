//! WebSub signatures: the `X-Hub-Signature` of a pushed body (`sha256=<hex HMAC>`) checked
//! against the subscription's secret in constant time, and the random secrets and callback
//! tokens themselves.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Random bytes in a callback token (hex: twice as many characters): 192 bits, unguessable.
pub const TOKEN_BYTES: usize = 24;
/// Random bytes in a subscription's secret (hex: twice as many characters; the spec allows
/// secrets under 200 bytes).
pub const SECRET_BYTES: usize = 32;

/// Why a push's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature` header.
    #[error("unsigned")]
    Missing,
    /// A header that is not `method=hex`, of a method the spec does not name, or an HMAC
    /// that does not match.
    #[error("bad signature")]
    Bad,
}

/// Checks `header` (the value of `X-Hub-Signature`, `sha256=…`; sha1, sha384 and sha512 are
/// taken too, as the spec allows) against the HMAC of `body` keyed with `secret`. The
/// comparison takes the same time wherever the values differ.
///
/// # Errors
/// [`SignatureError`] when the header is missing, malformed, or does not match.
pub fn verify(header: Option<&str>, secret: &str, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (method, hex) = header.trim().split_once('=').ok_or(SignatureError::Bad)?;
    let algorithm = match method.trim().to_ascii_lowercase().as_str() {
        "sha1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => hmac::HMAC_SHA256,
        "sha384" => hmac::HMAC_SHA384,
        "sha512" => hmac::HMAC_SHA512,
        _ => return Err(SignatureError::Bad),
    };
    let tag = from_hex(hex.trim()).ok_or(SignatureError::Bad)?;
    let key = hmac::Key::new(algorithm, secret.as_bytes());
    hmac::verify(&key, body, &tag).map_err(|_| SignatureError::Bad)
}

/// The `X-Hub-Signature` value of `body` signed with `secret` (sha256), as a hub sends it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", to_hex(hmac::sign(&key, body).as_ref()))
}

/// `n` random bytes from the system's generator, as lower-case hex.
///
/// # Panics
/// When the system has no random source (`getrandom` fails): nothing safe can be made then.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random generator works");
    to_hex(&bytes)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_the_spec_names_is_checked() {
        let body = b"<feed/>";
        let signed = |alg, name: &str| {
            let tag = hmac::sign(&hmac::Key::new(alg, b"s3cret"), body);
            format!("{name}={}", to_hex(tag.as_ref()))
        };
        for (alg, name) in [
            (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, "sha1"),
            (hmac::HMAC_SHA256, "sha256"),
            (hmac::HMAC_SHA384, "sha384"),
            (hmac::HMAC_SHA512, "sha512"),
        ] {
            let header = signed(alg, name);
            assert_eq!(verify(Some(&header), "s3cret", body), Ok(()), "{name}");
            assert_eq!(
                verify(Some(&header), "other", body),
                Err(SignatureError::Bad),
                "{name}"
            );
            assert_eq!(
                verify(Some(&header), "s3cret", b"<feed>x</feed>"),
                Err(SignatureError::Bad),
                "{name}"
            );
        }
        assert_eq!(verify(Some(&sign("k", body)), "k", body), Ok(()));
        assert_eq!(verify(None, "k", body), Err(SignatureError::Missing));
        for bad in [
            "",
            "sha256",
            "md5=00",
            "sha256=zz",
            "sha256=abc",
            "sha256=é",
        ] {
            assert_eq!(
                verify(Some(bad), "k", body),
                Err(SignatureError::Bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn random_values_differ_and_have_their_length() {
        let (a, b) = (random_hex(TOKEN_BYTES), random_hex(TOKEN_BYTES));
        assert_eq!(a.len(), 2 * TOKEN_BYTES);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}

//! Agents' pictures (docs/api.md, "Avatars"): what an upload must be, its
//! hash, and where it is served. The pictures themselves are in the store
//! (`agent_avatars`); the live directory knows each agent's hash only, so a
//! message names its agent's picture without a store query.

use sha2::{Digest, Sha256};

/// The largest picture accepted: 256 KiB.
pub const MAX_BYTES: usize = 256 * 1024;

/// The image types accepted, as `Content-Type` names them.
pub const TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

/// The type the bytes' signature (their first bytes) says they are, among
/// [`TYPES`]; `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The picture's hash: SHA-256 of its bytes, lower-case hex (64 digits).
pub fn hash(bytes: &[u8]) -> String {
    crate::webhooks::hex(&Sha256::digest(bytes))
}

/// Whether `text` can be a picture's hash (64 lower-case hex digits).
pub fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a picture is served, root-relative: a chat box resolves it against
/// the server's origin.
pub fn url(hash: &str) -> String {
    format!("/api/v1/avatars/{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_known_by_their_first_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(
            sniff(&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10]),
            Some("image/jpeg")
        );
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"GIF87a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), None);
        assert_eq!(sniff(b"\x89PNG"), None, "cut short");
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn a_hash_is_the_bytes_sha256_in_hex() {
        let h = hash(b"abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_hash(&h));
        assert!(!is_hash(&h.to_uppercase()));
        assert!(!is_hash(&h[1..]));
        assert!(!is_hash("../../etc/passwd"));
        assert_eq!(url(&h), format!("/api/v1/avatars/{h}"));
    }
}

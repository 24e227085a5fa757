//! Shape rules for identifiers that clients choose.

/// A group key or account slug: `[a-z0-9-]{1,64}`.
pub fn is_valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A plausible email address: one `@`, something on both sides, a dot in the
/// domain, no spaces or control characters, at most 254 bytes.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercase_ascii_digits_and_dashes_up_to_64() {
        assert!(is_valid_key("sales"));
        assert!(is_valid_key("eu-2"));
        assert!(is_valid_key(&"a".repeat(64)));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key(&"a".repeat(65)));
        assert!(!is_valid_key("Sales"));
        assert!(!is_valid_key("sales team"));
        assert!(!is_valid_key("ventes-é"));
        assert!(!is_valid_key("a_b"));
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(is_plausible_email("ann@example.com"));
        assert!(!is_plausible_email("ann"));
        assert!(!is_plausible_email("@example.com"));
        assert!(!is_plausible_email("ann@localhost"));
        assert!(!is_plausible_email("ann@@example.com"));
        assert!(!is_plausible_email("an n@example.com"));
        assert!(!is_plausible_email("ann@example.com."));
    }
}

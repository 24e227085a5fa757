//! Rate limits: visitor messages (at most 10 a minute per visitor token and
//! 60 a minute per client address) and logins (at most 30 attempts a minute
//! per client address; after 5 failed logins for one account and email within
//! 15 minutes, further attempts wait). See `docs/hardening.md`.
//!
//! Each key (a token's hash, an address) keeps the instants of its last `N`
//! accepted messages in a ring. A message is accepted when fewer than `N` were
//! accepted in the last minute, i.e. when the oldest of the last `N` is at
//! least a minute old: an exact sliding window, checked in O(1), and its
//! `Retry-After` is when that oldest one leaves the window.
//!
//! Keys live in sharded maps, each shard behind a std mutex held for one
//! lookup and never across an `.await`, so a flood from one visitor contends
//! with others only for those instants. Memory is bounded: a shard holds at
//! most `max_keys / SHARDS` keys; when it is full, keys idle for a whole
//! window are evicted (at most one sweep per shard per second, so the cost
//! stays amortised O(1)); when every key is active, a new key is refused until
//! one goes idle. Reaching that takes tens of thousands of addresses sending
//! within the same minute; keys already known are unaffected.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;

use crate::store::TokenHash;

/// Messages per window per visitor token.
pub const PER_TOKEN: usize = 10;
/// Messages per window per client address.
pub const PER_ADDRESS: usize = 60;
/// The window: one minute.
pub const WINDOW_MS: i64 = 60_000;
/// Keys each limiter remembers at most.
pub const MAX_KEYS: usize = 65_536;
/// Login attempts per window per client address.
pub const LOGINS_PER_ADDRESS: usize = 30;
/// Failed logins per account and email within [`FAILURE_WINDOW_MS`].
pub const FAILED_LOGINS: usize = 5;
/// The window of failed logins: 15 minutes.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60_000;

const SHARDS: usize = 64;
const SWEEP_EVERY_MS: i64 = 1_000;

/// A refusal: try again after this many whole seconds (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// The visitor-message limits of a server.
#[derive(Debug)]
pub struct RateLimiter {
    per_address: Windows<AddressKey>,
    per_token: Windows<TokenHash>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(PER_TOKEN, PER_ADDRESS, MAX_KEYS)
    }
}

impl RateLimiter {
    pub fn new(per_token: usize, per_address: usize, max_keys: usize) -> RateLimiter {
        RateLimiter {
            per_address: Windows::new(per_address, WINDOW_MS, max_keys),
            per_token: Windows::new(per_token, WINDOW_MS, max_keys),
        }
    }

    /// Counts one visitor message from `token` at `address` at `now`, or
    /// refuses it (counting nothing) when either limit is reached.
    pub fn check(
        &self,
        token: &TokenHash,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<(), RetryAfter> {
        let now = now.as_millisecond();
        let address = AddressKey::of(address);
        // Always the address shard first, then the token's: one order, no deadlock.
        let mut addresses = self.per_address.shard(&address);
        let mut tokens = self.per_token.shard(token);
        let wait = addresses
            .wait(&address, now, &self.per_address)
            .max(tokens.wait(token, now, &self.per_token));
        if wait > 0 {
            return Err(RetryAfter::of_ms(wait));
        }
        addresses.record(address, now, self.per_address.limit);
        tokens.record(*token, now, self.per_token.limit);
        Ok(())
    }

    /// Takes back a message counted at `at` that was not accepted after all
    /// (its write failed): only accepted messages count.
    pub fn release(&self, token: &TokenHash, address: IpAddr, at: Timestamp) {
        let at = at.as_millisecond();
        let address = AddressKey::of(address);
        let mut addresses = self.per_address.shard(&address);
        let mut tokens = self.per_token.shard(token);
        if let Some(ring) = addresses.keys.get_mut(&address) {
            ring.unpush(at);
        }
        if let Some(ring) = tokens.keys.get_mut(token) {
            ring.unpush(at);
        }
    }

    /// Keys remembered now (for tests of the memory bound).
    pub fn tracked(&self) -> (usize, usize) {
        (self.per_token.len(), self.per_address.len())
    }
}

impl RetryAfter {
    /// A wait of `wait` milliseconds, in whole seconds (at least 1).
    pub fn of_ms(wait: i64) -> RetryAfter {
        let seconds = u64::try_from(wait).unwrap_or(1).div_ceil(1000);
        RetryAfter(seconds.max(1))
    }
}

/// Which login a failure counts against: SHA-256 of the account's id and the
/// lower-cased email, whether or not an agent has that email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginKey(TokenHash);

impl LoginKey {
    pub fn of(account_id: &str, email: &str) -> LoginKey {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(account_id.as_bytes());
        hasher.update([0]);
        hasher.update(email.as_bytes());
        LoginKey(hasher.finalize().into())
    }

    /// The key's hash, for limiters that keep it elsewhere (Redis).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The login limits of a server (docs/hardening.md).
#[derive(Debug)]
pub struct LoginLimiter {
    per_address: Windows<AddressKey>,
    failures: Windows<TokenHash>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            per_address: Windows::new(LOGINS_PER_ADDRESS, WINDOW_MS, MAX_KEYS),
            failures: Windows::new(FAILED_LOGINS, FAILURE_WINDOW_MS, MAX_KEYS),
        }
    }
}

impl LoginLimiter {
    /// Counts one login attempt from `address` for `key`, or refuses it
    /// (counting nothing) when the address has made its attempts of the last
    /// minute or the key has failed too often in the last 15 minutes.
    pub fn attempt(
        &self,
        key: &LoginKey,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<(), RetryAfter> {
        let now = now.as_millisecond();
        let address = AddressKey::of(address);
        // Always the address shard first, then the key's: one order, no deadlock.
        let mut addresses = self.per_address.shard(&address);
        let failures = self
            .failures
            .shard(&key.0)
            .wait(&key.0, now, &self.failures);
        let wait = addresses
            .wait(&address, now, &self.per_address)
            .max(failures);
        if wait > 0 {
            return Err(RetryAfter::of_ms(wait));
        }
        addresses.record(address, now, self.per_address.limit);
        Ok(())
    }

    /// Records a failed login for `key`.
    pub fn failed(&self, key: &LoginKey, now: Timestamp) {
        let now = now.as_millisecond();
        let mut shard = self.failures.shard(&key.0);
        // A full shard of active keys has no room: the failure is not
        // remembered, which the address limit still bounds.
        if shard.wait(&key.0, now, &self.failures) == 0 || shard.keys.contains_key(&key.0) {
            shard.record(key.0, now, self.failures.limit);
        }
    }

    /// A successful login forgets the key's failures.
    pub fn succeeded(&self, key: &LoginKey) {
        self.failures.shard(&key.0).keys.remove(&key.0);
    }
}

/// An address as limited: IPv4 as is; IPv6 by its /64, the block one host or
/// home usually holds (limiting single v6 addresses would be no limit at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(u32),
    V6(u64),
}

impl AddressKey {
    pub fn of(address: IpAddr) -> AddressKey {
        match address {
            IpAddr::V4(v4) => AddressKey::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4.into()),
                None => AddressKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }

    /// The address as text: `192.0.2.1`, or the block as `2001:db8:1:2::/64`.
    pub fn key_text(&self) -> String {
        match *self {
            AddressKey::V4(v4) => Ipv4Addr::from(v4).to_string(),
            AddressKey::V6(block) => format!("{}/64", Ipv6Addr::from(u128::from(block) << 64)),
        }
    }
}

#[derive(Debug)]
struct Windows<K> {
    limit: usize,
    window_ms: i64,
    max_per_shard: usize,
    hasher: RandomState,
    shards: Box<[Mutex<Shard<K>>]>,
}

#[derive(Debug)]
struct Shard<K> {
    keys: HashMap<K, Ring>,
    next_sweep: i64,
}

/// The instants (ms) of a key's last `limit` accepted messages.
#[derive(Debug)]
struct Ring {
    times: Box<[i64]>,
    /// Where the next instant goes; once full, the oldest one.
    next: usize,
    len: usize,
}

impl<K: Hash + Eq + Copy> Windows<K> {
    fn new(limit: usize, window_ms: i64, max_keys: usize) -> Windows<K> {
        Windows {
            limit: limit.max(1),
            window_ms,
            max_per_shard: max_keys.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        keys: HashMap::new(),
                        next_sweep: i64::MIN,
                    })
                })
                .collect(),
        }
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, Shard<K>> {
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).keys.len())
            .sum()
    }
}

impl<K: Hash + Eq + Copy> Shard<K> {
    /// Milliseconds until `key` may send again; 0 when it may now.
    fn wait(&mut self, key: &K, now: i64, windows: &Windows<K>) -> i64 {
        if let Some(ring) = self.keys.get(key) {
            return ring.wait(now, windows.window_ms);
        }
        if self.keys.len() < windows.max_per_shard {
            return 0;
        }
        if now >= self.next_sweep {
            self.next_sweep = now.saturating_add(SWEEP_EVERY_MS);
            self.keys
                .retain(|_, ring| !ring.is_idle(now, windows.window_ms));
        }
        if self.keys.len() < windows.max_per_shard {
            0
        } else {
            // Full of active keys: come back when the sweep may have freed some.
            (self.next_sweep - now).max(1)
        }
    }

    fn record(&mut self, key: K, now: i64, limit: usize) {
        self.keys
            .entry(key)
            .or_insert_with(|| Ring {
                times: vec![0; limit].into_boxed_slice(),
                next: 0,
                len: 0,
            })
            .push(now);
    }
}

impl Ring {
    fn wait(&self, now: i64, window_ms: i64) -> i64 {
        if self.len < self.times.len() {
            return 0;
        }
        let oldest = self.times[self.next];
        (oldest.saturating_add(window_ms) - now).max(0)
    }

    fn push(&mut self, now: i64) {
        self.times[self.next] = now;
        self.next = (self.next + 1) % self.times.len();
        self.len = (self.len + 1).min(self.times.len());
    }

    /// Takes back the newest instant if it is `at`. When the ring was full,
    /// the instant it replaced had left the window already (else `at` would
    /// have been refused), so nothing that counts is lost.
    fn unpush(&mut self, at: i64) {
        let newest = (self.next + self.times.len() - 1) % self.times.len();
        if self.len > 0 && self.times[newest] == at {
            self.next = newest;
            self.len -= 1;
        }
    }

    /// No message within the window: forgetting the key changes nothing.
    fn is_idle(&self, now: i64, window_ms: i64) -> bool {
        let newest = self.times[(self.next + self.times.len() - 1) % self.times.len()];
        self.len == 0 || now.saturating_sub(newest) >= window_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_800_000_000_000 + ms).expect("a valid instant")
    }

    fn token(n: u8) -> TokenHash {
        [n; 32]
    }

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const OFFICE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn a_token_gets_ten_messages_in_any_minute_and_then_waits_for_the_oldest() {
        let limiter = RateLimiter::default();
        for second in 0..10 {
            assert_eq!(limiter.check(&token(1), HOME, at(second * 1000)), Ok(()));
        }
        // The oldest was at 0 s: the window frees a place at 60 s.
        assert_eq!(
            limiter.check(&token(1), HOME, at(20_000)),
            Err(RetryAfter(40))
        );
        assert_eq!(
            limiter.check(&token(1), HOME, at(59_001)),
            Err(RetryAfter(1))
        );
        assert_eq!(limiter.check(&token(1), HOME, at(60_000)), Ok(()));
        // Next free place: when the message of 1 s leaves the window.
        assert_eq!(
            limiter.check(&token(1), HOME, at(60_500)),
            Err(RetryAfter(1))
        );
        assert_eq!(limiter.check(&token(1), HOME, at(61_000)), Ok(()));
        // Another token is not affected.
        assert_eq!(limiter.check(&token(2), HOME, at(61_000)), Ok(()));
    }

    #[test]
    fn an_address_gets_sixty_messages_a_minute_whatever_the_tokens() {
        let limiter = RateLimiter::default();
        for n in 0..60 {
            let t = token(u8::try_from(n / 10).expect("small"));
            assert_eq!(limiter.check(&t, HOME, at(n * 100)), Ok(()), "message {n}");
        }
        assert_eq!(
            limiter.check(&token(200), HOME, at(6_000)),
            Err(RetryAfter(54))
        );
        assert_eq!(limiter.check(&token(200), OFFICE, at(6_000)), Ok(()));
    }

    #[test]
    fn a_refused_message_counts_against_neither_limit() {
        let limiter = RateLimiter::new(1, 2, MAX_KEYS);
        assert_eq!(limiter.check(&token(1), HOME, at(0)), Ok(()));
        // Refused by the token limit: the address keeps its second place.
        assert!(limiter.check(&token(1), HOME, at(1)).is_err());
        assert_eq!(limiter.check(&token(2), HOME, at(2)), Ok(()));
        assert!(limiter.check(&token(3), HOME, at(3)).is_err());
    }

    #[test]
    fn a_released_message_gives_its_place_back() {
        let limiter = RateLimiter::new(2, 60, MAX_KEYS);
        assert_eq!(limiter.check(&token(1), HOME, at(0)), Ok(()));
        assert_eq!(limiter.check(&token(1), HOME, at(1)), Ok(()));
        assert!(limiter.check(&token(1), HOME, at(2)).is_err());
        limiter.release(&token(1), HOME, at(1));
        assert_eq!(limiter.check(&token(1), HOME, at(3)), Ok(()));
        assert!(limiter.check(&token(1), HOME, at(4)).is_err());
        // Releasing what is not the newest changes nothing.
        limiter.release(&token(1), HOME, at(0));
        assert!(limiter.check(&token(1), HOME, at(5)).is_err());
    }

    #[test]
    fn ipv6_addresses_are_limited_by_their_64_block_and_mapped_v4_as_v4() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().expect("v6");
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("v6");
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().expect("v6");
        assert_eq!(AddressKey::of(a.into()), AddressKey::of(b.into()));
        assert_ne!(AddressKey::of(a.into()), AddressKey::of(c.into()));
        let mapped: Ipv6Addr = "::ffff:192.0.2.1".parse().expect("v6");
        assert_eq!(AddressKey::of(mapped.into()), AddressKey::of(HOME));
    }

    #[test]
    fn address_keys_read_as_the_address_or_its_64_block() {
        assert_eq!(AddressKey::of(HOME).key_text(), "192.0.2.1");
        let mapped: Ipv6Addr = "::ffff:192.0.2.1".parse().expect("v6");
        assert_eq!(AddressKey::of(mapped.into()).key_text(), "192.0.2.1");
        let v6: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("v6");
        assert_eq!(AddressKey::of(v6.into()).key_text(), "2001:db8:1:2::/64");
    }

    #[test]
    fn five_failed_logins_lock_that_email_for_fifteen_minutes_whatever_the_address() {
        let limiter = LoginLimiter::default();
        let key = LoginKey::of("account-1", "ann@acme.example");
        for n in 0..5 {
            assert_eq!(limiter.attempt(&key, HOME, at(n * 1000)), Ok(()));
            limiter.failed(&key, at(n * 1000));
        }
        // The first failure was at 0 s: it leaves the window at 15 min.
        assert_eq!(
            limiter.attempt(&key, OFFICE, at(5_000)),
            Err(RetryAfter(895))
        );
        assert!(
            limiter
                .attempt(&key, HOME, at(FAILURE_WINDOW_MS - 1))
                .is_err()
        );
        assert_eq!(limiter.attempt(&key, HOME, at(FAILURE_WINDOW_MS)), Ok(()));
        // Other emails, and the same email in another account, are not affected.
        let other = LoginKey::of("account-1", "bob@acme.example");
        assert_eq!(limiter.attempt(&other, HOME, at(5_000)), Ok(()));
        let elsewhere = LoginKey::of("account-2", "ann@acme.example");
        assert_eq!(limiter.attempt(&elsewhere, HOME, at(5_000)), Ok(()));
    }

    #[test]
    fn a_successful_login_forgets_the_failures() {
        let limiter = LoginLimiter::default();
        let key = LoginKey::of("account-1", "ann@acme.example");
        for n in 0..4 {
            limiter.failed(&key, at(n));
        }
        limiter.succeeded(&key);
        for n in 0..4 {
            limiter.failed(&key, at(10 + n));
        }
        assert_eq!(limiter.attempt(&key, HOME, at(20)), Ok(()));
    }

    #[test]
    fn an_address_gets_thirty_login_attempts_a_minute() {
        let limiter = LoginLimiter::default();
        for n in 0..30 {
            let key = LoginKey::of("account-1", &format!("n{n}@acme.example"));
            assert_eq!(
                limiter.attempt(&key, HOME, at(n * 10)),
                Ok(()),
                "attempt {n}"
            );
        }
        let key = LoginKey::of("account-1", "late@acme.example");
        assert_eq!(limiter.attempt(&key, HOME, at(1_000)), Err(RetryAfter(59)));
        assert_eq!(limiter.attempt(&key, OFFICE, at(1_000)), Ok(()));
        assert_eq!(limiter.attempt(&key, HOME, at(WINDOW_MS)), Ok(()));
    }

    #[test]
    fn memory_is_bounded_and_idle_keys_make_room() {
        // One key per shard at most.
        let limiter = RateLimiter::new(10, 60, SHARDS);
        let mut refused = 0;
        for n in 0..=255u8 {
            let address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
            if limiter.check(&token(n), address, at(0)).is_err() {
                refused += 1;
            }
        }
        let (tokens, addresses) = limiter.tracked();
        assert!(
            tokens <= SHARDS && addresses <= SHARDS,
            "{tokens} {addresses}"
        );
        assert!(refused > 0, "256 new keys cannot fit in 64 places");
        // A minute later every key is idle: new ones fit again.
        let late = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(limiter.check(&token(77), late, at(WINDOW_MS)), Ok(()));
        let (tokens, addresses) = limiter.tracked();
        assert!(tokens <= SHARDS && addresses <= SHARDS);
    }
}

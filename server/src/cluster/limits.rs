//! The rate limits of [`crate::limits`], held in Redis so that they hold
//! across the cluster rather than per node: ten messages a minute per
//! visitor token is ten in total, whichever nodes they reach.
//!
//! The semantics are those of the in-memory limiters: an exact sliding
//! window of the last `N` accepted instants per key; a refusal says when the
//! oldest of them leaves the window (in whole seconds, at least 1) and counts
//! against no limit.
//!
//! Each key is a sorted set of accepted instants (score: milliseconds;
//! member: `"<ms>-<random>"`, unique per attempt). One Lua script per
//! operation drops the instants that left the window, counts, compares, and
//! adds the new instant only when every limit involved accepts it, so the
//! check and the count are atomic across nodes. A set never holds more than
//! its limit and expires (`PEXPIRE`) one window after its newest instant.
//!
//! # The clock
//!
//! The scripts read the time from Redis (`redis.call('TIME')`), not from the
//! calling node: every node then measures the same windows even when their
//! clocks disagree, and one node's skewed clock cannot shorten or stretch
//! another node's window. Redis 5 and later replicate a script's effects
//! (the only mode from Redis 7), which is what allows `TIME` before writes.
//!
//! # Failures
//!
//! Every call gives up after [`CALL_TIMEOUT`] and returns a
//! [`LimitsError`]; the caller falls back to the node's in-memory limiter.
//! A broken connection is dropped and made again on the next call; after a
//! failed connection attempt, calls fail at once for [`RECONNECT_PAUSE`]
//! rather than each waiting on an unreachable Redis.
//!
//! All keys of one script are named in `KEYS`, but they do not share a hash
//! slot: this expects one Redis (with replicas), not a Redis Cluster.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script, ScriptInvocation};
use tokio::time::{Instant, timeout};

use crate::limits::{
    AddressKey, FAILED_LOGINS, FAILURE_WINDOW_MS, LOGINS_PER_ADDRESS, LoginKey, PER_ADDRESS,
    PER_TOKEN, RetryAfter, WINDOW_MS,
};
use crate::store::TokenHash;

/// The longest a call may take, connecting included.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection attempt, calls fail at once for this long.
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Checks windows and, when all accept, records the instant in the first
/// few. `KEYS`: the sets. `ARGV[1]`: a random suffix for the member;
/// `ARGV[2]`: how many of the keys (the first ones) record the instant;
/// then for each key its limit and its window (ms). Returns 0 when
/// accepted, else the milliseconds until every window has room.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then
  return wait
end
local member = string.format('%d-%s', now, ARGV[1])
for i = 1, tonumber(ARGV[2]) do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 + 2 * i]))
end
return 0
";

/// Removes from every key the members ending in `ARGV[1]` (a ticket).
const RELEASE: &str = r"
local removed = 0
for _, key in ipairs(KEYS) do
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.sub(member, -string.len(ARGV[1])) == ARGV[1] then
      removed = removed + redis.call('ZREM', key, member)
    end
  end
end
return removed
";

/// Records an instant in `KEYS[1]`, keeping the last `ARGV[2]` within the
/// window of `ARGV[3]` ms. `ARGV[1]`: a random suffix for the member.
const RECORD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, string.format('%d-%s', now, ARGV[1]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1))
redis.call('PEXPIRE', KEYS[1], window)
return 0
";

/// Why a cluster limit could not be checked; the caller falls back to the
/// in-memory limiter.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// The URL is not a usable `redis://` URL (the message never repeats
    /// the URL, which may hold a password).
    #[error("the rate-limit URL must be a redis:// URL: {0}")]
    InvalidUrl(String),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The last connection attempt failed moments ago; not retried yet.
    #[error("Redis was unreachable moments ago")]
    Unreachable,
    /// Redis refused the connection or the command, or the connection broke.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The cluster's rate limits, in one Redis. Cheap to clone: clones share
/// one connection.
#[derive(Clone)]
pub struct ClusterLimits {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The URL with any password replaced, for `Debug`.
    redacted_url: String,
    /// The connection in use, if any; the lock is held only to clone, set
    /// or clear it.
    connection: Mutex<Option<MultiplexedConnection>>,
    /// One connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
    /// Until when calls fail without trying to connect.
    pause_until: Mutex<Option<Instant>>,
    check: Script,
    release: Script,
    record: Script,
}

impl ClusterLimits {
    /// Limits kept in the Redis at `url`. Fails only when `url` is not a
    /// `redis://` URL: an unreachable Redis is tried again by later calls,
    /// which fail meanwhile.
    pub async fn connect(url: &str) -> Result<ClusterLimits, LimitsError> {
        let redacted_url = super::bus::check_url(url).map_err(|e| match e {
            super::bus::BusError::InvalidUrl(why) => LimitsError::InvalidUrl(why),
            other => LimitsError::InvalidUrl(other.to_string()),
        })?;
        let client =
            redis::Client::open(url).map_err(|e| LimitsError::InvalidUrl(e.to_string()))?;
        let limits = ClusterLimits {
            inner: Arc::new(Inner {
                client,
                redacted_url,
                connection: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                pause_until: Mutex::new(None),
                check: Script::new(CHECK),
                release: Script::new(RELEASE),
                record: Script::new(RECORD),
            }),
        };
        if let Err(error) = timeout(CALL_TIMEOUT, limits.connection()).await {
            tracing::warn!(url = %limits.inner.redacted_url, %error, "rate-limit Redis unreachable; retrying on use");
        }
        Ok(limits)
    }

    /// Counts one visitor message from `token` at `address`, or refuses it
    /// (counting nothing) when the token or the address has reached its
    /// limit: both windows are checked and counted in one script.
    pub async fn check_message(
        &self,
        token: &TokenHash,
        address: IpAddr,
    ) -> Result<Result<(), RetryAfter>, LimitsError> {
        self.check_message_as(token, address, &nonce()).await
    }

    /// As [`ClusterLimits::check_message`], counting the message under
    /// `ticket` (random), which [`ClusterLimits::release_message`] takes back.
    pub async fn check_message_as(
        &self,
        token: &TokenHash,
        address: IpAddr,
        ticket: &str,
    ) -> Result<Result<(), RetryAfter>, LimitsError> {
        let mut call = self.inner.check.prepare_invoke();
        call.key(message_token_key(token))
            .key(message_address_key(address))
            .arg(ticket)
            .arg(2)
            .arg(PER_TOKEN)
            .arg(WINDOW_MS)
            .arg(PER_ADDRESS)
            .arg(WINDOW_MS);
        self.verdict(&call).await
    }

    /// Takes back a message counted under `ticket` that was not accepted after
    /// all (its write failed): only accepted messages count.
    pub async fn release_message(
        &self,
        token: &TokenHash,
        address: IpAddr,
        ticket: &str,
    ) -> Result<(), LimitsError> {
        let mut call = self.inner.release.prepare_invoke();
        call.key(message_token_key(token))
            .key(message_address_key(address))
            .arg(format!("-{ticket}"));
        self.invoke::<i64>(&call).await.map(drop)
    }

    /// Counts one login attempt from `address` for `key`, or refuses it
    /// (counting nothing) when the address has made its attempts of the last
    /// minute or the key has failed too often in the last 15 minutes.
    pub async fn login_attempt(
        &self,
        key: &LoginKey,
        address: IpAddr,
    ) -> Result<Result<(), RetryAfter>, LimitsError> {
        let mut call = self.inner.check.prepare_invoke();
        call.key(format!(
            "onair:rl:login:addr:{}",
            AddressKey::of(address).key_text()
        ))
        .key(failures_key(key))
        .arg(nonce())
        .arg(1)
        .arg(LOGINS_PER_ADDRESS)
        .arg(WINDOW_MS)
        .arg(FAILED_LOGINS)
        .arg(FAILURE_WINDOW_MS);
        self.verdict(&call).await
    }

    /// Records a failed login for `key`.
    pub async fn login_failed(&self, key: &LoginKey) -> Result<(), LimitsError> {
        let mut call = self.inner.record.prepare_invoke();
        call.key(failures_key(key))
            .arg(nonce())
            .arg(FAILED_LOGINS)
            .arg(FAILURE_WINDOW_MS);
        self.invoke::<i64>(&call).await.map(drop)
    }

    /// A successful login forgets the key's failures.
    pub async fn login_succeeded(&self, key: &LoginKey) -> Result<(), LimitsError> {
        let key = failures_key(key);
        self.call(async |conn| redis::cmd("DEL").arg(key).query_async::<i64>(conn).await)
            .await
            .map(drop)
    }

    async fn verdict(
        &self,
        call: &ScriptInvocation<'_>,
    ) -> Result<Result<(), RetryAfter>, LimitsError> {
        let wait: i64 = self.invoke(call).await?;
        Ok(if wait > 0 {
            Err(RetryAfter::of_ms(wait))
        } else {
            Ok(())
        })
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        call: &ScriptInvocation<'_>,
    ) -> Result<T, LimitsError> {
        self.call(async |conn| call.invoke_async(conn).await).await
    }

    /// Runs `command` on the connection (made first if need be) within
    /// [`CALL_TIMEOUT`]; a connection that failed is dropped, so that the
    /// next call makes a new one.
    async fn call<T>(
        &self,
        command: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, LimitsError> {
        let result = timeout(CALL_TIMEOUT, async {
            let mut conn = self.connection().await?;
            Ok(command(&mut conn).await?)
        })
        .await
        .unwrap_or(Err(LimitsError::Timeout(CALL_TIMEOUT)));
        match &result {
            Err(LimitsError::Timeout(_)) => *lock(&self.inner.connection) = None,
            Err(LimitsError::Redis(e)) if !matches!(e.kind(), redis::ErrorKind::Server(_)) => {
                *lock(&self.inner.connection) = None;
            }
            _ => {}
        }
        result
    }

    async fn connection(&self) -> Result<MultiplexedConnection, LimitsError> {
        if let Some(conn) = lock(&self.inner.connection).as_ref() {
            return Ok(conn.clone());
        }
        let _connecting = self.inner.connecting.lock().await;
        // Another call may have connected meanwhile.
        if let Some(conn) = lock(&self.inner.connection).as_ref() {
            return Ok(conn.clone());
        }
        if lock(&self.inner.pause_until).is_some_and(|until| Instant::now() < until) {
            return Err(LimitsError::Unreachable);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT));
        // Pauses the attempts unless disarmed: also when the attempt is
        // cancelled by its call's timeout.
        let failed = PauseOnDrop(Some(&self.inner.pause_until));
        let conn = self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        failed.disarm();
        *lock(&self.inner.connection) = Some(conn.clone());
        Ok(conn)
    }
}

/// Sets the reconnection pause when dropped armed.
struct PauseOnDrop<'a>(Option<&'a Mutex<Option<Instant>>>);

impl PauseOnDrop<'_> {
    fn disarm(mut self) {
        if let Some(pause) = self.0.take() {
            *lock(pause) = None;
        }
    }
}

impl Drop for PauseOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(pause) = self.0 {
            *lock(pause) = Some(Instant::now() + RECONNECT_PAUSE);
        }
    }
}

impl fmt::Debug for ClusterLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterLimits")
            .field("url", &self.inner.redacted_url)
            .field("connected", &lock(&self.inner.connection).is_some())
            .finish_non_exhaustive()
    }
}

fn failures_key(key: &LoginKey) -> String {
    format!("onair:rl:login:fail:{}", hex(key.as_bytes()))
}

/// Makes a member unique when two attempts share a millisecond.
fn message_token_key(token: &TokenHash) -> String {
    format!("onair:rl:msg:tok:{}", hex(token))
}

fn message_address_key(address: IpAddr) -> String {
    format!("onair:rl:msg:addr:{}", AddressKey::of(address).key_text())
}

/// A random ticket for a counted message.
pub fn nonce() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Locks a mutex whose holders never panic while holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test]
    async fn the_calls_can_run_in_spawned_tasks() {
        let limits = ClusterLimits::connect("redis://127.0.0.1:1/")
            .await
            .expect("connect");
        let key = LoginKey::of("account-1", "ann@acme.example");
        let address = IpAddr::from([192, 0, 2, 1]);
        assert_send(&limits.check_message(&[1; 32], address));
        assert_send(&limits.login_attempt(&key, address));
        assert_send(&limits.login_failed(&key));
        assert_send(&limits.login_succeeded(&key));
    }

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
    }

    #[tokio::test]
    async fn only_redis_urls_and_no_password_in_debug() {
        for url in ["http://127.0.0.1:6379/", "127.0.0.1:6379", ""] {
            let error = ClusterLimits::connect(url).await.expect_err(url);
            assert!(
                matches!(error, LimitsError::InvalidUrl(_)),
                "{url}: {error:?}"
            );
        }
        // Nothing listens on port 1: connecting still succeeds, calls fail.
        let limits = ClusterLimits::connect("redis://onair:hunter2@127.0.0.1:1/")
            .await
            .expect("an unreachable Redis is not an error at start");
        let debug = format!("{limits:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("127.0.0.1:1"), "{debug}");
        let key = LoginKey::of("account-1", "ann@acme.example");
        let error = limits.login_failed(&key).await.expect_err("unreachable");
        assert!(
            !format!("{error} {error:?}").contains("hunter2"),
            "{error:?}"
        );
    }
}

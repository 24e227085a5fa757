//! The cluster-wide rate limits against a real `redis-server` of each test's
//! own (never the shared one on 6379): two `ClusterLimits` on one Redis play
//! two nodes. No test waits for a window to pass; they check the
//! Retry-After values instead.

mod common {
    pub(crate) mod redis;
}

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use onair_server::cluster::limits::{ClusterLimits, LimitsError};
use onair_server::limits::{
    FAILED_LOGINS, LOGINS_PER_ADDRESS, LoginKey, PER_ADDRESS, PER_TOKEN, RetryAfter,
};

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const OFFICE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
const CAFE: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));

fn token(n: u8) -> [u8; 32] {
    [n; 32]
}

/// Two nodes on one Redis.
async fn two_nodes(redis: &RedisServer) -> (ClusterLimits, ClusterLimits) {
    let a = ClusterLimits::connect(&redis.url()).await.expect("node a");
    let b = ClusterLimits::connect(&redis.url()).await.expect("node b");
    (a, b)
}

/// The node for the `n`th call: they take turns.
fn node(nodes: &(ClusterLimits, ClusterLimits), n: usize) -> &ClusterLimits {
    if n % 2 == 0 { &nodes.0 } else { &nodes.1 }
}

async fn message(
    limits: &ClusterLimits,
    token: &[u8; 32],
    address: IpAddr,
) -> Result<(), RetryAfter> {
    limits
        .check_message(token, address)
        .await
        .expect("Redis answers")
}

async fn attempt(
    limits: &ClusterLimits,
    key: &LoginKey,
    address: IpAddr,
) -> Result<(), RetryAfter> {
    limits
        .login_attempt(key, address)
        .await
        .expect("Redis answers")
}

/// A refusal whose Retry-After is about `seconds` (the test took a few).
#[track_caller]
fn assert_refused_for(result: Result<(), RetryAfter>, seconds: u64) {
    match result {
        Err(RetryAfter(s)) => assert!(
            (seconds.saturating_sub(5)..=seconds).contains(&s),
            "Retry-After {s}, expected about {seconds}"
        ),
        Ok(()) => panic!("accepted, expected a refusal for about {seconds} s"),
    }
}

#[tokio::test]
async fn a_token_gets_ten_messages_a_minute_across_the_cluster() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    for n in 0..PER_TOKEN {
        assert_eq!(
            message(node(&nodes, n), &token(1), HOME).await,
            Ok(()),
            "message {n}"
        );
    }
    assert_refused_for(message(&nodes.0, &token(1), HOME).await, 60);
    assert_refused_for(message(&nodes.1, &token(1), HOME).await, 60);
    // Whatever the address: the token is what is limited.
    assert_refused_for(message(&nodes.1, &token(1), OFFICE).await, 60);
    // Another token is not affected.
    assert_eq!(message(&nodes.0, &token(2), HOME).await, Ok(()));
    assert_eq!(message(&nodes.1, &token(2), HOME).await, Ok(()));
}

#[tokio::test]
async fn an_address_gets_sixty_messages_a_minute_across_the_cluster_whatever_the_tokens() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    for n in 0..PER_ADDRESS {
        let t = token(u8::try_from(n / 6).expect("small"));
        assert_eq!(
            message(node(&nodes, n), &t, HOME).await,
            Ok(()),
            "message {n}"
        );
    }
    assert_refused_for(message(&nodes.0, &token(200), HOME).await, 60);
    assert_refused_for(message(&nodes.1, &token(201), HOME).await, 60);
    assert_eq!(message(&nodes.0, &token(200), OFFICE).await, Ok(()));
}

#[tokio::test]
async fn ipv6_addresses_share_the_limit_of_their_64_block() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    for n in 0..PER_ADDRESS {
        let t = token(u8::try_from(n / 6).expect("small"));
        let host = u16::try_from(n).expect("small");
        let address = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, host, 0, 0, 1));
        assert_eq!(
            message(node(&nodes, n), &t, address).await,
            Ok(()),
            "message {n}"
        );
    }
    let same_block: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("v6");
    assert_refused_for(message(&nodes.0, &token(200), same_block).await, 60);
    let next_block: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
    assert_eq!(message(&nodes.1, &token(200), next_block).await, Ok(()));
}

#[tokio::test]
async fn a_refused_message_counts_against_neither_limit() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    for n in 0..PER_TOKEN {
        assert_eq!(message(node(&nodes, n), &token(1), HOME).await, Ok(()));
    }
    // Refused by the token limit, on both nodes: the address keeps its places.
    assert!(message(&nodes.0, &token(1), HOME).await.is_err());
    assert!(message(&nodes.1, &token(1), HOME).await.is_err());
    for n in PER_TOKEN..PER_ADDRESS {
        let t = token(u8::try_from(n / PER_TOKEN + 1).expect("small"));
        assert_eq!(
            message(node(&nodes, n), &t, HOME).await,
            Ok(()),
            "message {n} from the address"
        );
    }
    // Refused by the address limit: the new token keeps its places.
    assert_refused_for(message(&nodes.0, &token(99), HOME).await, 60);
    assert_refused_for(message(&nodes.1, &token(99), HOME).await, 60);
    for n in 0..PER_TOKEN {
        assert_eq!(
            message(node(&nodes, n), &token(99), OFFICE).await,
            Ok(()),
            "message {n} of the new token"
        );
    }
    assert_refused_for(message(&nodes.0, &token(99), OFFICE).await, 60);
}

#[tokio::test]
async fn concurrent_messages_on_two_nodes_are_counted_exactly() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    let mut tasks = Vec::new();
    for n in 0..40 {
        let limits = node(&nodes, n).clone();
        tasks.push(tokio::spawn(async move {
            limits.check_message(&token(7), HOME).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if task.await.expect("task").expect("Redis answers").is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, PER_TOKEN);
}

#[tokio::test]
async fn five_failed_logins_on_any_nodes_lock_the_key_everywhere_until_a_success() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    let key = LoginKey::of("account-1", "ann@acme.example");
    for n in 0..FAILED_LOGINS {
        assert_eq!(attempt(node(&nodes, n), &key, HOME).await, Ok(()));
        node(&nodes, n + 1)
            .login_failed(&key)
            .await
            .expect("Redis answers");
    }
    // The first failure leaves the window in 15 minutes, whatever the address.
    assert_refused_for(attempt(&nodes.0, &key, HOME).await, 900);
    assert_refused_for(attempt(&nodes.1, &key, HOME).await, 900);
    assert_refused_for(attempt(&nodes.1, &key, OFFICE).await, 900);
    // Other emails, and the same email in another account, are not affected.
    let other = LoginKey::of("account-1", "bob@acme.example");
    assert_eq!(attempt(&nodes.0, &other, HOME).await, Ok(()));
    let elsewhere = LoginKey::of("account-2", "ann@acme.example");
    assert_eq!(attempt(&nodes.1, &elsewhere, HOME).await, Ok(()));

    // A success on one node clears the failures for both.
    nodes.1.login_succeeded(&key).await.expect("Redis answers");
    assert_eq!(attempt(&nodes.0, &key, HOME).await, Ok(()));
    assert_eq!(attempt(&nodes.1, &key, HOME).await, Ok(()));
    // Four failures after it do not lock yet.
    for n in 0..FAILED_LOGINS - 1 {
        node(&nodes, n)
            .login_failed(&key)
            .await
            .expect("Redis answers");
    }
    assert_eq!(attempt(&nodes.0, &key, OFFICE).await, Ok(()));
    nodes.1.login_failed(&key).await.expect("Redis answers");
    assert_refused_for(attempt(&nodes.0, &key, OFFICE).await, 900);
}

#[tokio::test]
async fn an_address_gets_thirty_login_attempts_a_minute_across_the_cluster() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    for n in 0..LOGINS_PER_ADDRESS {
        let key = LoginKey::of("account-1", &format!("n{n}@acme.example"));
        assert_eq!(
            attempt(node(&nodes, n), &key, HOME).await,
            Ok(()),
            "attempt {n}"
        );
    }
    let key = LoginKey::of("account-1", "late@acme.example");
    assert_refused_for(attempt(&nodes.0, &key, HOME).await, 60);
    assert_refused_for(attempt(&nodes.1, &key, HOME).await, 60);
    assert_eq!(attempt(&nodes.0, &key, OFFICE).await, Ok(()));
}

#[tokio::test]
async fn a_refused_login_attempt_takes_none_of_the_address_attempts() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    let locked = LoginKey::of("account-1", "ann@acme.example");
    for n in 0..FAILED_LOGINS {
        node(&nodes, n)
            .login_failed(&locked)
            .await
            .expect("Redis answers");
    }
    for n in 0..10 {
        assert!(attempt(node(&nodes, n), &locked, CAFE).await.is_err());
    }
    // The ten refusals took none of the address's thirty attempts.
    for n in 0..LOGINS_PER_ADDRESS {
        let key = LoginKey::of("account-1", &format!("n{n}@acme.example"));
        assert_eq!(
            attempt(node(&nodes, n), &key, CAFE).await,
            Ok(()),
            "attempt {n}"
        );
    }
    let key = LoginKey::of("account-1", "late@acme.example");
    assert_refused_for(attempt(&nodes.0, &key, CAFE).await, 60);
}

/// Awaits `call`, which must end within a second.
async fn promptly<T>(call: impl Future<Output = Result<T, LimitsError>>) -> Result<T, LimitsError> {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "the call took {took:?}");
    result
}

#[tokio::test]
async fn a_stopped_redis_fails_calls_promptly_and_a_restarted_one_serves_again() {
    let mut redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    let key = LoginKey::of("account-1", "ann@acme.example");
    assert_eq!(message(&nodes.0, &token(1), HOME).await, Ok(()));
    assert_eq!(attempt(&nodes.1, &key, HOME).await, Ok(()));

    redis.stop();
    // Each call fails within a second: when the connection breaks, while
    // reconnecting is paused, and when reconnecting is tried again.
    for round in 0..5 {
        for limits in [&nodes.0, &nodes.1] {
            let verdict = promptly(limits.check_message(&token(1), HOME)).await;
            assert!(verdict.is_err(), "round {round}: {verdict:?}");
            let verdict = promptly(limits.login_attempt(&key, HOME)).await;
            assert!(verdict.is_err(), "round {round}: {verdict:?}");
            let failed = promptly(limits.login_failed(&key)).await;
            assert!(failed.is_err(), "round {round}");
            let succeeded = promptly(limits.login_succeeded(&key)).await;
            assert!(succeeded.is_err(), "round {round}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    for limits in [&nodes.0, &nodes.1] {
        loop {
            match limits.check_message(&token(2), OFFICE).await {
                Ok(verdict) => {
                    assert_eq!(verdict, Ok(()));
                    break;
                }
                Err(error) => assert!(
                    Instant::now() < deadline,
                    "still failing after the restart: {error}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Every kind of call works again (the restarted Redis knows no scripts).
    assert_eq!(attempt(&nodes.0, &key, HOME).await, Ok(()));
    nodes.1.login_failed(&key).await.expect("Redis answers");
    nodes.0.login_succeeded(&key).await.expect("Redis answers");
}

#[tokio::test]
async fn a_redis_that_stops_answering_fails_calls_promptly_and_serves_again_after() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    assert_eq!(message(&nodes.0, &token(1), HOME).await, Ok(()));
    let mut admin = redis.admin().await;
    let () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "2500", "ALL"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let paused = Instant::now();
    for n in 0..4 {
        let verdict = promptly(node(&nodes, n).check_message(&token(1), HOME)).await;
        assert!(verdict.is_err(), "call {n} during the pause: {verdict:?}");
    }
    assert!(paused.elapsed() < Duration::from_millis(2500));
    let deadline = Instant::now() + Duration::from_secs(10);
    while promptly(nodes.1.check_message(&token(1), HOME))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "still failing after the pause");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_server_that_never_answers_fails_calls_promptly() {
    // Accepts connections and holds them without a word.
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("redis://127.0.0.1:{port}/");
    let limits = promptly(ClusterLimits::connect(&url))
        .await
        .expect("connect");
    let key = LoginKey::of("account-1", "ann@acme.example");
    for round in 0..3 {
        let verdict = promptly(limits.check_message(&token(1), HOME)).await;
        assert!(verdict.is_err(), "round {round}: {verdict:?}");
        let verdict = promptly(limits.login_attempt(&key, HOME)).await;
        assert!(verdict.is_err(), "round {round}: {verdict:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_released_message_gives_its_place_back_on_every_node() {
    let redis = RedisServer::start();
    let nodes = two_nodes(&redis).await;
    for n in 0..PER_TOKEN - 1 {
        assert_eq!(message(node(&nodes, n), &token(7), HOME).await, Ok(()));
    }
    // The tenth is counted under a ticket, then its write fails: released.
    let ticket = onair_server::cluster::limits::nonce();
    let counted = nodes
        .0
        .check_message_as(&token(7), HOME, &ticket)
        .await
        .expect("Redis answers");
    assert_eq!(counted, Ok(()));
    nodes
        .1
        .release_message(&token(7), HOME, &ticket)
        .await
        .expect("Redis answers");
    // Its place is free again, on either node, and only that one.
    assert_eq!(message(&nodes.1, &token(7), HOME).await, Ok(()));
    assert_refused_for(message(&nodes.0, &token(7), HOME).await, 60);
}

//! Tests of the cluster harness itself: a fresh PostgreSQL database per test,
//! a Redis of the test's own, nodes sharing one database, and nginx in front
//! of several nodes.

use std::time::{Duration, Instant};

use onair_tests::cluster::{Cluster, LoadBalancer, NodeOptions, PgDatabase, RedisServer};
use onair_tests::*;
use reqwest::StatusCode;

fn operator() -> Options<'static> {
    Options {
        operator_token: Some(OPERATOR_TOKEN),
        ..Options::default()
    }
}

#[tokio::test]
async fn the_load_balancer_spreads_requests_over_the_nodes_and_streams_pass_unbuffered() {
    if !runs_with(
        "the_load_balancer_spreads_requests_over_the_nodes_and_streams_pass_unbuffered",
        &[Tool::Nginx],
    ) {
        return;
    }
    let (first_db, second_db) = (Database::new(), Database::new());
    let first = Server::start_with(&first_db, operator());
    let second = Server::start_with(&second_db, operator());
    let owner = first.create_account("a").await;
    second.create_account("b").await;
    let balancer = LoadBalancer::start(&[&first, &second]);

    // Only the first node knows `a`: over a few requests both answer.
    let mut answers = Vec::new();
    for _ in 0..10 {
        let (status, body) = balancer.get("/api/v1/accounts/a/status", None).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{status}: {body}; nginx logged:\n{}",
            balancer.error_log()
        );
        answers.push(status);
    }
    assert!(answers.contains(&StatusCode::OK), "{answers:?}");
    assert!(answers.contains(&StatusCode::NOT_FOUND), "{answers:?}");

    // A stream that lands on the first node.
    let path = "/api/v1/accounts/a/status/events";
    let mut stream = None;
    for _ in 0..10 {
        if let Ok(opened) = balancer.try_events(path).await {
            stream = Some(opened);
            break;
        }
    }
    let mut stream = stream.expect("a stream through nginx reaches the first node");
    assert_eq!(stream.expect("status").await.data["status"], "offline");

    first.set_status(&owner, "online").await;
    let changed = Instant::now();
    let online = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(event) = stream.next_event().await {
            if event.event == "status" && event.data["status"] == "online" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        online,
        Ok(true),
        "no `online` status through nginx within 2 s; nginx logged:\n{}",
        balancer.error_log()
    );
    assert!(changed.elapsed() < Duration::from_secs(2));
}

#[test]
fn redis_server_restarts_on_the_same_port() {
    let mut redis = RedisServer::start();
    assert!(redis.ping());
    let (port, url) = (redis.port(), redis.url());
    assert_eq!(url, format!("redis://127.0.0.1:{port}"));
    let pid = redis.pid();

    redis.stop();
    assert!(!redis.is_running());
    assert!(!redis.ping(), "a stopped Redis answers no PING");

    redis.restart();
    assert!(redis.ping());
    assert_eq!(redis.port(), port);
    assert_eq!(redis.url(), url);
    assert_ne!(redis.pid(), pid, "a new process");

    // Restarting a running one works too.
    redis.restart();
    assert!(redis.ping());
    drop(redis);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
        "a dropped Redis is gone"
    );
}

#[test]
fn a_fresh_postgres_database_is_created_and_dropped() {
    let database = PgDatabase::fresh();
    let name = database.name().to_owned();
    assert!(name.starts_with("onair_test_"), "{name}");
    assert!(
        database.url().ends_with(&format!("/{name}")),
        "{}",
        database.url()
    );
    assert!(PgDatabase::exists(&name), "{name} was not created");
    let other = PgDatabase::fresh();
    assert_ne!(other.name(), name);
    drop(database);
    assert!(!PgDatabase::exists(&name), "{name} was not dropped");
    assert!(PgDatabase::exists(other.name()));
}

#[tokio::test]
async fn nodes_on_one_fresh_postgres_database_start_together() {
    let database = PgDatabase::fresh();
    // PostgreSQL single nodes, no Redis: they share only the database, and
    // each runs the migration check at the same moment.
    let mut nodes = Cluster::start_with(
        3,
        &database,
        NodeOptions {
            operator_token: Some(OPERATOR_TOKEN),
            together: true,
            ..NodeOptions::default()
        },
    );
    assert_eq!(nodes.len(), 3);
    for node in &nodes {
        let (status, body) = node.get("/healthz", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // An account created through one node is loaded by another on first use.
    nodes[0].create_account("acme").await;
    let token = nodes[1]
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let me = nodes[1].get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["email"], owner_email("acme"), "{me}");

    for node in &mut nodes {
        node.stop();
        let log = node.finish_log();
        assert!(log.contains("listening on"), "{log}");
    }
}

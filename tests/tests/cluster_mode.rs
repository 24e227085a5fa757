//! The rules of cluster mode (docs/cluster.md) against real processes: two
//! or three `onair serve` nodes on one fresh PostgreSQL database and a
//! `redis-server` of the test's own, with faults injected (kill -9, SIGSTOP,
//! Redis restarted, database connections terminated).

use std::time::{Duration, Instant};

use onair_tests::cluster::{Cluster, PgDatabase, RedisServer};
use onair_tests::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const STATUS_EVENTS: &str = "/api/v1/accounts/acme/status/events";

struct Setup {
    database: PgDatabase,
    redis: RedisServer,
    nodes: Vec<Server>,
    /// The owner's token, issued by node 0.
    owner: String,
}

async fn cluster_of(n: usize) -> Setup {
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let nodes = Cluster::start(n, &database, &redis, &[]);
    let owner = nodes[0].create_account("acme").await;
    Setup {
        database,
        redis,
        nodes,
        owner,
    }
}

async fn patch_account(node: &Server, token: &str, body: Value) {
    let (status, answer) = node
        .request(Method::PATCH, "/api/v1/accounts/acme", Some(token), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The next `status` event within `within`, skipping keep-alives.
async fn next_status(stream: &mut Sse, within: Duration) -> Option<Value> {
    next_of(stream, "status", within).await
}

/// The next `typing` event's data within `within`.
async fn next_typing(stream: &mut Sse, within: Duration) -> Option<Value> {
    next_of(stream, "typing", within).await
}

/// The data of the next event named `kind` within `within`, skipping the others.
async fn next_of(stream: &mut Sse, kind: &str, within: Duration) -> Option<Value> {
    tokio::time::timeout(within, async {
        while let Some(event) = stream.next_event().await {
            if event.event == kind {
                return Some(event.data);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// Status streams on every node, each past its first snapshot (returned).
async fn status_streams(nodes: &[Server]) -> (Vec<Sse>, Vec<Value>) {
    let mut streams = Vec::new();
    let mut first = Vec::new();
    for node in nodes {
        let mut stream = node.events(STATUS_EVENTS).await;
        first.push(stream.expect("status").await.data);
        streams.push(stream);
    }
    (streams, first)
}

#[tokio::test]
async fn what_one_node_creates_is_usable_through_every_node_at_once() {
    let setup = cluster_of(3).await;
    let [n0, n1, n2] = &setup.nodes[..] else {
        unreachable!()
    };
    // The owner's token, issued by node 0, works on the others.
    for node in [n1, n2] {
        let me = node.get_ok("/api/v1/me", Some(&setup.owner)).await;
        assert_eq!(me["email"], owner_email("acme"));
    }
    // A login through node 1, an agent added through node 2, a setting
    // changed through node 0: each seen through another node at once.
    let second = n1.login_ok("acme", &owner_email("acme"), PASSWORD).await;
    let (status, body) = n2
        .request(
            Method::POST,
            "/api/v1/accounts/acme/agents",
            Some(&second),
            json!({"name": "Bob", "email": "bob@acme.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    n0.login_ok("acme", "bob@acme.example", PASSWORD).await;
    patch_account(n0, &setup.owner, json!({"name": "Acme Cluster"})).await;
    let account = n1.get_ok("/api/v1/accounts/acme", Some(&second)).await;
    assert_eq!(account["name"], "Acme Cluster");
    let agents = n2
        .get_ok("/api/v1/accounts/acme/agents", Some(&setup.owner))
        .await;
    assert_eq!(
        agents["agents"].as_array().map(Vec::len),
        Some(2),
        "{agents}"
    );
    let _ = &setup.database;
}

#[tokio::test]
async fn an_agents_picture_set_through_one_node_is_named_and_served_by_the_others() {
    let setup = cluster_of(2).await;
    let [n0, n1] = &setup.nodes[..] else {
        unreachable!()
    };
    // The agent's device streams from node 1; the picture goes through node 0.
    let mut device = n1
        .events(&format!("/api/v1/me/events?access_token={}", setup.owner))
        .await;
    let first = next_of(&mut device, "agent", SOON)
        .await
        .expect("event: agent");
    assert_eq!(first["avatar_url"], Value::Null);
    let response = n0
        .client
        .put(n0.url("/api/v1/me/avatar"))
        .bearer_auth(&setup.owner)
        .header("Content-Type", "image/png")
        .body(ONE_PIXEL_PNG)
        .send()
        .await
        .expect("PUT /me/avatar");
    assert_eq!(response.status(), StatusCode::OK);
    let agent: Value = response.json().await.expect("the agent");
    let url = agent["avatar_url"].as_str().expect("a picture").to_owned();

    // (Its own presence may be told first.)
    let told = tokio::time::timeout(SOON, async {
        while let Some(agent) = next_of(&mut device, "agent", SOON).await {
            if agent["avatar_url"] == url.as_str() {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        told,
        Ok(true),
        "the device on node 1 is told of the picture"
    );
    let me = n1.get_ok("/api/v1/me", Some(&setup.owner)).await;
    assert_eq!(me["avatar_url"], url.as_str());
    let served = n1.client.get(n1.url(&url)).send().await.expect("GET");
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.expect("bytes").as_ref(), ONE_PIXEL_PNG);
    // A reply through node 1 names it.
    n1.set_status(&setup.owner, "online").await;
    let id = start_conversation(n1, "visitor-token-pictures-0123456789", "Hi").await;
    let (status, reply) = n1
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&setup.owner),
            json!({"text": "Hello!"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["message"]["agent"]["avatar_url"], url.as_str());

    // Removed through node 1: node 0 has none either.
    let (status, _) = n1
        .request(
            Method::DELETE,
            "/api/v1/me/avatar",
            Some(&setup.owner),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = wait_for(SOON, || async {
        let me = n0.get_ok("/api/v1/me", Some(&setup.owner)).await;
        me["avatar_url"].is_null().then_some(())
    })
    .await;
    assert!(gone.is_some(), "node 0 still names the picture");
    let (status, _) = n0.get(&url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let _ = (&setup.database, &setup.redis);
}

#[tokio::test]
async fn a_status_change_reaches_streams_on_every_node_with_one_version_that_only_rises() {
    let mut setup = cluster_of(3).await;
    let (mut streams, first) = status_streams(&setup.nodes).await;
    let v0 = first[0]["version"].as_u64().expect("version");
    assert!(first.iter().all(|s| s["version"] == v0), "{first:?}");

    let mut last = v0;
    for (round, status) in ["online", "busy", "offline", "online"]
        .into_iter()
        .enumerate()
    {
        // Through a different node each time.
        let via = &setup.nodes[round % 3];
        via.set_status(&setup.owner, status).await;
        let changed = Instant::now();
        let mut versions = Vec::new();
        for (n, stream) in streams.iter_mut().enumerate() {
            let event = next_status(stream, Duration::from_secs(2))
                .await
                .unwrap_or_else(|| panic!("node {n} saw no change to {status}"));
            assert_eq!(event["status"], status, "node {n}");
            versions.push(event["version"].as_u64().expect("version"));
        }
        eprintln!("{status}: every node within {:?}", changed.elapsed());
        // The rule: every node within 500 ms of the change's answer.
        assert!(
            changed.elapsed() < Duration::from_millis(500),
            "the change took {:?} to reach every node",
            changed.elapsed()
        );
        assert!(versions.iter().all(|v| *v == versions[0]), "{versions:?}");
        assert!(
            versions[0] > last,
            "versions rise: {last} then {versions:?}"
        );
        last = versions[0];
    }
    // No duplicate or late extra event on any node.
    for stream in &mut streams {
        assert!(
            next_status(stream, Duration::from_millis(300))
                .await
                .is_none()
        );
    }

    // Versions rise across a restart of every node.
    for node in &mut setup.nodes {
        node.stop();
    }
    let nodes = Cluster::start(2, &setup.database, &setup.redis, &[]);
    let snapshot = nodes[1].get_ok("/api/v1/accounts/acme/status", None).await;
    let after_restart = snapshot["version"].as_u64().expect("version");
    assert!(after_restart >= last, "{last} → {after_restart}");
    let mut stream = nodes[0].events(STATUS_EVENTS).await;
    stream.expect("status").await;
    nodes[1].set_status(&setup.owner, "offline").await;
    let event = next_status(&mut stream, Duration::from_secs(2))
        .await
        .expect("a change after the restart");
    assert!(event["version"].as_u64().expect("version") > after_restart);
}

#[tokio::test]
async fn logout_through_one_node_ends_that_devices_streams_on_every_node_within_a_second() {
    let setup = cluster_of(3).await;
    let device = setup.nodes[1]
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let path = format!("/api/v1/me/events?access_token={device}");
    let mut on_one = setup.nodes[1].events(&path).await;
    let mut on_two = setup.nodes[2].events(&path).await;
    on_one.expect("agent").await;
    on_two.expect("agent").await;
    let (status, _) = setup.nodes[0]
        .request(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&device),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        on_one.ends_within(Duration::from_secs(1)).await,
        "node 1 kept the stream"
    );
    assert!(
        on_two.ends_within(Duration::from_secs(1)).await,
        "node 2 kept the stream"
    );
    let (status, _) = setup.nodes[2].get("/api/v1/me", Some(&device)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn grace_expiry_is_published_once_for_the_whole_cluster() {
    let setup = cluster_of(3).await;
    patch_account(&setup.nodes[0], &setup.owner, json!({"grace_seconds": 2})).await;
    let (mut streams, first) = status_streams(&setup.nodes).await;
    assert!(first.iter().all(|s| s["status"] == "offline"), "{first:?}");
    // A device that only sends requests: present for 2 s after the last one.
    setup.nodes[1].set_status(&setup.owner, "online").await;
    let mut online = Vec::new();
    for stream in &mut streams {
        let event = next_status(stream, Duration::from_secs(2))
            .await
            .expect("online");
        assert_eq!(event["status"], "online");
        online.push(event["version"].as_u64().expect("version"));
    }
    let offline = published_once(&mut streams, online[0], Duration::from_secs(5)).await;
    assert_eq!(offline["status"], "offline");
}

#[tokio::test]
async fn a_killed_node_loses_no_write_and_its_sessions_keep_their_grace() {
    let mut setup = cluster_of(3).await;
    patch_account(&setup.nodes[0], &setup.owner, json!({"grace_seconds": 4})).await;
    setup.nodes[0].set_status(&setup.owner, "online").await;
    // Two devices whose only sign of life is a stream on node 2: a phone
    // that will reconnect to node 1, a laptop that will not.
    let phone = setup.nodes[2]
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let laptop = setup.nodes[2]
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let mut phone_stream = setup.nodes[2]
        .events(&format!("/api/v1/me/events?access_token={phone}"))
        .await;
    phone_stream.expect("agent").await;
    let mut laptop_stream = setup.nodes[2]
        .events(&format!("/api/v1/me/events?access_token={laptop}"))
        .await;
    laptop_stream.expect("agent").await;
    // The owner's own session (node 0, requests only) must not count: log it out.
    let (status, _) = setup.nodes[0]
        .request(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&setup.owner),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // An acknowledged write through node 2 just before it dies.
    let (status, _) = setup.nodes[2]
        .request(
            Method::PATCH,
            "/api/v1/accounts/acme",
            Some(&phone),
            json!({"busy_message": "Back in a moment"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut chat_box = setup.nodes[0].events(STATUS_EVENTS).await;
    assert_eq!(chat_box.expect("status").await.data["status"], "online");
    setup.nodes[2].kill_9();
    let killed = Instant::now();
    drop((phone_stream, laptop_stream));
    // The phone reconnects through node 1 at once.
    let mut phone_again = setup.nodes[1]
        .events(&format!("/api/v1/me/events?access_token={phone}"))
        .await;
    phone_again.expect("agent").await;
    // No flap: online for the whole window in which the laptop's grace runs
    // out (membership timeout 10 s + grace 4 s).
    assert!(
        next_status(&mut chat_box, Duration::from_secs(17))
            .await
            .is_none(),
        "the chat box changed while a device was still present"
    );
    // The write is there.
    let account = setup.nodes[1]
        .get_ok("/api/v1/accounts/acme", Some(&phone))
        .await;
    assert_eq!(account["busy_message"], "Back in a moment");
    // Without the phone, the chat box goes offline by grace + 60 s.
    drop(phone_again);
    let offline = next_status(&mut chat_box, Duration::from_secs(4 + 60))
        .await
        .expect("offline once no device is present");
    assert_eq!(offline["status"], "offline", "{offline}");
    eprintln!("offline {:?} after the kill", killed.elapsed());
}

#[tokio::test]
async fn a_node_paused_past_the_membership_timeout_causes_no_flap() {
    let setup = cluster_of(2).await;
    let device = setup.nodes[1]
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let (status, _) = setup.nodes[0]
        .request(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&setup.owner),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    setup.nodes[1].set_status(&device, "online").await;
    wait_until_status(&setup.nodes[0], "online").await;
    let mut agent_stream = setup.nodes[1]
        .events(&format!("/api/v1/me/events?access_token={device}"))
        .await;
    agent_stream.expect("agent").await;
    let mut chat_box = setup.nodes[0].events(STATUS_EVENTS).await;
    assert_eq!(chat_box.expect("status").await.data["status"], "online");

    setup.nodes[1].signal("STOP");
    tokio::time::sleep(Duration::from_secs(13)).await;
    setup.nodes[1].signal("CONT");
    // The device's grace (120 s) covers the pause, and once the node is back
    // its stream counts again: nothing changes.
    assert!(
        next_status(&mut chat_box, Duration::from_secs(6))
            .await
            .is_none(),
        "the chat box flapped"
    );
    let me = setup.nodes[1].get_ok("/api/v1/me", Some(&device)).await;
    assert_eq!(me["available"], true);
}

#[tokio::test]
async fn redis_restarting_answers_503_meanwhile_and_delivery_comes_back_without_a_flap() {
    let mut setup = cluster_of(2).await;
    let mut chat_box = setup.nodes[0].events(STATUS_EVENTS).await;
    assert_eq!(chat_box.expect("status").await.data["status"], "offline");
    setup.nodes[1].set_status(&setup.owner, "online").await;
    let online = next_status(&mut chat_box, Duration::from_secs(2)).await;
    assert_eq!(online.expect("online")["status"], "online");

    setup.redis.stop();
    let unhealthy = wait_for(Duration::from_secs(15), || async {
        let (status, body) = setup.nodes[0].get("/healthz", None).await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await
    .expect("/healthz says 503 while Redis is down");
    assert_eq!(unhealthy["error"]["code"], "redis_unavailable");

    setup.redis.restart();
    let restarted = Instant::now();
    wait_for(Duration::from_secs(30), || async {
        let (status, _) = setup.nodes[0].get("/healthz", None).await;
        (status == StatusCode::OK).then_some(())
    })
    .await
    .expect("healthy again within 30 s");
    wait_for(Duration::from_secs(30), || async {
        let (status, _) = setup.nodes[1].get("/healthz", None).await;
        (status == StatusCode::OK).then_some(())
    })
    .await
    .expect("the other node too");
    assert!(
        next_status(&mut chat_box, Duration::from_millis(200))
            .await
            .is_none(),
        "the chat box flapped while Redis was away"
    );
    setup.nodes[1].set_status(&setup.owner, "busy").await;
    let event = next_status(&mut chat_box, Duration::from_secs(2))
        .await
        .expect("delivery is back");
    assert_eq!(event["status"], "busy");
    eprintln!(
        "delivery back {:?} after Redis restarted",
        restarted.elapsed()
    );
}

#[tokio::test]
async fn a_change_made_while_redis_was_down_reaches_the_other_node_when_it_is_back() {
    let mut setup = cluster_of(2).await;
    let mut chat_box = setup.nodes[0].events(STATUS_EVENTS).await;
    assert_eq!(chat_box.expect("status").await.data["status"], "offline");
    setup.redis.stop();
    // Through node 1 while no announcement can cross.
    setup.nodes[1].set_status(&setup.owner, "online").await;
    setup.redis.restart();
    let event = next_status(&mut chat_box, Duration::from_secs(30))
        .await
        .expect("the lost announcement is repaired from the store");
    assert_eq!(event["status"], "online");
}

#[tokio::test]
async fn a_node_whose_database_connections_are_killed_serves_again() {
    let setup = cluster_of(2).await;
    setup.database.terminate_connections();
    // The pool notices broken connections and opens new ones.
    let answered = wait_for(Duration::from_secs(10), || async {
        let (status, _) = setup.nodes[0]
            .request(
                Method::PUT,
                "/api/v1/me/status",
                Some(&setup.owner),
                json!({"status": "online"}),
            )
            .await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
    assert!(
        answered.is_some(),
        "the node did not recover its database connection"
    );
    let snapshot = setup.nodes[1]
        .get_ok("/api/v1/accounts/acme/status", None)
        .await;
    assert_eq!(snapshot["status"], "online");
}

#[tokio::test]
async fn a_conversation_across_nodes_skips_and_repeats_nothing() {
    let setup = cluster_of(2).await;
    let [n0, n1] = &setup.nodes[..] else {
        unreachable!()
    };
    n0.set_status(&setup.owner, "online").await;
    let visitor = "visitor-token-0123456789abcdef";
    let id = start_conversation(n0, visitor, "Hello from the shop").await;
    // The visitor's stream is on node 0; the agent answers through node 1.
    let path = format!("/api/v1/accounts/acme/conversations/{id}/events?visitor_token={visitor}");
    let mut visitor_stream = n0.events(&path).await;
    let mut agent_stream = n0
        .events(&format!("/api/v1/me/events?access_token={}", setup.owner))
        .await;
    let mut texts = Vec::new();
    let first = messages(&mut visitor_stream, 1).await;
    texts.extend(first);
    for n in 0..5 {
        let (status, body) = n1
            .request(
                Method::POST,
                &format!("/api/v1/conversations/{id}/messages"),
                Some(&setup.owner),
                json!({"text": format!("reply {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    texts.extend(messages(&mut visitor_stream, 5).await);
    assert_eq!(
        texts,
        [
            "Hello from the shop",
            "reply 0",
            "reply 1",
            "reply 2",
            "reply 3",
            "reply 4"
        ]
    );
    // Nothing more (no repeat), and the agent stream on node 0 got each reply once.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), messages(&mut visitor_stream, 1))
            .await
            .is_err(),
        "a message was repeated"
    );
    let mut replies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while replies.len() < 5 && Instant::now() < deadline {
        let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(500), agent_stream.next_event()).await
        else {
            continue;
        };
        if event.event == "message" && event.data["author"] == "agent" {
            replies.push(event.data["text"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(
        replies,
        ["reply 0", "reply 1", "reply 2", "reply 3", "reply 4"]
    );
}

#[tokio::test]
async fn typing_crosses_nodes_both_ways_and_each_node_passes_on_one_a_second() {
    let setup = cluster_of(2).await;
    let [n0, n1] = &setup.nodes[..] else {
        unreachable!()
    };
    n0.set_status(&setup.owner, "online").await;
    let visitor = "visitor-token-typing-0123456789";
    let id = start_conversation(n0, visitor, "Hello").await;
    let path = format!("/api/v1/accounts/acme/conversations/{id}/events?visitor_token={visitor}");
    let mut visitor_stream = n0.events(&path).await;
    let mut agent_stream = n1
        .events(&format!("/api/v1/me/events?access_token={}", setup.owner))
        .await;
    assert_eq!(messages(&mut visitor_stream, 1).await, ["Hello"]);

    // The agent types through node 1; the visitor's stream on node 0 hears it.
    let agent_types = || async {
        let (status, body) = n1
            .request(
                Method::POST,
                &format!("/api/v1/conversations/{id}/typing"),
                Some(&setup.owner),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    };
    agent_types().await;
    let typing = next_typing(&mut visitor_stream, SOON)
        .await
        .expect("typing on node 0");
    assert_eq!(
        typing,
        json!({"conversation_id": id, "author": "agent", "name": "Olga Owner"})
    );
    // The visitor types through node 0, twice at once, and once through node 1: node 1's
    // agent stream hears one of them.
    for node in [n0, n0, n1] {
        let (status, body) = node
            .request(
                Method::POST,
                &format!("/api/v1/accounts/acme/conversations/{id}/typing"),
                None,
                json!({"visitor_token": visitor}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let typing = next_typing(&mut agent_stream, SOON)
        .await
        .expect("typing on node 1");
    assert_eq!(typing["author"], "visitor");
    assert_eq!(
        next_typing(&mut agent_stream, Duration::from_millis(400)).await,
        None,
        "more than one a second"
    );
    // Never stored: the conversation holds its one message on both nodes.
    for node in [n0, n1] {
        let conversation = node
            .get_ok(&format!("/api/v1/conversations/{id}"), Some(&setup.owner))
            .await;
        assert_eq!(conversation["messages"].as_array().map(Vec::len), Some(1));
    }
}

#[tokio::test]
async fn the_busy_reply_is_sent_once_for_the_whole_cluster() {
    let setup = cluster_of(3).await;
    patch_account(
        &setup.nodes[0],
        &setup.owner,
        json!({"busy_after_seconds": 1}),
    )
    .await;
    setup.nodes[0].set_status(&setup.owner, "online").await;
    let visitor = "visitor-token-abcdef0123456789";
    let id = start_conversation(&setup.nodes[2], visitor, "Anyone there?").await;
    let bots = || async {
        let conversation = setup.nodes[1]
            .get_ok(&format!("/api/v1/conversations/{id}"), Some(&setup.owner))
            .await;
        conversation["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["author"] == "bot")
            .count()
    };
    // Due a second after the message, on every node's timer.
    wait_for(Duration::from_secs(5), || async {
        (bots().await > 0).then_some(())
    })
    .await
    .expect("a busy reply within 5 s");
    // Every node's timer has had its turn by now; still one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(bots().await, 1);
}

/// Starts a conversation through `node` as `visitor`; its id.
async fn start_conversation(node: &Server, visitor: &str, text: &str) -> String {
    let (status, started) = node
        .request(
            Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": visitor, "text": text}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// The one change time brings, as every node's stream receives it: the same
/// snapshot with the version one above `before` everywhere, and nothing after.
async fn published_once(streams: &mut [Sse], before: u64, within: Duration) -> Value {
    let mut seen = Vec::new();
    for (n, stream) in streams.iter_mut().enumerate() {
        let event = next_status(stream, within)
            .await
            .unwrap_or_else(|| panic!("node {n} saw no change within {within:?}"));
        seen.push(event);
    }
    assert!(
        seen.iter()
            .all(|event| event["version"].as_u64() == Some(before + 1)),
        "one change is one version on every node: {before} then {seen:?}"
    );
    assert!(seen.iter().all(|event| *event == seen[0]), "{seen:?}");
    for stream in streams.iter_mut() {
        assert!(
            next_status(stream, Duration::from_millis(1500))
                .await
                .is_none(),
            "a second publication"
        );
    }
    seen.swap_remove(0)
}

/// Waits until `node` says the site is `status` (a change through another
/// node reaches it within moments).
async fn wait_until_status(node: &Server, status: &str) {
    let reached = wait_for(Duration::from_secs(2), || async {
        let (_, snapshot) = node.get("/api/v1/accounts/acme/status", None).await;
        (snapshot["status"] == status).then_some(())
    })
    .await;
    assert!(reached.is_some(), "{} never said {status}", node.base);
}

/// The texts of the next `n` message events.
async fn messages(stream: &mut Sse, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < n {
        let Some(event) = tokio::time::timeout(SOON, stream.next_event())
            .await
            .ok()
            .flatten()
        else {
            break;
        };
        if event.event == "message" {
            texts.push(event.data["text"].as_str().unwrap_or_default().to_owned());
        }
    }
    texts
}

/// Polls `check` every 100 ms until it gives a value or `within` passes.
async fn wait_for<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rate_limits_hold_for_the_whole_cluster_not_per_node() {
    let setup = cluster_of(2).await;
    setup.nodes[0].set_status(&setup.owner, "online").await;
    let visitor = "visitor-token-limits-0123456789";
    let id = start_conversation(&setup.nodes[0], visitor, "message 1").await;
    let path = format!("/api/v1/accounts/acme/conversations/{id}/messages");
    // Messages 2 to 10, alternating nodes: all accepted.
    for n in 2..=10 {
        let node = &setup.nodes[n % 2];
        let (status, body) = node
            .request(
                Method::POST,
                &path,
                None,
                json!({"visitor_token": visitor, "text": format!("message {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "message {n}: {body}");
    }
    // The 11th is refused on either node.
    for node in &setup.nodes {
        let (status, body) = node
            .request(
                Method::POST,
                &path,
                None,
                json!({"visitor_token": visitor, "text": "11"}),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "rate_limited");
    }

    // Five failed logins spread over the nodes lock the email on both.
    for n in 0..5 {
        let (status, _) = setup.nodes[n % 2]
            .login("acme", &owner_email("acme"), "wrong password")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for node in &setup.nodes {
        let (status, body) = node.login("acme", &owner_email("acme"), PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "too_many_attempts");
    }
}

#[tokio::test]
async fn healthz_answers_503_while_the_database_refuses_connections() {
    let setup = cluster_of(2).await;
    let (status, _) = setup.nodes[0].get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    setup.database.refuse_connections(true);
    setup.database.terminate_connections();
    let down = wait_for(Duration::from_secs(15), || async {
        let (status, body) = setup.nodes[0].get("/healthz", None).await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await
    .expect("/healthz says 503 while the database refuses connections");
    assert_eq!(down["error"]["code"], "database_unavailable");
    setup.database.refuse_connections(false);
    wait_for(Duration::from_secs(15), || async {
        let (status, _) = setup.nodes[0].get("/healthz", None).await;
        (status == StatusCode::OK).then_some(())
    })
    .await
    .expect("healthy again once the database takes connections");
    setup.nodes[0].set_status(&setup.owner, "online").await;
}

#[tokio::test]
async fn an_office_hours_boundary_is_published_once_for_the_whole_cluster() {
    let setup = cluster_of(3).await;
    // Office hours (UTC) that close at the next whole minute, then the agent online.
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let next = now
        .round(
            jiff::ZonedRound::new()
                .smallest(jiff::Unit::Minute)
                .mode(jiff::RoundMode::Ceil),
        )
        .expect("round");
    // At least 10 s ahead, so the streams are open before it passes.
    let next = if next.duration_since(&now) < jiff::SignedDuration::from_secs(10) {
        next + jiff::SignedDuration::from_secs(60)
    } else {
        next
    };
    let close = if next.day() != now.day() {
        "24:00".to_owned()
    } else {
        format!("{:02}:{:02}", next.hour(), next.minute())
    };
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [usize::try_from(now.weekday().to_monday_zero_offset()).expect("weekday")];
    let spec = json!({
        "enabled": true,
        "timezone": "UTC",
        "weekly": { weekday: [{"from": "00:00", "to": close}] },
        "exceptions": [],
    });
    let (status, body) = setup.nodes[0]
        .request(
            Method::PUT,
            "/api/v1/accounts/acme/office-hours",
            Some(&setup.owner),
            spec,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    setup.nodes[1].set_status(&setup.owner, "online").await;
    for node in &setup.nodes {
        wait_until_status(node, "online").await;
    }
    let (mut streams, first) = status_streams(&setup.nodes).await;
    let online_version = first[0]["version"].as_u64().expect("version");
    assert!(
        first.iter().all(|s| s["version"] == online_version),
        "{first:?}"
    );
    let closed = published_once(&mut streams, online_version, Duration::from_secs(75)).await;
    assert_eq!(closed["status"], "offline");
    assert_eq!(closed["reason"], "outside_office_hours");
}

#[tokio::test]
async fn a_subscription_killed_in_redis_comes_back_and_repairs_what_it_missed() {
    let setup = cluster_of(2).await;
    let mut chat_box = setup.nodes[0].events(STATUS_EVENTS).await;
    assert_eq!(chat_box.expect("status").await.data["status"], "offline");
    // Every pub/sub connection dropped by Redis, then a change at once,
    // while node 0 may not be subscribed yet.
    let killed = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &setup.redis.port().to_string(),
            "CLIENT",
            "KILL",
            "TYPE",
            "pubsub",
        ])
        .output()
        .expect("redis-cli");
    assert!(killed.status.success(), "{killed:?}");
    setup.nodes[1].set_status(&setup.owner, "online").await;
    let event = next_status(&mut chat_box, Duration::from_secs(30))
        .await
        .expect("the change reaches node 0 once it has resubscribed");
    assert_eq!(event["status"], "online");
    assert!(
        next_status(&mut chat_box, Duration::from_millis(500))
            .await
            .is_none(),
        "no repeat"
    );
}

/// A subscription that goes silent without closing (`CLIENT PAUSE … WRITE`
/// holds every PUBLISH, the nodes' probes included, while connections stay
/// open): `/healthz` answers 503 meanwhile, and afterwards delivery comes
/// back, the change made during the silence included, without a flap.
#[tokio::test]
async fn a_silent_subscription_answers_503_and_delivery_comes_back_without_a_flap() {
    let setup = cluster_of(2).await;
    let mut chat_box = setup.nodes[0].events(STATUS_EVENTS).await;
    assert_eq!(chat_box.expect("status").await.data["status"], "offline");
    setup.nodes[1].set_status(&setup.owner, "online").await;
    let online = next_status(&mut chat_box, Duration::from_secs(2)).await;
    assert_eq!(online.expect("online")["status"], "online");

    let paused = std::process::Command::new("redis-cli")
        .args(["-p", &setup.redis.port().to_string()])
        .args(["CLIENT", "PAUSE", "12000", "WRITE"])
        .output()
        .expect("run redis-cli");
    assert!(paused.status.success(), "{paused:?}");
    let silent = Instant::now();
    let unhealthy = wait_for(Duration::from_secs(11), || async {
        let (status, body) = setup.nodes[0].get("/healthz", None).await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await
    .expect("/healthz says 503 while the subscription is silent");
    assert_eq!(unhealthy["error"]["code"], "redis_unavailable");
    eprintln!(
        "503 {:?} after the subscription went silent",
        silent.elapsed()
    );
    // A change while no announcement can cross: stored, and repaired later.
    setup.nodes[1].set_status(&setup.owner, "busy").await;

    let event = next_status(&mut chat_box, Duration::from_secs(30 + 12))
        .await
        .expect("the change made during the silence arrives");
    assert_eq!(event["status"], "busy", "no flap: online, then busy");
    eprintln!(
        "delivery back {:?} after the silence began",
        silent.elapsed()
    );
    wait_for(Duration::from_secs(30), || async {
        let (status, _) = setup.nodes[0].get("/healthz", None).await;
        (status == StatusCode::OK).then_some(())
    })
    .await
    .expect("healthy again");
    assert!(
        next_status(&mut chat_box, Duration::from_millis(300))
            .await
            .is_none(),
        "nothing more: no repeat, no flap"
    );
}

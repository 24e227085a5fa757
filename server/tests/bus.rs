//! The cluster bus against real `redis-server` processes: each test starts
//! its own on a free port (never the shared one on 6379), and stops,
//! restarts, kills connections of or cuts the network to it.

mod common {
    pub(crate) mod redis;
}

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use onair_server::cluster::bus::{Bus, BusError, BusEvent, BusHealth, BusOptions};
use tokio::sync::{mpsc, watch};

/// Short timings, so that a silent subscription is noticed in about a second.
fn options() -> BusOptions {
    BusOptions {
        probe_every: Duration::from_millis(200),
        probe_timeout: Duration::from_secs(1),
        reconnect_after: Duration::from_millis(500),
        ..BusOptions::default()
    }
}

/// The next event, or a panic naming `what` after `within`.
async fn next_event(rx: &mut mpsc::Receiver<BusEvent>, within: Duration, what: &str) -> BusEvent {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the bus ended while waiting for {what}"),
        Err(_) => panic!("no event within {within:?} while waiting for {what}"),
    }
}

/// Skips events until a `Resync`.
async fn wait_resync(rx: &mut mpsc::Receiver<BusEvent>, within: Duration, what: &str) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if next_event(rx, left, what).await == BusEvent::Resync {
            return;
        }
    }
}

/// Skips `Resync`s until a message, which must be the expected one.
async fn expect_message(rx: &mut mpsc::Receiver<BusEvent>, channel: &str, payload: &[u8]) {
    loop {
        match next_event(rx, Duration::from_secs(10), channel).await {
            BusEvent::Resync => continue,
            BusEvent::Message {
                channel: got,
                payload: body,
            } => {
                assert_eq!(
                    (got.as_str(), &body[..]),
                    (channel, payload),
                    "unexpected message"
                );
                return;
            }
        }
    }
}

fn message(channel: &str, payload: &[u8]) -> BusEvent {
    BusEvent::Message {
        channel: channel.to_owned(),
        payload: bytes::Bytes::copy_from_slice(payload),
    }
}

async fn wait_health(bus: &Bus, want: BusHealth, within: Duration) {
    let deadline = Instant::now() + within;
    while bus.health() != want {
        assert!(
            Instant::now() < deadline,
            "health is not {want:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes until it works: right after a restart the bus's publishing
/// connection may still be the dead one (the first attempt then fails and
/// drops it).
async fn publish(bus: &Bus, channel: &str, payload: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match bus.publish(channel, payload).await {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                eprintln!("publish failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("publish failed: {e}"),
        }
    }
}

async fn start(url: &str, node: &str, channels: &[&str]) -> (Arc<Bus>, mpsc::Receiver<BusEvent>) {
    Bus::start(url, node, channels, options())
        .await
        .expect("start the bus")
}

#[tokio::test]
async fn nodes_receive_their_own_and_each_others_messages_on_subscribed_channels() {
    let redis = RedisServer::start();
    let (a, mut a_rx) = start(&redis.url(), "a", &["t:one", "t:two"]).await;
    let (b, mut b_rx) = start(&redis.url(), "b", &["t:one"]).await;
    let wait = Duration::from_secs(10);
    assert_eq!(
        next_event(&mut a_rx, wait, "a's first event").await,
        BusEvent::Resync
    );
    assert_eq!(
        next_event(&mut b_rx, wait, "b's first event").await,
        BusEvent::Resync
    );

    a.publish("t:one", b"from a").await.unwrap();
    b.publish("t:one", b"from b").await.unwrap();
    b.publish("t:two", b"two from b").await.unwrap();
    a.publish("t:nobody", b"nobody listens").await.unwrap();
    a.publish("t:one", b"last").await.unwrap();

    // Each publish was answered before the next was sent, so Redis delivers
    // them in this order; anything else in between (a probe, a message of an
    // unsubscribed channel) fails the comparison.
    let mut got_a = Vec::new();
    for _ in 0..4 {
        got_a.push(next_event(&mut a_rx, wait, "a's messages").await);
    }
    assert_eq!(
        got_a,
        [
            message("t:one", b"from a"),
            message("t:one", b"from b"),
            message("t:two", b"two from b"),
            message("t:one", b"last"),
        ]
    );
    let mut got_b = Vec::new();
    for _ in 0..3 {
        got_b.push(next_event(&mut b_rx, wait, "b's messages").await);
    }
    assert_eq!(
        got_b,
        [
            message("t:one", b"from a"),
            message("t:one", b"from b"),
            message("t:one", b"last"),
        ]
    );

    wait_health(&a, BusHealth::Up, wait).await;
    wait_health(&b, BusHealth::Up, wait).await;
    // Several probe rounds later, still nothing but the messages above.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(a_rx.try_recv().is_err(), "a got more than its messages");
    assert!(b_rx.try_recv().is_err(), "b got more than its messages");

    a.close();
    assert_eq!(a.health(), BusHealth::Down);
    assert!(matches!(
        a.publish("t:one", b"x").await,
        Err(BusError::Closed)
    ));
    assert!(
        tokio::time::timeout(wait, a_rx.recv())
            .await
            .unwrap()
            .is_none(),
        "close ends the event channel"
    );
}

#[tokio::test]
async fn health_follows_a_redis_restart_and_delivery_recovers_with_a_resync() {
    let mut redis = RedisServer::start();
    let (bus, mut rx) = start(&redis.url(), "n", &["t:one"]).await;
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(10), "the first Resync").await,
        BusEvent::Resync
    );
    wait_health(&bus, BusHealth::Up, Duration::from_secs(10)).await;

    redis.stop();
    wait_health(&bus, BusHealth::Down, Duration::from_secs(5)).await;
    assert!(
        bus.publish("t:one", b"lost").await.is_err(),
        "publishing to a stopped Redis fails"
    );
    // Stays down while Redis is away (the retries keep failing).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(bus.health(), BusHealth::Down);

    let restarted = Instant::now();
    redis.restart();
    wait_resync(
        &mut rx,
        Duration::from_secs(30),
        "the Resync after the restart",
    )
    .await;
    publish(&bus, "t:one", b"after restart").await;
    expect_message(&mut rx, "t:one", b"after restart").await;
    wait_health(&bus, BusHealth::Up, Duration::from_secs(30)).await;
    assert!(restarted.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_killed_subscription_is_made_again_with_a_resync() {
    let redis = RedisServer::start();
    let (bus, mut rx) = start(&redis.url(), "n", &["t:one"]).await;
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(10), "the first Resync").await,
        BusEvent::Resync
    );
    wait_health(&bus, BusHealth::Up, Duration::from_secs(10)).await;

    let mut admin = redis.admin().await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        killed, 1,
        "the bus's subscription was the one pub/sub client"
    );

    assert_eq!(
        next_event(
            &mut rx,
            Duration::from_secs(10),
            "the Resync after the kill"
        )
        .await,
        BusEvent::Resync
    );
    bus.publish("t:one", b"after kill").await.unwrap();
    assert_eq!(
        next_event(
            &mut rx,
            Duration::from_secs(10),
            "the message after the kill"
        )
        .await,
        message("t:one", b"after kill")
    );
    wait_health(&bus, BusHealth::Up, Duration::from_secs(10)).await;
}

/// `CLIENT PAUSE … WRITE` holds every `PUBLISH` (the probes included) while
/// the subscription stays open: from the node's side, a subscription that
/// went silent. [`a_cut_network_is_noticed_by_the_probes`] cuts the wire
/// itself.
#[tokio::test]
async fn a_paused_redis_makes_the_subscription_silent_and_it_recovers() {
    let redis = RedisServer::start();
    let (bus, mut rx) = start(&redis.url(), "n", &["t:one"]).await;
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(10), "the first Resync").await,
        BusEvent::Resync
    );
    wait_health(&bus, BusHealth::Up, Duration::from_secs(10)).await;

    let mut admin = redis.admin().await;
    let paused = Instant::now();
    let () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "4000", "WRITE"])
        .query_async(&mut admin)
        .await
        .unwrap();
    // Down within probe_timeout (plus one probe interval and some slack),
    // well before the pause ends.
    wait_health(&bus, BusHealth::Down, Duration::from_millis(3000)).await;
    assert!(paused.elapsed() < Duration::from_millis(4000));
    // The silent subscription was dropped and made again.
    wait_resync(&mut rx, Duration::from_secs(10), "the Resync after silence").await;

    wait_health(&bus, BusHealth::Up, Duration::from_secs(10)).await;
    publish(&bus, "t:one", b"after pause").await;
    expect_message(&mut rx, "t:one", b"after pause").await;
}

/// A TCP proxy that can hold all traffic without closing anything, like a
/// network cut that neither side hears about.
struct Proxy {
    port: u16,
    cut: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: u16) -> Self {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, _) = watch::channel(false);
        let cut_rx = cut.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let cut = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(server) =
                        tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)).await
                    else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pipe(cr, sw, cut.clone()), pipe(sr, cw, cut));
                });
            }
        });
        Proxy { port, cut }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// Copies `from` to `to`, holding each chunk while the wire is cut.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut cut: watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if cut.wait_for(|cut| !*cut).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_cut_network_is_noticed_by_the_probes() {
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.port).await;
    let (bus, mut rx) = start(&proxy.url(), "n", &["t:one"]).await;
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(10), "the first Resync").await,
        BusEvent::Resync
    );
    wait_health(&bus, BusHealth::Up, Duration::from_secs(10)).await;

    proxy.set_cut(true);
    wait_health(&bus, BusHealth::Down, Duration::from_millis(3000)).await;
    // Published meanwhile by another node (directly on Redis): this node
    // cannot get it, and must be told to resync instead.
    let mut admin = redis.admin().await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&["t:one", "during the cut"])
        .query_async(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(bus.health(), BusHealth::Down, "stays down while cut");
    assert!(
        rx.try_recv().is_err(),
        "nothing arrives while the wire is cut"
    );

    proxy.set_cut(false);
    wait_resync(&mut rx, Duration::from_secs(10), "the Resync after the cut").await;
    wait_health(&bus, BusHealth::Up, Duration::from_secs(10)).await;
    publish(&bus, "t:one", b"after the cut").await;
    expect_message(&mut rx, "t:one", b"after the cut").await;
}

#[tokio::test]
async fn a_receiver_that_falls_behind_is_told_to_resync() {
    let redis = RedisServer::start();
    let options = BusOptions {
        event_capacity: 4,
        ..options()
    };
    let (bus, mut rx) = Bus::start(&redis.url(), "n", &["t:one"], options)
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(10), "the first Resync").await,
        BusEvent::Resync
    );
    for i in 0..20 {
        bus.publish("t:one", format!("{i}").as_bytes())
            .await
            .unwrap();
    }
    // The channel holds four; the rest is dropped (once the subscriber has
    // seen them all), and a Resync follows as soon as there is room.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bus.dropped_messages() < 16 {
        assert!(
            Instant::now() < deadline,
            "{} dropped",
            bus.dropped_messages()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bus.dropped_messages(), 16);
    for i in 0..4 {
        let what = format!("message {i}");
        let event = next_event(&mut rx, Duration::from_secs(10), &what).await;
        assert_eq!(event, message("t:one", i.to_string().as_bytes()));
    }
    let event = next_event(&mut rx, Duration::from_secs(10), "the Resync").await;
    assert_eq!(event, BusEvent::Resync);
    bus.publish("t:one", b"caught up").await.unwrap();
    expect_message(&mut rx, "t:one", b"caught up").await;
}

#[tokio::test]
async fn only_redis_urls_start_and_passwords_stay_out_of_debug() {
    for url in [
        "http://127.0.0.1:6379/",
        "rediss://127.0.0.1:6379/",
        "127.0.0.1:6379",
        "",
    ] {
        let error = Bus::start(url, "n", &["t:one"], options())
            .await
            .expect_err(url);
        assert!(matches!(error, BusError::InvalidUrl(_)), "{url}: {error:?}");
        assert!(error.to_string().contains("redis://"), "{error}");
    }

    // Nothing listens on port 1: the bus starts anyway, down, retrying.
    let (bus, _rx) = Bus::start(
        "redis://onair:hunter2@127.0.0.1:1/",
        "n",
        &["t:one"],
        options(),
    )
    .await
    .expect("an unreachable Redis is not an error at start");
    let debug = format!("{bus:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("127.0.0.1:1"), "{debug}");
    assert_eq!(bus.health(), BusHealth::Down);
    let error = bus.publish("t:one", b"x").await.expect_err("unreachable");
    assert!(
        !format!("{error} {error:?}").contains("hunter2"),
        "{error:?}"
    );
}

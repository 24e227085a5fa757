//! Email notifications with the real binary: its flags, and an email that
//! survives `kill -9` while the relay is down (docs/notifications.md).

#[path = "../../server/tests/common/smtp.rs"]
mod smtp;

use std::process::Stdio;
use std::time::Duration;

use onair_tests::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use smtp::SmtpSink;

const FROM: &str = "onair <noreply@onair.example>";

#[test]
fn smtp_without_a_sender_is_a_clear_start_up_error() {
    let database = Database::new();
    let output = onair()
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(database.url())
        .args(["--smtp-url", "smtp://mailer:s3cret@127.0.0.1:2525"])
        .env_remove("ONAIR_MAIL_FROM")
        .stdin(Stdio::null())
        .output()
        .expect("run onair serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--smtp-url needs --mail-from"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");

    let output = onair()
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(database.url())
        .args([
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--mail-from",
            "not an address",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run onair serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--mail-from"), "{stderr}");
}

#[tokio::test]
async fn an_offline_message_acknowledged_before_kill_9_is_emailed_once_after_restart() {
    let sink = SmtpSink::start().await;
    sink.set_down(true);
    let database = Database::new();
    let url = sink.url();
    let args = [
        "--smtp-url",
        url.as_str(),
        "--mail-from",
        FROM,
        "--public-url",
        "https://chat.acme.example/",
        "--outbox-retry-ms",
        "200",
        "--outbox-lease-ms",
        "1000",
    ];
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        args: &args,
        ..Options::default()
    };
    let mut server = Server::start_with(&database, options());
    server.create_account("acme").await;
    let (status, body) = server
        .request(
            Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": "v".repeat(43), "name": "Vic", "email": "vic@visitor.example",
                   "text": "Call me back"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["delivery"], "offline");
    let id = body["conversation"]["id"].as_str().expect("id").to_owned();
    server.kill_9();
    assert!(sink.mails().is_empty(), "the relay was down");

    sink.set_down(false);
    let mut server = Server::start_with(&database, options());
    let mails = sink.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails[0].to, [owner_email("acme")]);
    assert!(
        mails[0].body().contains(&format!(
            "https://chat.acme.example/dashboard#conversation={id}"
        )),
        "{}",
        mails[0].body()
    );
    // Longer than a lease and a retry: nothing more comes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.mails().len(), 1, "exactly one email");
    server.stop();
    let log = server.finish_log();
    assert!(
        !log.contains("vic@visitor.example"),
        "no addresses in logs:\n{log}"
    );
}

#[tokio::test]
async fn the_nodes_of_a_cluster_send_each_email_once() {
    use onair_tests::cluster::{Cluster, PgDatabase, RedisServer};

    let sink = SmtpSink::start().await;
    sink.set_down(true);
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let url = sink.url();
    let args = [
        "--smtp-url",
        url.as_str(),
        "--mail-from",
        FROM,
        "--outbox-retry-ms",
        "200",
    ];
    let nodes = Cluster::start(3, &database, &redis, &args);
    let owner = nodes[0].create_account("acme").await;
    let (status, body) = nodes[0]
        .request(
            Method::POST,
            "/api/v1/accounts/acme/agents",
            Some(&owner),
            json!({"name": "Sam", "email": "sam@acme.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Offline messages through every node while the relay is down: each
    // node's worker tries, fails and retries.
    for n in 0..9 {
        let (status, body) = nodes[n % 3]
            .request(
                Method::POST,
                "/api/v1/accounts/acme/conversations",
                None,
                json!({"visitor_token": format!("visitor-token-{n:02}-0123456789"),
                       "email": "vic@visitor.example", "text": format!("message {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    sink.set_down(false);

    let mails = sink.wait_for(18, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails_then = sink.mails();
    assert_eq!(
        mails_then.len(),
        18,
        "two agents × nine messages, once each"
    );
    let mut sent: Vec<(String, String)> = mails
        .iter()
        .map(|m| {
            let body = m.body();
            let n = (0..9)
                .find(|n| body.contains(&format!("message {n}\r\n")))
                .expect("a message number");
            (m.to.join(","), format!("message {n}"))
        })
        .collect();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 18, "no email twice: {sent:?}");
}

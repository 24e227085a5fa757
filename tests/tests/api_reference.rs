//! The API reference against the real binary (docs/api.md, "The reference"):
//! `GET /api/v1/openapi.json` is the document `onair openapi` prints, and
//! schemathesis, generating requests from that document for every
//! operation, finds no server error and no answer that breaks the document.
//!
//! schemathesis comes from PyPI; `cargo xtask test` installs it into a
//! virtual environment and names its program in `ONAIR_SCHEMATHESIS`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use onair_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The checks that hold an answer to the document: no 5xx, a status code
/// the operation documents, its content type, its headers and its schema
/// (for an event stream, each event's).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// Requests per operation and phase: enough to reach each operation's
/// errors and a few of its successes, small enough for the test command.
const MAX_EXAMPLES: &str = "12";

/// The same cases on every run unless `ONAIR_FUZZ_SEED` asks for others.
const DEFAULT_SEED: &str = "20261203";

fn schemathesis_program() -> PathBuf {
    schemathesis().expect(
        "schemathesis: set ONAIR_SCHEMATHESIS to its program, or run `cargo xtask test`, which \
         installs it",
    )
}

/// A client from `127.0.0.N`: the server limits logins per address, and
/// schemathesis (from 127.0.0.1) tries many.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .expect("client")
}

async fn login_from(server: &Server, n: u8, email: &str) -> String {
    let (status, body) = send(
        &client_from(n),
        reqwest::Method::POST,
        server.url("/api/v1/accounts/fuzz/sessions"),
        None,
        json!({"email": email, "password": PASSWORD, "device": "schemathesis"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "login {email}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

async fn created(server: &Server, token: &str, path: &str, body: Value) -> Value {
    let (status, answer) = server
        .request(reqwest::Method::POST, path, Some(token), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {answer}");
    answer
}

/// An account with something behind each kind of path: a group, an agent,
/// a conversation, a webhook. Their ids go to schemathesis as likely values
/// of the path parameters (and it learns more from the answers).
struct Seeded {
    ids: Vec<String>,
    visitor_token: &'static str,
}

async fn seed(server: &Server) -> Seeded {
    let owner = server.create_account("fuzz").await;
    created(
        server,
        &owner,
        "/api/v1/accounts/fuzz/groups",
        json!({"key": "sales", "name": "Sales"}),
    )
    .await;
    let agent = created(
        server,
        &owner,
        "/api/v1/accounts/fuzz/agents",
        json!({"name": "Bob", "email": "bob@fuzz.example", "password": PASSWORD,
               "groups": ["sales"], "status": "online"}),
    )
    .await;
    let webhook = created(
        server,
        &owner,
        "/api/v1/accounts/fuzz/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "events": ["conversation.created"]}),
    )
    .await;
    let visitor_token = "schemathesis-visitor-token-0001";
    let started = created(
        server,
        &owner,
        "/api/v1/accounts/fuzz/conversations",
        json!({"visitor_token": visitor_token, "text": "Hello?", "email": "v@fuzz.example",
               "page": {"url": "https://www.fuzz.example/pricing", "title": "Pricing"}}),
    )
    .await;
    let ids = vec![
        agent["id"].as_str().expect("agent id").to_owned(),
        webhook["webhook"]["id"]
            .as_str()
            .expect("webhook id")
            .to_owned(),
        started["conversation"]["id"]
            .as_str()
            .expect("conversation id")
            .to_owned(),
    ];
    Seeded { ids, visitor_token }
}

/// schemathesis's configuration: the seeded values as dictionaries bound to
/// the parameters they fit, most of the time (the rest stays generated).
fn config(dir: &Path, seeded: &Seeded) -> PathBuf {
    let quoted = |values: &[&str]| {
        values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ids: Vec<&str> = seeded.ids.iter().map(String::as_str).collect();
    let text = format!(
        r#"# Written by tests/tests/api_reference.rs.
max-stream-events = 2
request-timeout = 10

[dictionaries.accounts]
values = ["fuzz"]
[dictionaries.ids]
values = [{ids}]
[dictionaries.keys]
values = ["sales"]
[dictionaries.visitor_tokens]
values = [{token:?}]

[parameters]
"path.account" = {{ dictionary = "accounts", probability = 0.85 }}
"path.id" = {{ dictionary = "ids", probability = 0.6 }}
"path.key" = {{ dictionary = "keys", probability = 0.7 }}
"query.visitor_token" = {{ dictionary = "visitor_tokens", probability = 0.7 }}
"body.visitor_token" = {{ dictionary = "visitor_tokens", probability = 0.5 }}
"#,
        ids = quoted(&ids),
        token = seeded.visitor_token,
    );
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, text).expect("write the configuration");
    path
}

/// One schemathesis run over the operations `filter` selects, with `token`
/// as the bearer of every request; its output on failure.
fn run(server: &Server, config: &Path, token: &str, filter: &[&str]) -> Result<String, String> {
    let seed = std::env::var("ONAIR_FUZZ_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    let started = Instant::now();
    let output = Command::new(schemathesis_program())
        .arg("--config-file")
        .arg(config)
        .args(["run", &server.url("/api/v1/openapi.json")])
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", &seed])
        // One worker: with two threads, Debian 12's Python 3.11 sometimes fails
        // inside `ast.parse` while Hypothesis describes a strategy ("AST
        // constructor recursion depth mismatch", CPython gh-106905), which
        // schemathesis reports as a runtime error of the operation.
        .args(["--workers", "1", "--no-color"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(filter)
        // It keeps a cache of what it found in its working directory.
        .current_dir(config.parent().expect("the configuration's directory"))
        .stdin(Stdio::null())
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("generated,") || l.contains("Tested:"))
        .map(str::trim)
        .collect();
    eprintln!(
        "schemathesis {filter:?} (seed {seed}): {} in {:.1} s",
        summary.join("; "),
        started.elapsed().as_secs_f64()
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[tokio::test]
async fn the_document_is_served_and_every_operation_keeps_to_it_under_fuzzing() {
    if !runs_with(
        "the_document_is_served_and_every_operation_keeps_to_it_under_fuzzing",
        &[Tool::Schemathesis, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let mut server = Server::start_with(
        &database,
        Options {
            operator_token: Some(OPERATOR_TOKEN),
            // The seeded webhook points at a closed local port.
            args: &["--allow-private-webhooks"],
            ..Options::default()
        },
    );

    // Served as `onair openapi` prints it, readable from any page.
    let response = server
        .client
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET openapi.json");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let served: Value = response.json().await.expect("JSON");
    let printed = onair().arg("openapi").output().expect("onair openapi");
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).expect("JSON");
    assert_eq!(served, printed, "the served document is the printed one");
    assert_eq!(served["openapi"], "3.1.0");

    let seeded = seed(&server).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &seeded);

    // A fresh token for each run: some operations may end the session they
    // are sent with (ending one's own device, logging out, a new password),
    // after which the rest would only be answered 401. So the operations
    // that can are run apart, each with a session of its own.
    let runs: [&[&str]; 4] = [
        &[
            "--exclude-tag",
            "me",
            "--exclude-tag",
            "sessions",
            "--exclude-tag",
            "agents",
        ],
        &["--include-tag", "agents"],
        &["--include-tag", "me"],
        &["--include-tag", "sessions"],
    ];
    let mut failures = Vec::new();
    for (n, filter) in runs.iter().enumerate() {
        let token = login_from(&server, 20 + n as u8, &owner_email("fuzz")).await;
        if let Err(output) = run(&server, &config, &token, filter) {
            failures.push(output);
        }
    }
    // Creating accounts takes the operator's token.
    let operator = ["--include-operation-id", "create_account"];
    if let Err(output) = run(&server, &config, OPERATOR_TOKEN, &operator) {
        failures.push(output);
    }
    if !failures.is_empty() {
        panic!(
            "schemathesis found answers that break the document:\n{}\nserver log:\n{}",
            failures.join("\n\n"),
            server.finish_log()
        );
    }
}

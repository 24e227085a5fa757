//! End-to-end tests in a real browser: the `onair` binary, Debian's Chromium driven through
//! chromedriver, and a customer website on another origin that embeds the chat box with the
//! script tag of CONTRACT §4. The widget must be built into the binary (`cargo xtask widget`
//! before building the server; `cargo xtask test` does both).

use std::time::{Duration, Instant};

use onair_tests::browser::{
    Browser, BrowserOptions, Chromedriver, CustomerSite, Embed, Login, now_ms, require_widget,
};
use onair_tests::*;
use serde_json::json;

/// A status change is pushed to chat boxes "at once" (CONTRACT §1.4); we hold that to this,
/// from sending the agent's request to the customer's page seeing the change.
const PUSH_LATENCY_MS: f64 = 500.0;
/// Loading Chromium, the page, the wasm and the first answer; generous for a busy machine.
const LOAD: Duration = Duration::from_secs(30);
/// After a restart, the widget reconnects by itself: the browser retries every 2 s (the
/// server's `retry:`), the widget's own backoff starts at 1 s.
const RECOVERY: Duration = Duration::from_secs(10);

fn operator() -> Options<'static> {
    Options {
        operator_token: Some(OPERATOR_TOKEN),
        ..Options::default()
    }
}

/// A server with the account `acme` (its owner is an admin in no group); returns the owner's
/// token.
async fn server_with_account(database: &Database) -> (Server, String) {
    let server = Server::start_with(database, operator());
    require_widget(&server).await;
    let token = server.create_account("acme").await;
    (server, token)
}

fn acme() -> Embed<'static> {
    Embed {
        account: "acme",
        ..Embed::default()
    }
}

/// The statuses the chat box has shown, in order, as the page recorded them.
async fn shown_statuses(browser: &Browser) -> Vec<String> {
    let statuses = browser
        .eval("return window.onairLog.changes.map(function (c) { return c.status; })")
        .await;
    serde_json::from_value(statuses).expect("a list of statuses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_box_on_a_customer_page_goes_from_connecting_to_the_first_status() {
    let database = Database::new();
    let (mut server, _) = server_with_account(&database).await;
    let site = CustomerSite::start(&server.base, acme()).await;
    assert_ne!(
        origin(&site.url),
        server.base,
        "the widget must be tested cross-origin"
    );
    let driver = Chromedriver::start().await;
    let browser = Browser::new(&driver).await;

    browser.goto(&site.url).await;
    browser.wait_for_chatbox("offline", LOAD).await;
    assert_eq!(shown_statuses(&browser).await, ["connecting", "offline"]);
    // Rendered: the bubble is in the page, not only an attribute.
    let bubble = browser.find_in_chatbox(".bubble").await;
    assert!(
        bubble.is_displayed().await.expect("is_displayed"),
        "the chat box's bubble should be visible"
    );

    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_status_change_shows_in_the_chat_box_within_500_ms() {
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    // A dashboard's stream keeps the agent's session present throughout.
    let mut dashboard = server
        .events(&format!("/api/v1/me/events?access_token={token}"))
        .await;
    dashboard.expect("agent").await;
    let site = CustomerSite::start(&server.base, acme()).await;
    let driver = Chromedriver::start().await;
    let browser = Browser::new(&driver).await;
    browser.goto(&site.url).await;
    browser.wait_for_chatbox("offline", LOAD).await;

    let mut latencies = Vec::new();
    for status in ["online", "busy", "offline"] {
        let sent_at = now_ms();
        server.set_status(&token, status).await;
        let answered_at = now_ms();
        browser.wait_for_chatbox(status, SOON).await;
        // When the page saw it: the recorder's Date.now(), the same clock as `now_ms`.
        let seen_at = browser
            .eval_with(
                "var c = window.onairLog.changes, last = c[c.length - 1]; \
                 return last && last.status === arguments[0] ? last.at : null;",
                vec![json!(status)],
            )
            .await
            .as_f64()
            .unwrap_or_else(|| panic!("the page recorded no change to {status}"));
        let latency = seen_at - sent_at;
        println!(
            "PUT /me/status {status:<7} → answered after {:>4.0} ms, chat box shows it after \
             {latency:>4.0} ms",
            answered_at - sent_at
        );
        latencies.push((status, latency));
    }
    for (status, latency) in latencies {
        assert!(
            latency < PUSH_LATENCY_MS,
            "{status} took {latency:.0} ms to show, more than {PUSH_LATENCY_MS} ms"
        );
    }
    assert_eq!(
        shown_statuses(&browser).await,
        ["connecting", "offline", "online", "busy", "offline"]
    );

    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_box_keeps_its_status_while_the_server_restarts_and_then_follows_it() {
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    server.set_status(&token, "online").await;
    let address = server
        .base
        .strip_prefix("http://")
        .expect("an http address")
        .to_owned();
    let site = CustomerSite::start(&server.base, acme()).await;
    let driver = Chromedriver::start().await;
    let browser = Browser::new(&driver).await;
    browser.goto(&site.url).await;
    browser.wait_for_chatbox("online", LOAD).await;

    server.stop();
    // The widget notices that its stream ended (it marks itself as reconnecting) and keeps
    // showing its last answer instead of "connecting".
    browser
        .wait_until(
            "the widget notices the server is gone",
            "document.querySelector('#onair-chatbox').shadowRoot\
             .querySelector('[data-reconnecting]') !== null",
            SOON,
        )
        .await;
    assert_eq!(browser.chatbox_status().await.as_deref(), Some("online"));

    // Meanwhile the agent goes busy, through a server on another address that the widget
    // does not know: the change is in the database only, and the restarted server must
    // bring it.
    {
        let mut elsewhere = Server::start_with(&database, operator());
        elsewhere.set_status(&token, "busy").await;
        elsewhere.stop();
    }
    assert_eq!(browser.chatbox_status().await.as_deref(), Some("online"));

    let restarted_at = Instant::now();
    let mut server = Server::start_with(
        &database,
        Options {
            listen: Some(&address),
            ..operator()
        },
    );
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "busy", "{snapshot}");
    browser.wait_for_chatbox("busy", RECOVERY).await;
    println!(
        "the chat box showed the new status {:.1} s after the server started again",
        restarted_at.elapsed().as_secs_f64()
    );
    // Never "connecting" after the first answer, and no reload: the same page's log.
    assert_eq!(
        shown_statuses(&browser).await,
        ["connecting", "online", "busy"]
    );

    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_chosen_on_the_desktop_dashboard_shows_on_the_phone_and_in_the_chat_box() {
    let database = Database::new();
    let (mut server, _) = server_with_account(&database).await;
    let site = CustomerSite::start(&server.base, acme()).await;
    let driver = Chromedriver::start().await;
    let desktop = Browser::new(&driver).await;
    let phone = Browser::with_options(&driver, BrowserOptions::phone()).await;
    let visitor = Browser::new(&driver).await;

    log_in(&desktop, &server, "Desktop").await;
    log_in(&phone, &server, "Phone").await;
    visitor.goto(&site.url).await;
    visitor.wait_for_chatbox("offline", LOAD).await;

    for status in ["online", "busy", "offline"] {
        desktop.click("#me").await;
        desktop
            .click(&format!("#menu button[data-status={status}]"))
            .await;
        for (device, browser) in [("desktop", &desktop), ("phone", &phone)] {
            browser
                .wait_for_attribute("#chosen", "data-status", status, SOON)
                .await;
            browser
                .wait_for_attribute("#site-status", "data-status", status, SOON)
                .await;
            let error = browser
                .eval("return document.getElementById('app-error').textContent")
                .await;
            assert_eq!(error, "", "the {device} dashboard shows an error");
        }
        visitor.wait_for_chatbox(status, SOON).await;
    }

    for browser in [desktop, phone, visitor] {
        browser.close().await;
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_lang_de_makes_the_chat_box_speak_german() {
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    let site = CustomerSite::start(
        &server.base,
        Embed {
            lang: Some("de"),
            ..acme()
        },
    )
    .await;
    let driver = Chromedriver::start().await;
    let browser = Browser::new(&driver).await;
    browser.goto(&site.url).await;
    browser.wait_for_chatbox("offline", LOAD).await;
    const TEXT: &str = "return document.querySelector('#onair-chatbox').shadowRoot.textContent";

    let offline = browser.eval(TEXT).await;
    let offline = offline.as_str().expect("text");
    for german in [
        "Nachricht hinterlassen",
        "Wir sind offline",
        "E-Mail-Adresse",
    ] {
        assert!(offline.contains(german), "no “{german}” in: {offline}");
    }
    for english in ["Leave a message", "We’re offline"] {
        assert!(
            !offline.contains(english),
            "English “{english}” in: {offline}"
        );
    }
    let lang = browser
        .eval("return document.querySelector('#onair-chatbox').shadowRoot.querySelector('[role=region]').lang")
        .await;
    assert_eq!(lang, "de");

    server.set_status(&token, "online").await;
    browser.wait_for_chatbox("online", SOON).await;
    let online = browser.eval(TEXT).await;
    let online = online.as_str().expect("text");
    for german in ["Chatten Sie mit uns", "Wir sind online"] {
        assert!(online.contains(german), "no “{german}” in: {online}");
    }

    browser.close().await;
    server.stop();
}

/// Logs in on the dashboard as acme's owner, naming the device.
async fn log_in(browser: &Browser, server: &Server, device: &str) {
    let email = owner_email("acme");
    let login = Login {
        account: "acme",
        email: &email,
        password: PASSWORD,
        device,
    };
    browser.log_in_to_dashboard(server, &login).await;
}

/// `http://host:port` of a URL.
fn origin(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http URL");
    format!("http://{}", rest.split('/').next().unwrap_or_default())
}

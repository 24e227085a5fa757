//! End-to-end tests in a real browser: the `onair` binary, Debian's Chromium driven through
//! chromedriver, and a customer website on another origin that embeds the chat box with the
//! script tag of widget/README.md The widget must be built into the binary (`cargo xtask widget`
//! before building the server; `cargo xtask test` does both).

use std::time::{Duration, Instant};

use onair_tests::browser::{
    Browser, BrowserOptions, Chromedriver, CustomerSite, Embed, Login, now_ms, require_widget,
};
use onair_tests::cluster::{Cluster, LoadBalancer, PgDatabase, RedisServer};
use onair_tests::*;
use serde_json::{Value, json};

/// A status change is pushed to chat boxes "at once" (docs/status.md); we hold that to this,
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
    if !runs_with(
        "the_chat_box_on_a_customer_page_goes_from_connecting_to_the_first_status",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
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
    if !runs_with(
        "an_agents_status_change_shows_in_the_chat_box_within_500_ms",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
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
        // From the answer: the change is the truth once it is stored (a
        // write's own time, an fsync on a busy disk, is not the push's). A
        // push that beats the answer counts as 0.
        let latency = (seen_at - answered_at).max(0.0);
        println!(
            "PUT /me/status {status:<7} → answered after {:>4.0} ms, chat box shows it \
             {:>4.0} ms after the request, {latency:>4.0} ms after the answer",
            answered_at - sent_at,
            seen_at - sent_at
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
    if !runs_with(
        "the_chat_box_keeps_its_status_while_the_server_restarts_and_then_follows_it",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
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
    if !runs_with(
        "a_status_chosen_on_the_desktop_dashboard_shows_on_the_phone_and_in_the_chat_box",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
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
async fn a_login_that_takes_up_a_busy_status_says_so() {
    if !runs_with(
        "a_login_that_takes_up_a_busy_status_says_so",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    let driver = Chromedriver::start().await;
    // Offline: nothing to say.
    let first = Browser::new(&driver).await;
    log_in(&first, &server, "Laptop").await;
    first
        .wait_for_attribute("#chosen", "data-status", "offline", SOON)
        .await;
    assert_eq!(
        first
            .eval("return document.querySelector('#status-note').textContent")
            .await,
        ""
    );
    first.close().await;
    // Busy, chosen elsewhere: the next login says the agent is reachable.
    server.set_status(&token, "busy").await;
    let second = Browser::new(&driver).await;
    log_in(&second, &server, "Phone").await;
    let note = second
        .wait_until(
            "the note on the status taken up",
            "document.querySelector('#status-note').textContent",
            SOON,
        )
        .await;
    assert_eq!(
        note,
        "You are Busy, as you last chose: visitors can reach you. Change it above."
    );
    // Choosing a status answers it.
    second.click("#me").await;
    second.click("#menu button[data-status=offline]").await;
    second
        .wait_until(
            "the note gone",
            "document.querySelector('#status-note').textContent === ''",
            SOON,
        )
        .await;
    second.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_logged_out_from_another_and_a_changed_password_end_access_in_the_dashboard() {
    if !runs_with(
        "a_device_logged_out_from_another_and_a_changed_password_end_access_in_the_dashboard",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, _) = server_with_account(&database).await;
    let driver = Chromedriver::start().await;
    let desktop = Browser::new(&driver).await;
    let phone = Browser::with_options(&driver, BrowserOptions::phone()).await;
    // The phone first: the desktop's device list is read when it logs in.
    log_in(&phone, &server, "Phone").await;
    log_in(&desktop, &server, "Desktop").await;

    // The desktop logs the phone out from its device list.
    desktop
        .wait_until(
            "the phone in the desktop's device list",
            "document.querySelector('#devices [aria-label=\"Log out Phone\"]')",
            SOON,
        )
        .await;
    // Clicked from a script: the list is redrawn whenever /me is read again,
    // which can replace the element between finding and clicking it.
    desktop
        .eval(
            "document.querySelector('#devices [aria-label=\"Log out Phone\"]').click(); \
             return true",
        )
        .await;
    phone
        .wait_until(
            "the phone back at the login form",
            "!document.getElementById('login').hidden",
            RECOVERY,
        )
        .await;
    desktop
        .wait_until(
            "the desktop's device list without the phone",
            "!document.querySelector('#devices [aria-label=\"Log out Phone\"]')",
            SOON,
        )
        .await;

    // The phone logs in again: the desktop's list shows it at once, from its stream (nothing
    // else on the desktop changed, so nothing else would make it look). Then the desktop
    // changes the password.
    log_in(&phone, &server, "Phone").await;
    desktop
        .wait_until(
            "the phone back in the desktop's device list, live",
            "document.querySelector('#devices [aria-label=\"Log out Phone\"]')",
            SOON,
        )
        .await;
    desktop.click("#password-box summary").await;
    desktop
        .type_into("#password-form [name=current]", PASSWORD)
        .await;
    desktop
        .type_into("#password-form [name=fresh]", "a brand new secret")
        .await;
    desktop.click("#password-form button[type=submit]").await;
    desktop
        .wait_until(
            "the password changed",
            "document.getElementById('password-msg').textContent.includes('Password changed')",
            SOON,
        )
        .await;
    phone
        .wait_until(
            "the phone logged out by the new password",
            "!document.getElementById('login').hidden",
            RECOVERY,
        )
        .await;
    let desktop_live = desktop
        .eval("return document.getElementById('login').hidden")
        .await;
    assert_eq!(
        desktop_live, true,
        "the desktop that changed it stays logged in"
    );
    let (status, _) = server.login("acme", &owner_email("acme"), PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    server
        .login_ok("acme", &owner_email("acme"), "a brand new secret")
        .await;

    for browser in [desktop, phone] {
        browser.close().await;
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_office_hours_an_available_agent_is_told_the_chat_box_is_offline_until_when() {
    if !runs_with(
        "outside_office_hours_an_available_agent_is_told_the_chat_box_is_offline_until_when",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    put_office_hours(&server, &token, closed_until_tomorrow()).await;
    server.set_status(&token, "busy").await;
    let driver = Chromedriver::start().await;
    let agent = Browser::new(&driver).await;
    log_in(&agent, &server, "Laptop").await;
    // Busy and present, but the chat box is offline: the agent's own line says so, and when.
    let line = agent
        .wait_until(
            "the agent's line outside office hours",
            "(function () { var a = document.querySelector('#available'); \
             return a && a.dataset.officeHours === 'closed' && a.textContent; })()",
            SOON,
        )
        .await;
    let line = line.as_str().expect("a text");
    assert!(line.starts_with("Busy · chat box offline until "), "{line}");
    // Office hours off: the line follows at once (the site's status changes).
    put_office_hours(
        &server,
        &token,
        json!({"enabled": false, "timezone": "UTC"}),
    )
    .await;
    agent
        .wait_until(
            "the agent available again",
            "document.querySelector('#available').textContent === 'Available to visitors'",
            SOON,
        )
        .await;
    agent.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sets_its_name_for_visitors_in_the_dashboard() {
    if !runs_with(
        "an_agent_sets_its_name_for_visitors_in_the_dashboard",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    let driver = Chromedriver::start().await;
    let agent = Browser::new(&driver).await;
    log_in(&agent, &server, "Laptop").await;
    agent.click("#name-box summary").await;
    agent
        .wait_until(
            "the name, prefilled",
            "document.querySelector('#my-name').value === 'Olga Owner'",
            SOON,
        )
        .await;
    agent
        .eval("document.querySelector('#my-name').value = ''; return true")
        .await;
    let field = agent.find("#my-name").await;
    field
        .send_keys("Olga at the shop")
        .await
        .expect("type the name");
    agent.click("#name-form button[type=submit]").await;
    let said = agent
        .wait_until(
            "the name saved",
            "document.querySelector('#name-msg').textContent",
            SOON,
        )
        .await;
    assert_eq!(
        said,
        "Saved: visitors see “Olga at the shop” on your replies."
    );
    assert_eq!(
        agent
            .eval("return document.querySelector('#name').textContent")
            .await,
        "Olga at the shop"
    );
    let me = server.get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["name"], "Olga at the shop");
    agent.close().await;
    server.stop();
}

async fn put_office_hours(server: &Server, token: &str, body: serde_json::Value) {
    let (status, answer) = server
        .request(
            reqwest::Method::PUT,
            "/api/v1/accounts/acme/office-hours",
            Some(token),
            body,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_erases_a_conversation_from_the_dashboard() {
    if !runs_with(
        "an_admin_erases_a_conversation_from_the_dashboard",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, owner) = server_with_account(&database).await;
    server.set_status(&owner, "online").await;
    let (status, started) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": "visitor-erase-0123456789abcdef", "text": "Forget me"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{started}");
    let id = started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let driver = Chromedriver::start().await;
    let admin = Browser::new(&driver).await;
    log_in(&admin, &server, "Desktop").await;
    let item = format!("#conversation-list [data-conversation-id=\"{id}\"]");
    admin
        .wait_until(
            "the conversation in the inbox",
            &format!("document.querySelector('{item}')"),
            SOON,
        )
        .await;
    // From a script: the inbox may redraw its rows between finding and clicking.
    admin
        .eval(&format!(
            "document.querySelector('{item}').click(); return true"
        ))
        .await;
    admin
        .wait_until(
            "the erase button for an admin",
            "!document.getElementById('erase-conversation').hidden",
            SOON,
        )
        .await;
    admin.click("#erase-conversation").await;
    admin.client.accept_alert().await.expect("confirm erasing");
    admin
        .wait_until(
            "the conversation gone from the inbox",
            &format!("!document.querySelector('{item}')"),
            SOON,
        )
        .await;
    let (status, _) = server
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner))
        .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    admin.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_webhook_in_the_dashboard_sees_its_secret_and_deletes_it() {
    if !runs_with(
        "an_admin_adds_a_webhook_in_the_dashboard_sees_its_secret_and_deletes_it",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, owner) = server_with_account(&database).await;
    let driver = Chromedriver::start().await;
    let admin = Browser::new(&driver).await;
    log_in(&admin, &server, "Desktop").await;
    admin
        .wait_until(
            "the administration",
            "!document.getElementById('admin').hidden",
            SOON,
        )
        .await;
    admin.click("#tab-webhooks").await;
    admin
        .wait_until(
            "the empty webhook list",
            "document.querySelector('#webhook-list .muted')",
            SOON,
        )
        .await;

    // A loopback target is refused, and the dashboard says why.
    admin
        .type_into("#webhook-form [name=url]", "http://127.0.0.1:9/hook")
        .await;
    admin.click("#webhook-form button[type=submit]").await;
    let code = admin
        .wait_until(
            "the refusal",
            "document.getElementById('webhooks-msg').dataset.code",
            SOON,
        )
        .await;
    assert_eq!(code, "invalid_webhook_url");
    let shown = admin
        .eval("return document.getElementById('webhooks-msg').textContent")
        .await;
    assert!(
        shown.as_str().is_some_and(|m| m.contains("non-public")),
        "{shown}"
    );

    // A public one, for new conversations only.
    let url = "https://93.184.215.14/onair-hooks";
    admin.type_into("#webhook-form [name=url]", url).await;
    admin
        .eval(
            "document.querySelector('#webhook-form [value=\"message.created\"]').click(); return true",
        )
        .await;
    admin.click("#webhook-form button[type=submit]").await;
    admin
        .wait_until(
            "the webhook in the list",
            "document.querySelector('#webhook-list [data-id]')",
            SOON,
        )
        .await;
    let listed = server
        .get_ok("/api/v1/accounts/acme/webhooks", Some(&owner))
        .await;
    let webhook = &listed["webhooks"][0];
    assert_eq!(webhook["url"], url);
    assert_eq!(webhook["events"], json!(["conversation.created"]));
    let id = webhook["id"].as_str().expect("id");
    let row = format!("#webhook-list [data-id=\"{id}\"]");
    let secret = admin
        .eval(&format!(
            "return document.querySelector('{row} .secret').textContent"
        ))
        .await;
    assert_eq!(secret, webhook["secret"], "the secret is shown");

    // Its delivery log, empty for now.
    admin
        .eval(&format!(
            "document.querySelector('{row} button').click(); return true"
        ))
        .await;
    admin
        .wait_until(
            "the delivery log",
            "!document.getElementById('webhook-log').hidden && \
             document.querySelector('#webhook-log-rows .muted')",
            SOON,
        )
        .await;

    admin
        .eval(&format!(
            "document.querySelector('{row} button.danger').click(); return true"
        ))
        .await;
    admin.client.accept_alert().await.expect("confirm deleting");
    admin
        .wait_until(
            "the webhook gone from the list",
            &format!("!document.querySelector('{row}')"),
            SOON,
        )
        .await;
    let listed = server
        .get_ok("/api/v1/accounts/acme/webhooks", Some(&owner))
        .await;
    assert_eq!(listed["webhooks"], json!([]));
    admin.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_gives_the_chat_box_texts_per_language_and_sees_where_the_built_in_ones_apply() {
    if !runs_with(
        "an_admin_gives_the_chat_box_texts_per_language_and_sees_where_the_built_in_ones_apply",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, owner) = server_with_account(&database).await;
    let account = server.get_ok("/api/v1/accounts/acme", Some(&owner)).await;
    let builtin = |field: &str, lang: &str| account["builtin"][field][lang].clone();
    let driver = Chromedriver::start().await;
    let admin = Browser::new(&driver).await;
    log_in(&admin, &server, "Desktop").await;
    admin
        .wait_until(
            "the settings",
            "!document.getElementById('admin').hidden && \
             document.querySelector('#settings-form [name=busy_message]').placeholder",
            SOON,
        )
        .await;
    let field = |name: &str, what: &str| {
        format!("return document.querySelector('#settings-form [name={name}]').{what}")
    };
    let note = |name: &str| format!("return document.getElementById('note-{name}').textContent");

    // German: nothing of the account's own yet, so the built-in texts show.
    admin
        .eval(
            "const s = document.getElementById('text-lang'); s.value = 'de'; \
             s.dispatchEvent(new Event('change')); return true",
        )
        .await;
    assert_eq!(
        admin.eval(&field("busy_message", "placeholder")).await,
        builtin("busy_message", "de")
    );
    assert_eq!(
        admin.eval(&field("offline_reply", "placeholder")).await,
        builtin("offline_reply", "de")
    );
    let said = admin.eval(&note("busy_message")).await;
    assert!(
        said.as_str().is_some_and(|s| s.contains("built-in")),
        "{said}"
    );

    admin
        .type_into("#settings-form [name=busy_message]", "Alle beschäftigt")
        .await;
    let said = admin.eval(&note("busy_message")).await;
    assert!(said.as_str().is_some_and(|s| s.contains("own")), "{said}");
    admin
        .eval("document.querySelector('#settings-form [name=busy_reply_off]').click(); return true")
        .await;
    admin.click("#settings-form button[type=submit]").await;
    admin
        .wait_until(
            "the settings saved",
            "document.getElementById('settings-msg').textContent.includes('saved')",
            SOON,
        )
        .await;
    let saved = server.get_ok("/api/v1/accounts/acme", Some(&owner)).await;
    assert_eq!(saved["busy_message"], json!({"de": "Alle beschäftigt"}));
    assert_eq!(saved["busy_reply"], "", "turned off");
    assert_eq!(saved["offline_message"], Value::Null, "still the built-in");
    assert_eq!(saved["offline_reply"], Value::Null);

    // German chat boxes say it; French ones the built-in French text.
    server.set_status(&owner, "busy").await;
    let status = server
        .get_ok("/api/v1/accounts/acme/status?lang=de", None)
        .await;
    assert_eq!(status["message"], "Alle beschäftigt");
    let status = server
        .get_ok("/api/v1/accounts/acme/status?lang=fr", None)
        .await;
    assert_eq!(status["message"], builtin("busy_message", "fr"));

    // Back in English the field is empty, the built-in one applies there.
    admin
        .eval(
            "const s = document.getElementById('text-lang'); s.value = 'en'; \
             s.dispatchEvent(new Event('change')); return true",
        )
        .await;
    assert_eq!(admin.eval(&field("busy_message", "value")).await, "");
    let said = admin.eval(&note("busy_message")).await;
    assert!(
        said.as_str().is_some_and(|s| s.contains("built-in")),
        "{said}"
    );
    assert_eq!(admin.eval(&field("busy_reply", "disabled")).await, true);
    admin.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_closed_conversation_and_a_new_one_the_next_page_shows_both() {
    if !runs_with(
        "after_a_closed_conversation_and_a_new_one_the_next_page_shows_both",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    server.set_status(&token, "online").await;
    let site = CustomerSite::start(&server.base, acme()).await;
    let driver = Chromedriver::start().await;
    let visitor = Browser::new(&driver).await;
    visitor.goto(&site.url).await;
    visitor.wait_for_chatbox("online", LOAD).await;
    let log = format!("{CHATBOX}.querySelector('.log').textContent");
    let write = async |text: &str| {
        visitor
            .eval(&format!(
                "{CHATBOX}.querySelector('.bubble[aria-expanded=false]')?.click(); return true"
            ))
            .await;
        let field = visitor.find_in_chatbox("#chat-text").await;
        field.send_keys(text).await.expect("type into the chat box");
        visitor
            .find_in_chatbox("form:has(#chat-text) button[type=submit]")
            .await
            .click()
            .await
            .expect("click Send");
        visitor
            .wait_until(
                "the message in the chat box",
                &format!("{log}.includes({})", json!(text)),
                SOON,
            )
            .await;
    };

    write("Do you ship to Norway?").await;
    let first = server.answer_newest(&token, "We do, in three days.").await;
    visitor
        .wait_until("the answer", &format!("{log}.includes('three days')"), SOON)
        .await;
    let (status, _) = server
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{first}/close"),
            Some(&token),
            Value::Null,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // Writing again starts a new conversation, below the closed one.
    visitor
        .wait_until(
            "the closed conversation said",
            &format!("!{CHATBOX}.querySelector('.note').hidden"),
            SOON,
        )
        .await;
    write("And to Iceland?").await;

    // Another page of the site: both conversations, in order.
    visitor.goto(&site.url).await;
    visitor.wait_for_chatbox("online", LOAD).await;
    let shown = visitor
        .wait_until(
            "both conversations after the page load",
            &format!(
                "(function () {{ var t = {log}; return t.includes('Norway') && t.includes('three days') \
                 && t.includes('Iceland') && t; }})()"
            ),
            SOON,
        )
        .await;
    let shown = shown.as_str().expect("text");
    let at = |part: &str| shown.find(part).expect(part);
    assert!(
        at("Norway") < at("three days") && at("three days") < at("Iceland"),
        "{shown}"
    );
    visitor.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_lang_de_makes_the_chat_box_speak_german() {
    if !runs_with(
        "data_lang_de_makes_the_chat_box_speak_german",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
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
        // The server's built-in offline message, in German (`?lang=de`).
        "Hinterlassen Sie uns eine Nachricht, wir melden uns bei Ihnen.",
    ] {
        assert!(offline.contains(german), "no “{german}” in: {offline}");
    }
    for english in ["Leave a message", "We’re offline", "Leave us a message"] {
        assert!(
            !offline.contains(english),
            "English “{english}” in: {offline}"
        );
    }
    let lang = browser
        .eval("return document.querySelector('#onair-chatbox').shadowRoot.querySelector('[role=region]').lang")
        .await;
    assert_eq!(lang, "de");

    // The account's own German busy message; its English one is not shown.
    let (status, _) = server
        .request(
            reqwest::Method::PATCH,
            "/api/v1/accounts/acme",
            Some(&token),
            json!({"busy_message": {"en": "Busy!", "de": "Gleich zurück!"}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    server.set_status(&token, "busy").await;
    browser.wait_for_chatbox("busy", SOON).await;
    let busy = browser.eval(TEXT).await;
    let busy = busy.as_str().expect("text");
    assert!(busy.contains("Gleich zurück!"), "{busy}");
    assert!(!busy.contains("Busy!"), "{busy}");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_inbox_follows_conversations_live_by_group_and_the_agent_replies_and_closes()
{
    if !runs_with(
        "the_dashboard_inbox_follows_conversations_live_by_group_and_the_agent_replies_and_closes",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let mut server = demo_server(&database);
    // Written while nobody is online: an offline message to support.
    let (status, body) = visitor_starts(
        &server,
        json!({"visitor_token": DANA, "group": "support", "name": "Dana",
               "email": "dana@example.com", "text": "Do you ship to Norway?"}),
    )
    .await;
    assert_eq!(body["delivery"], "offline", "{status} {body}");
    let dana = body["conversation"]["id"].as_str().expect("id").to_owned();

    let driver = Chromedriver::start().await;
    let bob = Browser::new(&driver).await; // sales
    let carol = Browser::new(&driver).await; // support
    bob.log_in_to_dashboard(&server, &demo_login(BOB, "Bob's laptop"))
        .await;
    carol
        .log_in_to_dashboard(&server, &demo_login(CAROL, "Carol's laptop"))
        .await;
    let bob_token = server.login_ok("demo", BOB, DEMO_PASSWORD).await;
    server.set_status(&bob_token, "online").await;

    // Bob is no admin, yet the groups go by their names, not their keys.
    bob.wait_until(
        "the group pills named",
        "Array.from(document.querySelectorAll('#group-pills .pill span:nth-child(2)'))\
         .map(function (n) { return n.textContent; }).join(',') === 'Sales,Support'",
        SOON,
    )
    .await;

    // Carol finds the offline message, unread, counted in the inbox and the title; Bob, in
    // sales, does not get support's conversations.
    carol.click("#inbox [data-filter=offline]").await;
    let dana_item = conversation_item(&dana);
    carol
        .wait_for_attribute(&dana_item, "data-unread", "true", SOON)
        .await;
    carol
        .wait_for_attribute(&dana_item, "data-state", "offline", SOON)
        .await;
    // Its row shows the start of what Dana wrote (from the list: it came before the page).
    let row_preview = |item: &str| {
        format!(
            "(function () {{ var p = document.querySelector({}); p = p && p.querySelector('.conv-prev'); \
             return p && p.textContent; }})()",
            json!(item)
        )
    };
    let shown = carol
        .wait_until("Dana's row with a preview", &row_preview(&dana_item), SOON)
        .await;
    assert_eq!(shown, "Do you ship to Norway?");
    carol
        .wait_until(
            "one unread, in the title too",
            "document.getElementById('inbox-unread').textContent === '1' && \
             document.title.startsWith('(1) ')",
            SOON,
        )
        .await;
    bob.click("#inbox [data-filter=offline]").await;
    bob.click("#inbox [data-filter=open]").await;

    // A visitor writes to sales: Bob's inbox shows it at once, unread; Carol's does not.
    let (_, body) = visitor_starts(
        &server,
        json!({"visitor_token": ERIK, "group": "sales", "name": "Erik <b>",
               "text": "Is the <i>blue</i> one in stock?"}),
    )
    .await;
    assert_eq!(body["delivery"], "live", "{body}");
    let erik = body["conversation"]["id"].as_str().expect("id").to_owned();
    let erik_item = conversation_item(&erik);
    bob.wait_for_attribute(&erik_item, "data-unread", "true", SOON)
        .await;
    bob.wait_for_attribute(&erik_item, "data-state", "open", SOON)
        .await;
    bob.wait_for_attribute("#inbox-unread", "data-count", "1", SOON)
        .await;
    let offline_for_bob = bob
        .eval(&format!(
            "return document.querySelector({}) === null",
            json!(dana_item)
        ))
        .await;
    assert_eq!(
        offline_for_bob, true,
        "Bob must not get support's conversation"
    );
    carol.click("#inbox [data-filter=open]").await;
    let erik_for_carol = carol
        .eval(&format!(
            "return document.querySelector({}) === null",
            json!(erik_item)
        ))
        .await;
    assert_eq!(
        erik_for_carol, true,
        "Carol must not get sales' conversation"
    );

    // Bob opens it: read, the visitor's text shown as text.
    bob.click(&erik_item).await;
    bob.wait_for_attribute(&erik_item, "data-unread", "false", SOON)
        .await;
    bob.wait_for_attribute("#inbox-unread", "data-count", "0", SOON)
        .await;
    let first = bob
        .wait_until(
            "the visitor's message in the conversation",
            "(function () { var m = document.querySelector('#conversation [data-author=visitor]'); \
             return m && m.textContent; })()",
            SOON,
        )
        .await;
    assert!(
        first
            .as_str()
            .is_some_and(|t| t.contains("Is the <i>blue</i> one in stock?")),
        "{first}"
    );
    assert_eq!(
        bob.eval("return document.querySelectorAll('#conversation i, #inbox b').length")
            .await,
        0,
        "visitor text must never become HTML"
    );

    // He answers on two lines with Shift+Enter, and sends with Enter.
    let reply = bob.find("#reply textarea[name=text]").await;
    reply.send_keys("Yes, it is.").await.expect("type");
    reply
        .send_keys(&format!("{SHIFT}{ENTER}{SHIFT}In blue and red.{ENTER}"))
        .await
        .expect("type");
    let sent = bob
        .wait_until(
            "the reply in the conversation",
            "(function () { var m = document.querySelector('#conversation [data-author=agent]'); \
             return m && m.querySelector('.b').textContent; })()",
            SOON,
        )
        .await;
    assert_eq!(sent, "Yes, it is.\nIn blue and red.");
    // The row's preview follows the newest message, live.
    bob.wait_until(
        "Erik's row previewing the reply",
        &format!(
            "{} === 'Reply: Yes, it is.\\nIn blue and red.'",
            row_preview(&erik_item)
        ),
        SOON,
    )
    .await;
    let stored = server
        .get_ok(&format!("/api/v1/conversations/{erik}"), Some(&bob_token))
        .await;
    let authors: Vec<_> = stored["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["author"].clone(), m["text"].clone()))
        .collect();
    assert_eq!(
        authors,
        [
            (json!("visitor"), json!("Is the <i>blue</i> one in stock?")),
            (json!("agent"), json!("Yes, it is.\nIn blue and red.")),
        ]
    );
    assert_eq!(
        bob.eval("return document.querySelector('#reply textarea').value")
            .await,
        ""
    );

    // The visitor writes again: it shows in the open conversation, and stays read.
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/demo/conversations/{erik}/messages"),
            None,
            json!({"visitor_token": ERIK, "text": "Great, I'll take it."}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    bob.wait_until(
        "the visitor's second message",
        "document.querySelectorAll('#conversation [data-message-id]').length === 3",
        SOON,
    )
    .await;
    bob.wait_for_attribute(&erik_item, "data-unread", "false", SOON)
        .await;

    // He closes it: confirmed, read-only, listed under Closed.
    bob.click("#close-conversation").await;
    bob.client.accept_alert().await.expect("confirm closing");
    bob.wait_for_attribute("#conversation", "data-state", "closed", SOON)
        .await;
    let read_only = bob
        .eval(
            "return document.getElementById('reply').hidden && \
             document.getElementById('close-conversation').hidden",
        )
        .await;
    assert_eq!(read_only, true, "a closed conversation is read-only");
    bob.click("#inbox [data-filter=closed]").await;
    bob.wait_for_attribute(&erik_item, "data-state", "closed", SOON)
        .await;

    for browser in [bob, carol] {
        browser.close().await;
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_brings_what_visitors_wrote_while_its_stream_was_down() {
    if !runs_with(
        "the_inbox_brings_what_visitors_wrote_while_its_stream_was_down",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let demo = || Options {
        demo: true,
        ..Options::default()
    };
    let server = Server::start_with(&database, demo());
    let address = server
        .base
        .strip_prefix("http://")
        .expect("an http address")
        .to_owned();
    let (_, body) = visitor_starts(
        &server,
        json!({"visitor_token": DANA, "name": "Dana", "email": "dana@example.com",
               "text": "First question"}),
    )
    .await;
    let dana = body["conversation"]["id"].as_str().expect("id").to_owned();
    let driver = Chromedriver::start().await;
    let alice = Browser::new(&driver).await; // in no group: she gets every conversation
    alice
        .log_in_to_dashboard(&server, &demo_login(ALICE, "Alice's laptop"))
        .await;
    alice.click("#inbox [data-filter=offline]").await;
    alice
        .wait_for_attribute(&conversation_item(&dana), "data-unread", "true", SOON)
        .await;
    alice.click(&conversation_item(&dana)).await;
    alice
        .wait_until(
            "Dana's message, read",
            "document.querySelectorAll('#conversation [data-author=visitor]').length === 1 && \
             document.getElementById('inbox-unread').dataset.count === '0'",
            SOON,
        )
        .await;

    // The server goes away; visitors write through another one the dashboard does not know.
    let mut server = server;
    server.stop();
    alice
        .wait_until(
            "the dashboard notices",
            "document.getElementById('conn').dataset.state !== 'live'",
            SOON,
        )
        .await;
    let erik = {
        let mut elsewhere = Server::start_with(&database, demo());
        let (status, body) = elsewhere
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/accounts/demo/conversations/{dana}/messages"),
                None,
                json!({"visitor_token": DANA, "text": "Second question"}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
        let (_, body) = visitor_starts(
            &elsewhere,
            json!({"visitor_token": ERIK, "email": "erik@example.com", "text": "Hello?"}),
        )
        .await;
        elsewhere.stop();
        body["conversation"]["id"].as_str().expect("id").to_owned()
    };

    // Back on its address: the reopened stream makes the dashboard fetch the inbox and the
    // open conversation again.
    let mut server = Server::start_with(
        &database,
        Options {
            listen: Some(&address),
            ..demo()
        },
    );
    alice
        .wait_for_attribute(&conversation_item(&erik), "data-unread", "true", RECOVERY)
        .await;
    alice
        .wait_until(
            "Dana's second message in the open conversation",
            "Array.from(document.querySelectorAll('#conversation [data-author=visitor]'))\
             .map(function (m) { return m.querySelector('.b').textContent; })\
             .join('|') === 'First question|Second question'",
            SOON,
        )
        .await;
    alice
        .wait_for_attribute(&conversation_item(&dana), "data-unread", "false", SOON)
        .await;
    alice
        .wait_for_attribute("#inbox-unread", "data-count", "1", SOON)
        .await;

    alice.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_writes_an_agent_answers_from_the_dashboard_and_the_visitor_sees_it() {
    if !runs_with(
        "a_visitor_writes_an_agent_answers_from_the_dashboard_and_the_visitor_sees_it",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, token) = server_with_account(&database).await;
    let site = CustomerSite::start(&server.base, acme()).await;
    let driver = Chromedriver::start().await;

    // The agent, online on the dashboard.
    let agent = Browser::new(&driver).await;
    log_in(&agent, &server, "Agent's laptop").await;
    agent.click("#me").await;
    agent.click("#menu button[data-status=online]").await;
    agent
        .wait_for_attribute("#chosen", "data-status", "online", SOON)
        .await;

    // Their picture, chosen in the profile: the chat box shows it on their answer.
    let pictures = tempfile::tempdir().expect("temp dir");
    let png = pictures.path().join("olga.png");
    std::fs::write(&png, ONE_PIXEL_PNG).expect("write the picture");
    agent.click("#picture-box summary").await;
    agent
        .find("#my-picture")
        .await
        .send_keys(png.to_str().expect("a UTF-8 path"))
        .await
        .expect("choose the picture");
    let said = agent
        .wait_until(
            "the picture saved",
            "(function () { var m = document.querySelector('#picture-msg'); \
             return m.classList.contains('ok') && m.textContent; })()",
            SOON,
        )
        .await;
    assert_eq!(said, "Saved: visitors see your picture on your replies.");
    let avatar_url = server.get_ok("/api/v1/me", Some(&token)).await["avatar_url"].clone();
    let avatar_url = avatar_url.as_str().expect("a picture").to_owned();
    assert_eq!(
        agent
            .eval(
                "var i = document.querySelector('#avatar-img'); \
                 return !i.hidden && i.getAttribute('src')"
            )
            .await,
        json!(avatar_url),
        "the dashboard shows it on the agent's badge"
    );

    // The visitor, in another browser, on the customer's page: opens the chat and writes.
    let visitor = Browser::new(&driver).await;
    visitor.goto(&site.url).await;
    visitor.wait_for_chatbox("online", LOAD).await;
    let bubble = visitor.find_in_chatbox(".bubble").await;
    bubble.click().await.expect("click the chat bubble");
    visitor
        .wait_until(
            "the chat panel",
            &format!("!{CHATBOX}.querySelector('.panel').hidden"),
            SOON,
        )
        .await;
    let question = "Hello! Is the blue teapot still in stock?";
    let text = visitor.find_in_chatbox("#chat-text").await;
    text.send_keys(question)
        .await
        .expect("type into the chat box");
    let send = visitor
        .find_in_chatbox("form:has(#chat-text) button[type=submit]")
        .await;
    send.click().await.expect("click Send");
    visitor
        .wait_until(
            "the visitor's message in the chat box",
            &format!(
                "{CHATBOX}.querySelector('.log').textContent.includes({})",
                json!(question)
            ),
            SOON,
        )
        .await;

    // The agent's inbox shows it at once, unread; the agent opens it and answers.
    let id = agent
        .wait_until(
            "the conversation in the agent's inbox",
            "(function () { var c = document.querySelector('#inbox [data-conversation-id]\
             [data-state=open][data-unread=true]'); return c && c.dataset.conversationId; })()",
            SOON,
        )
        .await;
    let id = id.as_str().expect("a conversation id").to_owned();
    agent
        .wait_for_attribute("#inbox-unread", "data-count", "1", SOON)
        .await;
    agent.click(&conversation_item(&id)).await;
    let shown = agent
        .wait_until(
            "the visitor's message on the dashboard",
            "(function () { var m = document.querySelector('#conversation [data-author=visitor]'); \
             return m && m.querySelector('.b').textContent; })()",
            SOON,
        )
        .await;
    assert_eq!(shown, question);
    // Where the visitor wrote from: the customer's page, a link that opens apart.
    let page = agent
        .eval(
            "var a = document.querySelector('#conv-meta .conv-page a'); \
             return a && [a.textContent, a.href, a.rel];",
        )
        .await;
    assert_eq!(
        page,
        json!(["Customer shop", site.url, "noopener noreferrer"]),
        "the page the visitor wrote from"
    );
    agent
        .wait_for_attribute(&conversation_item(&id), "data-unread", "false", SOON)
        .await;
    let answer = "Hi! Yes, we have three left — shall I put one aside for you?";
    let reply = agent.find("#reply textarea[name=text]").await;
    reply.send_keys(answer).await.expect("type the answer");
    // While the agent types, the chat box says who is writing, in a polite live region.
    let typing = visitor
        .wait_until(
            "the agent typing, in the chat box",
            &format!(
                "(function () {{ var t = {CHATBOX}.querySelector('.typing'); \
                 return t && !t.hidden && t.getAttribute('aria-live') === 'polite' \
                 && t.textContent; }})()"
            ),
            SOON,
        )
        .await;
    assert_eq!(typing, "Olga Owner is typing…");
    reply.send_keys(ENTER).await.expect("send the answer");
    let sent_at = Instant::now();

    // The visitor's chat box shows the answer, as an agent's.
    visitor
        .wait_until(
            "the agent's answer in the chat box",
            &format!(
                "{CHATBOX}.querySelector('.log').textContent.includes({})",
                json!(answer)
            ),
            SOON,
        )
        .await;
    println!(
        "the visitor saw the answer {} ms after the agent pressed Enter",
        sent_at.elapsed().as_millis()
    );
    let texts = visitor
        .eval(&format!(
            "return Array.from({CHATBOX}.querySelectorAll('.log .m')).map(function (m) {{ \
             return m.textContent; }})"
        ))
        .await;
    let texts: Vec<String> = serde_json::from_value(texts).expect("texts");
    assert_eq!(
        texts.len(),
        2,
        "the question and the answer, once each: {texts:?}"
    );
    assert!(texts[0].contains(question), "{texts:?}");
    assert!(texts[1].contains(answer), "{texts:?}");
    assert_eq!(
        visitor
            .eval(&format!(
                "return {CHATBOX}.querySelector('.log .a .who').textContent"
            ))
            .await,
        json!("Olga Owner"),
        "the chat box names who answered"
    );
    let picture = visitor
        .wait_until(
            "the agent's picture beside the answer, loaded from the server",
            &format!(
                "(function () {{ var i = {CHATBOX}.querySelector('.log .a img.av'); \
                 return i && i.complete && i.naturalWidth === 1 && [i.src, i.alt]; }})()"
            ),
            SOON,
        )
        .await;
    assert_eq!(picture, json!([server.url(&avatar_url), ""]));
    assert_eq!(
        visitor
            .eval(&format!("return {CHATBOX}.querySelector('.typing').hidden"))
            .await,
        json!(true),
        "the answer came: nobody is typing any more"
    );
    agent
        .wait_until(
            "the answer on the dashboard",
            "document.querySelectorAll('#conversation [data-author=agent]').length === 1",
            SOON,
        )
        .await;
    assert_eq!(
        agent
            .eval(
                "var i = document.querySelector('#conversation [data-author=agent] .pic img'); \
                 return i && i.getAttribute('src')"
            )
            .await,
        json!(avatar_url),
        "the dashboard shows the picture beside the answer too"
    );

    // The visitor types (without sending): the dashboard says so under the conversation, and
    // stops saying it a few seconds after the last keystroke.
    text.send_keys("Yes please")
        .await
        .expect("type in the chat box");
    let typing = agent
        .wait_until(
            "the visitor typing, on the dashboard",
            "(function () { var t = document.querySelector('#conv-typing'); \
             return t && !t.hidden && t.textContent; })()",
            SOON,
        )
        .await;
    assert_eq!(typing, "Visitor is typing…");
    agent
        .wait_until(
            "the typing note gone",
            "document.querySelector('#conv-typing').hidden",
            Duration::from_secs(8),
        )
        .await;

    for browser in [agent, visitor] {
        browser.close().await;
    }
    server.stop();
}

/// The chat between a visitor and an agent in cluster mode: two nodes on one PostgreSQL and one
/// Redis, Debian's nginx in front of both (round-robin, `proxy_buffering off`).
///
/// Round-robin cannot be told where to send a request, so the two who chat are pinned to
/// different nodes by their addresses, and every node's `/metrics` is asked where their event
/// streams are:
/// - the visitor's chat box is embedded from node A's address: its status stream, its
///   conversation stream and its posts are all on A;
/// - the agent's dashboard is opened on node B's address: its stream, its status change and
///   its reply are all on B.
///
/// So each step of the chat crosses from one node to the other (through Redis and
/// PostgreSQL). Through nginx go: a second shopper's chat box on the same site, embedded from
/// the load balancer's address (the loader, the wasm and its status stream through the proxy,
/// on whichever node round-robin picks), which must follow the agent's status live too; the
/// conversation read back as the agent; and the agent going offline at the end, which must
/// reach both chat boxes and the dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_and_an_agent_on_different_nodes_behind_a_load_balancer_chat() {
    if !runs_with(
        "a_visitor_and_an_agent_on_different_nodes_behind_a_load_balancer_chat",
        &[Tool::Chromium, Tool::WidgetBuild, Tool::Nginx],
    ) {
        return;
    }
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let mut nodes = Cluster::start(2, &database, &redis, &[]);
    let [a, b] = &nodes[..] else { unreachable!() };
    let balancer = LoadBalancer::start(&[a, b]);
    require_widget(a).await;
    require_widget(b).await;
    let owner = a.create_account("acme").await;

    let visitor_site = CustomerSite::start(&a.base, acme()).await;
    let shopper_site = CustomerSite::start(&balancer.base(), acme()).await;
    let driver = Chromedriver::start().await;
    let visitor = Browser::new(&driver).await;
    visitor.goto(&visitor_site.url).await;
    visitor.wait_for_chatbox("offline", LOAD).await;
    let shopper = Browser::new(&driver).await;
    shopper.goto(&shopper_site.url).await;
    shopper.wait_for_chatbox("offline", LOAD).await;
    // The visitor's status stream on A; the shopper's, through nginx, on either node.
    let (on_a, on_b) = (open_streams(a).await, open_streams(b).await);
    assert_eq!(on_a.status + on_b.status, 2, "A: {on_a:?}, B: {on_b:?}");
    assert!(on_a.status >= 1, "the visitor's status stream: A: {on_a:?}");
    println!(
        "the shopper's status stream went through nginx to node {}",
        if on_b.status == 1 { "B" } else { "A" }
    );

    // The agent, on node B: logs in and goes online; both chat boxes follow.
    let agent = Browser::new(&driver).await;
    log_in(&agent, b, "Agent's laptop").await;
    wait_for_streams(b, "the dashboard's stream on B", |s| s.agent == 1).await;
    assert_eq!(
        open_streams(a).await.agent,
        0,
        "the dashboard must be on B only"
    );
    agent.click("#me").await;
    agent.click("#menu button[data-status=online]").await;
    agent
        .wait_for_attribute("#chosen", "data-status", "online", SOON)
        .await;
    visitor.wait_for_chatbox("online", SOON).await;
    shopper.wait_for_chatbox("online", SOON).await;

    // The visitor, through node A, opens the chat and writes.
    visitor
        .find_in_chatbox(".bubble")
        .await
        .click()
        .await
        .expect("click the chat bubble");
    visitor
        .wait_until(
            "the chat panel",
            &format!("!{CHATBOX}.querySelector('.panel').hidden"),
            SOON,
        )
        .await;
    let question = "Hello from node A! Is the green teapot still in stock?";
    visitor
        .find_in_chatbox("#chat-text")
        .await
        .send_keys(question)
        .await
        .expect("type into the chat box");
    visitor
        .find_in_chatbox("form:has(#chat-text) button[type=submit]")
        .await
        .click()
        .await
        .expect("click Send");
    visitor
        .wait_until(
            "the visitor's message in the chat box",
            &format!(
                "{CHATBOX}.querySelector('.log').textContent.includes({})",
                json!(question)
            ),
            SOON,
        )
        .await;
    wait_for_streams(a, "the visitor's conversation stream on A", |s| {
        s.conversation == 1
    })
    .await;
    assert_eq!(
        open_streams(b).await.conversation,
        0,
        "the visitor's conversation stream must be on A only"
    );

    // The agent's inbox, on B, shows it; the agent opens it and answers.
    let id = agent
        .wait_until(
            "the conversation in the agent's inbox",
            "(function () { var c = document.querySelector('#inbox [data-conversation-id]\
             [data-state=open][data-unread=true]'); return c && c.dataset.conversationId; })()",
            SOON,
        )
        .await;
    let id = id.as_str().expect("a conversation id").to_owned();
    agent
        .wait_for_attribute("#inbox-unread", "data-count", "1", SOON)
        .await;
    agent.click(&conversation_item(&id)).await;
    let shown = agent
        .wait_until(
            "the visitor's message on the dashboard",
            "(function () { var m = document.querySelector('#conversation [data-author=visitor]'); \
             return m && m.querySelector('.b').textContent; })()",
            SOON,
        )
        .await;
    assert_eq!(shown, question);
    let answer = "Hi from node B! Yes, two left — shall I put one aside for you?";
    agent
        .find("#reply textarea[name=text]")
        .await
        .send_keys(&format!("{answer}{ENTER}"))
        .await
        .expect("type the answer");
    let sent_at = Instant::now();

    // The visitor's chat box, on A, shows the answer; nothing twice, on either side.
    visitor
        .wait_until(
            "the agent's answer in the chat box",
            &format!(
                "{CHATBOX}.querySelector('.log').textContent.includes({})",
                json!(answer)
            ),
            SOON,
        )
        .await;
    println!(
        "the visitor on node A saw the answer {} ms after the agent on node B pressed Enter",
        sent_at.elapsed().as_millis()
    );
    let texts = visitor
        .eval(&format!(
            "return Array.from({CHATBOX}.querySelectorAll('.log .m')).map(function (m) {{ \
             return m.textContent; }})"
        ))
        .await;
    let texts: Vec<String> = serde_json::from_value(texts).expect("texts");
    assert_eq!(
        texts.len(),
        2,
        "the question and the answer, once each: {texts:?}"
    );
    assert!(texts[0].contains(question), "{texts:?}");
    assert!(texts[1].contains(answer), "{texts:?}");
    agent
        .wait_until(
            "the answer on the dashboard",
            "document.querySelectorAll('#conversation [data-author=agent]').length === 1",
            SOON,
        )
        .await;
    assert_eq!(
        agent
            .eval("return document.querySelectorAll('#conversation [data-message-id]').length")
            .await,
        2,
        "the dashboard shows the question and the answer once each"
    );

    // Through nginx: the conversation as stored, once each.
    let (status, stored) = balancer
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{stored}");
    let messages: Vec<_> = stored["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["author"].clone(), m["text"].clone()))
        .collect();
    assert_eq!(
        messages,
        [
            (json!("visitor"), json!(question)),
            (json!("agent"), json!(answer)),
        ]
    );
    // The shopper's chat box is still empty: the conversation is the visitor's alone.
    assert_eq!(
        shopper
            .eval(&format!(
                "return {CHATBOX}.querySelectorAll('.log .m').length"
            ))
            .await,
        0
    );

    // The agent goes offline through nginx: both chat boxes and the dashboard follow.
    let (status, body) = balancer
        .request(
            reqwest::Method::PUT,
            "/api/v1/me/status",
            Some(&owner),
            json!({"status": "offline"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    visitor.wait_for_chatbox("offline", SOON).await;
    shopper.wait_for_chatbox("offline", SOON).await;
    agent
        .wait_for_attribute("#chosen", "data-status", "offline", SOON)
        .await;
    assert_eq!(
        shown_statuses(&visitor).await,
        ["connecting", "offline", "online", "offline"]
    );
    assert_eq!(
        shown_statuses(&shopper).await,
        ["connecting", "offline", "online", "offline"]
    );

    for browser in [agent, visitor, shopper] {
        browser.close().await;
    }
    drop(balancer);
    for node in &mut nodes {
        node.stop();
    }
}

/// A node's open event streams, from its `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct OpenStreams {
    status: u64,
    agent: u64,
    conversation: u64,
}

async fn open_streams(node: &Server) -> OpenStreams {
    let text = node
        .client
        .get(node.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    let gauge = |kind: &str| {
        let name = format!("onair_open_streams{{kind=\"{kind}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(name.as_str()))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name}in:\n{text}"))
    };
    OpenStreams {
        status: gauge("status"),
        agent: gauge("agent"),
        conversation: gauge("conversation"),
    }
}

/// Waits until `node`'s open streams satisfy `holds`: a stream is counted once the server has
/// taken it, which may be a moment after the page has shown what it sent.
async fn wait_for_streams(node: &Server, what: &str, holds: impl Fn(&OpenStreams) -> bool) {
    let deadline = Instant::now() + SOON;
    loop {
        let streams = open_streams(node).await;
        if holds(&streams) {
            return;
        }
        if Instant::now() >= deadline {
            panic!("{what}: not within {SOON:?}; {} has {streams:?}", node.base);
        }
        tokio::time::sleep(onair_tests::browser::POLL).await;
    }
}

/// The chat box's shadow root, in the page's JavaScript.
const CHATBOX: &str = "document.querySelector('#onair-chatbox').shadowRoot";
const DEMO_PASSWORD: &str = "onair-demo";
const ALICE: &str = "alice@demo.onair";
const BOB: &str = "bob@demo.onair";
const CAROL: &str = "carol@demo.onair";
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_an_installable_app_that_notifies_of_a_visitor_message() {
    if !runs_with(
        "the_dashboard_is_an_installable_app_that_notifies_of_a_visitor_message",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let (mut server, _) = server_with_account(&database).await;

    // The manifest and what it names.
    let (status, manifest) = server.get("/manifest.webmanifest", None).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{manifest}");
    assert_eq!(manifest["start_url"], "/dashboard");
    assert_eq!(manifest["display"], "standalone");
    let icons = manifest["icons"].as_array().expect("icons");
    for size in ["192x192", "512x512"] {
        for purpose in ["any", "maskable"] {
            let icon = icons
                .iter()
                .find(|i| i["sizes"] == size && i["purpose"] == purpose && i["type"] == "image/png")
                .unwrap_or_else(|| panic!("a {purpose} {size} PNG in {manifest}"));
            let url = server.url(icon["src"].as_str().expect("src"));
            let bytes = server
                .client
                .get(&url)
                .send()
                .await
                .expect("icon")
                .bytes()
                .await
                .expect("bytes");
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{url} is a PNG");
            // IHDR: width and height as the manifest says.
            let width = u32::from_be_bytes(bytes[16..20].try_into().expect("width"));
            assert_eq!(format!("{width}x{width}"), size, "{url}");
        }
    }

    let driver = Chromedriver::start().await;
    let agent = Browser::new(&driver).await;
    log_in(&agent, &server, "Agent's laptop").await;
    agent
        .wait_until(
            "the service worker",
            "navigator.serviceWorker.ready.then(function (r) { \
             return !!r.active && r.active.scriptURL.endsWith('/sw.js') && r.scope; })",
            SOON,
        )
        .await;
    assert_eq!(
        agent
            .eval("return document.querySelector('link[rel=manifest]').href")
            .await,
        json!(server.url("/manifest.webmanifest"))
    );
    // Nothing was asked on load.
    assert_eq!(
        agent.eval("return Notification.permission").await,
        json!("default")
    );
    assert_eq!(
        agent.attribute("#notify-enable", "hidden").await,
        None,
        "the button shows"
    );

    // This Chromium has no push service to reach (no network here), and a push operation it
    // cannot finish stays pending and holds up the notifications the page shows; so the page
    // is given a browser whose push service refuses at once, as an offline one does. Push
    // delivery itself is tested against a push service in the API tests.
    agent
        .eval(
            "PushManager.prototype.getSubscription = function () { return Promise.resolve(null); }; \
             PushManager.prototype.subscribe = function () { \
               return Promise.reject(new DOMException('no push service here', 'AbortError')); };",
        )
        .await;
    // The agent says yes (the browser's prompt, answered through DevTools) on the click.
    agent.grant_notifications(&origin(&server.base)).await;
    agent.click("#notify-enable").await;
    let said = agent
        .wait_until(
            "notifications on, without push",
            "!document.getElementById('notify-disable').hidden && \
             document.getElementById('notify-state').textContent.includes('not available') && \
             document.getElementById('notify-state').textContent",
            SOON,
        )
        .await;
    assert!(
        said.as_str()
            .is_some_and(|s| s.contains("Notifications are on while the dashboard is open")),
        "{said}"
    );

    // What the page asks its service worker registration to show, and whether the browser
    // accepted it. (Chromium here resolves `showNotification` but then, in about half the
    // runs, leaves the notification out of `getNotifications()`: it has no desktop to show
    // it on. So the test reads the calls, not that list.)
    agent
        .eval(
            "window.shownNotifications = []; \
             var show = ServiceWorkerRegistration.prototype.showNotification; \
             ServiceWorkerRegistration.prototype.showNotification = function (title, options) { \
               var entry = [title, options.body, options.tag, options.data && options.data.url, 'pending']; \
               window.shownNotifications.push(entry); \
               return show.call(this, title, options).then(function (v) { entry[4] = 'shown'; return v; }, \
                 function (e) { entry[4] = 'refused: ' + e; throw e; }); };",
        )
        .await;
    // A visitor starts a conversation: a notification, and the unread count on the favicon.
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": DANA, "name": "Dana", "email": "dana@example.com",
                   "text": "Do you ship to Norway?"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let id = body["conversation"]["id"].as_str().expect("id").to_owned();
    let shown = agent
        .wait_until(
            "a notification",
            "window.shownNotifications.length && \
             window.shownNotifications.every(function (n) { return n[4] !== 'pending'; }) && \
             window.shownNotifications",
            SOON,
        )
        .await;
    assert_eq!(
        shown,
        json!([[
            "New conversation from Dana",
            "Do you ship to Norway?",
            format!("conversation-{id}"),
            format!("/dashboard#conversation={id}"),
            "shown"
        ]])
    );
    agent
        .wait_for_attribute("link[rel=icon]", "data-count", "1", SOON)
        .await;
    assert!(
        agent
            .eval(
                "return document.querySelector('link[rel=icon]').href.startsWith('data:image/png')"
            )
            .await
            == json!(true),
        "the favicon carries the count"
    );

    // The notification's link opens the conversation.
    agent
        .eval_with(
            "location.hash = arguments[0]",
            vec![json!(format!("#conversation={id}"))],
        )
        .await;
    agent
        .wait_for_attribute("#conversation", "data-id", &id, SOON)
        .await;

    agent.close().await;
    server.stop();
}

/// Visitor tokens: 32 hex characters, 128 bits, as a widget would make them.
/// While the agent's pointer or focus is in the inbox, rows keep their places: a row about to
/// be clicked or being read does not jump away when another conversation gets a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_rows_keep_their_places_while_the_agent_is_in_the_list() {
    if !runs_with(
        "inbox_rows_keep_their_places_while_the_agent_is_in_the_list",
        &[Tool::Chromium, Tool::WidgetBuild],
    ) {
        return;
    }
    let database = Database::new();
    let mut server = demo_server(&database);
    let mut ids = Vec::new();
    for (token, name) in [(DANA, "Dana"), (ERIK, "Erik")] {
        let (status, body) = visitor_starts(
            &server,
            json!({"visitor_token": token, "group": "support", "name": name,
                   "email": "v@example.com", "text": "Hello?"}),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
        ids.push(body["conversation"]["id"].as_str().expect("id").to_owned());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (dana, erik) = (ids[0].clone(), ids[1].clone());
    let driver = Chromedriver::start().await;
    let carol = Browser::new(&driver).await;
    carol
        .log_in_to_dashboard(&server, &demo_login(CAROL, "Carol's laptop"))
        .await;
    carol.click("#inbox [data-filter=offline]").await;
    let order = "Array.from(document.querySelectorAll('#conversation-list .conv'))\
                 .map(function (b) { return b.dataset.conversationId; }).join(',')";
    let newest_first = |a: &str, b: &str| format!("{order} === '{a},{b}'");
    carol
        .wait_until("Erik's newer row first", &newest_first(&erik, &dana), SOON)
        .await;

    // Carol is on Dana's row (keyboard focus) when Dana writes again: Dana's conversation is
    // now the newest, yet the rows stay put while she is there.
    carol
        .eval(&format!(
            "document.querySelector({}).focus(); return true",
            json!(conversation_item(&dana))
        ))
        .await;
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/demo/conversations/{dana}/messages"),
            None,
            json!({"visitor_token": DANA, "text": "Anyone there?"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let row_preview = format!(
        "(function () {{ var p = document.querySelector({}); \
         return p && p.querySelector('.conv-prev').textContent; }})() === 'Anyone there?'",
        json!(conversation_item(&dana))
    );
    carol
        .wait_until("Dana's row updated in place", &row_preview, SOON)
        .await;
    assert_eq!(
        carol.eval(&format!("return {order}")).await,
        format!("{erik},{dana}"),
        "the rows moved while Carol was on them"
    );

    // She leaves the list: now it is sorted, Dana first.
    carol
        .eval("document.activeElement.blur(); return true")
        .await;
    carol
        .wait_until(
            "Dana's row first once Carol left",
            &newest_first(&dana, &erik),
            SOON,
        )
        .await;

    // Alice answers Dana; Carol, no admin, sees her colleague's name on the reply.
    let alice = server.login_ok("demo", ALICE, DEMO_PASSWORD).await;
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{dana}/messages"),
            Some(&alice),
            json!({"text": "We do ship to Norway."}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    // Answered, it is open now. Clicked from a script: the row is redrawn as the reply comes.
    carol.click("#inbox [data-filter=open]").await;
    carol
        .wait_until(
            "Dana's row among the open ones, opened",
            &format!(
                "(function () {{ var b = document.querySelector({}); if (b) b.click(); return !!b; }})()",
                json!(conversation_item(&dana))
            ),
            SOON,
        )
        .await;
    let by = carol
        .wait_until(
            "Alice's reply in the conversation",
            "(function () { var m = document.querySelector('#conversation [data-author=agent] .by'); \
             return m && m.textContent; })()",
            SOON,
        )
        .await;
    assert!(
        by.as_str().is_some_and(|t| t.starts_with("Alice Admin · ")),
        "{by}"
    );
    carol.close().await;
    server.stop();
}

const DANA: &str = "0d4a1c9e7b3f4e2a8c6d5b1a9f0e3c7d";
const ERIK: &str = "e71c5a0b9d2e4f6a8b3c1d7e5f9a0b2c";
/// WebDriver's keys (the W3C key codes).
const SHIFT: &str = "\u{E008}";
const ENTER: &str = "\u{E007}";

fn demo_login<'a>(email: &'a str, device: &'a str) -> Login<'a> {
    Login {
        account: "demo",
        email,
        password: DEMO_PASSWORD,
        device,
    }
}

/// The inbox's list item of a conversation.
/// `onair serve --demo` on `database`: the account `demo` with its groups and agents.
fn demo_server(database: &Database) -> Server {
    Server::start_with(
        database,
        Options {
            demo: true,
            ..Options::default()
        },
    )
}

fn conversation_item(id: &str) -> String {
    format!("#inbox [data-conversation-id=\"{id}\"]")
}

/// `POST /accounts/demo/conversations` as a visitor.
async fn visitor_starts(
    server: &Server,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/demo/conversations",
            None,
            body,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    (status, body)
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

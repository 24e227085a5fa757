//! Accessibility, checked by axe-core in the real Chromium: no serious or critical violation in
//! the chat box in each of its states (closed, online, busy, a conversation with an agent typing,
//! the offline form, outside office hours), inside its shadow root, nor on any view of the
//! dashboard (login, status and inbox, an open conversation, each administration tab).
//!
//! axe-core comes from npm; `cargo xtask test` installs it and names it in `ONAIR_AXE`.

use std::time::Duration;

use onair_tests::browser::{Browser, Chromedriver, CustomerSite, Embed, Login, require_widget};
use onair_tests::*;
use serde_json::json;

/// The chat box's shadow root, in the page's JavaScript.
const CHATBOX: &str = "document.querySelector('#onair-chatbox').shadowRoot";

/// axe-core's `axe.min.js`: `ONAIR_AXE`, or the one `cargo xtask` installed.
fn axe_source() -> String {
    let path = axe_core().expect(
        "axe-core: set ONAIR_AXE to its axe.min.js, or run `cargo xtask test`, which installs it",
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// What axe reports as serious or critical within `include` (a selector; an element's open
/// shadow tree is part of it), one line per rule: its id, help and where.
async fn violations(browser: &Browser, axe: &str, include: &str) -> Vec<String> {
    // Defines `window.axe` in this page (once is enough; again does no harm).
    browser.eval(&format!("{axe}\n;return true;")).await;
    let found = browser
        .eval_with(
            "return axe.run({include: [arguments[0]]}, {resultTypes: ['violations']})\
             .then(function (r) { return r.violations\
               .filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; })\
               .map(function (v) { return v.id + ' (' + v.impact + '): ' + v.help + ' at ' + \
                 v.nodes.map(function (n) { return JSON.stringify(n.target); }).join(', '); }); });",
            vec![json!(include)],
        )
        .await;
    serde_json::from_value(found).expect("a list of violations")
}

/// Asserts that axe finds nothing serious in `include`, naming the state checked.
async fn assert_accessible(browser: &Browser, axe: &str, include: &str, state: &str) {
    let found = violations(browser, axe, include).await;
    assert!(
        found.is_empty(),
        "{state}: axe-core found {} serious or critical violation(s):\n{}",
        found.len(),
        found.join("\n")
    );
    println!("{state}: no serious or critical violation");
}

/// The panel's opening animation is over (axe measures colours as they are drawn).
async fn settle(browser: &Browser) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.eval("return true").await;
}

/// A server with the widget and the account `acme`, its owner online; the owner's token.
async fn acme_online(database: &Database) -> (Server, String) {
    let server = Server::start_with(
        database,
        Options {
            operator_token: Some(OPERATOR_TOKEN),
            ..Options::default()
        },
    );
    require_widget(&server).await;
    let owner = server.create_account("acme").await;
    server.set_status(&owner, "online").await;
    (server, owner)
}

#[tokio::test]
async fn the_chat_box_is_accessible_in_every_state() {
    if !runs_with(
        "the_chat_box_is_accessible_in_every_state",
        &[Tool::Chromium, Tool::WidgetBuild, Tool::AxeCore],
    ) {
        return;
    }
    let axe = axe_source();
    let database = Database::new();
    let (server, owner) = acme_online(&database).await;
    let site = CustomerSite::start(
        &server.base,
        Embed {
            account: "acme",
            ..Embed::default()
        },
    )
    .await;
    let driver = Chromedriver::start().await;
    let visitor = Browser::new(&driver).await;
    visitor.goto(&site.url).await;
    visitor.wait_for_chatbox("online", SOON).await;
    let chatbox = "#onair-chatbox";
    // The check itself: a button without a name, put into the shadow root, is found.
    visitor
        .eval(&format!(
            "{CHATBOX}.appendChild(document.createElement('button')).id = 'unnamed'; return true"
        ))
        .await;
    let found = violations(&visitor, &axe, chatbox).await;
    assert!(
        found.iter().any(|v| v.starts_with("button-name")),
        "axe must see into the shadow root: {found:?}"
    );
    visitor
        .eval(&format!(
            "{CHATBOX}.getElementById('unnamed').remove(); return true"
        ))
        .await;
    assert_accessible(&visitor, &axe, chatbox, "closed, online").await;

    visitor
        .find_in_chatbox(".bubble")
        .await
        .click()
        .await
        .expect("open the panel");
    visitor
        .wait_until(
            "the panel",
            &format!("!{CHATBOX}.querySelector('.panel').hidden"),
            SOON,
        )
        .await;
    settle(&visitor).await;
    assert_accessible(&visitor, &axe, chatbox, "open, online").await;

    // A conversation: the visitor's message, an agent's answer, the agent typing again.
    let text = visitor.find_in_chatbox("#chat-text").await;
    text.send_keys("Is the blue teapot in stock?")
        .await
        .expect("type");
    visitor
        .find_in_chatbox(".chat .send")
        .await
        .click()
        .await
        .expect("send");
    visitor
        .wait_until(
            "the visitor's message",
            &format!("{CHATBOX}.querySelectorAll('.log .m').length === 1"),
            SOON,
        )
        .await;
    let id = server.answer_newest(&owner, "Yes, three left.").await;
    server.agent_types(&owner, &id).await;
    visitor
        .wait_until(
            "the answer and the agent typing",
            &format!(
                "{CHATBOX}.querySelectorAll('.log .m').length === 2 \
                 && !{CHATBOX}.querySelector('.typing').hidden"
            ),
            SOON,
        )
        .await;
    assert_accessible(&visitor, &axe, chatbox, "a conversation, the agent typing").await;

    server.set_status(&owner, "busy").await;
    visitor.wait_for_chatbox("busy", SOON).await;
    assert_accessible(&visitor, &axe, chatbox, "busy").await;

    server.set_status(&owner, "offline").await;
    visitor.wait_for_chatbox("offline", SOON).await;
    visitor
        .wait_until(
            "the leave-a-message form",
            &format!("!{CHATBOX}.querySelector('.leave').hidden"),
            SOON,
        )
        .await;
    assert_accessible(&visitor, &axe, chatbox, "the offline form").await;

    // Outside office hours, opening again tomorrow: the chat box says when.
    server.set_status(&owner, "online").await;
    visitor.wait_for_chatbox("online", SOON).await;
    let (status, body) = server
        .request(
            reqwest::Method::PUT,
            "/api/v1/accounts/acme/office-hours",
            Some(&owner),
            closed_until_tomorrow(),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    visitor.wait_for_chatbox("offline", SOON).await;
    visitor
        .wait_until(
            "when it opens",
            &format!("!{CHATBOX}.querySelector('.back').hidden"),
            SOON,
        )
        .await;
    assert_accessible(&visitor, &axe, chatbox, "outside office hours").await;

    // And closed again.
    visitor
        .find_in_chatbox(".close")
        .await
        .click()
        .await
        .expect("close");
    assert_accessible(&visitor, &axe, chatbox, "closed, outside office hours").await;
    visitor.close().await;
}

#[tokio::test]
async fn every_view_of_the_dashboard_is_accessible() {
    if !runs_with(
        "every_view_of_the_dashboard_is_accessible",
        &[Tool::Chromium, Tool::WidgetBuild, Tool::AxeCore],
    ) {
        return;
    }
    let axe = axe_source();
    let database = Database::new();
    let (server, _owner) = acme_online(&database).await;
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": "0d4a1c9e7b3f4e2a8c6d5b1a9f0e3c7d", "name": "Vera",
                   "email": "vera@example.com", "text": "Do you ship to Norway?",
                   "page": {"url": "https://shop.example/teapots", "title": "Teapots"}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let driver = Chromedriver::start().await;
    let agent = Browser::new(&driver).await;
    agent.goto(&format!("{}/dashboard", server.base)).await;
    agent
        .wait_until(
            "the login form",
            "!document.querySelector('#login').hidden",
            SOON,
        )
        .await;
    assert_accessible(&agent, &axe, "body", "the login form").await;

    let email = owner_email("acme");
    let login = Login {
        account: "acme",
        email: &email,
        password: PASSWORD,
        device: "Laptop",
    };
    agent.log_in_to_dashboard(&server, &login).await;
    agent
        .wait_until(
            "the inbox",
            "document.querySelector('#inbox [data-conversation-id]')",
            SOON,
        )
        .await;
    assert_accessible(&agent, &axe, "body", "status and inbox").await;

    agent.click("#inbox [data-conversation-id]").await;
    agent
        .wait_until(
            "the conversation",
            "document.querySelector('#conversation [data-author=visitor]')",
            SOON,
        )
        .await;
    assert_accessible(&agent, &axe, "body", "an open conversation").await;

    for tab in ["settings", "groups", "agents", "hours", "webhooks"] {
        agent
            .click(&format!("#admin [role=tab][data-tab={tab}]"))
            .await;
        agent
            .wait_until(
                "the tab's panel",
                &format!("!document.querySelector('#panel-{tab}').hidden"),
                SOON,
            )
            .await;
        settle(&agent).await;
        assert_accessible(&agent, &axe, "body", &format!("administration: {tab}")).await;
    }
    agent.close().await;
}

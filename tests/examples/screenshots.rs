//! The README's pictures, taken in headless Chromium from a real `onair serve --demo`:
//!
//! ```sh
//! cargo xtask screenshots                        # builds the widget and server first
//! cargo run -p onair-tests --example screenshots  # with ONAIR_BIN, or builds `onair`
//! ```
//!
//! Writes PNGs into `docs/screenshots/`: the demo page with the chat box online (panel open),
//! busy, offline (the leave-a-message form) and closed by office hours (with when it opens),
//! and the agent dashboard (an agent's view, its inbox with a conversation open, the admin's
//! office-hours tab, and on a phone).

use std::path::{Path, PathBuf};

use onair_tests::browser::{Browser, BrowserOptions, Chromedriver, Login, require_widget};
use onair_tests::{Database, Options, PATIENCE, SOON, Server};
use serde_json::{Value, json};

const DEMO_PASSWORD: &str = "onair-demo";
const ALICE: &str = "alice@demo.onair";
const BOB: &str = "bob@demo.onair";

#[tokio::main]
async fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&out).expect("create docs/screenshots");
    let out = out.canonicalize().expect("docs/screenshots");

    let database = Database::new();
    let mut server = Server::start_with(
        &database,
        Options {
            demo: true,
            ..Options::default()
        },
    );
    require_widget(&server).await;
    // Alice is the admin, in no group: her status decides every chat box of the demo. Her
    // stream keeps her present while the pictures are taken.
    let alice = log_in_by_api(&server, ALICE, "Phone").await;
    let mut alice_stream = server
        .events(&format!("/api/v1/me/events?access_token={alice}"))
        .await;
    alice_stream.expect("agent").await;

    let driver = Chromedriver::start().await;
    let shots = Shots { out: out.clone() };

    // The demo page, as a visitor sees it.
    let visitor = Browser::new(&driver).await;
    server.set_status(&alice, "online").await;
    visitor.goto(&server.url("/")).await;
    wait_for_demo_page(&visitor, "online").await;
    open_panel(&visitor).await;
    shots.take(&visitor, "widget-online.png").await;

    server.set_status(&alice, "busy").await;
    wait_for_demo_page(&visitor, "busy").await;
    shots.take(&visitor, "widget-busy.png").await;

    server.set_status(&alice, "offline").await;
    wait_for_demo_page(&visitor, "offline").await;
    shots.take(&visitor, "widget-offline.png").await;
    // Meanwhile a visitor leaves a message for sales.
    visitor_writes(
        &server,
        json!({"visitor_token": SOFIA, "group": "sales", "name": "Sofia Keller",
               "email": "sofia@cafe-keller.example",
               "text": "Hello! Do you deliver to Vienna? I would like jasmine tea for our café."}),
    )
    .await;

    // The dashboard: Bob, a sales agent, online; Alice online too. Two visitors write to
    // sales.
    server.set_status(&alice, "online").await;
    let marta = visitor_writes(
        &server,
        json!({"visitor_token": MARTA, "group": "sales", "name": "Marta Novák",
               "text": "Hi! Do you have the Tie Guan Yin oolong in 250 g bags?"}),
    )
    .await;
    visitor_writes(
        &server,
        json!({"visitor_token": ANONYMOUS, "group": "sales",
               "text": "Is shipping to Austria free above 50 €?"}),
    )
    .await;
    let desktop = Browser::new(&driver).await;
    let bob = Login {
        account: "demo",
        email: BOB,
        password: DEMO_PASSWORD,
        device: "Laptop",
    };
    desktop.log_in_to_dashboard(&server, &bob).await;
    choose_status(&desktop, "online").await;
    desktop
        .wait_until(
            "the conversations in the inbox",
            "document.querySelectorAll('#inbox [data-conversation-id][data-unread=true]').length \
             === 2",
            SOON,
        )
        .await;
    settle(&desktop).await;
    shots.take(&desktop, "dashboard-agent.png").await;

    // Bob opens Marta's conversation and answers; she writes back.
    desktop
        .click(&format!("#inbox [data-conversation-id=\"{marta}\"]"))
        .await;
    desktop
        .wait_until(
            "Marta's message",
            "document.querySelector('#conversation [data-author=visitor]')",
            SOON,
        )
        .await;
    desktop
        .find("#reply textarea[name=text]")
        .await
        .send_keys(
            "Hello Marta, yes: 250 g bags are in stock, and today's orders leave tomorrow \
             morning.\u{E007}",
        )
        .await
        .expect("type the reply");
    desktop
        .wait_until(
            "the reply",
            "document.querySelector('#conversation [data-author=agent]')",
            SOON,
        )
        .await;
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/demo/conversations/{marta}/messages"),
            None,
            json!({"visitor_token": MARTA, "text": "Perfect, I'll take two. Thank you!"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    desktop
        .wait_until(
            "Marta's answer, and the other visitor still unread",
            "document.querySelectorAll('#conversation [data-message-id]').length === 3 && \
             document.getElementById('inbox-unread').dataset.count === '2'",
            SOON,
        )
        .await;
    desktop.eval("document.activeElement.blur()").await;
    settle(&desktop).await;
    shots.take(&desktop, "dashboard-inbox.png").await;

    let phone = Browser::with_options(&driver, BrowserOptions::phone()).await;
    phone
        .log_in_to_dashboard(
            &server,
            &Login {
                device: "Phone",
                ..bob
            },
        )
        .await;
    phone
        .wait_for_attribute("#chosen", "data-status", "online", SOON)
        .await;
    phone
        .wait_until(
            "both devices listed",
            "document.querySelectorAll('#devices li').length === 2",
            SOON,
        )
        .await;
    settle(&phone).await;
    shots.take(&phone, "dashboard-phone.png").await;
    phone.close().await;

    // Closed by office hours: open every day for eight hours from two hours after now, so
    // whenever this runs, the chat box is closed now and says when it opens.
    let hours = office_hours_opening_later();
    put_office_hours(&server, &alice, &hours).await;
    visitor.goto(&server.url("/")).await;
    wait_for_demo_page(&visitor, "offline").await;
    visitor
        .wait_until(
            "the chat box says when it opens",
            "(function () { var b = document.querySelector('#onair-chatbox').shadowRoot\
             .querySelector('.bubble .sub'); return b && !b.hidden && b.textContent; })()",
            SOON,
        )
        .await;
    open_panel(&visitor).await;
    shots
        .take(&visitor, "widget-outside-office-hours.png")
        .await;
    visitor.close().await;

    // The admin's office-hours tab, with a plan like a real shop's.
    put_office_hours(&server, &alice, &shop_office_hours()).await;
    desktop.click("#logout").await;
    let admin = Browser::with_options(
        &driver,
        BrowserOptions {
            height: 1180,
            ..BrowserOptions::default()
        },
    )
    .await;
    admin
        .log_in_to_dashboard(
            &server,
            &Login {
                email: ALICE,
                device: "Office desktop",
                ..bob
            },
        )
        .await;
    admin
        .wait_until(
            "the admin section",
            "!document.getElementById('admin').hidden",
            SOON,
        )
        .await;
    admin.click("#tab-hours").await;
    admin
        .wait_until(
            "the weekly plan",
            "document.querySelectorAll('#hours-week .iv').length >= 5",
            SOON,
        )
        .await;
    // The inbox comes first on the page: down to the administration.
    admin
        .eval("document.getElementById('admin').scrollIntoView()")
        .await;
    settle(&admin).await;
    shots.take(&admin, "dashboard-admin-office-hours.png").await;

    // The settings tab's chat box texts, edited in German: the account's own busy message,
    // the built-in texts shown where none is given.
    admin.click("#tab-settings").await;
    admin
        .eval(
            "const s = document.getElementById('text-lang'); s.value = 'de'; \
             s.dispatchEvent(new Event('change')); return true",
        )
        .await;
    admin
        .type_into(
            "#settings-form [name=busy_message]",
            "Gerade sind alle im Gespräch — wir melden uns gleich!",
        )
        .await;
    admin
        .eval("document.getElementById('texts').scrollIntoView(); return true")
        .await;
    settle(&admin).await;
    shots.take(&admin, "dashboard-admin-texts.png").await;

    // A conversation in the chat box: the visitor's question, Alice's answer under her name,
    // with a link and its time, and Alice typing again.
    put_office_hours(
        &server,
        &alice,
        &json!({"enabled": false, "timezone": "Europe/Prague"}),
    )
    .await;
    server.set_status(&alice, "online").await;
    let chatting = Browser::new(&driver).await;
    chatting.goto(&server.url("/")).await;
    wait_for_demo_page(&chatting, "online").await;
    open_panel(&chatting).await;
    let text = chatting.find_in_chatbox("#chat-text").await;
    text.send_keys("Hi! Is the Darjeeling first flush back in stock?")
        .await
        .expect("type a question");
    chatting
        .find_in_chatbox(".chat .send")
        .await
        .click()
        .await
        .expect("send it");
    chatting
        .wait_until(
            "the question sent",
            "document.querySelector('#onair-chatbox').shadowRoot.querySelectorAll('.log .m').length === 1",
            SOON,
        )
        .await;
    let id = server
        .answer_newest(
            &alice,
            "It is! Here it is: https://demo.onair.example/tea/darjeeling",
        )
        .await;
    server.agent_types(&alice, &id).await;
    chatting
        .wait_until(
            "the answer, and Alice typing",
            "(function () { var r = document.querySelector('#onair-chatbox').shadowRoot; \
             return r.querySelectorAll('.log .m').length === 2 && !r.querySelector('.typing').hidden; })()",
            SOON,
        )
        .await;
    settle(&chatting).await;
    shots.take(&chatting, "widget-conversation.png").await;

    for browser in [desktop, admin, chatting] {
        browser.close().await;
    }
    server.stop();
    println!("wrote the screenshots into {}", out.display());
}

struct Shots {
    out: PathBuf,
}

impl Shots {
    async fn take(&self, browser: &Browser, name: &str) {
        let png = browser.screenshot().await;
        let path = self.out.join(name);
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        println!("{name:<36} {:>8} bytes", png.len());
    }
}

/// Waits until the demo page's chat box and both department rows show `status` (the rows
/// follow the same account: Alice is in no group).
async fn wait_for_demo_page(browser: &Browser, status: &str) {
    browser.wait_for_chatbox(status, PATIENCE).await;
    for group in ["sales", "support"] {
        browser
            .wait_for_attribute(
                &format!(".group[data-group={group}]"),
                "data-status",
                status,
                SOON,
            )
            .await;
    }
    // Down to the live department rows, which follow along with the chat box.
    browser
        .eval("window.scrollTo(0, document.documentElement.scrollHeight)")
        .await;
    settle(browser).await;
}

/// Opens the chat box's panel with a real click on its bubble.
async fn open_panel(browser: &Browser) {
    let bubble = browser.find_in_chatbox(".bubble").await;
    bubble.click().await.expect("click the chat bubble");
    browser
        .wait_until(
            "the chat panel",
            "!document.querySelector('#onair-chatbox').shadowRoot.querySelector('.panel').hidden",
            SOON,
        )
        .await;
    settle(browser).await;
}

/// Waits until no CSS animation or transition runs, in the page or the chat box, so a
/// picture is never taken mid-way.
async fn settle(browser: &Browser) {
    browser
        .wait_until(
            "animations to finish",
            "(function () { var host = document.querySelector('#onair-chatbox'); \
             var all = document.getAnimations().concat(host && host.shadowRoot ? \
             host.shadowRoot.getAnimations() : []); \
             return all.every(function (a) { return a.playState !== 'running'; }); })()",
            SOON,
        )
        .await;
}

/// Picks `status` in the dashboard's status menu.
async fn choose_status(browser: &Browser, status: &str) {
    browser.click("#me").await;
    browser
        .click(&format!("#menu button[data-status={status}]"))
        .await;
    browser
        .wait_for_attribute("#chosen", "data-status", status, SOON)
        .await;
    // Leave the focus ring off the button in the picture.
    browser.eval("document.activeElement.blur()").await;
}

/// Visitor tokens, 128 random bits each, as the chat box makes them.
const SOFIA: &str = "5f0a9c2e7d4b4e1a8c3d6b2f9e0a7c41";
const MARTA: &str = "7b2d4f6a8c0e4a1b9d3f5e7a2c4b6d82";
const ANONYMOUS: &str = "a13c5e7f9b2d4f6a8e0c2b4d6f8a1c93";

/// A visitor starts a conversation in the demo account; returns its id.
async fn visitor_writes(server: &Server, body: Value) -> String {
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/demo/conversations",
            None,
            body,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    body["conversation"]["id"]
        .as_str()
        .expect("a conversation id")
        .to_owned()
}

/// Logs in through the API, naming the device (the dashboard lists it); returns the token.
async fn log_in_by_api(server: &Server, email: &str, device: &str) -> String {
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/demo/sessions",
            None,
            json!({"email": email, "password": DEMO_PASSWORD, "device": device}),
        )
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::CREATED,
        "log in {email}: {body}"
    );
    body["token"].as_str().expect("a token").to_owned()
}

async fn put_office_hours(server: &Server, token: &str, hours: &Value) {
    let (status, body) = server
        .request(
            reqwest::Method::PUT,
            "/api/v1/accounts/demo/office-hours",
            Some(token),
            hours.clone(),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "PUT office hours: {body}");
}

/// Every day from two hours after the current hour, for eight hours, in UTC (the browser's
/// timezone here): closed now, opening later today or early tomorrow.
fn office_hours_opening_later() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let hour = now.as_secs() / 3600 % 24;
    let from = (hour + 2) % 24;
    let to = (from + 8) % 24;
    let interval = json!([{
        "from": format!("{from:02}:00"),
        "to": if to == 0 { "24:00".to_owned() } else { format!("{to:02}:00") },
    }]);
    let weekly: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| (day.to_string(), interval.clone()))
        .collect();
    json!({"enabled": true, "timezone": "UTC", "weekly": weekly, "exceptions": []})
}

/// Weekdays with a lunch break, a late Saturday shift past midnight, closed on Christmas Eve.
fn shop_office_hours() -> Value {
    let day = json!([{"from": "09:00", "to": "12:30"}, {"from": "13:30", "to": "18:00"}]);
    json!({
        "enabled": true,
        "timezone": "Europe/Prague",
        "weekly": {
            "mon": day, "tue": day, "wed": day, "thu": day,
            "fri": [{"from": "09:00", "to": "16:00"}],
            "sat": [{"from": "20:00", "to": "02:00"}],
        },
        "exceptions": [{"date": "2026-12-24", "hours": []}],
    })
}

//! The `Store` contract, run against every backend: each test runs once on a
//! fresh SQLite file and once on a fresh PostgreSQL database.
//!
//! PostgreSQL is required, not optional: the server at
//! `ONAIR_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! must accept `CREATE DATABASE`. Each test makes its own `onair_test_<random>`
//! database there and drops it when done.

use std::future::Future;
use std::sync::Arc;

use jiff::Timestamp;
use onair_server::store::{
    self, AccountData, AccountRecord, AgentRecord, AvatarRecord, ConversationFilter,
    ConversationRecord, GroupRecord, MessageRecord, OutboxItem, PostgresStore,
    PushSubscriptionRecord, REPLY_DIGEST, SessionRecord, Store, StoreError, WaitingRecord,
    WebhookAttempt, WebhookRecord,
};
use onair_shared::conversation::ReplyState;
use onair_shared::office_hours::OfficeHoursSpec;
use onair_shared::wire::{Author, ConversationState, Lang, LocalText, Page, Role, Status};
use tokio_postgres::NoTls;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests make their databases on.
fn postgres_base_url() -> String {
    std::env::var("ONAIR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// `base` with its database replaced by `name` (query parameters kept).
fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let server = match url[scheme_end..].find('/') {
        Some(slash) => &url[..scheme_end + slash],
        None => url,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// A connection to the server's maintenance database (the base URL's).
async fn admin_client(base: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(base, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the store tests need PostgreSQL, and {base} is unreachable: {e}. \
             Start PostgreSQL or point ONAIR_TEST_POSTGRES_URL at one."
            )
        });
    tokio::spawn(async move {
        // Ends with an error when the client is dropped or the server goes.
        let _ = connection.await;
    });
    client
}

/// A fresh database of one backend, removed when dropped.
#[derive(Debug)]
struct TestDb {
    url: String,
    kind: TestDbKind,
}

#[derive(Debug)]
enum TestDbKind {
    /// Kept for its lifetime: the directory goes when it drops.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        base: String,
        name: String,
    },
}

impl TestDb {
    async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("onair.db").display());
                TestDb {
                    url,
                    kind: TestDbKind::Sqlite { _dir: dir },
                }
            }
            Backend::Postgres => {
                let base = postgres_base_url();
                let name = format!("onair_test_{}", uuid::Uuid::new_v4().simple());
                let client = admin_client(&base).await;
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {base}: {e}"));
                TestDb {
                    url: with_database(&base, &name),
                    kind: TestDbKind::Postgres { base, name },
                }
            }
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        store::open(&self.url).await.expect("open the store")
    }

    /// A direct connection to the PostgreSQL test database.
    async fn postgres_client(&self) -> tokio_postgres::Client {
        admin_client(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let TestDbKind::Postgres { base, name } = &self.kind else {
            return;
        };
        let (base, name) = (base.clone(), name.clone());
        // Best effort, and from a thread of its own: a test's runtime may be
        // single-threaded, or gone after a panic.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&base, NoTls).await?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database: {e}");
        }
    }
}

/// Runs `test` on a fresh database of `backend`, then removes the database.
async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    test(TestDb::new(backend).await).await;
}

/// For each `async fn name(db: TestDb)`, the tests `name::sqlite` and
/// `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::run(super::Backend::Sqlite, super::$name).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::run(super::Backend::Postgres, super::$name).await;
            }
        }
    )*};
}

on_both_backends!(
    an_account_comes_back_with_its_groups_agents_and_sessions,
    a_taken_slug_is_a_conflict_and_stores_nothing,
    an_email_is_unique_within_an_account_only,
    a_group_key_is_unique_within_an_account,
    an_account_update_round_trips,
    the_version_never_goes_backwards,
    deleting_an_agent_deletes_its_sessions_and_memberships,
    deleting_a_group_removes_memberships_and_keeps_conversations,
    sessions_are_put_touched_and_deleted,
    message_seqs_increase_across_conversations,
    a_conversation_reads_with_its_messages_after_a_seq,
    a_conversation_belongs_to_its_account_only,
    lists_are_newest_first_filtered_and_limited,
    messages_after_a_seq_come_in_order,
    waiting_conversations_come_back_at_load,
    meta_values_are_set_and_overwritten,
    an_unknown_slug_loads_nothing,
    a_reopened_database_keeps_its_data,
    an_erased_conversation_is_gone_with_its_messages,
    the_last_message_of_each_conversation_is_read_at_once,
    an_agents_notification_setting_round_trips,
    outbox_items_are_stored_with_their_message_and_claimed_when_due,
    outbox_retries_and_failures_are_recorded,
    concurrent_claims_give_each_item_to_one_claimer,
    push_subscriptions_are_one_per_session_and_end_with_it,
    an_avatar_is_one_per_agent_loads_with_it_and_goes_with_it,
    the_vapid_key_is_created_once_however_many_race,
    one_reply_digest_waits_per_conversation_and_late_replies_follow_up,
    webhooks_are_created_listed_and_deleted_per_account,
    a_webhooks_delivery_log_keeps_its_newest_attempts,
    enqueued_items_are_due_at_once,
    finished_items_are_pruned_and_waiting_ones_kept,
);

// Fixtures.

/// An instant with milliseconds, the precision both stores keep.
fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millisecond((1_800_000_000 + seconds) * 1000 + 123).expect("a valid instant")
}

fn account(slug: &str) -> AccountRecord {
    AccountRecord {
        id: format!("{slug}-id"),
        slug: slug.to_owned(),
        name: format!("{slug} Inc."),
        timezone: "Europe/Prague".to_owned(),
        grace_seconds: 120,
        busy_message: Some(LocalText::All("Busy right now".to_owned())),
        offline_message: Some(LocalText::All("Back tomorrow".to_owned())),
        hide_when_offline: false,
        busy_after_seconds: 45,
        allowed_origins: vec!["https://example.com".to_owned()],
        office_hours: None,
        offline_reply: None,
        busy_reply: Some(LocalText::All(String::new())),
        created_at: at(0),
    }
}

fn owner(account: &AccountRecord) -> AgentRecord {
    AgentRecord {
        created_at: account.created_at,
        ..agent(account, "owner", "owner", &[])
    }
}

fn agent(account: &AccountRecord, name: &str, email_user: &str, groups: &[&str]) -> AgentRecord {
    AgentRecord {
        id: format!("{}-{name}", account.slug),
        account_id: account.id.clone(),
        name: name.to_owned(),
        email: format!("{email_user}@{}.example", account.slug),
        role: if name == "owner" {
            Role::Admin
        } else {
            Role::Agent
        },
        status: Status::Offline,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        email_notifications: true,
        disabled: false,
        avatar: None,
        created_at: at(1),
    }
}

fn group(account: &AccountRecord, key: &str) -> GroupRecord {
    GroupRecord {
        account_id: account.id.clone(),
        key: key.to_owned(),
        name: format!("The {key} team"),
        office_hours: None,
        created_at: at(2),
    }
}

fn session(agent: &AgentRecord, id: &str, byte: u8) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        agent_id: agent.id.clone(),
        token_hash: [byte; 32],
        device: format!("{id} device"),
        last_seen: at(10),
        streaming: false,
        created_at: at(3),
    }
}

fn office_hours() -> OfficeHoursSpec {
    serde_json::from_value(serde_json::json!({
        "enabled": true,
        "timezone": "Europe/Prague",
        "weekly": {
            "mon": [{"from": "09:00", "to": "17:00"}],
            "fri": [{"from": "22:00", "to": "02:00"}]
        },
        "exceptions": [{"date": "2027-12-24", "hours": []}]
    }))
    .expect("an office hours spec")
}

fn conversation(id: &str, account: &AccountRecord, group: Option<&str>) -> ConversationRecord {
    ConversationRecord {
        id: id.to_owned(),
        account_id: account.id.clone(),
        group: group.map(str::to_owned),
        state: ConversationState::Open,
        name: Some("Vera".to_owned()),
        email: Some("vera@visitor.example".to_owned()),
        visitor_token_hash: [7; 32],
        lang: Some(Lang::Fr),
        created_at: at(20),
        last_message_at: at(20),
        replies: ReplyState::default(),
        page: None,
    }
}

fn message(conversation: &ConversationRecord, text: &str, when: Timestamp) -> MessageRecord {
    MessageRecord {
        seq: 0,
        id: format!("{}-{text}", conversation.id),
        conversation_id: conversation.id.clone(),
        author: Author::Visitor,
        agent_id: None,
        text: text.to_owned(),
        created_at: when,
    }
}

fn reply(
    conversation: &ConversationRecord,
    agent: &AgentRecord,
    text: &str,
    when: Timestamp,
) -> MessageRecord {
    MessageRecord {
        author: Author::Agent,
        agent_id: Some(agent.id.clone()),
        ..message(conversation, text, when)
    }
}

fn all(limit: u32) -> ConversationFilter {
    ConversationFilter {
        limit,
        ..ConversationFilter::default()
    }
}

async fn store_with(db: &TestDb, accounts: &[&AccountRecord]) -> Arc<dyn Store> {
    let store = db.open().await;
    for account in accounts {
        store
            .create_account(account, &owner(account))
            .await
            .expect("create the account");
    }
    store
}

async fn load(store: &dyn Store, slug: &str) -> AccountData {
    store
        .load_account(slug)
        .await
        .expect("load the account")
        .expect("the account exists")
}

fn seqs(messages: &[MessageRecord]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

fn assert_strictly_increasing(seqs: &[u64]) {
    assert!(
        seqs.first().is_some_and(|&s| s > 0) && seqs.windows(2).all(|w| w[0] < w[1]),
        "{seqs:?}"
    );
}

// The contract.

async fn an_account_comes_back_with_its_groups_agents_and_sessions(db: TestDb) {
    let acme = AccountRecord {
        office_hours: Some(office_hours()),
        hide_when_offline: true,
        ..account("acme")
    };
    let store = store_with(&db, &[&acme]).await;
    store
        .put_group(&group(&acme, "support"))
        .await
        .expect("group");
    let sales = GroupRecord {
        office_hours: Some(office_hours()),
        ..group(&acme, "sales")
    };
    store.put_group(&sales).await.expect("group");
    // Memberships come back sorted by key, agents by creation.
    let ann = AgentRecord {
        created_at: at(5),
        status: Status::Busy,
        ..agent(&acme, "ann", "Ann.Smith", &["support", "sales"])
    };
    store.put_agent(&ann).await.expect("agent");
    let session = session(&ann, "s1", 1);
    store.put_session(&session).await.expect("session");

    let data = load(&*store, "acme").await;
    assert_eq!(data.account, acme);
    assert_eq!(data.version, 0);
    assert_eq!(data.groups, [sales, group(&acme, "support")]);
    let ann = AgentRecord {
        groups: vec!["sales".to_owned(), "support".to_owned()],
        ..ann
    };
    assert_eq!(data.agents, [owner(&acme), ann.clone()]);
    assert_eq!(data.agents[1].password_hash, ann.password_hash);
    assert_eq!(data.sessions, std::slice::from_ref(&session));
    assert_eq!(data.sessions[0].token_hash, [1; 32]);
    assert!(data.waiting.is_empty());

    let globex = account("globex");
    let globex = AccountRecord {
        created_at: at(30),
        ..globex
    };
    store
        .create_account(&globex, &owner(&globex))
        .await
        .expect("a second account");
    let everything = store.load_all().await.expect("load all");
    let slugs: Vec<&str> = everything.iter().map(|d| d.account.slug.as_str()).collect();
    assert_eq!(slugs, ["acme", "globex"], "oldest first");
    assert_eq!(everything[0].agents, data.agents);
    assert_eq!(everything[0].sessions, data.sessions);
    assert_eq!(everything[1].agents, [owner(&globex)]);
    assert!(everything[1].groups.is_empty() && everything[1].sessions.is_empty());
}

async fn a_taken_slug_is_a_conflict_and_stores_nothing(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let again = AccountRecord {
        id: "another-id".to_owned(),
        ..account("acme")
    };
    let again_owner = AgentRecord {
        id: "another-owner".to_owned(),
        ..owner(&again)
    };
    let e = store
        .create_account(&again, &again_owner)
        .await
        .expect_err("the slug is taken");
    assert!(matches!(e, StoreError::Conflict("slug")), "{e:?}");

    // The owner of the refused account was not stored either.
    let e = store
        .put_agent(&AgentRecord {
            id: "acme-owner-2".to_owned(),
            ..owner(&acme)
        })
        .await
        .expect_err("the first owner still holds the email");
    assert!(matches!(e, StoreError::Conflict("email")), "{e:?}");
    let everything = store.load_all().await.expect("load all");
    assert_eq!(everything.len(), 1);
    assert_eq!(everything[0].account.id, acme.id);
    assert_eq!(everything[0].agents, [owner(&acme)]);
}

async fn an_email_is_unique_within_an_account_only(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    let ann = agent(&acme, "ann", "ann", &[]);
    store.put_agent(&ann).await.expect("agent");

    let twin = agent(&acme, "ann-twin", "ann", &[]);
    let e = store
        .put_agent(&twin)
        .await
        .expect_err("the email is taken");
    assert!(matches!(e, StoreError::Conflict("email")), "{e:?}");
    // Nor may another agent change to it.
    let bob = agent(&acme, "bob", "bob", &[]);
    store.put_agent(&bob).await.expect("agent");
    let e = store
        .put_agent(&AgentRecord {
            email: ann.email.clone(),
            ..bob.clone()
        })
        .await
        .expect_err("the email is taken");
    assert!(matches!(e, StoreError::Conflict("email")), "{e:?}");

    // The same address in another account is another agent.
    let ann_at_globex = AgentRecord {
        id: "globex-ann".to_owned(),
        account_id: globex.id.clone(),
        ..ann.clone()
    };
    store
        .put_agent(&ann_at_globex)
        .await
        .expect("the same email in another account");
    // And an agent keeps its own address when it is stored again.
    let renamed = AgentRecord {
        name: "Ann Renamed".to_owned(),
        role: Role::Admin,
        status: Status::Online,
        password_hash: "another hash".to_owned(),
        ..ann.clone()
    };
    store.put_agent(&renamed).await.expect("replace the agent");

    let data = load(&*store, "acme").await;
    assert_eq!(data.agents.len(), 3, "{:?}", data.agents);
    assert!(data.agents.contains(&renamed));
    assert!(data.agents.contains(&bob), "bob kept his own email");
    assert_eq!(load(&*store, "globex").await.agents[1], ann_at_globex);
}

/// The store stores a group under its key: storing the key again replaces
/// the group (the HTTP layer answers `key_taken` for a new group whose key
/// is in use), and another account has keys of its own.
async fn a_group_key_is_unique_within_an_account(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    store
        .put_group(&group(&acme, "sales"))
        .await
        .expect("group");
    let renamed = GroupRecord {
        name: "Sales and more".to_owned(),
        office_hours: Some(office_hours()),
        ..group(&acme, "sales")
    };
    store.put_group(&renamed).await.expect("replace the group");
    store
        .put_group(&group(&globex, "sales"))
        .await
        .expect("the same key in another account");

    assert_eq!(
        load(&*store, "acme").await.groups,
        std::slice::from_ref(&renamed)
    );
    assert_eq!(
        load(&*store, "globex").await.groups,
        [group(&globex, "sales")]
    );

    // Back to no office hours of its own.
    let plain = GroupRecord {
        office_hours: None,
        ..renamed
    };
    store.put_group(&plain).await.expect("replace the group");
    assert_eq!(load(&*store, "acme").await.groups, [plain]);
}

async fn an_account_update_round_trips(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let updated = AccountRecord {
        name: "Acme Worldwide".to_owned(),
        timezone: "America/New_York".to_owned(),
        grace_seconds: 300,
        busy_message: None,
        offline_message: Some(LocalText::PerLanguage(
            [
                (Lang::En, "We are closed".to_owned()),
                (Lang::Fr, "Écrivez-nous « demain »".to_owned()),
                (Lang::It, String::new()),
            ]
            .into(),
        )),
        hide_when_offline: true,
        busy_after_seconds: u32::MAX,
        allowed_origins: vec![
            "https://a.example".to_owned(),
            "https://b.example:8443".to_owned(),
        ],
        office_hours: Some(office_hours()),
        offline_reply: Some(LocalText::All("{\"de\": \"not JSON to us\"}".to_owned())),
        busy_reply: None,
        ..acme.clone()
    };
    store.update_account(&updated).await.expect("update");
    assert_eq!(load(&*store, "acme").await.account, updated);

    // And back: no office hours, no origins, no automatic replies.
    let cleared = AccountRecord {
        allowed_origins: Vec::new(),
        office_hours: None,
        busy_message: Some(LocalText::All("All agents are busy".to_owned())),
        offline_message: None,
        offline_reply: Some(LocalText::All(String::new())),
        busy_reply: Some(LocalText::PerLanguage(
            [(Lang::De, "Gleich".to_owned())].into(),
        )),
        ..updated
    };
    store.update_account(&cleared).await.expect("update");
    let data = store.load_all().await.expect("load all");
    assert_eq!(data[0].account, cleared);
}

async fn the_version_never_goes_backwards(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    store.set_version(&acme.id, 5).await.expect("set");
    assert_eq!(load(&*store, "acme").await.version, 5);
    store.set_version(&acme.id, 3).await.expect("set");
    assert_eq!(load(&*store, "acme").await.version, 5, "kept the higher");
    store.set_version(&acme.id, 1 << 40).await.expect("set");
    assert_eq!(load(&*store, "acme").await.version, 1 << 40);
    assert_eq!(load(&*store, "globex").await.version, 0, "untouched");
    // An unknown account is no error, and changes nothing.
    store.set_version("nobody", 9).await.expect("set");
}

async fn deleting_an_agent_deletes_its_sessions_and_memberships(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    store
        .put_group(&group(&acme, "sales"))
        .await
        .expect("group");
    let ann = agent(&acme, "ann", "ann", &["sales"]);
    let bob = agent(&acme, "bob", "bob", &["sales"]);
    for agent in [&ann, &bob] {
        store.put_agent(agent).await.expect("agent");
    }
    store
        .put_session(&session(&ann, "ann-1", 1))
        .await
        .expect("s");
    store
        .put_session(&session(&ann, "ann-2", 2))
        .await
        .expect("s");
    store
        .put_session(&session(&bob, "bob-1", 3))
        .await
        .expect("s");
    let c = conversation("c1", &acme, Some("sales"));
    store
        .create_conversation(&c, &[message(&c, "hi", at(20))], &[])
        .await
        .expect("conversation");
    let answered = ConversationRecord {
        last_message_at: at(21),
        ..c.clone()
    };
    store
        .append_messages(&answered, &[reply(&c, &ann, "hello", at(21))], &[])
        .await
        .expect("reply");

    store.delete_agent(&ann.id).await.expect("delete");
    let data = load(&*store, "acme").await;
    assert_eq!(data.agents, [owner(&acme), bob.clone()]);
    assert_eq!(data.sessions, [session(&bob, "bob-1", 3)]);
    // Her replies outlive her.
    let messages = store.messages_after("c1", 0).await.expect("messages");
    assert_eq!(messages[1].agent_id.as_deref(), Some(ann.id.as_str()));
    // Her email is free again.
    store
        .put_agent(&AgentRecord {
            id: "acme-ann-again".to_owned(),
            ..ann
        })
        .await
        .expect("the email is free");
    // Deleting an unknown agent is no error.
    store.delete_agent("nobody").await.expect("delete");
}

async fn deleting_a_group_removes_memberships_and_keeps_conversations(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    for g in [group(&acme, "sales"), group(&acme, "support")] {
        store.put_group(&g).await.expect("group");
    }
    store
        .put_group(&group(&globex, "sales"))
        .await
        .expect("group");
    let ann = agent(&acme, "ann", "ann", &["sales", "support"]);
    store.put_agent(&ann).await.expect("agent");
    let gina = AgentRecord {
        id: "globex-gina".to_owned(),
        ..agent(&globex, "gina", "gina", &["sales"])
    };
    store.put_agent(&gina).await.expect("agent");
    let c = conversation("c1", &acme, Some("sales"));
    store
        .create_conversation(&c, &[message(&c, "hi", at(20))], &[])
        .await
        .expect("conversation");

    store.delete_group(&acme.id, "sales").await.expect("delete");
    let data = load(&*store, "acme").await;
    assert_eq!(data.groups, [group(&acme, "support")]);
    assert_eq!(data.agents[1].groups, ["support"]);
    assert_eq!(
        store.conversation(&acme.id, "c1").await.expect("read"),
        Some(c.clone()),
        "the conversation stays, with its group key"
    );
    let filter = ConversationFilter {
        group: Some("sales".to_owned()),
        ..all(10)
    };
    assert_eq!(
        store
            .list_conversations(&acme.id, &filter)
            .await
            .expect("list")
            .len(),
        1
    );
    // The other account's group of the same key is untouched.
    let globex_data = load(&*store, "globex").await;
    assert_eq!(globex_data.groups, [group(&globex, "sales")]);
    assert_eq!(globex_data.agents[1].groups, ["sales"]);

    // A membership in a group that does not exist is refused.
    let e = store
        .put_agent(&AgentRecord {
            groups: vec!["sales".to_owned()],
            ..ann.clone()
        })
        .await
        .expect_err("no such group");
    assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
    assert_eq!(load(&*store, "acme").await.agents[1], data.agents[1]);
}

async fn sessions_are_put_touched_and_deleted(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let ann = agent(&acme, "ann", "ann", &[]);
    store.put_agent(&ann).await.expect("agent");
    let s1 = session(&ann, "s1", 1);
    let s2 = SessionRecord {
        created_at: at(4),
        ..session(&ann, "s2", 2)
    };
    store.put_session(&s1).await.expect("session");
    store.put_session(&s2).await.expect("session");

    store
        .touch_session("s1", at(50), true)
        .await
        .expect("touch");
    let touched = SessionRecord {
        last_seen: at(50),
        streaming: true,
        ..s1.clone()
    };
    assert_eq!(
        load(&*store, "acme").await.sessions,
        [touched.clone(), s2.clone()]
    );
    // An older sign of life does not move last_seen back.
    store
        .touch_session("s1", at(40), false)
        .await
        .expect("touch");
    let touched = SessionRecord {
        streaming: false,
        ..touched
    };
    assert_eq!(load(&*store, "acme").await.sessions[0], touched);

    store.delete_session("s1").await.expect("delete");
    assert_eq!(load(&*store, "acme").await.sessions, [s2]);
    // Unknown sessions are no error.
    store
        .touch_session("s1", at(60), true)
        .await
        .expect("touch");
    store.delete_session("s1").await.expect("delete");
    // A token hash is never stored twice.
    assert!(store.put_session(&session(&ann, "s3", 2)).await.is_err());
}

async fn message_seqs_increase_across_conversations(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    let mut c1 = conversation("c1", &acme, None);
    let mut c2 = conversation("c2", &globex, Some("sales"));
    let mut stored = Vec::new();
    stored.extend(
        store
            .create_conversation(
                &c1,
                &[message(&c1, "a", at(20)), message(&c1, "b", at(20))],
                &[],
            )
            .await
            .expect("create"),
    );
    stored.extend(
        store
            .create_conversation(&c2, &[message(&c2, "a", at(21))], &[])
            .await
            .expect("create"),
    );
    c1.last_message_at = at(22);
    stored.extend(
        store
            .append_messages(&c1, &[message(&c1, "c", at(22))], &[])
            .await
            .expect("append"),
    );
    c2.last_message_at = at(23);
    c2.replies.waiting_since = Some(at(21));
    stored.extend(
        store
            .append_messages(
                &c2,
                &[message(&c2, "b", at(23)), message(&c2, "c", at(23))],
                &[],
            )
            .await
            .expect("append"),
    );
    assert_strictly_increasing(&seqs(&stored));
    assert!(
        store
            .append_messages(&c1, &[], &[])
            .await
            .expect("no message")
            .is_empty()
    );
    c1.last_message_at = at(24);
    let later = store
        .append_messages(&c1, &[message(&c1, "d", at(24))], &[])
        .await
        .expect("append");
    assert!(later[0].seq > stored.last().expect("stored").seq);

    // What was returned is what is read back.
    let c1_messages = store.messages_after("c1", 0).await.expect("read");
    let expected: Vec<MessageRecord> = stored
        .iter()
        .filter(|m| m.conversation_id == "c1")
        .chain(&later)
        .cloned()
        .collect();
    assert_eq!(c1_messages, expected);
    assert_eq!(c1_messages[0].text, "a");
    assert_eq!(c1_messages[0].created_at, at(20));
    assert_eq!(
        store.conversation(&globex.id, "c2").await.expect("read"),
        Some(c2)
    );
    // A message id is never stored twice.
    assert!(
        store
            .append_messages(&c1, &[message(&c1, "a", at(25))], &[])
            .await
            .is_err()
    );
    assert_eq!(store.messages_after("c1", 0).await.expect("read"), expected);
}

async fn the_last_message_of_each_conversation_is_read_at_once(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let ann = agent(&acme, "ann", "ann", &[]);
    store.put_agent(&ann).await.expect("agent");
    let one = conversation("one", &acme, None);
    let two = conversation("two", &acme, Some("sales"));
    let quiet = conversation("quiet", &acme, None);
    for c in [&one, &two] {
        store
            .create_conversation(c, &[message(c, "first", at(20))], &[])
            .await
            .expect("create");
    }
    store
        .create_conversation(&quiet, &[], &[])
        .await
        .expect("create without a message");
    store
        .append_messages(&one, &[reply(&one, &ann, "the answer", at(21))], &[])
        .await
        .expect("append");
    store
        .append_messages(&two, &[message(&two, "second", at(22))], &[])
        .await
        .expect("append");
    store
        .append_messages(&one, &[message(&one, "thanks!", at(23))], &[])
        .await
        .expect("append");
    // An automatic reply after it is not what the inbox previews.
    let bot = MessageRecord {
        author: Author::Bot,
        ..message(&one, "We'll be right with you", at(24))
    };
    store
        .append_messages(&one, &[bot], &[])
        .await
        .expect("append");

    let ids: Vec<String> = ["one", "two", "quiet", "unknown"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let last = store.last_messages(&ids).await.expect("last messages");
    assert_eq!(last.len(), 2, "{last:?}");
    assert_eq!(last["one"].text, "thanks!");
    assert_eq!(last["one"].author, Author::Visitor);
    assert_eq!(last["two"].text, "second");
    assert!(store.last_messages(&[]).await.expect("none").is_empty());
}

async fn a_conversation_reads_with_its_messages_after_a_seq(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let ann = agent(&acme, "ann", "ann", &[]);
    store.put_agent(&ann).await.expect("agent");
    // The page it was started from round-trips; the title is optional.
    let c = ConversationRecord {
        name: None,
        email: None,
        lang: None,
        visitor_token_hash: *b"0123456789abcdef0123456789abcdef",
        page: Some(Page {
            url: "https://shop.example/teapots?colour=blue#top".to_owned(),
            title: Some("Teapots — Shop".to_owned()),
        }),
        ..conversation("c1", &acme, None)
    };
    let first = store
        .create_conversation(&c, &[message(&c, "a", at(20))], &[])
        .await
        .expect("create");
    let c = ConversationRecord {
        state: ConversationState::Offline,
        last_message_at: at(30),
        replies: ReplyState {
            waiting_since: None,
            replied_in_wait: true,
            offline_replied: true,
        },
        ..c
    };
    let more = store
        .append_messages(
            &c,
            &[
                reply(&c, &ann, "b", at(30)),
                MessageRecord {
                    author: Author::Bot,
                    ..message(&c, "c", at(30))
                },
            ],
            &[],
        )
        .await
        .expect("append");

    let (read, messages) = store
        .conversation_with_messages(&acme.id, "c1", 0)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(read, c);
    assert_eq!(messages, [first.clone(), more.clone()].concat());
    assert_eq!(messages[2].author, Author::Bot);
    let (_, messages) = store
        .conversation_with_messages(&acme.id, "c1", first[0].seq)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(messages, more);
    let (_, messages) = store
        .conversation_with_messages(&acme.id, "c1", u64::MAX)
        .await
        .expect("read")
        .expect("found");
    assert!(messages.is_empty());
    assert!(
        store
            .conversation_with_messages(&acme.id, "nope", 0)
            .await
            .expect("read")
            .is_none()
    );

    // Closing it: a new state without a message.
    let closed = ConversationRecord {
        state: ConversationState::Closed,
        ..c
    };
    store.update_conversation(&closed).await.expect("close");
    assert_eq!(
        store.conversation(&acme.id, "c1").await.expect("read"),
        Some(closed)
    );
    assert_eq!(store.messages_after("c1", 0).await.expect("read").len(), 3);
}

async fn an_erased_conversation_is_gone_with_its_messages(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    let kept = conversation("kept", &acme, None);
    let gone = conversation("gone", &acme, None);
    store
        .create_conversation(&kept, &[message(&kept, "stays", at(10))], &[])
        .await
        .expect("create");
    store
        .create_conversation(
            &gone,
            &[message(&gone, "one", at(20)), message(&gone, "two", at(21))],
            &[OutboxItem {
                id: "mail-1".into(),
                account_id: acme.id.clone(),
                kind: "email".into(),
                payload: r#"{"conversation_id":"gone","text":"one"}"#.into(),
                created_at: at(20),
                due_at: at(20),
                attempts: 0,
            }],
        )
        .await
        .expect("create");
    // Not through another account.
    assert!(
        !store
            .delete_conversation(&globex.id, "gone")
            .await
            .expect("delete")
    );
    assert!(
        store
            .conversation(&acme.id, "gone")
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        store
            .delete_conversation(&acme.id, "gone")
            .await
            .expect("delete")
    );
    assert!(
        store
            .conversation(&acme.id, "gone")
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .messages_after("gone", 0)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        !store
            .delete_conversation(&acme.id, "gone")
            .await
            .expect("delete again")
    );
    let left = store
        .list_conversations(&acme.id, &all(10))
        .await
        .expect("list");
    assert_eq!(
        left.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
    assert_eq!(
        store.messages_after("kept", 0).await.expect("read").len(),
        1
    );
}

async fn a_conversation_belongs_to_its_account_only(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    let c = conversation("c1", &acme, None);
    store
        .create_conversation(&c, &[message(&c, "a", at(20))], &[])
        .await
        .expect("create");
    assert!(
        store
            .conversation(&acme.id, "c1")
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(
        store.conversation(&globex.id, "c1").await.expect("read"),
        None
    );
    assert!(
        store
            .conversation_with_messages(&globex.id, "c1", 0)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .list_conversations(&globex.id, &all(10))
            .await
            .expect("list")
            .is_empty()
    );
    // Writing through the wrong account changes nothing.
    let stolen = ConversationRecord {
        account_id: globex.id.clone(),
        state: ConversationState::Closed,
        ..c.clone()
    };
    assert!(store.append_messages(&stolen, &[], &[]).await.is_err());
    assert!(
        store
            .append_messages(&stolen, &[message(&c, "b", at(21))], &[])
            .await
            .is_err()
    );
    // Nor does writing to a conversation that does not exist.
    let missing = conversation("missing", &acme, None);
    assert!(store.update_conversation(&missing).await.is_err());
    assert_eq!(
        store.conversation(&acme.id, "c1").await.expect("read"),
        Some(c)
    );
    assert_eq!(store.messages_after("c1", 0).await.expect("read").len(), 1);
    // A conversation id is never stored twice.
    let twin = conversation("c1", &globex, None);
    assert!(store.create_conversation(&twin, &[], &[]).await.is_err());
}

async fn lists_are_newest_first_filtered_and_limited(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    // c4 and c5 share an instant: the larger id (bytewise) comes first.
    for (id, n, group, state) in [
        ("c1", 1, None, ConversationState::Open),
        ("c2", 2, Some("sales"), ConversationState::Offline),
        ("c3", 3, Some("sales"), ConversationState::Open),
        ("c4-B", 4, None, ConversationState::Closed),
        ("c4-a", 4, Some("support"), ConversationState::Open),
    ] {
        let c = ConversationRecord {
            state,
            created_at: at(0),
            last_message_at: at(n),
            ..conversation(id, &acme, group)
        };
        store
            .create_conversation(&c, &[message(&c, "hi", at(n))], &[])
            .await
            .expect("create");
    }
    let other = conversation("g1", &globex, Some("sales"));
    store
        .create_conversation(&other, &[message(&other, "hi", at(9))], &[])
        .await
        .expect("create");

    let list = async |group: Option<&str>, state, limit| -> Vec<String> {
        let filter = ConversationFilter {
            group: group.map(str::to_owned),
            state,
            limit,
        };
        store
            .list_conversations(&acme.id, &filter)
            .await
            .expect("list")
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(
        list(None, None, 10).await,
        ["c4-a", "c4-B", "c3", "c2", "c1"]
    );
    assert_eq!(list(None, None, 2).await, ["c4-a", "c4-B"]);
    assert_eq!(list(None, None, 0).await, [""; 0]);
    assert_eq!(list(Some("sales"), None, 10).await, ["c3", "c2"]);
    assert_eq!(list(Some("sales"), None, 1).await, ["c3"]);
    assert_eq!(
        list(Some("sales"), Some(ConversationState::Offline), 10).await,
        ["c2"]
    );
    assert_eq!(
        list(None, Some(ConversationState::Open), 10).await,
        ["c4-a", "c3", "c1"]
    );
    assert_eq!(
        list(None, Some(ConversationState::Closed), 10).await,
        ["c4-B"]
    );
    assert_eq!(list(Some("nobody"), None, 10).await, [""; 0]);

    // A new message moves a conversation to the top.
    let c1 = store
        .conversation(&acme.id, "c1")
        .await
        .expect("read")
        .expect("found");
    let c1 = ConversationRecord {
        last_message_at: at(8),
        ..c1
    };
    store
        .append_messages(&c1, &[message(&c1, "again", at(8))], &[])
        .await
        .expect("append");
    assert_eq!(list(None, None, 2).await, ["c1", "c4-a"]);
    let full = store
        .list_conversations(&acme.id, &all(1))
        .await
        .expect("list");
    assert_eq!(full, [c1]);
}

async fn messages_after_a_seq_come_in_order(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let mut c = conversation("c1", &acme, None);
    let other = conversation("c2", &acme, None);
    let mut stored = store
        .create_conversation(&c, &[message(&c, "m0", at(20))], &[])
        .await
        .expect("create");
    store
        .create_conversation(&other, &[message(&other, "x", at(20))], &[])
        .await
        .expect("create");
    for n in 1..6 {
        c.last_message_at = at(20 + n);
        stored.extend(
            store
                .append_messages(&c, &[message(&c, &format!("m{n}"), at(20 + n))], &[])
                .await
                .expect("append"),
        );
    }
    assert_strictly_increasing(&seqs(&stored));
    assert_eq!(store.messages_after("c1", 0).await.expect("read"), stored);
    for (i, m) in stored.iter().enumerate() {
        assert_eq!(
            store.messages_after("c1", m.seq).await.expect("read"),
            stored[i + 1..],
            "after {}",
            m.seq
        );
    }
    assert!(
        store
            .messages_after("nope", 0)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        store
            .messages_after("c1", u64::MAX)
            .await
            .expect("read")
            .is_empty()
    );
}

async fn waiting_conversations_come_back_at_load(db: TestDb) {
    let acme = account("acme");
    let globex = account("globex");
    let store = store_with(&db, &[&acme, &globex]).await;
    let waiting = ConversationRecord {
        replies: ReplyState {
            waiting_since: Some(at(10)),
            ..ReplyState::default()
        },
        ..conversation("waiting", &acme, Some("sales"))
    };
    let offline_waiting = ConversationRecord {
        id: "offline".to_owned(),
        state: ConversationState::Offline,
        group: None,
        replies: ReplyState {
            waiting_since: Some(at(11)),
            replied_in_wait: false,
            offline_replied: true,
        },
        ..waiting.clone()
    };
    let replied = ConversationRecord {
        replies: ReplyState {
            waiting_since: Some(at(10)),
            replied_in_wait: true,
            offline_replied: false,
        },
        ..conversation("replied", &acme, None)
    };
    let closed = ConversationRecord {
        id: "closed".to_owned(),
        state: ConversationState::Closed,
        ..waiting.clone()
    };
    let answered = conversation("answered", &acme, None);
    let elsewhere = ConversationRecord {
        id: "elsewhere".to_owned(),
        account_id: globex.id.clone(),
        ..waiting.clone()
    };
    for c in [
        &waiting,
        &offline_waiting,
        &replied,
        &closed,
        &answered,
        &elsewhere,
    ] {
        store
            .create_conversation(c, &[message(c, "hi", at(10))], &[])
            .await
            .expect("create");
    }
    let expected = [
        WaitingRecord {
            conversation_id: "waiting".to_owned(),
            group: Some("sales".to_owned()),
            since: at(10),
        },
        WaitingRecord {
            conversation_id: "offline".to_owned(),
            group: None,
            since: at(11),
        },
    ];
    let mut data = load(&*store, "acme").await.waiting;
    data.sort_by_key(|w| w.since);
    assert_eq!(data, expected);
    let everything = store.load_all().await.expect("load all");
    let mut data = everything[0].waiting.clone();
    data.sort_by_key(|w| w.since);
    assert_eq!(data, expected);
    assert_eq!(
        everything[1].waiting,
        [WaitingRecord {
            conversation_id: "elsewhere".to_owned(),
            group: Some("sales".to_owned()),
            since: at(10),
        }]
    );

    // Answered: no longer waiting.
    let answered_now = ConversationRecord {
        replies: ReplyState::default(),
        ..waiting
    };
    store
        .update_conversation(&answered_now)
        .await
        .expect("update");
    assert_eq!(load(&*store, "acme").await.waiting, [expected[1].clone()]);
}

fn subscription(session: &SessionRecord, account: &AccountRecord, n: u8) -> PushSubscriptionRecord {
    PushSubscriptionRecord {
        session_id: session.id.clone(),
        account_id: account.id.clone(),
        agent_id: session.agent_id.clone(),
        endpoint: format!("https://push.example.net/send/{}-{n}", session.id),
        p256dh: format!("p256dh-{n}"),
        auth: format!("auth-{n}"),
        created_at: at(i64::from(n)),
    }
}

fn avatar(agent: &AgentRecord, hash: &str, bytes: &[u8], seconds: i64) -> AvatarRecord {
    AvatarRecord {
        agent_id: agent.id.clone(),
        account_id: agent.account_id.clone(),
        hash: hash.to_owned(),
        content_type: "image/png".to_owned(),
        bytes: bytes.to_vec(),
        updated_at: at(seconds),
    }
}

async fn an_avatar_is_one_per_agent_loads_with_it_and_goes_with_it(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let ann = agent(&acme, "ann", "ann", &[]);
    let bob = agent(&acme, "bob", "bob", &[]);
    for a in [&ann, &bob] {
        store.put_agent(a).await.expect("agent");
    }
    assert_eq!(store.avatar("aa").await.expect("read"), None);
    let first = avatar(&ann, "aa", &[0x89, b'P', b'N', b'G', 0, 1], 1);
    assert!(store.put_avatar(&first).await.expect("put"));
    assert_eq!(store.avatar("aa").await.expect("read"), Some(first.clone()));
    // A new picture replaces the agent's old one.
    let second = avatar(&ann, "bb", &[0x89, b'P', b'N', b'G', 2, 3, 0xff], 2);
    assert!(store.put_avatar(&second).await.expect("put"));
    assert_eq!(store.avatar("aa").await.expect("read"), None);
    assert_eq!(store.avatar("bb").await.expect("read"), Some(second));
    // Two agents with the same picture share its hash.
    assert!(
        store
            .put_avatar(&avatar(&bob, "bb", &[7], 3))
            .await
            .expect("put")
    );

    // The agent loads with its picture's hash; writing the agent keeps it.
    let renamed = AgentRecord {
        name: "Ann B.".to_owned(),
        ..ann.clone()
    };
    store.put_agent(&renamed).await.expect("rename");
    let data = load(&*store, "acme").await;
    let hashes: Vec<(&str, Option<&str>)> = data
        .agents
        .iter()
        .map(|a| (a.id.as_str(), a.avatar.as_deref()))
        .collect();
    assert_eq!(
        hashes,
        [
            ("acme-owner", None),
            ("acme-ann", Some("bb")),
            ("acme-bob", Some("bb"))
        ]
    );

    // Removed: the agent has none; the other agent's stays.
    store.delete_avatar(&ann.id).await.expect("delete");
    store
        .delete_avatar(&ann.id)
        .await
        .expect("deleting none is fine");
    let data = load(&*store, "acme").await;
    assert_eq!(data.agents[1].avatar, None);
    assert_eq!(
        store.avatar("bb").await.expect("read").map(|a| a.agent_id),
        Some(bob.id.clone())
    );

    // It goes with its agent; a deleted agent cannot get one.
    store.delete_agent(&bob.id).await.expect("delete agent");
    assert_eq!(store.avatar("bb").await.expect("read"), None);
    assert!(
        !store
            .put_avatar(&avatar(&bob, "cc", &[1], 4))
            .await
            .expect("put")
    );
    assert_eq!(store.avatar("cc").await.expect("read"), None);
}

async fn push_subscriptions_are_one_per_session_and_end_with_it(db: TestDb) {
    let acme = account("acme");
    let other = account("other");
    let store = store_with(&db, &[&acme, &other]).await;
    let ann = agent(&acme, "ann", "ann", &[]);
    let bob = agent(&acme, "bob", "bob", &[]);
    let oz = agent(&other, "oz", "oz", &[]);
    for a in [&ann, &bob, &oz] {
        store.put_agent(a).await.expect("agent");
    }
    let (s1, s2, s3, s4) = (
        session(&ann, "s1", 1),
        session(&ann, "s2", 2),
        session(&bob, "s3", 3),
        session(&oz, "s4", 4),
    );
    for s in [&s1, &s2, &s3, &s4] {
        store.put_session(s).await.expect("session");
    }
    assert_eq!(store.push_subscription("s1").await.expect("read"), None);

    let first = subscription(&s1, &acme, 1);
    assert!(store.put_push_subscription(&first).await.expect("put"));
    // The same device subscribing again replaces its subscription.
    let renewed = subscription(&s1, &acme, 5);
    assert!(store.put_push_subscription(&renewed).await.expect("put"));
    assert_eq!(
        store.push_subscription("s1").await.expect("read"),
        Some(renewed.clone())
    );
    let s2_sub = subscription(&s2, &acme, 2);
    let s3_sub = subscription(&s3, &acme, 3);
    let s4_sub = subscription(&s4, &other, 4);
    for sub in [&s2_sub, &s3_sub, &s4_sub] {
        assert!(store.put_push_subscription(sub).await.expect("put"));
    }
    assert_eq!(
        store.push_subscriptions(&acme.id).await.expect("list"),
        [renewed.clone(), s2_sub.clone(), s3_sub.clone()]
    );
    assert_eq!(
        store.push_subscriptions(&other.id).await.expect("list"),
        [s4_sub]
    );

    // A session that is gone cannot subscribe.
    let ghost = SessionRecord {
        id: "ghost".into(),
        ..s1.clone()
    };
    assert!(
        !store
            .put_push_subscription(&subscription(&ghost, &acme, 6))
            .await
            .expect("put")
    );
    assert_eq!(store.push_subscription("ghost").await.expect("read"), None);

    // Removing with an endpoint removes only that one (not a newer one).
    assert!(
        !store
            .delete_push_subscription("s1", Some(&first.endpoint))
            .await
            .expect("delete")
    );
    assert!(
        store
            .delete_push_subscription("s1", Some(&renewed.endpoint))
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_push_subscription("s1", None)
            .await
            .expect("delete")
    );
    assert!(
        store
            .delete_push_subscription("s2", None)
            .await
            .expect("delete")
    );

    // A session that ends takes its subscription with it, and so does a
    // deleted agent's.
    store.delete_session("s3").await.expect("delete session");
    assert_eq!(store.push_subscription("s3").await.expect("read"), None);
    store.delete_agent(&oz.id).await.expect("delete agent");
    assert_eq!(store.push_subscriptions(&other.id).await.expect("list"), []);
    assert_eq!(store.push_subscriptions(&acme.id).await.expect("list"), []);
}

async fn the_vapid_key_is_created_once_however_many_race(db: TestDb) {
    let store = db.open().await;
    let second = db.open().await;
    // Several processes (nodes) start at once, each with its own candidate.
    let candidates: Vec<String> = (0..8).map(|n| format!("key-{n}")).collect();
    let stored = futures_util::future::join_all(candidates.iter().enumerate().map(|(n, key)| {
        let store = if n % 2 == 0 { &store } else { &second };
        store.insert_meta_if_absent("vapid_private_key", key)
    }))
    .await;
    let stored: Vec<String> = stored.into_iter().map(|r| r.expect("insert")).collect();
    assert!(candidates.contains(&stored[0]), "{stored:?}");
    assert!(stored.iter().all(|s| *s == stored[0]), "{stored:?}");
    assert_eq!(
        store.meta("vapid_private_key").await.expect("read"),
        Some(stored[0].clone())
    );
    assert_eq!(
        second
            .insert_meta_if_absent("vapid_private_key", "later")
            .await
            .expect("insert"),
        stored[0]
    );
}

async fn meta_values_are_set_and_overwritten(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.meta("instance").await.expect("read"), None);
    store.set_meta("instance", "one").await.expect("set");
    store.set_meta("other", "").await.expect("set");
    assert_eq!(
        store.meta("instance").await.expect("read").as_deref(),
        Some("one")
    );
    store
        .set_meta("instance", "two ✓")
        .await
        .expect("overwrite");
    assert_eq!(
        store.meta("instance").await.expect("read").as_deref(),
        Some("two ✓")
    );
    assert_eq!(
        store.meta("other").await.expect("read").as_deref(),
        Some("")
    );
}

async fn an_unknown_slug_loads_nothing(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    assert!(store.load_account("globex").await.expect("load").is_none());
    assert!(store.load_account("ACME").await.expect("load").is_none());
    assert!(store.load_account("").await.expect("load").is_none());
    // A second handle on the same database sees what the first stored.
    let second = db.open().await;
    drop(store);
    assert!(second.load_account("globex").await.expect("load").is_none());
    assert_eq!(second.load_all().await.expect("load all").len(), 1);
}

async fn a_reopened_database_keeps_its_data(db: TestDb) {
    let acme = account("acme");
    let (before, stored) = {
        let store = store_with(&db, &[&acme]).await;
        store
            .put_group(&group(&acme, "sales"))
            .await
            .expect("group");
        let ann = agent(&acme, "ann", "ann", &["sales"]);
        store.put_agent(&ann).await.expect("agent");
        store.put_session(&session(&ann, "s1", 1)).await.expect("s");
        store.set_version(&acme.id, 7).await.expect("version");
        store.set_meta("instance", "x").await.expect("meta");
        let c = conversation("c1", &acme, None);
        let stored = store
            .create_conversation(&c, &[message(&c, "a", at(20))], &[])
            .await
            .expect("create");
        (load(&*store, "acme").await, stored)
    };
    let store = db.open().await;
    let after = load(&*store, "acme").await;
    assert_eq!(after.account, before.account);
    assert_eq!(after.version, 7);
    assert_eq!(after.groups, before.groups);
    assert_eq!(after.agents, before.agents);
    assert_eq!(after.sessions, before.sessions);
    assert_eq!(
        store.meta("instance").await.expect("meta").as_deref(),
        Some("x")
    );
    assert_eq!(store.messages_after("c1", 0).await.expect("read"), stored);
    // New messages continue after the old ones.
    let c = conversation("c2", &acme, None);
    let more = store
        .create_conversation(&c, &[message(&c, "b", at(21))], &[])
        .await
        .expect("create");
    assert!(more[0].seq > stored[0].seq);
}

fn digest_item(account: &AccountRecord, id: &str, created: Timestamp) -> OutboxItem {
    OutboxItem {
        kind: REPLY_DIGEST.to_owned(),
        payload: r#"{"conversation_id":"c1","account_name":"acme"}"#.to_owned(),
        due_at: created
            .checked_add(jiff::SignedDuration::from_secs(60))
            .expect("an instant"),
        ..outbox_item(account, id, created)
    }
}

async fn one_reply_digest_waits_per_conversation_and_late_replies_follow_up(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let ann = owner(&acme);
    let c = conversation("c1", &acme, None);
    store
        .create_conversation(&c, &[message(&c, "hi", at(20))], &[])
        .await
        .expect("create");
    assert_eq!(store.reply_digest_start("c1").await.expect("read"), None);

    // The first reply starts a digest, due a window later.
    let first = store
        .append_messages(
            &c,
            &[reply(&c, &ann, "one", at(21))],
            &[digest_item(&acme, "d1", at(21))],
        )
        .await
        .expect("append");
    assert_eq!(
        store.reply_digest_start("c1").await.expect("read"),
        Some(first[0].seq)
    );
    assert!(
        store
            .claim_outbox(at(60), at(100), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    // A second reply joins it: its item is dropped.
    let second = store
        .append_messages(
            &c,
            &[reply(&c, &ann, "two", at(22))],
            &[digest_item(&acme, "d2", at(22))],
        )
        .await
        .expect("append");
    let claimed = store
        .claim_outbox(at(90), at(100), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), ["d1"], "one digest waits");
    assert_eq!(claimed[0].kind, REPLY_DIGEST);

    // Sent up to the second; a third came meanwhile: a follow-up item.
    let third = store
        .append_messages(
            &c,
            &[reply(&c, &ann, "three", at(23))],
            &[digest_item(&acme, "d3", at(23))],
        )
        .await
        .expect("append");
    let follow_up = digest_item(&acme, "d4", at(91));
    assert!(
        !store
            .finish_reply_digest("c1", first[0].seq + 100, second[0].seq, &follow_up)
            .await
            .expect("finish"),
        "a digest that does not start there is left alone"
    );
    assert!(
        store
            .finish_reply_digest("c1", first[0].seq, second[0].seq, &follow_up)
            .await
            .expect("finish")
    );
    assert_eq!(
        store.reply_digest_start("c1").await.expect("read"),
        Some(third[0].seq)
    );
    store.outbox_sent("d1", at(91)).await.expect("sent");
    let claimed = store
        .claim_outbox(at(200), at(300), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), ["d4"]);
    // Sent up to the third, nothing after it: no digest waits.
    assert!(
        !store
            .finish_reply_digest(
                "c1",
                third[0].seq,
                third[0].seq,
                &digest_item(&acme, "d5", at(200))
            )
            .await
            .expect("finish")
    );
    assert_eq!(store.reply_digest_start("c1").await.expect("read"), None);
    store.outbox_sent("d4", at(201)).await.expect("sent");
    assert!(
        store
            .claim_outbox(at(1000), at(1100), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    // Another item kind is never dropped by the rule.
    store
        .append_messages(
            &c,
            &[reply(&c, &ann, "four", at(300))],
            &[
                digest_item(&acme, "d6", at(300)),
                outbox_item(&acme, "mail", at(300)),
            ],
        )
        .await
        .expect("append");
    let claimed = store
        .claim_outbox(at(400), at(500), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), ["d6", "mail"]);
}

fn webhook(account: &AccountRecord, id: &str, created: Timestamp) -> WebhookRecord {
    WebhookRecord {
        id: id.to_owned(),
        account_id: account.id.clone(),
        url: format!("https://hooks.example/{id}"),
        events: vec!["message.created".to_owned(), "status.changed".to_owned()],
        secret: format!("whsec_{id}"),
        created_at: created,
    }
}

fn attempt(n: i64, error: Option<&str>, next: Option<Timestamp>) -> WebhookAttempt {
    WebhookAttempt {
        delivery_id: format!("d{n}"),
        event: "message.created".to_owned(),
        attempted_at: at(n),
        status: error.map(|_| 500).or(Some(204)),
        error: error.map(str::to_owned),
        next_attempt_at: next,
    }
}

async fn webhooks_are_created_listed_and_deleted_per_account(db: TestDb) {
    let (acme, globex) = (account("acme"), account("globex"));
    let store = store_with(&db, &[&acme, &globex]).await;
    let (w1, w2, other) = (
        webhook(&acme, "w1", at(10)),
        webhook(&acme, "w2", at(11)),
        webhook(&globex, "g1", at(9)),
    );
    for w in [&w2, &w1, &other] {
        store.create_webhook(w).await.expect("create");
    }
    assert_eq!(
        store.webhooks(&acme.id).await.expect("list"),
        [w1.clone(), w2.clone()],
        "oldest first, this account's only"
    );
    assert_eq!(store.webhook("w1").await.expect("get"), Some(w1.clone()));
    assert_eq!(store.webhook("nope").await.expect("get"), None);
    store
        .record_webhook_attempt("w1", &attempt(1, None, None), 10)
        .await
        .expect("log");
    assert!(
        !store
            .delete_webhook(&globex.id, "w1")
            .await
            .expect("delete"),
        "another account's webhook is not deleted"
    );
    assert!(store.delete_webhook(&acme.id, "w1").await.expect("delete"));
    assert!(!store.delete_webhook(&acme.id, "w1").await.expect("delete"));
    assert_eq!(store.webhooks(&acme.id).await.expect("list"), [w2]);
    assert!(
        store
            .webhook_attempts("w1", 10)
            .await
            .expect("log")
            .is_empty(),
        "its log went with it"
    );
    // An attempt for a webhook that is gone is not logged.
    store
        .record_webhook_attempt("w1", &attempt(2, None, None), 10)
        .await
        .expect("log");
    assert!(
        store
            .webhook_attempts("w1", 10)
            .await
            .expect("log")
            .is_empty()
    );
    assert_eq!(store.webhooks(&globex.id).await.expect("list"), [other]);
}

async fn a_webhooks_delivery_log_keeps_its_newest_attempts(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    store
        .create_webhook(&webhook(&acme, "w1", at(1)))
        .await
        .expect("create");
    store
        .create_webhook(&webhook(&acme, "w2", at(1)))
        .await
        .expect("create");
    for n in 1..=5 {
        let failed = n % 2 == 1;
        let attempt = attempt(
            n,
            failed.then_some("the receiver answered 500"),
            failed.then(|| at(n + 10)),
        );
        store
            .record_webhook_attempt("w1", &attempt, 3)
            .await
            .expect("log");
    }
    store
        .record_webhook_attempt("w2", &attempt(9, None, None), 3)
        .await
        .expect("log");
    let log = store.webhook_attempts("w1", 10).await.expect("log");
    assert_eq!(
        log,
        [
            attempt(5, Some("the receiver answered 500"), Some(at(15))),
            attempt(4, None, None),
            attempt(3, Some("the receiver answered 500"), Some(at(13))),
        ],
        "newest first, three kept"
    );
    assert_eq!(store.webhook_attempts("w1", 1).await.expect("log").len(), 1);
    assert_eq!(
        store.webhook_attempts("w2", 10).await.expect("log"),
        [attempt(9, None, None)]
    );
}

async fn enqueued_items_are_due_at_once(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    store
        .enqueue_outbox(&[
            outbox_item(&acme, "s1", at(30)),
            outbox_item(&acme, "s2", at(31)),
        ])
        .await
        .expect("enqueue");
    assert_eq!(
        store.outbox_pending().await.expect("pending"),
        (2, Some(at(30)))
    );
    let claimed = store
        .claim_outbox(at(31), at(100), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), ["s1", "s2"]);
}

async fn finished_items_are_pruned_and_waiting_ones_kept(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    store
        .enqueue_outbox(&[
            outbox_item(&acme, "sent-early", at(10)),
            outbox_item(&acme, "failed-early", at(10)),
            outbox_item(&acme, "sent-late", at(10)),
            outbox_item(&acme, "waiting", at(10)),
        ])
        .await
        .expect("enqueue");
    // A lease past the cut-off: the waiting item must survive it.
    let claimed = store
        .claim_outbox(at(10), at(500), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 4);
    store.outbox_sent("sent-early", at(20)).await.expect("sent");
    store
        .outbox_failed("failed-early", at(30), "relay refused")
        .await
        .expect("failed");
    store.outbox_sent("sent-late", at(200)).await.expect("sent");
    store
        .outbox_retry("waiting", at(40), "relay down")
        .await
        .expect("retry");

    assert_eq!(store.prune_outbox(at(100)).await.expect("prune"), 2);
    assert_eq!(store.prune_outbox(at(100)).await.expect("prune"), 0);
    assert_eq!(
        store.outbox_pending().await.expect("pending"),
        (1, Some(at(40))),
        "the waiting item is kept"
    );
    let due = store
        .claim_outbox(at(40), at(600), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&due), ["waiting"]);
    // The later one goes once it is old enough.
    assert_eq!(store.prune_outbox(at(201)).await.expect("prune"), 1);
}

// PostgreSQL only: start-up against one database from several processes.

fn outbox_item(account: &AccountRecord, id: &str, created: Timestamp) -> OutboxItem {
    OutboxItem {
        id: id.to_owned(),
        account_id: account.id.clone(),
        kind: "email".to_owned(),
        payload: format!(r#"{{"to":"ann@acme.example","n":"{id}"}}"#),
        created_at: created,
        due_at: created,
        attempts: 0,
    }
}

fn ids(items: &[OutboxItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

async fn an_agents_notification_setting_round_trips(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let ann = AgentRecord {
        email_notifications: false,
        ..agent(&acme, "ann", "ann", &[])
    };
    store.put_agent(&ann).await.expect("put");
    let loaded = load(store.as_ref(), "acme").await;
    let found = loaded.agents.iter().find(|a| a.id == ann.id).expect("ann");
    assert!(!found.email_notifications);
    let owner = loaded
        .agents
        .iter()
        .find(|a| a.name == "owner")
        .expect("owner");
    assert!(owner.email_notifications, "on by default");
    assert!(!owner.disabled, "enabled by default");
    store
        .put_agent(&AgentRecord {
            email_notifications: true,
            disabled: true,
            ..ann.clone()
        })
        .await
        .expect("put");
    let loaded = load(store.as_ref(), "acme").await;
    assert!(
        loaded
            .agents
            .iter()
            .any(|a| a.id == ann.id && a.email_notifications && a.disabled)
    );
}

async fn outbox_items_are_stored_with_their_message_and_claimed_when_due(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    assert_eq!(store.outbox_pending().await.expect("pending"), (0, None));
    let c = conversation("c1", &acme, None);
    store
        .create_conversation(
            &c,
            &[message(&c, "hi", at(20))],
            &[outbox_item(&acme, "o1", at(20))],
        )
        .await
        .expect("create");
    store
        .append_messages(
            &c,
            &[message(&c, "again", at(21))],
            &[
                outbox_item(&acme, "o2", at(21)),
                outbox_item(&acme, "o3", at(21)),
            ],
        )
        .await
        .expect("append");
    assert_eq!(
        store.outbox_pending().await.expect("pending"),
        (3, Some(at(20)))
    );
    // A failed write stores no item either.
    let stolen = ConversationRecord {
        account_id: "globex-id".to_owned(),
        ..c.clone()
    };
    assert!(
        store
            .append_messages(&stolen, &[], &[outbox_item(&acme, "o4", at(21))])
            .await
            .is_err()
    );

    assert!(
        store
            .claim_outbox(at(19), at(100), 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    let first = store
        .claim_outbox(at(20), at(100), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&first), ["o1"]);
    assert_eq!(first[0].kind, "email");
    assert_eq!(first[0].created_at, at(20));
    assert_eq!(first[0].attempts, 0);
    let payload: serde_json::Value = serde_json::from_str(&first[0].payload).expect("json");
    assert_eq!(payload["n"], "o1");
    let rest = store.claim_outbox(at(30), at(100), 1).await.expect("claim");
    assert_eq!(rest.len(), 1, "at most the limit");
    let rest2 = store
        .claim_outbox(at(30), at(100), 10)
        .await
        .expect("claim");
    assert_eq!(rest2.len(), 1);
    assert!(
        store
            .claim_outbox(at(99), at(200), 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    store.outbox_sent("o1", at(31)).await.expect("sent");
    assert_eq!(
        store.outbox_pending().await.expect("pending"),
        (2, Some(at(100)))
    );
    // The lease ran out: the two unsent items fall due again; the sent one never.
    let again = store
        .claim_outbox(at(100), at(300), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&again), ["o2", "o3"]);
}

async fn outbox_retries_and_failures_are_recorded(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let c = conversation("c1", &acme, None);
    store
        .create_conversation(
            &c,
            &[message(&c, "hi", at(20))],
            &[
                outbox_item(&acme, "o1", at(20)),
                outbox_item(&acme, "o2", at(20)),
            ],
        )
        .await
        .expect("create");
    let claimed = store
        .claim_outbox(at(20), at(100), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    store
        .outbox_retry("o1", at(40), "the relay refused for now (451)")
        .await
        .expect("retry");
    store
        .outbox_failed("o2", at(21), "the relay refused (550)")
        .await
        .expect("failed");
    assert_eq!(
        store.outbox_pending().await.expect("pending"),
        (1, Some(at(40)))
    );
    assert!(
        store
            .claim_outbox(at(39), at(100), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let retried = store
        .claim_outbox(at(40), at(100), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&retried), ["o1"]);
    assert_eq!(retried[0].attempts, 1, "one failure counted");
    store.outbox_sent("o1", at(41)).await.expect("sent");
    // A late failure report (a lease that ran out meanwhile) does not undo "sent".
    store
        .outbox_retry("o1", at(50), "late")
        .await
        .expect("retry");
    assert_eq!(store.outbox_pending().await.expect("pending"), (0, None));
}

async fn concurrent_claims_give_each_item_to_one_claimer(db: TestDb) {
    let acme = account("acme");
    let store = store_with(&db, &[&acme]).await;
    let c = conversation("c1", &acme, None);
    let items: Vec<OutboxItem> = (0..40)
        .map(|n| outbox_item(&acme, &format!("o{n:02}"), at(20)))
        .collect();
    store
        .create_conversation(&c, &[message(&c, "hi", at(20))], &items)
        .await
        .expect("create");
    // Two stores on one database, as two nodes (or two workers) would be.
    let other = db.open().await;
    let claim = |store: Arc<dyn Store>| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim_outbox(at(30), at(1000), 3)
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|i| i.id));
            }
        })
    };
    let (a, b) = (claim(Arc::clone(&store)), claim(other));
    let (a, b) = (a.await.expect("a"), b.await.expect("b"));
    let mut all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    all.sort();
    let expected: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(
        all,
        expected,
        "each item claimed exactly once ({} + {})",
        a.len(),
        b.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_starting_together_migrate_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let opens = (0..4).map(|_| {
        let url = db.url.clone();
        tokio::spawn(async move { PostgresStore::open(&url).await })
    });
    let stores = futures_util::future::join_all(opens).await;
    let stores: Vec<PostgresStore> = stores
        .into_iter()
        .map(|joined| joined.expect("no panic").expect("open"))
        .collect();

    let client = db.postgres_client().await;
    let rows = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("the migrations table");
    let versions: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    // One version per migration file, so that a new migration needs no edit here.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("the PostgreSQL migrations")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    let expected: Vec<i64> = (1..=i64::try_from(files).expect("a count")).collect();
    assert_eq!(versions, expected, "each migration applied exactly once");
    assert!(files >= 5);

    // Every one of them works, on the one schema.
    let acme = account("acme");
    stores[0]
        .create_account(&acme, &owner(&acme))
        .await
        .expect("create");
    for store in &stores {
        assert_eq!(load(store, "acme").await.account, acme);
    }
    drop(stores);
    drop(client);
}

#[tokio::test]
async fn postgres_texts_of_before_version_10_become_texts_for_every_language() {
    let db = TestDb::new(Backend::Postgres).await;
    drop(db.open().await);
    let client = db.postgres_client().await;
    // Rows as version 9 wrote them (plain texts), then version 10's SQL on them.
    client
        .batch_execute(
            "INSERT INTO accounts (id, slug, name, timezone, grace_seconds, busy_message,
                 offline_message, hide_when_offline, busy_after_seconds, allowed_origins,
                 created_at, version, offline_reply, busy_reply)
             VALUES ('a', 'old', 'Old', 'UTC', 120, 'b', '{\"de\": \"o\"}', false, 45, '[]', 0, 0,
                     'Bye', NULL),
                    ('b', 'older', 'Older', 'UTC', 120,
                     'We''re busy right now — we''ll be back shortly.',
                     'We''re offline right now — leave us a message and we''ll get back to you.',
                     false, 45, '[]', 0, 0, '', NULL);",
        )
        .await
        .expect("version 9 rows");
    client
        .batch_execute(include_str!("../migrations/postgres/0010_local_texts.sql"))
        .await
        .expect("migration 10");
    let store = db.open().await;
    let all = |text: &str| Some(LocalText::All(text.to_owned()));
    let old = load(&*store, "old").await.account;
    assert_eq!(old.busy_message, all("b"));
    assert_eq!(old.offline_message, all("{\"de\": \"o\"}"));
    assert_eq!(old.offline_reply, all("Bye"));
    assert_eq!(old.busy_reply, None);
    let older = load(&*store, "older").await.account;
    assert_eq!(
        older.busy_message, None,
        "the old default is the built-in text"
    );
    assert_eq!(older.offline_message, None);
    assert_eq!(older.offline_reply, all(""), "an empty reply stays off");
}

#[tokio::test]
async fn postgres_refuses_a_newer_schema() {
    let db = TestDb::new(Backend::Postgres).await;
    drop(db.open().await);
    let client = db.postgres_client().await;
    client
        .execute("INSERT INTO schema_migrations (version) VALUES (99)", &[])
        .await
        .expect("a future migration");
    let e = store::open(&db.url).await.expect_err("a newer schema");
    let text = e.to_string();
    assert!(
        text.contains("schema version 99") && text.contains("upgrade onair"),
        "{text}"
    );
}

#[tokio::test]
async fn both_postgres_schemes_open_and_others_are_refused() {
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.replacen("postgres://", "postgresql://", 1);
    assert!(url.starts_with("postgresql://"), "{url}");
    let store = store::open(&url).await.expect("postgresql:// opens");
    store.set_meta("k", "v").await.expect("a write");
    drop(store);
    let store = db.open().await;
    assert_eq!(store.meta("k").await.expect("read").as_deref(), Some("v"));

    let e = store::open("mysql://root@localhost/onair")
        .await
        .expect_err("not supported");
    assert!(matches!(e, StoreError::UnsupportedUrl(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("sqlite://") && text.contains("postgres://"),
        "{text}"
    );
}

#[test]
fn a_test_database_url_keeps_the_server_and_parameters() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432?connect_timeout=5", "x"),
        "postgres://u:p@db:5432/x?connect_timeout=5"
    );
    assert_eq!(
        with_database("postgresql://u@db/postgres?sslmode=disable", "x"),
        "postgresql://u@db/x?sslmode=disable"
    );
}

//! The PostgreSQL store, for deployments that keep their data in a database
//! server: `postgres://USER@HOST:PORT/DB` (or `postgresql://`).
//!
//! A pool of `tokio-postgres` connections (`deadpool-postgres`), plain text
//! queries prepared at run time. Every connection runs with
//! `synchronous_commit = on`, so a write the API acknowledged has reached the
//! server's write-ahead log on disk. Multi-statement writes are transactions;
//! reads that must agree (an account's load, a conversation with its messages)
//! share one snapshot.
//!
//! Migrations live in `server/migrations/postgres/`; the versions applied are
//! rows of `schema_migrations`. They run in one transaction under an advisory
//! lock, so several processes starting together on an empty database migrate
//! it exactly once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use jiff::Timestamp;
use onair_shared::conversation::ReplyState;
use onair_shared::office_hours::OfficeHoursSpec;
use onair_shared::wire::{Author, ConversationState, Lang, LocalText, Role, Status};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{IsolationLevel, NoTls, Row};

use super::{
    AccountData, AccountRecord, AgentRecord, AvatarRecord, ClusterAccount, ClusterStore,
    ConversationFilter, ConversationRecord, DeriveFn, Derived, GroupRecord, MessageRecord,
    OutboxItem, PublishedScope, PushSubscriptionRecord, REPLY_DIGEST, SessionRecord, Store,
    StoreError, StoreResult, WaitingRecord, WebhookAttempt, WebhookRecord, text_column,
    text_of_column,
};

/// Migrations in order; migration `n` (from 1) is recorded as version `n`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_cluster.sql"),
    include_str!("../../migrations/postgres/0003_notifications.sql"),
    include_str!("../../migrations/postgres/0004_disabled_agents.sql"),
    include_str!("../../migrations/postgres/0005_reply_digests.sql"),
    include_str!("../../migrations/postgres/0006_webhooks.sql"),
    include_str!("../../migrations/postgres/0007_push.sql"),
    include_str!("../../migrations/postgres/0008_visitor_streams.sql"),
    include_str!("../../migrations/postgres/0009_conversation_page.sql"),
    include_str!("../../migrations/postgres/0010_local_texts.sql"),
    include_str!("../../migrations/postgres/0011_avatars.sql"),
];

/// The advisory lock migrations run under (any constant: "onair" in ASCII).
const MIGRATION_LOCK: i64 = 0x006f_6e61_6972;

/// Connections per process. The server reads from memory, so the store sees
/// writes and start-up loads; a handful of connections carries that.
const POOL_SIZE: usize = 16;

/// How long opening a connection may take before the store reports failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for a free connection or a new one.
const POOL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl fmt::Debug for PostgresStore {
    // Not the pool's configuration: it holds the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("connections", &status.size)
            .field("idle", &status.available)
            .finish_non_exhaustive()
    }
}

/// The connection settings a URL names, with the ones the store relies on.
fn connection_config(url: &str) -> StoreResult<tokio_postgres::Config> {
    // The error never repeats the URL: it may hold a password.
    let mut config = tokio_postgres::Config::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
    // Appended after any options of the URL, so it wins over them, and over
    // the database's or role's own setting.
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} -c synchronous_commit=on"),
        _ => "-c synchronous_commit=on".to_owned(),
    };
    config.options(options);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("onair");
    }
    Ok(config)
}

/// A pool of connections to the database `url` names; none is opened yet.
fn pool(url: &str) -> StoreResult<Pool> {
    let manager = Manager::from_config(
        connection_config(url)?,
        NoTls,
        ManagerConfig {
            // A cheap round trip when a connection is taken from the pool, so
            // one the network dropped silently is replaced rather than failing
            // a write.
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT))
        .wait_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Backend(e.to_string()))
}

impl PostgresStore {
    /// Connects to the database a `postgres://` or `postgresql://` URL names
    /// and brings its schema up to date. The database must exist.
    pub async fn open(url: &str) -> StoreResult<PostgresStore> {
        let store = PostgresStore { pool: pool(url)? };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Backend(format!("PostgreSQL connection: {e}")))
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Held until the transaction ends: a second process waits here, then
        // finds the migrations recorded and has nothing left to do.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(backend)?;
        // Without the notice that the table exists on every start but the first.
        tx.batch_execute(
            "SET LOCAL client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(backend)?;
        let applied: i64 = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(backend)
            .and_then(|row| get(&row, 0))?;
        let known = MIGRATIONS.len();
        let applied = usize::try_from(applied).unwrap_or(0);
        if applied > known {
            return Err(StoreError::Backend(format!(
                "the database has schema version {applied}, newer than this onair ({known}); \
                 upgrade onair"
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
            tx.batch_execute(sql).await.map_err(backend)?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }
}

/// The account whose `column` (`id` or `slug`) is `value`, with its version.
async fn account_where(
    client: &impl GenericClient,
    column: &'static str,
    value: &str,
) -> StoreResult<Option<(AccountRecord, u64)>> {
    let row = client
        .query_opt(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {column} = $1"),
            &[&value],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(account_from_row).transpose()
}

/// A read-only transaction whose reads all see one snapshot, for reads that
/// must agree with each other.
async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> StoreResult<deadpool_postgres::Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(backend)
}

fn backend(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) if *db.code() == SqlState::DISK_FULL => super::full(format!("PostgreSQL: {db}")),
        Some(db) => StoreError::Backend(format!("PostgreSQL: {db}")),
        None => StoreError::Backend(format!("PostgreSQL: {e}")),
    }
}

/// Maps a unique violation to a conflict on `what`.
fn conflict_or_backend(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict(what)
        } else {
            backend(e)
        }
    }
}

/// A column, with a type mismatch as a backend error rather than a panic.
fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index)
        .map_err(|e| StoreError::Backend(format!("PostgreSQL column {index}: {e}")))
}

fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_millis(ms: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::Backend(e.to_string()))
}

fn to_i64(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn to_u32(value: i64) -> StoreResult<u32> {
    u32::try_from(value).map_err(|e| StoreError::Backend(format!("stored value {value}: {e}")))
}

fn hash(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(bytes).map_err(|bytes| {
        StoreError::Backend(format!("a stored hash of {} bytes, not 32", bytes.len()))
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(e.to_string()))
}

fn text_from(row: &Row, index: usize) -> StoreResult<Option<LocalText>> {
    let column: Option<String> = get(row, index)?;
    text_of_column(column.as_deref()).map_err(|e| StoreError::Backend(e.to_string()))
}

fn office_hours_json(spec: &Option<OfficeHoursSpec>) -> StoreResult<Option<String>> {
    spec.as_ref().map(to_json).transpose()
}

fn parse_enum<T>(text: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(text).ok_or_else(|| StoreError::Backend(format!("unexpected stored value {text:?}")))
}

// JSONB columns are read as text and written from text: serde_json does the
// (de)serialising, as for SQLite.
const ACCOUNT_COLUMNS: &str = "id, slug, name, timezone, grace_seconds, busy_message, \
     offline_message, hide_when_offline, busy_after_seconds, allowed_origins::text, \
     office_hours::text, created_at, version, offline_reply, busy_reply";

fn account_from_row(row: &Row) -> StoreResult<(AccountRecord, u64)> {
    let origins: String = get(row, 9)?;
    let office_hours: Option<String> = get(row, 10)?;
    let account = AccountRecord {
        id: get(row, 0)?,
        slug: get(row, 1)?,
        name: get(row, 2)?,
        timezone: get(row, 3)?,
        grace_seconds: to_u32(get(row, 4)?)?,
        busy_message: text_from(row, 5)?,
        offline_message: text_from(row, 6)?,
        hide_when_offline: get(row, 7)?,
        busy_after_seconds: to_u32(get(row, 8)?)?,
        allowed_origins: from_json(&origins)?,
        office_hours: office_hours.as_deref().map(from_json).transpose()?,
        offline_reply: text_from(row, 13)?,
        busy_reply: text_from(row, 14)?,
        created_at: from_millis(get(row, 11)?)?,
    };
    let version: i64 = get(row, 12)?;
    Ok((account, u64::try_from(version).unwrap_or(0)))
}

async fn load_account_data(
    client: &impl GenericClient,
    account: AccountRecord,
    version: u64,
) -> StoreResult<AccountData> {
    let rows = client
        .query(
            "SELECT key, name, office_hours::text, created_at FROM groups
             WHERE account_id = $1 ORDER BY key",
            &[&account.id],
        )
        .await
        .map_err(backend)?;
    let groups = rows
        .iter()
        .map(|row| {
            let office_hours: Option<String> = get(row, 2)?;
            Ok(GroupRecord {
                account_id: account.id.clone(),
                key: get(row, 0)?,
                name: get(row, 1)?,
                office_hours: office_hours.as_deref().map(from_json).transpose()?,
                created_at: from_millis(get(row, 3)?)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;

    let rows = client
        .query(
            "SELECT id, name, email, role, status, password_hash, created_at,
                    ARRAY(SELECT group_key FROM agent_groups g
                          WHERE g.agent_id = agents.id ORDER BY group_key),
                    email_notifications, disabled,
                    (SELECT hash FROM agent_avatars v WHERE v.agent_id = agents.id)
             FROM agents WHERE account_id = $1 ORDER BY created_at, id",
            &[&account.id],
        )
        .await
        .map_err(backend)?;
    let agents = rows
        .iter()
        .map(|row| {
            let role: String = get(row, 3)?;
            let status: String = get(row, 4)?;
            Ok(AgentRecord {
                id: get(row, 0)?,
                account_id: account.id.clone(),
                name: get(row, 1)?,
                email: get(row, 2)?,
                role: parse_enum(&role, Role::parse)?,
                status: parse_enum(&status, Status::parse)?,
                groups: get(row, 7)?,
                password_hash: get(row, 5)?,
                email_notifications: get(row, 8)?,
                disabled: get(row, 9)?,
                avatar: get(row, 10)?,
                created_at: from_millis(get(row, 6)?)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;

    let rows = client
        .query(
            "SELECT s.id, s.agent_id, s.token_hash, s.device, s.last_seen, s.streaming, s.created_at
             FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE a.account_id = $1
             ORDER BY s.created_at, s.id",
            &[&account.id],
        )
        .await
        .map_err(backend)?;
    let sessions = rows
        .iter()
        .map(|row| {
            Ok(SessionRecord {
                id: get(row, 0)?,
                agent_id: get(row, 1)?,
                token_hash: hash(get(row, 2)?)?,
                device: get(row, 3)?,
                last_seen: from_millis(get(row, 4)?)?,
                streaming: get(row, 5)?,
                created_at: from_millis(get(row, 6)?)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;

    let rows = client
        .query(
            "SELECT id, group_key, waiting_since FROM conversations
             WHERE account_id = $1 AND waiting_since IS NOT NULL AND NOT replied_in_wait
                 AND state <> 'closed'
             ORDER BY waiting_since, id",
            &[&account.id],
        )
        .await
        .map_err(backend)?;
    let waiting = rows
        .iter()
        .map(|row| {
            Ok(WaitingRecord {
                conversation_id: get(row, 0)?,
                group: get(row, 1)?,
                since: from_millis(get(row, 2)?)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;

    Ok(AccountData {
        account,
        version,
        groups,
        agents,
        sessions,
        waiting,
    })
}

const CONVERSATION_COLUMNS: &str = "id, account_id, group_key, state, name, email, \
     visitor_token_hash, lang, created_at, last_message_at, waiting_since, replied_in_wait, \
     offline_replied, page_url, page_title";

fn conversation_from_row(row: &Row) -> StoreResult<ConversationRecord> {
    let state: String = get(row, 3)?;
    let lang: Option<String> = get(row, 7)?;
    let waiting_since: Option<i64> = get(row, 10)?;
    Ok(ConversationRecord {
        id: get(row, 0)?,
        account_id: get(row, 1)?,
        group: get(row, 2)?,
        state: parse_enum(&state, ConversationState::parse)?,
        name: get(row, 4)?,
        email: get(row, 5)?,
        visitor_token_hash: hash(get(row, 6)?)?,
        lang: lang
            .as_deref()
            .map(|l| parse_enum(l, Lang::parse))
            .transpose()?,
        created_at: from_millis(get(row, 8)?)?,
        last_message_at: from_millis(get(row, 9)?)?,
        replies: ReplyState {
            waiting_since: waiting_since.map(from_millis).transpose()?,
            replied_in_wait: get(row, 11)?,
            offline_replied: get(row, 12)?,
        },
        page: super::page(get(row, 13)?, get(row, 14)?),
    })
}

const MESSAGE_COLUMNS: &str = "seq, id, conversation_id, author, agent_id, text, created_at";

fn message_from_row(row: &Row) -> StoreResult<MessageRecord> {
    let seq: i64 = get(row, 0)?;
    let author: String = get(row, 3)?;
    Ok(MessageRecord {
        seq: u64::try_from(seq).unwrap_or(0),
        id: get(row, 1)?,
        conversation_id: get(row, 2)?,
        author: parse_enum(&author, Author::parse)?,
        agent_id: get(row, 4)?,
        text: get(row, 5)?,
        created_at: from_millis(get(row, 6)?)?,
    })
}

async fn find_conversation(
    client: &impl GenericClient,
    account_id: &str,
    id: &str,
) -> StoreResult<Option<ConversationRecord>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND account_id = $2"
            ),
            &[&id, &account_id],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(conversation_from_row).transpose()
}

async fn messages_after(
    client: &impl GenericClient,
    conversation_id: &str,
    after: u64,
) -> StoreResult<Vec<MessageRecord>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages
                 WHERE conversation_id = $1 AND seq > $2 ORDER BY seq"
            ),
            &[&conversation_id, &after],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(message_from_row).collect()
}

/// Inserts messages in order; returns them with the `seq` the database
/// assigned.
///
/// Every caller has first written the conversation's row (inserted or
/// updated it) in the same transaction, and holds that row's lock until it
/// commits: two transactions appending to one conversation take their `seq`s
/// one after the other's commit, so a reader never sees a message appear
/// behind one it has already seen.
async fn insert_messages(
    tx: &deadpool_postgres::Transaction<'_>,
    messages: &[MessageRecord],
) -> StoreResult<Vec<MessageRecord>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO messages (id, conversation_id, author, agent_id, text, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
        )
        .await
        .map_err(backend)?;
    let mut stored = Vec::with_capacity(messages.len());
    for message in messages {
        let row = tx
            .query_one(
                &stmt,
                &[
                    &message.id,
                    &message.conversation_id,
                    &message.author.as_str(),
                    &message.agent_id,
                    &message.text,
                    &millis(message.created_at),
                ],
            )
            .await
            .map_err(backend)?;
        let seq: i64 = get(&row, 0)?;
        stored.push(MessageRecord {
            seq: u64::try_from(seq).unwrap_or(0),
            ..message.clone()
        });
    }
    Ok(stored)
}

/// The rule of [`REPLY_DIGEST`] (one digest waiting per conversation) for
/// the items appended with `stored`: drops a digest item while one waits,
/// else marks where the new one starts. In the append's transaction, which
/// holds the conversation's row lock.
async fn reply_digest_rule(
    tx: &deadpool_postgres::Transaction<'_>,
    conversation_id: &str,
    stored: &[MessageRecord],
    items: &[OutboxItem],
) -> StoreResult<Vec<OutboxItem>> {
    if !items.iter().any(|item| item.kind == REPLY_DIGEST) {
        return Ok(items.to_vec());
    }
    let row = tx
        .query_one(
            "SELECT reply_mail_from FROM conversations WHERE id = $1",
            &[&conversation_id],
        )
        .await
        .map_err(backend)?;
    let waiting: Option<i64> = get(&row, 0)?;
    let first = stored
        .iter()
        .find(|m| m.author == Author::Agent)
        .and_then(|m| i64::try_from(m.seq).ok());
    if let (None, Some(first)) = (waiting, first) {
        tx.execute(
            "UPDATE conversations SET reply_mail_from = $2 WHERE id = $1",
            &[&conversation_id, &first],
        )
        .await
        .map_err(backend)?;
        return Ok(items.to_vec());
    }
    Ok(items
        .iter()
        .filter(|item| item.kind != REPLY_DIGEST)
        .cloned()
        .collect())
}

/// Inserts outbox items, each first due at its `due_at`.
const WEBHOOK_COLUMNS: &str = "id, account_id, url, events, secret, created_at";

fn webhook_from_row(row: &Row) -> StoreResult<WebhookRecord> {
    Ok(WebhookRecord {
        id: get(row, 0)?,
        account_id: get(row, 1)?,
        url: get(row, 2)?,
        events: from_json(&get::<String>(row, 3)?)?,
        secret: get(row, 4)?,
        created_at: from_millis(get(row, 5)?)?,
    })
}

fn webhook_attempt_from_row(row: &Row) -> StoreResult<WebhookAttempt> {
    let status: Option<i32> = get(row, 3)?;
    let next: Option<i64> = get(row, 5)?;
    Ok(WebhookAttempt {
        delivery_id: get(row, 0)?,
        event: get(row, 1)?,
        attempted_at: from_millis(get(row, 2)?)?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        error: get(row, 4)?,
        next_attempt_at: next.map(from_millis).transpose()?,
    })
}

async fn insert_outbox(
    tx: &deadpool_postgres::Transaction<'_>,
    items: &[OutboxItem],
) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (id, account_id, kind, payload, created_at, attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7)",
        )
        .await
        .map_err(backend)?;
    for item in items {
        let attempts = i32::try_from(item.attempts).unwrap_or(i32::MAX);
        tx.execute(
            &stmt,
            &[
                &item.id,
                &item.account_id,
                &item.kind,
                &item.payload,
                &millis(item.created_at),
                &attempts,
                &millis(item.due_at),
            ],
        )
        .await
        .map_err(backend)?;
    }
    Ok(())
}

async fn write_agent(
    tx: &deadpool_postgres::Transaction<'_>,
    agent: &AgentRecord,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO agents (id, account_id, name, email, role, status, password_hash, created_at,
             email_notifications, disabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email,
             role = excluded.role, status = excluded.status, password_hash = excluded.password_hash,
             email_notifications = excluded.email_notifications, disabled = excluded.disabled",
        &[
            &agent.id,
            &agent.account_id,
            &agent.name,
            &agent.email,
            &agent.role.as_str(),
            &agent.status.as_str(),
            &agent.password_hash,
            &millis(agent.created_at),
            &agent.email_notifications,
            &agent.disabled,
        ],
    )
    .await
    .map_err(conflict_or_backend("email"))?;
    tx.execute("DELETE FROM agent_groups WHERE agent_id = $1", &[&agent.id])
        .await
        .map_err(backend)?;
    if !agent.groups.is_empty() {
        // In one statement, in order, as SQLite's one insert per group.
        tx.execute(
            "INSERT INTO agent_groups (agent_id, account_id, group_key)
             SELECT $1, $2, key FROM unnest($3::text[]) WITH ORDINALITY AS g (key, n) ORDER BY n",
            &[&agent.id, &agent.account_id, &agent.groups],
        )
        .await
        .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn load_all(&self) -> StoreResult<Vec<AccountData>> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let rows = tx
            .query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id"),
                &[],
            )
            .await
            .map_err(backend)?;
        let mut all = Vec::with_capacity(rows.len());
        for row in &rows {
            let (account, version) = account_from_row(row)?;
            all.push(load_account_data(&tx, account, version).await?);
        }
        tx.commit().await.map_err(backend)?;
        Ok(all)
    }

    async fn load_account(&self, slug: &str) -> StoreResult<Option<AccountData>> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let data = match account_where(&tx, "slug", slug).await? {
            Some((account, version)) => Some(load_account_data(&tx, account, version).await?),
            None => None,
        };
        tx.commit().await.map_err(backend)?;
        Ok(data)
    }

    async fn create_account(
        &self,
        account: &AccountRecord,
        owner: &AgentRecord,
    ) -> StoreResult<()> {
        let origins = to_json(&account.allowed_origins)?;
        let texts = [
            text_column(&account.busy_message),
            text_column(&account.offline_message),
            text_column(&account.offline_reply),
            text_column(&account.busy_reply),
        ];
        let office_hours = office_hours_json(&account.office_hours)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "INSERT INTO accounts (id, slug, name, timezone, grace_seconds, busy_message,
                 offline_message, hide_when_offline, busy_after_seconds, allowed_origins,
                 office_hours, created_at, version, offline_reply, busy_reply)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb, $11::text::jsonb, $12,
                 0, $13, $14)",
            &[
                &account.id,
                &account.slug,
                &account.name,
                &account.timezone,
                &i64::from(account.grace_seconds),
                &texts[0],
                &texts[1],
                &account.hide_when_offline,
                &i64::from(account.busy_after_seconds),
                &origins,
                &office_hours,
                &millis(account.created_at),
                &texts[2],
                &texts[3],
            ],
        )
        .await
        .map_err(conflict_or_backend("slug"))?;
        write_agent(&tx, owner).await?;
        tx.commit().await.map_err(backend)
    }

    async fn update_account(&self, account: &AccountRecord) -> StoreResult<()> {
        let origins = to_json(&account.allowed_origins)?;
        let texts = [
            text_column(&account.busy_message),
            text_column(&account.offline_message),
            text_column(&account.offline_reply),
            text_column(&account.busy_reply),
        ];
        let office_hours = office_hours_json(&account.office_hours)?;
        let client = self.client().await?;
        client
            .execute(
                "UPDATE accounts SET name = $2, timezone = $3, grace_seconds = $4,
                     busy_message = $5, offline_message = $6, hide_when_offline = $7,
                     busy_after_seconds = $8, allowed_origins = $9::text::jsonb,
                     office_hours = $10::text::jsonb, offline_reply = $11, busy_reply = $12
                 WHERE id = $1",
                &[
                    &account.id,
                    &account.name,
                    &account.timezone,
                    &i64::from(account.grace_seconds),
                    &texts[0],
                    &texts[1],
                    &account.hide_when_offline,
                    &i64::from(account.busy_after_seconds),
                    &origins,
                    &office_hours,
                    &texts[2],
                    &texts[3],
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn set_version(&self, account_id: &str, version: u64) -> StoreResult<()> {
        let version = to_i64(version)?;
        let client = self.client().await?;
        // GREATEST keeps the stored counter from ever going backwards.
        client
            .execute(
                "UPDATE accounts SET version = GREATEST(version, $2) WHERE id = $1",
                &[&account_id, &version],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_agent(&self, agent: &AgentRecord) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        write_agent(&tx, agent).await?;
        tx.commit().await.map_err(backend)
    }

    async fn delete_agent(&self, agent_id: &str) -> StoreResult<()> {
        // Its sessions and memberships go with it (ON DELETE CASCADE).
        let client = self.client().await?;
        client
            .execute("DELETE FROM agents WHERE id = $1", &[&agent_id])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_avatar(&self, avatar: &AvatarRecord) -> StoreResult<bool> {
        // From the agent's row, so a deleted agent stores nothing.
        let client = self.client().await?;
        let stored = client
            .execute(
                "INSERT INTO agent_avatars
                     (agent_id, account_id, hash, content_type, bytes, updated_at)
                 SELECT id, account_id, $2, $3, $4, $5 FROM agents WHERE id = $1
                 ON CONFLICT (agent_id) DO UPDATE SET hash = excluded.hash,
                     content_type = excluded.content_type, bytes = excluded.bytes,
                     updated_at = excluded.updated_at",
                &[
                    &avatar.agent_id,
                    &avatar.hash,
                    &avatar.content_type,
                    &avatar.bytes,
                    &millis(avatar.updated_at),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(stored > 0)
    }

    async fn delete_avatar(&self, agent_id: &str) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM agent_avatars WHERE agent_id = $1",
                &[&agent_id],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn avatar(&self, hash: &str) -> StoreResult<Option<AvatarRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT agent_id, account_id, hash, content_type, bytes, updated_at
                 FROM agent_avatars WHERE hash = $1 LIMIT 1",
                &[&hash],
            )
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(AvatarRecord {
                agent_id: get(&row, 0)?,
                account_id: get(&row, 1)?,
                hash: get(&row, 2)?,
                content_type: get(&row, 3)?,
                bytes: get(&row, 4)?,
                updated_at: from_millis(get(&row, 5)?)?,
            })
        })
        .transpose()
    }

    async fn put_group(&self, group: &GroupRecord) -> StoreResult<()> {
        let office_hours = office_hours_json(&group.office_hours)?;
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO groups (account_id, key, name, office_hours, created_at)
                 VALUES ($1, $2, $3, $4::text::jsonb, $5)
                 ON CONFLICT (account_id, key) DO UPDATE SET name = excluded.name,
                     office_hours = excluded.office_hours",
                &[
                    &group.account_id,
                    &group.key,
                    &group.name,
                    &office_hours,
                    &millis(group.created_at),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_group(&self, account_id: &str, key: &str) -> StoreResult<()> {
        // The memberships go with it (ON DELETE CASCADE); the conversations
        // that started in it stay, their group key kept.
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "DELETE FROM groups WHERE account_id = $1 AND key = $2",
            &[&account_id, &key],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn put_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sessions (id, agent_id, token_hash, device, last_seen, streaming,
                     created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &session.id,
                    &session.agent_id,
                    &&session.token_hash[..],
                    &session.device,
                    &millis(session.last_seen),
                    &session.streaming,
                    &millis(session.created_at),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn touch_session(
        &self,
        session_id: &str,
        last_seen: Timestamp,
        streaming: bool,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE sessions SET last_seen = GREATEST(last_seen, $2), streaming = $3
                 WHERE id = $1",
                &[&session_id, &millis(last_seen), &streaming],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, session_id: &str) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM sessions WHERE id = $1", &[&session_id])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn create_conversation(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>> {
        let c = conversation;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let page_url = c.page.as_ref().map(|page| page.url.as_str());
        let page_title = c.page.as_ref().and_then(|page| page.title.as_deref());
        let params: [&(dyn ToSql + Sync); 15] = [
            &c.id,
            &c.account_id,
            &c.group,
            &c.state.as_str(),
            &c.name,
            &c.email,
            &&c.visitor_token_hash[..],
            &c.lang.map(Lang::as_str),
            &millis(c.created_at),
            &millis(c.last_message_at),
            &c.replies.waiting_since.map(millis),
            &c.replies.replied_in_wait,
            &c.replies.offline_replied,
            &page_url,
            &page_title,
        ];
        tx.execute(
            &format!(
                "INSERT INTO conversations ({CONVERSATION_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            &params,
        )
        .await
        .map_err(backend)?;
        let stored = insert_messages(&tx, messages).await?;
        insert_outbox(&tx, outbox).await?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn reply_digest_start(&self, conversation_id: &str) -> StoreResult<Option<u64>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT reply_mail_from FROM conversations WHERE id = $1",
                &[&conversation_id],
            )
            .await
            .map_err(backend)?;
        let start: Option<i64> = match &row {
            Some(row) => get(row, 0)?,
            None => None,
        };
        Ok(start.and_then(|seq| u64::try_from(seq).ok()))
    }

    async fn finish_reply_digest(
        &self,
        conversation_id: &str,
        from: u64,
        sent_up_to: u64,
        follow_up: &OutboxItem,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // The row lock orders this against appends (which hold it from their
        // first statement); the next statement's snapshot then sees every
        // reply committed before it.
        let waiting = tx
            .query_opt(
                "SELECT reply_mail_from FROM conversations WHERE id = $1 FOR UPDATE",
                &[&conversation_id],
            )
            .await
            .map_err(backend)?;
        let waiting: Option<i64> = match &waiting {
            Some(row) => get(row, 0)?,
            None => None,
        };
        if waiting.is_none() || waiting != i64::try_from(from).ok() {
            return Ok(false);
        }
        let row = tx
            .query_one(
                "SELECT min(seq) FROM messages
                 WHERE conversation_id = $1 AND seq > $2 AND author = 'agent'",
                &[
                    &conversation_id,
                    &i64::try_from(sent_up_to).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(backend)?;
        let next: Option<i64> = get(&row, 0)?;
        tx.execute(
            "UPDATE conversations SET reply_mail_from = $2 WHERE id = $1",
            &[&conversation_id, &next],
        )
        .await
        .map_err(backend)?;
        if next.is_some() {
            insert_outbox(&tx, std::slice::from_ref(follow_up)).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(next.is_some())
    }

    async fn append_messages(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>> {
        let c = conversation;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Also locks the conversation's row until the commit (see
        // insert_messages).
        let updated = tx
            .execute(
                "UPDATE conversations SET state = $3, last_message_at = $4,
                     waiting_since = $5, replied_in_wait = $6, offline_replied = $7
                 WHERE id = $1 AND account_id = $2",
                &[
                    &c.id,
                    &c.account_id,
                    &c.state.as_str(),
                    &millis(c.last_message_at),
                    &c.replies.waiting_since.map(millis),
                    &c.replies.replied_in_wait,
                    &c.replies.offline_replied,
                ],
            )
            .await
            .map_err(backend)?;
        if updated != 1 {
            return Err(StoreError::Backend(format!(
                "no conversation {:?} to update",
                c.id
            )));
        }
        let stored = insert_messages(&tx, messages).await?;
        let outbox = reply_digest_rule(&tx, &c.id, &stored, outbox).await?;
        insert_outbox(&tx, &outbox).await?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn delete_conversation(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Its mail (sent or waiting) holds the visitor's words: it goes too.
        tx.execute(
            "DELETE FROM outbox WHERE account_id = $2
             AND payload->>'conversation_id' = $1",
            &[&id, &account_id],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM messages WHERE conversation_id = $1
             AND conversation_id IN (SELECT id FROM conversations WHERE account_id = $2)",
            &[&id, &account_id],
        )
        .await
        .map_err(backend)?;
        let removed = tx
            .execute(
                "DELETE FROM conversations WHERE id = $1 AND account_id = $2",
                &[&id, &account_id],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(removed == 1)
    }

    async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let client = self.client().await?;
        find_conversation(&client, account_id, id).await
    }

    async fn conversation_with_messages(
        &self,
        account_id: &str,
        id: &str,
        after: u64,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>> {
        let mut client = self.client().await?;
        // One snapshot for both reads, so they agree.
        let tx = snapshot(&mut client).await?;
        let Some(conversation) = find_conversation(&tx, account_id, id).await? else {
            tx.commit().await.map_err(backend)?;
            return Ok(None);
        };
        let messages = messages_after(&tx, id, after).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some((conversation, messages)))
    }

    async fn list_conversations(
        &self,
        account_id: &str,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let state = filter.state.map(ConversationState::as_str);
        let limit = i64::from(filter.limit);
        // Only the conditions asked for, so the planner can use the indexes.
        let mut sql =
            format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1");
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&account_id];
        if let Some(group) = &filter.group {
            args.push(group);
            sql.push_str(&format!(" AND group_key = ${}", args.len()));
        }
        if let Some(state) = &state {
            args.push(state);
            sql.push_str(&format!(" AND state = ${}", args.len()));
        }
        args.push(&limit);
        sql.push_str(&format!(
            " ORDER BY last_message_at DESC, id DESC LIMIT ${}",
            args.len()
        ));
        let client = self.client().await?;
        let rows = client.query(&sql, &args).await.map_err(backend)?;
        rows.iter().map(conversation_from_row).collect()
    }

    async fn last_messages(
        &self,
        conversation_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, MessageRecord>> {
        if conversation_ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq IN \
                     (SELECT MAX(seq) FROM messages WHERE conversation_id = ANY($1) \
                      AND author <> 'bot' GROUP BY conversation_id)"
                ),
                &[&conversation_ids],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| message_from_row(row).map(|m| (m.conversation_id.clone(), m)))
            .collect()
    }

    async fn messages_after(
        &self,
        conversation_id: &str,
        after: u64,
    ) -> StoreResult<Vec<MessageRecord>> {
        let client = self.client().await?;
        messages_after(&client, conversation_id, after).await
    }

    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        // SKIP LOCKED: rows another node is claiming at this moment are left
        // to it, and once it commits their lease puts them out of reach.
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE outbox SET next_attempt_at = $2
                 WHERE id IN (SELECT id FROM outbox
                              WHERE sent_at IS NULL AND failed_at IS NULL
                                AND next_attempt_at <= $1
                              ORDER BY next_attempt_at, id LIMIT $3
                              FOR UPDATE SKIP LOCKED)
                 RETURNING id, account_id, kind, payload::text, created_at, attempts",
                &[&millis(now), &millis(lease_until), &i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        let mut items = rows
            .iter()
            .map(|row| {
                let attempts: i32 = get(row, 5)?;
                Ok(OutboxItem {
                    id: get(row, 0)?,
                    account_id: get(row, 1)?,
                    kind: get(row, 2)?,
                    payload: get(row, 3)?,
                    created_at: from_millis(get(row, 4)?)?,
                    // It came due by now; when exactly matters no more.
                    due_at: now,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(items)
    }

    async fn outbox_sent(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE outbox SET sent_at = $2, last_error = NULL WHERE id = $1",
                &[&id, &millis(at)],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn outbox_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
                 WHERE id = $1 AND sent_at IS NULL",
                &[&id, &millis(next_attempt_at), &error],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn outbox_failed(&self, id: &str, at: Timestamp, error: &str) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, failed_at = $2, last_error = $3
                 WHERE id = $1 AND sent_at IS NULL",
                &[&id, &millis(at), &error],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn outbox_pending(&self) -> StoreResult<(u64, Option<Timestamp>)> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT count(*), min(next_attempt_at) FROM outbox
                 WHERE sent_at IS NULL AND failed_at IS NULL",
                &[],
            )
            .await
            .map_err(backend)?;
        let count: i64 = get(&row, 0)?;
        let next: Option<i64> = get(&row, 1)?;
        Ok((
            u64::try_from(count).unwrap_or(0),
            next.map(from_millis).transpose()?,
        ))
    }

    async fn prune_outbox(&self, before: Timestamp) -> StoreResult<u64> {
        self.client()
            .await?
            .execute(
                "DELETE FROM outbox WHERE sent_at < $1 OR failed_at < $1",
                &[&millis(before)],
            )
            .await
            .map_err(backend)
    }

    // Webhooks.

    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        let events = to_json(&webhook.events)?;
        self.client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                ),
                &[
                    &webhook.id,
                    &webhook.account_id,
                    &webhook.url,
                    &events,
                    &webhook.secret,
                    &millis(webhook.created_at),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookRecord>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = $1
                     ORDER BY created_at, id"
                ),
                &[&account_id],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(backend)?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "DELETE FROM webhook_attempts WHERE webhook_id = $1
             AND webhook_id IN (SELECT id FROM webhooks WHERE account_id = $2)",
            &[&id, &account_id],
        )
        .await
        .map_err(backend)?;
        let removed = tx
            .execute(
                "DELETE FROM webhooks WHERE id = $1 AND account_id = $2",
                &[&id, &account_id],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(removed == 1)
    }

    async fn record_webhook_attempt(
        &self,
        webhook_id: &str,
        attempt: &WebhookAttempt,
        keep: u32,
    ) -> StoreResult<()> {
        let status = attempt.status.map(i32::from);
        let next = attempt.next_attempt_at.map(millis);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "INSERT INTO webhook_attempts
             (webhook_id, delivery_id, event, attempted_at, status, error, next_attempt_at)
             SELECT id, $2, $3, $4, $5, $6, $7 FROM webhooks WHERE id = $1",
            &[
                &webhook_id,
                &attempt.delivery_id,
                &attempt.event,
                &millis(attempt.attempted_at),
                &status,
                &attempt.error,
                &next,
            ],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM webhook_attempts WHERE webhook_id = $1 AND seq NOT IN
             (SELECT seq FROM webhook_attempts WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2)",
            &[&webhook_id, &i64::from(keep)],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn webhook_attempts(
        &self,
        webhook_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookAttempt>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT delivery_id, event, attempted_at, status, error, next_attempt_at
                 FROM webhook_attempts WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2",
                &[&webhook_id, &i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(webhook_attempt_from_row).collect()
    }

    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        insert_outbox(&tx, items).await?;
        tx.commit().await.map_err(backend)
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
            .await
            .map_err(backend)?;
        row.as_ref().map(|row| get(row, 0)).transpose()
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    // Web Push (see `push`).

    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        let client = self.client().await?;
        // DO UPDATE (to the same value) rather than DO NOTHING, so that
        // RETURNING gives the row that won.
        let row = client
            .query_one(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = meta.value
                 RETURNING value",
                &[&key, &value],
            )
            .await
            .map_err(backend)?;
        get(&row, 0)
    }

    async fn put_push_subscription(
        &self,
        subscription: &PushSubscriptionRecord,
    ) -> StoreResult<bool> {
        let s = subscription;
        let client = self.client().await?;
        let stored = client
            .execute(
                "INSERT INTO push_subscriptions
                     (session_id, account_id, agent_id, endpoint, p256dh, auth, created_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7
                 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)
                 ON CONFLICT (session_id) DO UPDATE SET
                     endpoint = excluded.endpoint, p256dh = excluded.p256dh,
                     auth = excluded.auth, created_at = excluded.created_at",
                &[
                    &s.session_id,
                    &s.account_id,
                    &s.agent_id,
                    &s.endpoint,
                    &s.p256dh,
                    &s.auth,
                    &millis(s.created_at),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(stored > 0)
    }

    async fn push_subscription(
        &self,
        session_id: &str,
    ) -> StoreResult<Option<PushSubscriptionRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PUSH_COLUMNS} FROM push_subscriptions WHERE session_id = $1"),
                &[&session_id],
            )
            .await
            .map_err(backend)?;
        row.as_ref().map(push_subscription_from_row).transpose()
    }

    async fn push_subscriptions(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PUSH_COLUMNS} FROM push_subscriptions WHERE account_id = $1
                     ORDER BY session_id"
                ),
                &[&account_id],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(push_subscription_from_row).collect()
    }

    async fn delete_push_subscription(
        &self,
        session_id: &str,
        endpoint: Option<&str>,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        let removed = client
            .execute(
                "DELETE FROM push_subscriptions
                 WHERE session_id = $1 AND ($2::TEXT IS NULL OR endpoint = $2)",
                &[&session_id, &endpoint],
            )
            .await
            .map_err(backend)?;
        Ok(removed > 0)
    }
}

const PUSH_COLUMNS: &str = "session_id, account_id, agent_id, endpoint, p256dh, auth, created_at";

fn push_subscription_from_row(row: &Row) -> StoreResult<PushSubscriptionRecord> {
    Ok(PushSubscriptionRecord {
        session_id: get(row, 0)?,
        account_id: get(row, 1)?,
        agent_id: get(row, 2)?,
        endpoint: get(row, 3)?,
        p256dh: get(row, 4)?,
        auth: get(row, 5)?,
        created_at: from_millis(get(row, 6)?)?,
    })
}

/// An account's cluster view, read with `client` (inside the caller's
/// transaction, so that it agrees with itself).
async fn read_cluster_account(
    client: &impl GenericClient,
    account: AccountRecord,
    version: u64,
    alive_after: Timestamp,
) -> StoreResult<ClusterAccount> {
    let mut data = load_account_data(client, account, version).await?;
    let rows = client
        .query(
            "SELECT ss.session_id, n.heartbeat_at, n.stopped
             FROM session_streams ss
             JOIN nodes n ON n.id = ss.node_id
             JOIN sessions s ON s.id = ss.session_id
             JOIN agents a ON a.id = s.agent_id
             WHERE a.account_id = $1",
            &[&data.account.id],
        )
        .await
        .map_err(backend)?;
    let mut streaming = std::collections::HashSet::new();
    let mut held_until: std::collections::HashMap<String, Timestamp> =
        std::collections::HashMap::new();
    for row in &rows {
        let session: String = get(row, 0)?;
        let heartbeat = from_millis(get(row, 1)?)?;
        let stopped: bool = get(row, 2)?;
        if !stopped && heartbeat >= alive_after {
            streaming.insert(session);
        } else {
            let entry = held_until.entry(session).or_insert(heartbeat);
            *entry = (*entry).max(heartbeat);
        }
    }
    for session in &mut data.sessions {
        if let Some(at) = held_until.get(&session.id) {
            session.last_seen = session.last_seen.max(*at);
        }
        session.streaming = streaming.contains(&session.id);
    }
    let rows = client
        .query(
            "SELECT scope, version, snapshot FROM scope_status WHERE account_id = $1 ORDER BY scope",
            &[&data.account.id],
        )
        .await
        .map_err(backend)?;
    let published = rows
        .iter()
        .map(|row| {
            Ok(PublishedScope {
                scope: get(row, 0)?,
                version: u64::try_from(get::<i64>(row, 1)?).unwrap_or(0),
                snapshot: get(row, 2)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(ClusterAccount {
        data,
        streaming,
        published,
    })
}

#[async_trait]
impl ClusterStore for PostgresStore {
    async fn register_node(&self, node_id: &str, now: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $2)",
                &[&node_id, &millis(now)],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn heartbeat(&self, node_id: &str, now: Timestamp) -> StoreResult<bool> {
        let client = self.client().await?;
        let updated = client
            .execute(
                "UPDATE nodes SET heartbeat_at = GREATEST(heartbeat_at, $2)
                 WHERE id = $1 AND NOT stopped",
                &[&node_id, &millis(now)],
            )
            .await
            .map_err(backend)?;
        Ok(updated == 1)
    }

    async fn stop_node(&self, node_id: &str, now: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE nodes SET heartbeat_at = GREATEST(heartbeat_at, $2), stopped = true
                 WHERE id = $1",
                &[&node_id, &millis(now)],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn silent_nodes(&self, before: Timestamp) -> StoreResult<Vec<(String, Timestamp)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, heartbeat_at FROM nodes WHERE heartbeat_at < $1 OR stopped ORDER BY id",
                &[&millis(before)],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| Ok((get(row, 0)?, from_millis(get(row, 1)?)?)))
            .collect()
    }

    async fn accounts_streaming_on(&self, node_id: &str) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT a.account_id FROM session_streams ss
                 JOIN sessions s ON s.id = ss.session_id
                 JOIN agents a ON a.id = s.agent_id
                 WHERE ss.node_id = $1 ORDER BY a.account_id",
                &[&node_id],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(|row| get(row, 0)).collect()
    }

    async fn forget_node(&self, node_id: &str) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "UPDATE sessions s SET last_seen = GREATEST(s.last_seen, n.heartbeat_at)
             FROM session_streams ss JOIN nodes n ON n.id = ss.node_id
             WHERE ss.session_id = s.id AND n.id = $1",
            &[&node_id],
        )
        .await
        .map_err(backend)?;
        tx.execute("DELETE FROM nodes WHERE id = $1", &[&node_id])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn add_visitor_streams(
        &self,
        conversation_id: &str,
        node_id: &str,
        delta: i32,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO visitor_streams (conversation_id, node_id, streams) VALUES ($1, $2, $3)
                 ON CONFLICT (conversation_id, node_id)
                 DO UPDATE SET streams = visitor_streams.streams + EXCLUDED.streams",
                &[&conversation_id, &node_id, &delta],
            )
            .await
            .map_err(backend)?;
        if delta < 0 {
            client
                .execute(
                    "DELETE FROM visitor_streams
                     WHERE conversation_id = $1 AND node_id = $2 AND streams <= 0",
                    &[&conversation_id, &node_id],
                )
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn visitor_streaming(
        &self,
        conversation_id: &str,
        alive_after: Timestamp,
    ) -> StoreResult<bool> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM visitor_streams vs JOIN nodes n ON n.id = vs.node_id
                 WHERE vs.conversation_id = $1 AND vs.streams > 0
                   AND n.heartbeat_at >= $2 AND NOT n.stopped)",
                &[&conversation_id, &millis(alive_after)],
            )
            .await
            .map_err(backend)?;
        get(&row, 0)
    }

    async fn agents_streaming(
        &self,
        account_id: &str,
        alive_after: Timestamp,
    ) -> StoreResult<std::collections::HashSet<String>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT DISTINCT s.agent_id FROM session_streams ss
                 JOIN nodes n ON n.id = ss.node_id
                 JOIN sessions s ON s.id = ss.session_id
                 JOIN agents a ON a.id = s.agent_id
                 WHERE a.account_id = $1 AND ss.streams > 0
                   AND n.heartbeat_at >= $2 AND NOT n.stopped",
                &[&account_id, &millis(alive_after)],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(|row| get(row, 0)).collect()
    }

    async fn set_streams(&self, session_id: &str, node_id: &str, streams: u32) -> StoreResult<()> {
        let client = self.client().await?;
        let result =
            if streams == 0 {
                client
                    .execute(
                        "DELETE FROM session_streams WHERE session_id = $1 AND node_id = $2",
                        &[&session_id, &node_id],
                    )
                    .await
            } else {
                client
                .execute(
                    "INSERT INTO session_streams (session_id, node_id, streams) VALUES ($1, $2, $3)
                     ON CONFLICT (session_id, node_id) DO UPDATE SET streams = EXCLUDED.streams",
                    &[&session_id, &node_id, &i32::try_from(streams).unwrap_or(i32::MAX)],
                )
                .await
            };
        match result {
            Ok(_) => Ok(()),
            // The session ended meanwhile: there is nothing to count.
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn claim_reply(&self, conversation_id: &str, since: Timestamp) -> StoreResult<bool> {
        let client = self.client().await?;
        let claimed = client
            .execute(
                "UPDATE conversations SET replied_in_wait = true
                 WHERE id = $1 AND waiting_since = $2 AND NOT replied_in_wait",
                &[&conversation_id, &millis(since)],
            )
            .await
            .map_err(backend)?;
        Ok(claimed == 1)
    }

    async fn account_of_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT c.slug FROM sessions s
                 JOIN agents a ON a.id = s.agent_id
                 JOIN accounts c ON c.id = a.account_id
                 WHERE s.token_hash = $1",
                &[&token_hash.as_slice()],
            )
            .await
            .map_err(backend)?;
        row.map(|row| get(&row, 0)).transpose()
    }

    async fn load_cluster_account(
        &self,
        account_id: &str,
        alive_after: Timestamp,
    ) -> StoreResult<Option<ClusterAccount>> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let account = match account_where(&tx, "id", account_id).await? {
            Some((account, version)) => {
                Some(read_cluster_account(&tx, account, version, alive_after).await?)
            }
            None => None,
        };
        tx.commit().await.map_err(backend)?;
        Ok(account)
    }

    async fn derive_locked(
        &self,
        account_id: &str,
        alive_after: Timestamp,
        derive: &DeriveFn,
    ) -> StoreResult<Option<(ClusterAccount, Derived)>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // The account's row lock: derivers of one account take turns, and
        // each reads what the one before it stored.
        let row = tx
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 FOR UPDATE"),
                &[&account_id],
            )
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            tx.commit().await.map_err(backend)?;
            return Ok(None);
        };
        let (account, version) = account_from_row(&row)?;
        let mut read = read_cluster_account(&tx, account, version, alive_after).await?;
        let next = version + 1;
        let derived = derive(&read, next);
        if derived.is_empty() {
            tx.commit().await.map_err(backend)?;
            return Ok(Some((read, derived)));
        }
        let next_db = to_i64(next)?;
        for (scope, snapshot) in &derived.changed {
            tx.execute(
                "INSERT INTO scope_status (account_id, scope, version, snapshot)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, scope)
                 DO UPDATE SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot",
                &[&account_id, scope, &next_db, snapshot],
            )
            .await
            .map_err(backend)?;
        }
        for scope in &derived.removed {
            tx.execute(
                "DELETE FROM scope_status WHERE account_id = $1 AND scope = $2",
                &[&account_id, scope],
            )
            .await
            .map_err(backend)?;
        }
        tx.execute(
            "UPDATE accounts SET version = $2 WHERE id = $1",
            &[&account_id, &next_db],
        )
        .await
        .map_err(backend)?;
        // Under the row lock: the node that stores a change is the one that
        // enqueues what it causes, so the cluster sends it once.
        insert_outbox(&tx, &derived.outbox).await?;
        tx.commit().await.map_err(backend)?;
        read.data.version = next;
        read.published.retain(|p| {
            !derived.removed.contains(&p.scope)
                && !derived.changed.iter().any(|(s, _)| *s == p.scope)
        });
        read.published.extend(
            derived
                .changed
                .iter()
                .map(|(scope, snapshot)| PublishedScope {
                    scope: scope.clone(),
                    version: next,
                    snapshot: snapshot.clone(),
                }),
        );
        read.published.sort_by(|a, b| a.scope.cmp(&b.scope));
        Ok(Some((read, derived)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_asks_for_synchronous_commit() {
        let config = connection_config("postgres://u@localhost:5432/db").expect("valid");
        assert_eq!(config.get_options(), Some("-c synchronous_commit=on"));
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));

        // After the URL's own options, so it wins over a synchronous_commit there.
        let config = connection_config(
            "postgresql://u@localhost/db?options=-c%20synchronous_commit%3Doff&connect_timeout=3",
        )
        .expect("valid");
        assert_eq!(
            config.get_options(),
            Some("-c synchronous_commit=off -c synchronous_commit=on")
        );
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }

    /// Against the test server (`ONAIR_TEST_POSTGRES_URL`), without touching
    /// any data: a URL that turns synchronous commits off is overruled.
    #[tokio::test]
    async fn a_live_connection_commits_synchronously() {
        let base = std::env::var("ONAIR_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20synchronous_commit%3Doff");
        let client = pool(&url)
            .expect("a pool")
            .get()
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {base} is needed for this test: {e}"));
        let row = client
            .query_one("SHOW synchronous_commit", &[])
            .await
            .expect("show");
        assert_eq!(row.get::<_, String>(0), "on");
    }

    #[test]
    fn a_bad_url_is_reported_without_repeating_it() {
        let e =
            connection_config("postgres://u:s3cret@localhost:notaport/db").expect_err("invalid");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}

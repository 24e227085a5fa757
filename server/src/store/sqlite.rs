//! The embedded default store: one SQLite file in WAL mode.
//!
//! A single connection behind a mutex, used from `spawn_blocking`: the server
//! reads from memory, so the store only sees writes and start-up loads, and
//! SQLite serialises writers anyway.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use onair_shared::conversation::ReplyState;
use onair_shared::office_hours::OfficeHoursSpec;
use onair_shared::wire::{Author, ConversationState, Lang, LocalText, Role, Status};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    AccountData, AccountRecord, AgentRecord, AvatarRecord, ConversationFilter, ConversationRecord,
    GroupRecord, MessageRecord, OutboxItem, PushSubscriptionRecord, REPLY_DIGEST, SessionRecord,
    Store, StoreError, StoreResult, WaitingRecord, WebhookAttempt, WebhookRecord, text_column,
    text_of_column,
};

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_conversations.sql"),
    include_str!("../../migrations/0003_notifications.sql"),
    include_str!("../../migrations/0004_disabled_agents.sql"),
    include_str!("../../migrations/0005_reply_digests.sql"),
    include_str!("../../migrations/0006_webhooks.sql"),
    include_str!("../../migrations/0007_push.sql"),
    include_str!("../../migrations/0008_conversation_page.sql"),
    include_str!("../../migrations/0009_local_texts.sql"),
    include_str!("../../migrations/0010_avatars.sql"),
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, or an in-memory one
    /// for `:memory:`, and brings its schema up to date.
    pub async fn open(path: &str) -> StoreResult<SqliteStore> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || open_blocking(&path))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-written
            // transaction behind (SQLite rolls it back), so a poisoned lock is
            // still a usable connection.
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

fn open_blocking(path: &str) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(backend)?;
    // WAL for concurrent readers; synchronous=FULL so a write the API
    // acknowledged survives power loss, not only a crash of the process.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(backend)?;
    migrate(&conn)?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    let applied: usize = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend)?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this onair ({}); upgrade onair",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            index + 1
        ))
        .map_err(backend)?;
    }
    Ok(())
}

fn backend(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => super::full(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Maps a unique-constraint failure to a conflict on `what`.
fn conflict_or_backend(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation)
            if e.to_string().contains("UNIQUE") || e.to_string().contains("PRIMARY KEY") =>
        {
            StoreError::Conflict(what)
        }
        _ => backend(e),
    }
}

fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_millis(ms: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn text_from(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<LocalText>> {
    let column: Option<String> = row.get(index)?;
    text_of_column(column.as_deref())
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

fn office_hours_json(spec: &Option<OfficeHoursSpec>) -> StoreResult<Option<String>> {
    spec.as_ref().map(to_json).transpose()
}

fn parse_enum<T>(text: &str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(text).ok_or_else(|| {
        rusqlite::Error::ToSqlConversionFailure(format!("unexpected stored value {text:?}").into())
    })
}

const ACCOUNT_COLUMNS: &str = "id, slug, name, timezone, grace_seconds, busy_message, offline_message, \
     hide_when_offline, busy_after_seconds, allowed_origins, office_hours, created_at, version, \
     offline_reply, busy_reply";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<(AccountRecord, u64)> {
    let origins: String = row.get(9)?;
    let office_hours: Option<String> = row.get(10)?;
    let account = AccountRecord {
        id: row.get(0)?,
        slug: row.get(1)?,
        name: row.get(2)?,
        timezone: row.get(3)?,
        grace_seconds: row.get(4)?,
        busy_message: text_from(row, 5)?,
        offline_message: text_from(row, 6)?,
        hide_when_offline: row.get(7)?,
        busy_after_seconds: row.get(8)?,
        allowed_origins: from_json(&origins)?,
        office_hours: office_hours.as_deref().map(from_json).transpose()?,
        offline_reply: text_from(row, 13)?,
        busy_reply: text_from(row, 14)?,
        created_at: from_millis(row.get(11)?)?,
    };
    let version: i64 = row.get(12)?;
    Ok((account, u64::try_from(version).unwrap_or(0)))
}

fn load_account_data(
    conn: &Connection,
    account: AccountRecord,
    version: u64,
) -> rusqlite::Result<AccountData> {
    let mut groups_stmt = conn.prepare_cached(
        "SELECT key, name, office_hours, created_at FROM groups WHERE account_id = ?1 ORDER BY key",
    )?;
    let groups = groups_stmt
        .query_map([&account.id], |row| {
            let office_hours: Option<String> = row.get(2)?;
            Ok(GroupRecord {
                account_id: account.id.clone(),
                key: row.get(0)?,
                name: row.get(1)?,
                office_hours: office_hours.as_deref().map(from_json).transpose()?,
                created_at: from_millis(row.get(3)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let mut agents_stmt = conn.prepare_cached(
        "SELECT id, name, email, role, status, password_hash, created_at,
                (SELECT json_group_array(group_key) FROM
                    (SELECT group_key FROM agent_groups g WHERE g.agent_id = agents.id ORDER BY group_key)),
                email_notifications, disabled,
                (SELECT hash FROM agent_avatars v WHERE v.agent_id = agents.id)
         FROM agents WHERE account_id = ?1 ORDER BY created_at, id",
    )?;
    let agents = agents_stmt
        .query_map([&account.id], |row| {
            let role: String = row.get(3)?;
            let status: String = row.get(4)?;
            let groups: String = row.get(7)?;
            Ok(AgentRecord {
                id: row.get(0)?,
                account_id: account.id.clone(),
                name: row.get(1)?,
                email: row.get(2)?,
                role: parse_enum(&role, Role::parse)?,
                status: parse_enum(&status, Status::parse)?,
                groups: from_json(&groups)?,
                password_hash: row.get(5)?,
                email_notifications: row.get(8)?,
                disabled: row.get(9)?,
                avatar: row.get(10)?,
                created_at: from_millis(row.get(6)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let mut sessions_stmt = conn.prepare_cached(
        "SELECT s.id, s.agent_id, s.token_hash, s.device, s.last_seen, s.streaming, s.created_at
         FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE a.account_id = ?1",
    )?;
    let sessions = sessions_stmt
        .query_map([&account.id], |row| {
            Ok(SessionRecord {
                id: row.get(0)?,
                agent_id: row.get(1)?,
                token_hash: row.get(2)?,
                device: row.get(3)?,
                last_seen: from_millis(row.get(4)?)?,
                streaming: row.get(5)?,
                created_at: from_millis(row.get(6)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let mut waiting_stmt = conn.prepare_cached(
        "SELECT id, group_key, waiting_since FROM conversations
         WHERE account_id = ?1 AND waiting_since IS NOT NULL AND replied_in_wait = 0
             AND state <> 'closed'",
    )?;
    let waiting = waiting_stmt
        .query_map([&account.id], |row| {
            Ok(WaitingRecord {
                conversation_id: row.get(0)?,
                group: row.get(1)?,
                since: from_millis(row.get(2)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

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

fn conversation_from_row(row: &Row<'_>) -> rusqlite::Result<ConversationRecord> {
    let state: String = row.get(3)?;
    let lang: Option<String> = row.get(7)?;
    let waiting_since: Option<i64> = row.get(10)?;
    Ok(ConversationRecord {
        id: row.get(0)?,
        account_id: row.get(1)?,
        group: row.get(2)?,
        state: parse_enum(&state, ConversationState::parse)?,
        name: row.get(4)?,
        email: row.get(5)?,
        visitor_token_hash: row.get(6)?,
        lang: lang
            .as_deref()
            .map(|l| parse_enum(l, Lang::parse))
            .transpose()?,
        created_at: from_millis(row.get(8)?)?,
        last_message_at: from_millis(row.get(9)?)?,
        replies: ReplyState {
            waiting_since: waiting_since.map(from_millis).transpose()?,
            replied_in_wait: row.get(11)?,
            offline_replied: row.get(12)?,
        },
        page: super::page(row.get(13)?, row.get(14)?),
    })
}

const MESSAGE_COLUMNS: &str = "seq, id, conversation_id, author, agent_id, text, created_at";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let seq: i64 = row.get(0)?;
    let author: String = row.get(3)?;
    Ok(MessageRecord {
        seq: u64::try_from(seq).unwrap_or(0),
        id: row.get(1)?,
        conversation_id: row.get(2)?,
        author: parse_enum(&author, Author::parse)?,
        agent_id: row.get(4)?,
        text: row.get(5)?,
        created_at: from_millis(row.get(6)?)?,
    })
}

fn find_conversation(
    conn: &Connection,
    account_id: &str,
    id: &str,
) -> rusqlite::Result<Option<ConversationRecord>> {
    conn.query_row(
        &format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1 AND account_id = ?2"
        ),
        [id, account_id],
        conversation_from_row,
    )
    .optional()
}

fn messages_after(
    conn: &Connection,
    conversation_id: &str,
    after: u64,
) -> rusqlite::Result<Vec<MessageRecord>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq"
    ))?;
    stmt.query_map(params![conversation_id, after], message_from_row)?
        .collect()
}

/// Inserts messages; returns them with the `seq` SQLite assigned.
fn insert_messages(
    tx: &rusqlite::Transaction<'_>,
    messages: &[MessageRecord],
) -> StoreResult<Vec<MessageRecord>> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO messages (id, conversation_id, author, agent_id, text, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(backend)?;
    messages
        .iter()
        .map(|message| {
            stmt.execute(params![
                message.id,
                message.conversation_id,
                message.author.as_str(),
                message.agent_id,
                message.text,
                millis(message.created_at),
            ])
            .map_err(backend)?;
            let seq = u64::try_from(tx.last_insert_rowid()).unwrap_or(0);
            Ok(MessageRecord {
                seq,
                ..message.clone()
            })
        })
        .collect()
}

/// Where a conversation's waiting digest starts: `None` without such a
/// conversation, `Some(None)` when no digest waits.
fn digest_start(conn: &Connection, conversation_id: &str) -> StoreResult<Option<Option<u64>>> {
    conn.query_row(
        "SELECT reply_mail_from FROM conversations WHERE id = ?1",
        params![conversation_id],
        |row| row.get(0),
    )
    .optional()
    .map_err(backend)
}

/// The rule of [`REPLY_DIGEST`] (one digest waiting per conversation) for
/// the items appended with `stored`: drops a digest item while one waits,
/// else marks where the new one starts. In the append's transaction.
fn reply_digest_rule(
    tx: &rusqlite::Transaction<'_>,
    conversation_id: &str,
    stored: &[MessageRecord],
    items: Vec<OutboxItem>,
) -> StoreResult<Vec<OutboxItem>> {
    if !items.iter().any(|item| item.kind == REPLY_DIGEST) {
        return Ok(items);
    }
    let waiting = digest_start(tx, conversation_id)?.flatten();
    let first = stored
        .iter()
        .find(|m| m.author == Author::Agent)
        .map(|m| m.seq);
    if let (None, Some(first)) = (waiting, first) {
        tx.execute(
            "UPDATE conversations SET reply_mail_from = ?2 WHERE id = ?1",
            params![conversation_id, first],
        )
        .map_err(backend)?;
        return Ok(items);
    }
    Ok(items
        .into_iter()
        .filter(|item| item.kind != REPLY_DIGEST)
        .collect())
}

const WEBHOOK_COLUMNS: &str = "id, account_id, url, events, secret, created_at";

fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookRecord> {
    let events: String = row.get(3)?;
    Ok(WebhookRecord {
        id: row.get(0)?,
        account_id: row.get(1)?,
        url: row.get(2)?,
        events: from_json(&events)?,
        secret: row.get(4)?,
        created_at: from_millis(row.get(5)?)?,
    })
}

fn webhook_attempt_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookAttempt> {
    let status: Option<i64> = row.get(3)?;
    let next: Option<i64> = row.get(5)?;
    Ok(WebhookAttempt {
        delivery_id: row.get(0)?,
        event: row.get(1)?,
        attempted_at: from_millis(row.get(2)?)?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        error: row.get(4)?,
        next_attempt_at: next.map(from_millis).transpose()?,
    })
}

/// Inserts outbox items, each first due at its `due_at`.
fn insert_outbox(tx: &rusqlite::Transaction<'_>, items: &[OutboxItem]) -> StoreResult<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (id, account_id, kind, payload, created_at, attempts, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?;
    for item in items {
        stmt.execute(params![
            item.id,
            item.account_id,
            item.kind,
            item.payload,
            millis(item.created_at),
            item.attempts,
            millis(item.due_at),
        ])
        .map_err(backend)?;
    }
    Ok(())
}

fn write_agent(tx: &rusqlite::Transaction<'_>, agent: &AgentRecord) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO agents (id, account_id, name, email, role, status, password_hash, created_at,
             email_notifications, disabled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email,
             role = excluded.role, status = excluded.status, password_hash = excluded.password_hash,
             email_notifications = excluded.email_notifications, disabled = excluded.disabled",
        params![
            agent.id,
            agent.account_id,
            agent.name,
            agent.email,
            agent.role.as_str(),
            agent.status.as_str(),
            agent.password_hash,
            millis(agent.created_at),
            agent.email_notifications,
            agent.disabled,
        ],
    )
    .map_err(conflict_or_backend("email"))?;
    tx.execute("DELETE FROM agent_groups WHERE agent_id = ?1", [&agent.id])
        .map_err(backend)?;
    for key in &agent.groups {
        tx.execute(
            "INSERT INTO agent_groups (agent_id, account_id, group_key) VALUES (?1, ?2, ?3)",
            params![agent.id, agent.account_id, key],
        )
        .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn load_all(&self) -> StoreResult<Vec<AccountData>> {
        self.with(|conn| {
            let accounts = {
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at"
                    ))
                    .map_err(backend)?;
                stmt.query_map([], account_from_row)
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(backend)?
            };
            accounts
                .into_iter()
                .map(|(account, version)| {
                    load_account_data(conn, account, version).map_err(backend)
                })
                .collect()
        })
        .await
    }

    async fn load_account(&self, slug: &str) -> StoreResult<Option<AccountData>> {
        let slug = slug.to_owned();
        self.with(move |conn| {
            let found = conn
                .query_row(
                    &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE slug = ?1"),
                    [&slug],
                    account_from_row,
                )
                .optional()
                .map_err(backend)?;
            found
                .map(|(account, version)| {
                    load_account_data(conn, account, version).map_err(backend)
                })
                .transpose()
        })
        .await
    }

    async fn create_account(
        &self,
        account: &AccountRecord,
        owner: &AgentRecord,
    ) -> StoreResult<()> {
        let account = account.clone();
        let owner = owner.clone();
        let origins = to_json(&account.allowed_origins)?;
        let office_hours = office_hours_json(&account.office_hours)?;
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                "INSERT INTO accounts (id, slug, name, timezone, grace_seconds, busy_message,
                     offline_message, hide_when_offline, busy_after_seconds, allowed_origins,
                     office_hours, created_at, version, offline_reply, busy_reply)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13, ?14)",
                params![
                    account.id,
                    account.slug,
                    account.name,
                    account.timezone,
                    account.grace_seconds,
                    text_column(&account.busy_message),
                    text_column(&account.offline_message),
                    account.hide_when_offline,
                    account.busy_after_seconds,
                    origins,
                    office_hours,
                    millis(account.created_at),
                    text_column(&account.offline_reply),
                    text_column(&account.busy_reply),
                ],
            )
            .map_err(conflict_or_backend("slug"))?;
            write_agent(&tx, &owner)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn update_account(&self, account: &AccountRecord) -> StoreResult<()> {
        let account = account.clone();
        let origins = to_json(&account.allowed_origins)?;
        let office_hours = office_hours_json(&account.office_hours)?;
        self.with(move |conn| {
            conn.execute(
                "UPDATE accounts SET name = ?2, timezone = ?3, grace_seconds = ?4, busy_message = ?5,
                     offline_message = ?6, hide_when_offline = ?7, busy_after_seconds = ?8,
                     allowed_origins = ?9, office_hours = ?10, offline_reply = ?11,
                     busy_reply = ?12
                 WHERE id = ?1",
                params![
                    account.id,
                    account.name,
                    account.timezone,
                    account.grace_seconds,
                    text_column(&account.busy_message),
                    text_column(&account.offline_message),
                    account.hide_when_offline,
                    account.busy_after_seconds,
                    origins,
                    office_hours,
                    text_column(&account.offline_reply),
                    text_column(&account.busy_reply),
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn set_version(&self, account_id: &str, version: u64) -> StoreResult<()> {
        let account_id = account_id.to_owned();
        let version = i64::try_from(version).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.with(move |conn| {
            // max() keeps the stored counter from ever going backwards.
            conn.execute(
                "UPDATE accounts SET version = max(version, ?2) WHERE id = ?1",
                params![account_id, version],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_agent(&self, agent: &AgentRecord) -> StoreResult<()> {
        let agent = agent.clone();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            write_agent(&tx, &agent)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn delete_agent(&self, agent_id: &str) -> StoreResult<()> {
        let agent_id = agent_id.to_owned();
        self.with(move |conn| {
            conn.execute("DELETE FROM agents WHERE id = ?1", [&agent_id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_avatar(&self, avatar: &AvatarRecord) -> StoreResult<bool> {
        let avatar = avatar.clone();
        self.with(move |conn| {
            // From the agent's row, so a deleted agent stores nothing.
            let stored = conn
                .execute(
                    "INSERT INTO agent_avatars
                         (agent_id, account_id, hash, content_type, bytes, updated_at)
                     SELECT id, account_id, ?2, ?3, ?4, ?5 FROM agents WHERE id = ?1
                     ON CONFLICT (agent_id) DO UPDATE SET hash = excluded.hash,
                         content_type = excluded.content_type, bytes = excluded.bytes,
                         updated_at = excluded.updated_at",
                    params![
                        avatar.agent_id,
                        avatar.hash,
                        avatar.content_type,
                        avatar.bytes,
                        millis(avatar.updated_at)
                    ],
                )
                .map_err(backend)?;
            Ok(stored > 0)
        })
        .await
    }

    async fn delete_avatar(&self, agent_id: &str) -> StoreResult<()> {
        let agent_id = agent_id.to_owned();
        self.with(move |conn| {
            conn.execute("DELETE FROM agent_avatars WHERE agent_id = ?1", [&agent_id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn avatar(&self, hash: &str) -> StoreResult<Option<AvatarRecord>> {
        let hash = hash.to_owned();
        self.with(move |conn| {
            conn.query_row(
                "SELECT agent_id, account_id, hash, content_type, bytes, updated_at
                 FROM agent_avatars WHERE hash = ?1 LIMIT 1",
                [&hash],
                |row| {
                    Ok(AvatarRecord {
                        agent_id: row.get(0)?,
                        account_id: row.get(1)?,
                        hash: row.get(2)?,
                        content_type: row.get(3)?,
                        bytes: row.get(4)?,
                        updated_at: from_millis(row.get(5)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn put_group(&self, group: &GroupRecord) -> StoreResult<()> {
        let group = group.clone();
        let office_hours = office_hours_json(&group.office_hours)?;
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO groups (account_id, key, name, office_hours, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (account_id, key) DO UPDATE SET name = excluded.name,
                     office_hours = excluded.office_hours",
                params![
                    group.account_id,
                    group.key,
                    group.name,
                    office_hours,
                    millis(group.created_at)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_group(&self, account_id: &str, key: &str) -> StoreResult<()> {
        let account_id = account_id.to_owned();
        let key = key.to_owned();
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM groups WHERE account_id = ?1 AND key = ?2",
                [&account_id, &key],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let session = session.clone();
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO sessions (id, agent_id, token_hash, device, last_seen, streaming, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    session.id,
                    session.agent_id,
                    session.token_hash,
                    session.device,
                    millis(session.last_seen),
                    session.streaming,
                    millis(session.created_at),
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn touch_session(
        &self,
        session_id: &str,
        last_seen: Timestamp,
        streaming: bool,
    ) -> StoreResult<()> {
        let session_id = session_id.to_owned();
        self.with(move |conn| {
            conn.execute(
                "UPDATE sessions SET last_seen = max(last_seen, ?2), streaming = ?3 WHERE id = ?1",
                params![session_id, millis(last_seen), streaming],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_session(&self, session_id: &str) -> StoreResult<()> {
        let session_id = session_id.to_owned();
        self.with(move |conn| {
            conn.execute("DELETE FROM sessions WHERE id = ?1", [&session_id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn create_conversation(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>> {
        let c = conversation.clone();
        let messages = messages.to_vec();
        let outbox = outbox.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                &format!(
                    "INSERT INTO conversations ({CONVERSATION_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    c.id,
                    c.account_id,
                    c.group,
                    c.state.as_str(),
                    c.name,
                    c.email,
                    c.visitor_token_hash,
                    c.lang.map(Lang::as_str),
                    millis(c.created_at),
                    millis(c.last_message_at),
                    c.replies.waiting_since.map(millis),
                    c.replies.replied_in_wait,
                    c.replies.offline_replied,
                    c.page.as_ref().map(|page| page.url.as_str()),
                    c.page.as_ref().and_then(|page| page.title.as_deref()),
                ],
            )
            .map_err(backend)?;
            let stored = insert_messages(&tx, &messages)?;
            insert_outbox(&tx, &outbox)?;
            tx.commit().map_err(backend)?;
            Ok(stored)
        })
        .await
    }

    async fn append_messages(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>> {
        let c = conversation.clone();
        let messages = messages.to_vec();
        let outbox = outbox.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let updated = tx
                .execute(
                    "UPDATE conversations SET state = ?3, last_message_at = ?4,
                         waiting_since = ?5, replied_in_wait = ?6, offline_replied = ?7
                     WHERE id = ?1 AND account_id = ?2",
                    params![
                        c.id,
                        c.account_id,
                        c.state.as_str(),
                        millis(c.last_message_at),
                        c.replies.waiting_since.map(millis),
                        c.replies.replied_in_wait,
                        c.replies.offline_replied,
                    ],
                )
                .map_err(backend)?;
            if updated != 1 {
                return Err(StoreError::Backend(format!(
                    "no conversation {:?} to update",
                    c.id
                )));
            }
            let stored = insert_messages(&tx, &messages)?;
            let outbox = reply_digest_rule(&tx, &c.id, &stored, outbox)?;
            insert_outbox(&tx, &outbox)?;
            tx.commit().map_err(backend)?;
            Ok(stored)
        })
        .await
    }

    async fn reply_digest_start(&self, conversation_id: &str) -> StoreResult<Option<u64>> {
        let id = conversation_id.to_owned();
        self.with(move |conn| Ok(digest_start(conn, &id)?.flatten()))
            .await
    }

    async fn finish_reply_digest(
        &self,
        conversation_id: &str,
        from: u64,
        sent_up_to: u64,
        follow_up: &OutboxItem,
    ) -> StoreResult<bool> {
        let id = conversation_id.to_owned();
        let follow_up = follow_up.clone();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            if digest_start(&tx, &id)? != Some(Some(from)) {
                return Ok(false);
            }
            let next: Option<u64> = tx
                .query_row(
                    "SELECT min(seq) FROM messages
                     WHERE conversation_id = ?1 AND seq > ?2 AND author = 'agent'",
                    params![id, sent_up_to],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            tx.execute(
                "UPDATE conversations SET reply_mail_from = ?2 WHERE id = ?1",
                params![id, next],
            )
            .map_err(backend)?;
            if next.is_some() {
                insert_outbox(&tx, std::slice::from_ref(&follow_up))?;
            }
            tx.commit().map_err(backend)?;
            Ok(next.is_some())
        })
        .await
    }

    async fn delete_conversation(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            // Its mail (sent or waiting) holds the visitor's words: it goes too.
            tx.execute(
                "DELETE FROM outbox WHERE account_id = ?2
                 AND json_extract(payload, '$.conversation_id') = ?1",
                params![id, account_id],
            )
            .map_err(backend)?;
            // Messages first: erasure must not depend on foreign keys being on.
            tx.execute(
                "DELETE FROM messages WHERE conversation_id = ?1
                 AND conversation_id IN (SELECT id FROM conversations WHERE account_id = ?2)",
                params![id, account_id],
            )
            .map_err(backend)?;
            let removed = tx
                .execute(
                    "DELETE FROM conversations WHERE id = ?1 AND account_id = ?2",
                    params![id, account_id],
                )
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(removed == 1)
        })
        .await
    }

    async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let account_id = account_id.to_owned();
        let id = id.to_owned();
        self.with(move |conn| find_conversation(conn, &account_id, &id).map_err(backend))
            .await
    }

    async fn conversation_with_messages(
        &self,
        account_id: &str,
        id: &str,
        after: u64,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>> {
        let account_id = account_id.to_owned();
        let id = id.to_owned();
        self.with(move |conn| {
            let Some(conversation) = find_conversation(conn, &account_id, &id).map_err(backend)?
            else {
                return Ok(None);
            };
            let messages = messages_after(conn, &id, after).map_err(backend)?;
            Ok(Some((conversation, messages)))
        })
        .await
    }

    async fn list_conversations(
        &self,
        account_id: &str,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let account_id = account_id.to_owned();
        let filter = filter.clone();
        self.with(move |conn| {
            // Only the conditions asked for, so SQLite can use the indexes.
            let mut sql =
                format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = ?1");
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(account_id)];
            if let Some(group) = filter.group {
                args.push(Box::new(group));
                sql.push_str(&format!(" AND group_key = ?{}", args.len()));
            }
            if let Some(state) = filter.state {
                args.push(Box::new(state.as_str()));
                sql.push_str(&format!(" AND state = ?{}", args.len()));
            }
            args.push(Box::new(filter.limit));
            sql.push_str(&format!(
                " ORDER BY last_message_at DESC, id DESC LIMIT ?{}",
                args.len()
            ));
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            stmt.query_map(
                rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
                conversation_from_row,
            )
            .and_then(|rows| rows.collect())
            .map_err(backend)
        })
        .await
    }

    async fn last_messages(
        &self,
        conversation_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, MessageRecord>> {
        if conversation_ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let ids = conversation_ids.to_vec();
        self.with(move |conn| {
            // The newest seq of each conversation, from the (conversation_id, seq) index.
            let marks = vec!["?"; ids.len()].join(", ");
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq IN \
                 (SELECT MAX(seq) FROM messages WHERE conversation_id IN ({marks}) \
                  AND author <> 'bot' GROUP BY conversation_id)"
            );
            let mut stmt = conn.prepare(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(ids.iter()), message_from_row)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(backend)?;
            Ok(rows
                .into_iter()
                .map(|m| (m.conversation_id.clone(), m))
                .collect())
        })
        .await
    }

    async fn messages_after(
        &self,
        conversation_id: &str,
        after: u64,
    ) -> StoreResult<Vec<MessageRecord>> {
        let conversation_id = conversation_id.to_owned();
        self.with(move |conn| messages_after(conn, &conversation_id, after).map_err(backend))
            .await
    }

    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        // One statement on the one connection: atomic against any other claim.
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE outbox SET next_attempt_at = ?2
                     WHERE id IN (SELECT id FROM outbox
                                  WHERE sent_at IS NULL AND failed_at IS NULL
                                    AND next_attempt_at <= ?1
                                  ORDER BY next_attempt_at, id LIMIT ?3)
                     RETURNING id, account_id, kind, payload, created_at, attempts",
                )
                .map_err(backend)?;
            let mut items = stmt
                .query_map(params![millis(now), millis(lease_until), limit], |row| {
                    Ok(OutboxItem {
                        id: row.get(0)?,
                        account_id: row.get(1)?,
                        kind: row.get(2)?,
                        payload: row.get(3)?,
                        created_at: from_millis(row.get(4)?)?,
                        // It came due by now; when exactly matters no more.
                        due_at: now,
                        attempts: row.get(5)?,
                    })
                })
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?;
            items.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            Ok(items)
        })
        .await
    }

    async fn outbox_sent(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        let id = id.to_owned();
        self.with(move |conn| {
            conn.execute(
                "UPDATE outbox SET sent_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, millis(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> StoreResult<()> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.with(move |conn| {
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1 AND sent_at IS NULL",
                params![id, millis(next_attempt_at), error],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_failed(&self, id: &str, at: Timestamp, error: &str) -> StoreResult<()> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.with(move |conn| {
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, failed_at = ?2, last_error = ?3
                 WHERE id = ?1 AND sent_at IS NULL",
                params![id, millis(at), error],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_pending(&self) -> StoreResult<(u64, Option<Timestamp>)> {
        self.with(|conn| {
            let (count, next): (i64, Option<i64>) = conn
                .query_row(
                    "SELECT count(*), min(next_attempt_at) FROM outbox
                     WHERE sent_at IS NULL AND failed_at IS NULL",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(backend)?;
            let next = next.map(from_millis).transpose().map_err(backend)?;
            Ok((u64::try_from(count).unwrap_or(0), next))
        })
        .await
    }

    async fn prune_outbox(&self, before: Timestamp) -> StoreResult<u64> {
        self.with(move |conn| {
            let deleted = conn
                .execute(
                    "DELETE FROM outbox WHERE sent_at < ?1 OR failed_at < ?1",
                    params![millis(before)],
                )
                .map_err(backend)?;
            Ok(u64::try_from(deleted).unwrap_or(0))
        })
        .await
    }

    // Webhooks.

    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        let webhook = webhook.clone();
        let events = to_json(&webhook.events)?;
        self.with(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ),
                params![
                    webhook.id,
                    webhook.account_id,
                    webhook.url,
                    events,
                    webhook.secret,
                    millis(webhook.created_at),
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookRecord>> {
        let account_id = account_id.to_owned();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = ?1
                     ORDER BY created_at, id"
                ))
                .map_err(backend)?;
            stmt.query_map(params![account_id], webhook_from_row)
                .and_then(Iterator::collect)
                .map_err(backend)
        })
        .await
    }

    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let id = id.to_owned();
        self.with(move |conn| {
            conn.query_row(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"),
                params![id],
                webhook_from_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                "DELETE FROM webhook_attempts WHERE webhook_id = ?1
                 AND webhook_id IN (SELECT id FROM webhooks WHERE account_id = ?2)",
                params![id, account_id],
            )
            .map_err(backend)?;
            let removed = tx
                .execute(
                    "DELETE FROM webhooks WHERE id = ?1 AND account_id = ?2",
                    params![id, account_id],
                )
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(removed == 1)
        })
        .await
    }

    async fn record_webhook_attempt(
        &self,
        webhook_id: &str,
        attempt: &WebhookAttempt,
        keep: u32,
    ) -> StoreResult<()> {
        let (webhook_id, attempt) = (webhook_id.to_owned(), attempt.clone());
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                "INSERT INTO webhook_attempts
                 (webhook_id, delivery_id, event, attempted_at, status, error, next_attempt_at)
                 SELECT id, ?2, ?3, ?4, ?5, ?6, ?7 FROM webhooks WHERE id = ?1",
                params![
                    webhook_id,
                    attempt.delivery_id,
                    attempt.event,
                    millis(attempt.attempted_at),
                    attempt.status,
                    attempt.error,
                    attempt.next_attempt_at.map(millis),
                ],
            )
            .map_err(backend)?;
            tx.execute(
                "DELETE FROM webhook_attempts WHERE webhook_id = ?1 AND seq NOT IN
                 (SELECT seq FROM webhook_attempts WHERE webhook_id = ?1 ORDER BY seq DESC LIMIT ?2)",
                params![webhook_id, keep],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn webhook_attempts(
        &self,
        webhook_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookAttempt>> {
        let webhook_id = webhook_id.to_owned();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT delivery_id, event, attempted_at, status, error, next_attempt_at
                     FROM webhook_attempts WHERE webhook_id = ?1 ORDER BY seq DESC LIMIT ?2",
                )
                .map_err(backend)?;
            stmt.query_map(params![webhook_id, limit], webhook_attempt_from_row)
                .and_then(Iterator::collect)
                .map_err(backend)
        })
        .await
    }

    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> StoreResult<()> {
        let items = items.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            insert_outbox(&tx, &items)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.with(move |conn| {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [&key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let key = key.to_owned();
        let value = value.to_owned();
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [&key, &value],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    // Web Push (see `push`).

    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        let key = key.to_owned();
        let value = value.to_owned();
        self.with(move |conn| {
            conn.query_row(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = meta.value
                 RETURNING value",
                [&key, &value],
                |row| row.get(0),
            )
            .map_err(backend)
        })
        .await
    }

    async fn put_push_subscription(
        &self,
        subscription: &PushSubscriptionRecord,
    ) -> StoreResult<bool> {
        let s = subscription.clone();
        self.with(move |conn| {
            let stored = conn
                .execute(
                    "INSERT INTO push_subscriptions
                         (session_id, account_id, agent_id, endpoint, p256dh, auth, created_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                     WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?1)
                     ON CONFLICT (session_id) DO UPDATE SET
                         endpoint = excluded.endpoint, p256dh = excluded.p256dh,
                         auth = excluded.auth, created_at = excluded.created_at",
                    params![
                        s.session_id,
                        s.account_id,
                        s.agent_id,
                        s.endpoint,
                        s.p256dh,
                        s.auth,
                        millis(s.created_at)
                    ],
                )
                .map_err(backend)?;
            Ok(stored > 0)
        })
        .await
    }

    async fn push_subscription(
        &self,
        session_id: &str,
    ) -> StoreResult<Option<PushSubscriptionRecord>> {
        let session_id = session_id.to_owned();
        self.with(move |conn| {
            conn.query_row(
                &format!("SELECT {PUSH_COLUMNS} FROM push_subscriptions WHERE session_id = ?1"),
                [&session_id],
                push_subscription_from_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn push_subscriptions(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        let account_id = account_id.to_owned();
        self.with(move |conn| {
            let mut statement = conn
                .prepare(&format!(
                    "SELECT {PUSH_COLUMNS} FROM push_subscriptions WHERE account_id = ?1
                     ORDER BY session_id"
                ))
                .map_err(backend)?;
            let rows = statement
                .query_map([&account_id], push_subscription_from_row)
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_push_subscription(
        &self,
        session_id: &str,
        endpoint: Option<&str>,
    ) -> StoreResult<bool> {
        let session_id = session_id.to_owned();
        let endpoint = endpoint.map(str::to_owned);
        self.with(move |conn| {
            let removed = conn
                .execute(
                    "DELETE FROM push_subscriptions
                     WHERE session_id = ?1 AND (?2 IS NULL OR endpoint = ?2)",
                    params![session_id, endpoint],
                )
                .map_err(backend)?;
            Ok(removed > 0)
        })
        .await
    }
}

const PUSH_COLUMNS: &str = "session_id, account_id, agent_id, endpoint, p256dh, auth, created_at";

fn push_subscription_from_row(row: &Row<'_>) -> rusqlite::Result<PushSubscriptionRecord> {
    Ok(PushSubscriptionRecord {
        session_id: row.get(0)?,
        account_id: row.get(1)?,
        agent_id: row.get(2)?,
        endpoint: row.get(3)?,
        p256dh: row.get(4)?,
        auth: row.get(5)?,
        created_at: from_millis(row.get(6)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("a valid instant")
    }

    fn account(slug: &str) -> AccountRecord {
        AccountRecord {
            id: format!("{slug}-id"),
            slug: slug.to_owned(),
            name: slug.to_owned(),
            timezone: "UTC".to_owned(),
            grace_seconds: 120,
            busy_message: None,
            offline_message: Some(LocalText::PerLanguage(
                [(Lang::De, "Weg.".to_owned())].into(),
            )),
            hide_when_offline: false,
            busy_after_seconds: 45,
            allowed_origins: Vec::new(),
            office_hours: None,
            offline_reply: None,
            busy_reply: Some(LocalText::All(String::new())),
            created_at: at(0),
        }
    }

    fn owner(account: &AccountRecord) -> AgentRecord {
        AgentRecord {
            id: format!("{}-owner", account.slug),
            account_id: account.id.clone(),
            name: "Owner".to_owned(),
            email: format!("owner@{}.example", account.slug),
            role: Role::Admin,
            status: Status::Offline,
            groups: Vec::new(),
            password_hash: "x".to_owned(),
            email_notifications: true,
            disabled: false,
            avatar: None,
            created_at: at(0),
        }
    }

    fn conversation(id: &str, account: &AccountRecord, group: Option<&str>) -> ConversationRecord {
        ConversationRecord {
            id: id.to_owned(),
            account_id: account.id.clone(),
            group: group.map(str::to_owned),
            state: ConversationState::Open,
            name: None,
            email: None,
            visitor_token_hash: [7; 32],
            lang: Some(Lang::Fr),
            created_at: at(0),
            last_message_at: at(0),
            replies: ReplyState::default(),
            page: None,
        }
    }

    fn message(conversation: &ConversationRecord, text: &str, at: Timestamp) -> MessageRecord {
        MessageRecord {
            seq: 0,
            id: format!("{}-{text}", conversation.id),
            conversation_id: conversation.id.clone(),
            author: Author::Visitor,
            agent_id: None,
            text: text.to_owned(),
            created_at: at,
        }
    }

    async fn store_with(accounts: &[&AccountRecord]) -> SqliteStore {
        let store = SqliteStore::open(":memory:").await.expect("open");
        for account in accounts {
            store
                .create_account(account, &owner(account))
                .await
                .expect("account");
        }
        store
    }

    #[tokio::test]
    async fn messages_get_increasing_seqs_and_read_back_after_a_seq() {
        let acme = account("acme");
        let store = store_with(&[&acme]).await;
        let mut c = conversation("c1", &acme, None);
        let first = store
            .create_conversation(&c, &[message(&c, "a", at(0)), message(&c, "b", at(0))], &[])
            .await
            .expect("create");
        c.last_message_at = at(5);
        let more = store
            .append_messages(&c, &[message(&c, "c", at(5))], &[])
            .await
            .expect("append");
        let seqs: Vec<u64> = first.iter().chain(&more).map(|m| m.seq).collect();
        assert!(
            seqs[0] > 0 && seqs.windows(2).all(|w| w[0] < w[1]),
            "{seqs:?}"
        );

        let all = store.messages_after("c1", 0).await.expect("read");
        assert_eq!(all, [first.clone(), more.clone()].concat());
        let after = store.messages_after("c1", seqs[1]).await.expect("read");
        assert_eq!(after, more);
        let (read, messages) = store
            .conversation_with_messages(&acme.id, "c1", seqs[0])
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read, c);
        assert_eq!(messages.len(), 2);
    }

    #[tokio::test]
    async fn a_conversation_belongs_to_its_account_only() {
        let acme = account("acme");
        let globex = account("globex");
        let store = store_with(&[&acme, &globex]).await;
        let c = conversation("c1", &acme, None);
        store
            .create_conversation(&c, &[message(&c, "a", at(0))], &[])
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
        let filter = ConversationFilter {
            limit: 10,
            ..ConversationFilter::default()
        };
        assert!(
            store
                .list_conversations(&globex.id, &filter)
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
        assert_eq!(
            store.conversation(&acme.id, "c1").await.expect("read"),
            Some(c)
        );
    }

    #[tokio::test]
    async fn lists_are_newest_first_and_filtered() {
        let acme = account("acme");
        let store = store_with(&[&acme]).await;
        for (n, group, state) in [
            (1, None, ConversationState::Open),
            (2, Some("sales"), ConversationState::Offline),
            (3, Some("sales"), ConversationState::Open),
        ] {
            let c = ConversationRecord {
                state,
                last_message_at: at(n),
                ..conversation(&format!("c{n}"), &acme, group)
            };
            store
                .create_conversation(&c, &[message(&c, "hi", at(n))], &[])
                .await
                .expect("create");
        }
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
        assert_eq!(list(None, None, 10).await, ["c3", "c2", "c1"]);
        assert_eq!(list(None, None, 2).await, ["c3", "c2"]);
        assert_eq!(list(Some("sales"), None, 10).await, ["c3", "c2"]);
        assert_eq!(
            list(Some("sales"), Some(ConversationState::Offline), 10).await,
            ["c2"]
        );
        assert_eq!(
            list(None, Some(ConversationState::Closed), 10).await,
            [""; 0]
        );
    }

    #[tokio::test]
    async fn waiting_conversations_and_reply_settings_come_back_at_load() {
        let acme = account("acme");
        let store = store_with(&[&acme]).await;
        let waiting = ConversationRecord {
            replies: ReplyState {
                waiting_since: Some(at(10)),
                ..ReplyState::default()
            },
            ..conversation("waiting", &acme, Some("sales"))
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
            state: ConversationState::Closed,
            ..waiting.clone()
        };
        let closed = ConversationRecord {
            id: "closed".to_owned(),
            ..closed
        };
        for c in [&waiting, &replied, &closed] {
            store
                .create_conversation(c, &[message(c, "hi", at(10))], &[])
                .await
                .expect("create");
        }
        let data = store
            .load_account("acme")
            .await
            .expect("load")
            .expect("found");
        assert_eq!(
            data.waiting,
            [WaitingRecord {
                conversation_id: "waiting".to_owned(),
                group: Some("sales".to_owned()),
                since: at(10),
            }]
        );
        assert_eq!(data.account, acme, "reply settings included");
    }

    #[tokio::test]
    async fn a_version_1_database_is_migrated_with_default_reply_texts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v1.db");
        let path = path.to_str().expect("a UTF-8 path");
        {
            let conn = Connection::open(path).expect("open");
            conn.execute_batch(&format!(
                "BEGIN; {}; PRAGMA user_version = 1; COMMIT;",
                MIGRATIONS[0]
            ))
            .expect("version 1");
            conn.execute(
                "INSERT INTO accounts (id, slug, name, timezone, grace_seconds, busy_message,
                     offline_message, hide_when_offline, busy_after_seconds, allowed_origins,
                     created_at)
                 VALUES ('a', 'old', 'Old', 'UTC', 120, 'b', '{\"de\": \"o\"}', 0, 45, '[]', 0),
                        ('b', 'older', 'Older', 'UTC', 120,
                         'We''re busy right now — we''ll be back shortly.',
                         'We''re offline right now — leave us a message and we''ll get back to you.',
                         0, 45, '[]', 0)",
                [],
            )
            .expect("old accounts");
        }
        let store = SqliteStore::open(path).await.expect("migrate");
        let data = store
            .load_account("old")
            .await
            .expect("load")
            .expect("found");
        assert_eq!(data.account.offline_reply, None);
        assert_eq!(data.account.busy_reply, None);
        assert!(data.waiting.is_empty());
        // Texts of before version 9 are plain texts for every language, even
        // one that looks like JSON; the defaults accounts were created with
        // become the built-in texts.
        let all = |text: &str| Some(LocalText::All(text.to_owned()));
        assert_eq!(data.account.busy_message, all("b"));
        assert_eq!(data.account.offline_message, all("{\"de\": \"o\"}"));
        let older = store
            .load_account("older")
            .await
            .expect("load")
            .expect("found");
        assert_eq!(older.account.busy_message, None);
        assert_eq!(older.account.offline_message, None);
    }
}

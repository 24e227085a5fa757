//! Email notifications through a durable outbox (docs/notifications.md).
//!
//! A visitor's offline message becomes one outbox item per agent to tell
//! (each eligible agent of the conversation's scope with `email_notifications`
//! on), written by the store in the same transaction as the message. A worker
//! task per process claims due items, sends them over SMTP and records them
//! sent; a failure is retried with exponential backoff for a day, then the
//! item is given up.
//!
//! Claiming leases an item (moves its `next_attempt_at` forward by
//! [`OutboxTiming::lease`]): on PostgreSQL several nodes claim with
//! `FOR UPDATE SKIP LOCKED`, so each item goes to one of them, and an item
//! whose node died mid-send falls due again when the lease runs out. So an
//! email is delayed, never lost, by a crash or a relay that is down; it is
//! sent twice only if a process dies after the relay accepted it and before
//! it was recorded as sent (at-least-once at that edge).
//!
//! The worker that claims and retries items is `outbox`; this module builds
//! and sends the emails (notifications to agents, digests of replies to
//! visitors) and holds the outcome types every kind shares.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use onair_shared::wire::Lang;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::store::{
    AgentRecord, ConversationRecord, MessageRecord, OutboxItem, REPLY_DIGEST, Store,
};

/// The outbox kind of a notification email.
pub const EMAIL: &str = "email";
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// When items are retried, leased and looked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxTiming {
    /// The wait after the first failure; it doubles with each further one…
    pub first_retry: Duration,
    /// …up to this.
    pub max_retry: Duration,
    /// An item that still fails this long after it was written is given up.
    pub give_up_after: Duration,
    /// How long a claim holds an item before it falls due again.
    pub lease: Duration,
    /// The worker looks for due items at least this often (items written by
    /// another node of a cluster, a missed wake-up).
    pub sweep: Duration,
    /// Agents' replies to an absent visitor within this long of the first go
    /// out as one email, sent when it has passed.
    pub reply_digest_window: Duration,
}

impl Default for OutboxTiming {
    fn default() -> Self {
        OutboxTiming {
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(5 * 60),
            sweep: Duration::from_secs(30),
            reply_digest_window: Duration::from_secs(60),
        }
    }
}

impl OutboxTiming {
    /// The wait before the next attempt after `failures` failed ones (≥ 1).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first_retry
            .saturating_mul(1 << doublings)
            .min(self.max_retry)
    }
}

/// How to send email: `--smtp-url`, `--mail-from`, `--public-url`.
#[derive(Clone)]
pub struct MailConfig {
    smtp_url: String,
    from: Mailbox,
    /// Where the dashboard is, without a trailing slash.
    public_url: String,
    pub timing: OutboxTiming,
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &crate::store::redacted_url(&self.smtp_url))
            .field("public_url", &self.public_url)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl MailConfig {
    /// Checks the settings: a relay URL lettre can use (see [`transport`]),
    /// a sender address, an absolute public URL.
    pub fn new(
        smtp_url: &str,
        from: &str,
        public_url: &str,
        timing: OutboxTiming,
    ) -> anyhow::Result<MailConfig> {
        transport(smtp_url)?;
        let from = Mailbox::from_str(from).map_err(|e| {
            anyhow::anyhow!("--mail-from {from:?} is not an email address ({e}); e.g. \"onair <noreply@example.com>\"")
        })?;
        let parsed = url::Url::parse(public_url)
            .map_err(|e| anyhow::anyhow!("--public-url {public_url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("--public-url {public_url:?}: use http:// or https://");
        }
        Ok(MailConfig {
            smtp_url: smtp_url.to_owned(),
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
            timing,
        })
    }
}

/// The SMTP transport an `--smtp-url` names:
///
/// - `smtp://HOST:PORT`: plain SMTP (a relay on localhost; port 25 default),
/// - `smtp://USER:PASS@HOST:PORT?tls=starttls`: STARTTLS required (587),
/// - `smtps://USER:PASS@HOST:PORT`: TLS from the start (465).
pub fn transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let shown = crate::store::redacted_url(url);
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--smtp-url {shown}: {e}"))?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("--smtp-url {shown}: no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut tls = None;
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "tls" => tls = Some(value.into_owned()),
            other => anyhow::bail!("--smtp-url {shown}: unknown parameter {other:?}"),
        }
    }
    let tls_error = |e: lettre::transport::smtp::Error| anyhow::anyhow!("--smtp-url {shown}: {e}");
    let builder = match (parsed.scheme(), tls.as_deref()) {
        ("smtp", None | Some("none")) => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(25)
        }
        ("smtp", Some("starttls")) => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
        }
        ("smtps", None | Some("tls")) => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?
        }
        _ => anyhow::bail!(
            "--smtp-url {shown}: use smtp://HOST:PORT, smtp://USER:PASS@HOST:PORT?tls=starttls or smtps://USER:PASS@HOST:PORT"
        ),
    };
    let builder = match parsed.port() {
        Some(port) => builder.port(port),
        None => builder,
    };
    let builder = if parsed.username().is_empty() {
        builder
    } else {
        let user = percent_decode(parsed.username());
        let password = percent_decode(parsed.password().unwrap_or(""));
        builder.credentials(Credentials::new(user, password))
    };
    Ok(builder.timeout(Some(SMTP_TIMEOUT)).build())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The outbox of a process that sends email: its settings, the transport,
/// and the worker's wake-up.
pub struct Outbox {
    config: MailConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    wake: Notify,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    pub fn new(config: MailConfig) -> anyhow::Result<Outbox> {
        let transport = transport(&config.smtp_url)?;
        Ok(Outbox {
            config,
            transport,
            wake: Notify::new(),
        })
    }

    /// Resolves when [`Outbox::wake`] is called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The retry, lease and digest timing.
    pub fn timing(&self) -> OutboxTiming {
        self.config.timing
    }

    /// Tells the worker that items were written.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// How long agents' replies gather before a digest goes to the visitor.
    pub fn reply_digest_window(&self) -> Duration {
        self.config.timing.reply_digest_window
    }

    /// The dashboard's link to a conversation.
    pub fn conversation_link(&self, conversation_id: &str) -> String {
        format!(
            "{}/dashboard#conversation={conversation_id}",
            self.config.public_url
        )
    }
}

/// What a notification email says, as the outbox stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPayload {
    pub agent_id: String,
    pub to_name: String,
    pub to: String,
    pub account_name: String,
    pub conversation_id: String,
    pub message_id: String,
    pub visitor_name: Option<String>,
    pub visitor_email: Option<String>,
    pub text: String,
}

/// The emails a visitor's offline message causes: one per agent of
/// `eligible` (the conversation scope's eligible agents, as the model
/// computes them) with notifications on.
pub fn offline_message_emails<'a>(
    account_name: &str,
    eligible: impl IntoIterator<Item = &'a AgentRecord>,
    conversation: &ConversationRecord,
    message: &MessageRecord,
    now: Timestamp,
) -> Vec<OutboxItem> {
    eligible
        .into_iter()
        .filter(|agent| agent.email_notifications && !agent.disabled)
        .filter_map(|agent| {
            let payload = EmailPayload {
                agent_id: agent.id.clone(),
                to_name: agent.name.clone(),
                to: agent.email.clone(),
                account_name: account_name.to_owned(),
                conversation_id: conversation.id.clone(),
                message_id: message.id.clone(),
                visitor_name: conversation.name.clone(),
                visitor_email: conversation.email.clone(),
                text: message.text.clone(),
            };
            new_item(&conversation.account_id, EMAIL, &payload, now)
        })
        .collect()
}

/// A new outbox item of `kind`, due at once; None when the payload cannot
/// be serialised.
pub(crate) fn new_item(
    account_id: &str,
    kind: &str,
    payload: &impl Serialize,
    now: Timestamp,
) -> Option<OutboxItem> {
    Some(OutboxItem {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.to_owned(),
        kind: kind.to_owned(),
        payload: serde_json::to_string(payload).ok()?,
        created_at: now,
        due_at: now,
        attempts: 0,
    })
}

/// Text for a header: control characters (line breaks above all) become
/// spaces. The typed builders encode what is left; this keeps a name on one
/// line even in a client that decodes it.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The email for a payload: plain-text and HTML parts, `Reply-To` the
/// visitor. Every address and header goes through lettre's typed builders.
pub fn render(
    payload: &EmailPayload,
    from: &Mailbox,
    link: &str,
) -> Result<Message, lettre::error::Error> {
    let to_address: Address = payload
        .to
        .parse()
        .map_err(|_| lettre::error::Error::MissingTo)?;
    let to = Mailbox::new(Some(one_line(&payload.to_name)), to_address);
    let visitor_address = payload
        .visitor_email
        .as_deref()
        .and_then(|email| email.parse::<Address>().ok());
    let visitor_name = payload
        .visitor_name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.is_empty());
    let who = visitor_name
        .clone()
        .or_else(|| visitor_address.as_ref().map(ToString::to_string))
        .unwrap_or_else(|| "a visitor".to_owned());
    let subject = format!(
        "New message from {who} on {}",
        one_line(&payload.account_name)
    );
    let name_line = payload.visitor_name.as_deref().unwrap_or("(not given)");
    let email_line = payload.visitor_email.as_deref().unwrap_or("(not given)");
    let plain = format!(
        "{who} left a message while nobody was online.\n\n\
         Name:  {name_line}\n\
         Email: {email_line}\n\n\
         {text}\n\n\
         Open the conversation: {link}\n\
         Reply to this email to answer by email.\n",
        text = payload.text,
    );
    let html = format!(
        "<!doctype html>\n<html><body>\n\
         <p>{who} left a message while nobody was online.</p>\n\
         <table>\n\
         <tr><th align=\"left\">Name</th><td>{name}</td></tr>\n\
         <tr><th align=\"left\">Email</th><td>{email}</td></tr>\n\
         </table>\n\
         <blockquote style=\"white-space: pre-wrap\">{text}</blockquote>\n\
         <p><a href=\"{href}\">Open the conversation</a></p>\n\
         </body></html>\n",
        who = escape_html(&who),
        name = escape_html(name_line),
        email = escape_html(email_line),
        text = escape_html(&payload.text),
        href = escape_html(link),
    );
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject);
    if let Some(address) = visitor_address {
        builder = builder.reply_to(Mailbox::new(visitor_name, address));
    }
    builder.multipart(both_parts(plain, html))
}

/// A plain-text and an HTML part, as one `multipart/alternative`.
fn both_parts(plain: String, html: String) -> MultiPart {
    MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(plain),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html),
        )
}

/// A digest of agents' replies to a visitor, as the outbox stores it: which
/// conversation (the replies themselves are read when it is sent, so those
/// that came during the window go along).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestPayload {
    pub conversation_id: String,
    pub account_name: String,
}

/// The outbox item that emails a visitor the agents' replies of the next
/// `window` (the store keeps one waiting per conversation: see
/// [`REPLY_DIGEST`]).
pub fn reply_digest(
    conversation: &ConversationRecord,
    account_name: &str,
    now: Timestamp,
    window: Duration,
) -> Option<OutboxItem> {
    let payload = DigestPayload {
        conversation_id: conversation.id.clone(),
        account_name: account_name.to_owned(),
    };
    Some(OutboxItem {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: conversation.account_id.clone(),
        kind: REPLY_DIGEST.to_owned(),
        payload: serde_json::to_string(&payload).ok()?,
        created_at: now,
        due_at: later(now, window),
        attempts: 0,
    })
}

/// A digest's words in one language.
struct DigestWords {
    lang: &'static str,
    subject_one: &'static str,
    subject_many: &'static str,
    hello: &'static str,
    hello_name: &'static str,
    answered: &'static str,
}

impl DigestWords {
    fn of(lang: Lang) -> DigestWords {
        match lang {
            Lang::En => DigestWords {
                lang: "en",
                subject_one: "{account} replied to your message",
                subject_many: "{account} sent you {n} replies",
                hello: "Hello,",
                hello_name: "Hello {name},",
                answered: "{account} answered your message:",
            },
            Lang::Fr => DigestWords {
                lang: "fr",
                subject_one: "{account} a répondu à votre message",
                subject_many: "{account} vous a envoyé {n} réponses",
                hello: "Bonjour,",
                hello_name: "Bonjour {name},",
                answered: "{account} a répondu à votre message :",
            },
            Lang::De => DigestWords {
                lang: "de",
                subject_one: "{account} hat auf Ihre Nachricht geantwortet",
                subject_many: "{account} hat Ihnen {n} Antworten geschickt",
                hello: "Hallo,",
                hello_name: "Hallo {name},",
                answered: "{account} hat auf Ihre Nachricht geantwortet:",
            },
            Lang::It => DigestWords {
                lang: "it",
                subject_one: "{account} ha risposto al tuo messaggio",
                subject_many: "{account} ti ha inviato {n} risposte",
                hello: "Ciao,",
                hello_name: "Ciao {name},",
                answered: "{account} ha risposto al tuo messaggio:",
            },
            Lang::Es => DigestWords {
                lang: "es",
                subject_one: "{account} ha respondido a tu mensaje",
                subject_many: "{account} te ha enviado {n} respuestas",
                hello: "Hola,",
                hello_name: "Hola {name},",
                answered: "{account} ha respondido a tu mensaje:",
            },
        }
    }
}

/// The email of a digest: the replies, oldest first, to the visitor's
/// address, in the conversation's language (English when it has none);
/// plain-text and HTML parts.
pub fn render_digest(
    payload: &DigestPayload,
    conversation: &ConversationRecord,
    replies: &[MessageRecord],
    from: &Mailbox,
) -> Result<Message, lettre::error::Error> {
    let to_address: Address = conversation
        .email
        .as_deref()
        .and_then(|email| email.parse().ok())
        .ok_or(lettre::error::Error::MissingTo)?;
    let name = conversation
        .name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.is_empty());
    let account = one_line(&payload.account_name);
    let words = DigestWords::of(conversation.lang.unwrap_or(Lang::En));
    let subject = if replies.len() == 1 {
        words.subject_one.replace("{account}", &account)
    } else {
        // The count first: an account's name is text, not a template.
        words
            .subject_many
            .replace("{n}", &replies.len().to_string())
            .replace("{account}", &account)
    };
    let hello = name.as_deref().map_or_else(
        || words.hello.to_owned(),
        |name| words.hello_name.replace("{name}", name),
    );
    let answered = words.answered.replace("{account}", &account);
    let plain_replies: Vec<String> = replies.iter().map(|r| r.text.clone()).collect();
    let plain = format!(
        "{hello}\n\n{answered}\n\n{}\n",
        plain_replies.join("\n\n---\n\n"),
    );
    let html_replies: String = replies
        .iter()
        .map(|r| {
            format!(
                "<blockquote style=\"white-space: pre-wrap\">{}</blockquote>\n",
                escape_html(&r.text)
            )
        })
        .collect();
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\"><body>\n<p>{hello}</p>\n\
         <p>{answered}</p>\n{html_replies}</body></html>\n",
        lang = words.lang,
        hello = escape_html(&hello),
        answered = escape_html(&answered),
    );
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(name, to_address))
        .subject(subject)
        .multipart(both_parts(plain, html))
}

/// How one attempt at an outbox item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent,
    /// Worth trying again: the words say why it failed.
    Failed(String),
    /// Nothing a retry could change: given up at once.
    Unsendable(String),
    /// Nothing to send any more (the device unsubscribed, say): ended
    /// without counting as a failure.
    Dropped(String),
}

/// What was recorded of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Sent,
    Retry(Timestamp),
    GaveUp,
}

/// What an email item asks for.
#[derive(Debug)]
pub enum Work {
    /// An email; for a digest, the replies it carries (to record once sent).
    Send(Box<Message>, Option<DigestSent>),
    /// Nothing is left to send (a digest whose replies went already, or whose
    /// conversation was erased): recorded as sent.
    Done,
}

/// The replies `from..=up_to` of a conversation went out in a digest.
#[derive(Debug)]
pub struct DigestSent {
    conversation_id: String,
    from: u64,
    up_to: u64,
    payload: String,
}

/// Builds what an email item (`email` or a reply digest) sends; an error is
/// the attempt's outcome.
pub async fn email_work(
    outbox: &Outbox,
    store: &dyn Store,
    item: &OutboxItem,
) -> Result<Work, Attempt> {
    let from = &outbox.config.from;
    let broken =
        || Attempt::Unsendable("the notification cannot be built (payload or address)".to_owned());
    match item.kind.as_str() {
        EMAIL => {
            let payload =
                serde_json::from_str::<EmailPayload>(&item.payload).map_err(|_| broken())?;
            let link = outbox.conversation_link(&payload.conversation_id);
            let message = render(&payload, from, &link).map_err(|_| broken())?;
            Ok(Work::Send(Box::new(message), None))
        }
        REPLY_DIGEST => {
            let payload =
                serde_json::from_str::<DigestPayload>(&item.payload).map_err(|_| broken())?;
            let not_now = |e: crate::store::StoreError| {
                Attempt::Failed(format!("the store did not answer: {e}"))
            };
            let id = &payload.conversation_id;
            let Some(start) = store.reply_digest_start(id).await.map_err(not_now)? else {
                return Ok(Work::Done);
            };
            let Some((conversation, messages)) = store
                .conversation_with_messages(&item.account_id, id, start.saturating_sub(1))
                .await
                .map_err(not_now)?
            else {
                return Ok(Work::Done);
            };
            let replies: Vec<MessageRecord> = messages
                .into_iter()
                .filter(|m| m.author == onair_shared::wire::Author::Agent)
                .collect();
            let Some(up_to) = replies.last().map(|m| m.seq) else {
                return Ok(Work::Done);
            };
            let message =
                render_digest(&payload, &conversation, &replies, from).map_err(|_| broken())?;
            let sent = DigestSent {
                conversation_id: id.clone(),
                from: start,
                up_to,
                payload: item.payload.clone(),
            };
            Ok(Work::Send(Box::new(message), Some(sent)))
        }
        _ => Err(Attempt::Unsendable(
            "the notification is of an unknown kind".to_owned(),
        )),
    }
}

/// Sends an email over SMTP.
pub async fn send(outbox: &Outbox, message: Message) -> Attempt {
    match outbox.transport.send(message).await {
        Ok(_) => Attempt::Sent,
        Err(e) => Attempt::Failed(describe(&e)),
    }
}

/// Records what follows a sent digest, before the item is recorded sent:
/// replies that came while it was being sent go in a follow-up item, a
/// window later.
pub async fn finish_digest(
    outbox: &Outbox,
    store: &dyn Store,
    item: &OutboxItem,
    sent: DigestSent,
) {
    let now = Timestamp::now();
    let follow_up = OutboxItem {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: item.account_id.clone(),
        kind: REPLY_DIGEST.to_owned(),
        payload: sent.payload,
        created_at: now,
        due_at: later(now, outbox.config.timing.reply_digest_window),
        attempts: 0,
    };
    // Should this fail, the item is sent again when its lease runs out, and
    // finds the same digest waiting: at least once, as for any email.
    if let Err(e) = store
        .finish_reply_digest(&sent.conversation_id, sent.from, sent.up_to, &follow_up)
        .await
    {
        tracing::error!(error = %e, notification = %item.id, "could not record a sent digest");
    }
}

pub(crate) fn later(now: Timestamp, by: Duration) -> Timestamp {
    let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
    now.saturating_add(by).unwrap_or(Timestamp::MAX)
}

/// What went wrong, in words safe for logs: no address, no server text
/// (which may repeat one), no credentials.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let code = e
        .status()
        .map(|code| format!(" ({code})"))
        .unwrap_or_default();
    let what = if e.is_timeout() {
        "the relay timed out"
    } else if e.is_tls() {
        "TLS with the relay failed"
    } else if e.is_transient() {
        "the relay refused for now"
    } else if e.is_permanent() {
        "the relay refused"
    } else if e.is_response() {
        "the relay's answer was unreadable"
    } else if e.is_client() {
        "the message could not be sent as built"
    } else {
        "could not reach the relay"
    };
    format!("{what}{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> EmailPayload {
        EmailPayload {
            agent_id: "a1".into(),
            to_name: "Ann".into(),
            to: "ann@acme.example".into(),
            account_name: "Acme".into(),
            conversation_id: "c1".into(),
            message_id: "m1".into(),
            visitor_name: Some(name.into()),
            visitor_email: Some("vic@visitor.example".into()),
            text: "Hello <b>there</b>".into(),
        }
    }

    fn from() -> Mailbox {
        "onair <noreply@onair.example>".parse().expect("mailbox")
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let timing = OutboxTiming::default();
        let waits: Vec<u64> = [1, 2, 3, 4, 9, 10, 50]
            .into_iter()
            .map(|n| timing.backoff(n).as_secs())
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 2560, 3600, 3600]);
    }

    #[test]
    fn the_email_has_both_parts_the_link_and_reply_to() {
        let message = render(
            &payload("Vic"),
            &from(),
            "http://x/dashboard#conversation=c1",
        )
        .expect("render");
        let raw = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(
            raw.contains("Subject: New message from Vic on Acme\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("Reply-To: Vic <vic@visitor.example>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("text/plain"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(raw.contains("Hello &lt;b&gt;there&lt;/b&gt;"), "{raw}");
        assert!(raw.contains("http://x/dashboard#conversation=c1"), "{raw}");
    }

    #[test]
    fn a_name_cannot_add_a_header() {
        let message = render(
            &payload("Vic\r\nBcc: x@evil.example"),
            &from(),
            "http://x/dashboard#conversation=c1",
        )
        .expect("render");
        let raw = String::from_utf8(message.formatted()).expect("utf-8");
        let headers = raw.split("\r\n\r\n").next().unwrap_or_default();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{headers}"
        );
        assert_eq!(
            message.envelope().to(),
            ["ann@acme.example".parse::<Address>().expect("address")]
        );
    }

    #[test]
    fn smtp_urls_are_understood_or_refused_clearly() {
        assert!(transport("smtp://127.0.0.1:2525").is_ok());
        assert!(transport("smtp://u:p%40ss@mail.example:587?tls=starttls").is_ok());
        assert!(transport("smtps://u:p@mail.example").is_ok());
        let err = transport("http://u:secret@mail.example")
            .expect_err("not smtp")
            .to_string();
        assert!(!err.contains("secret"), "{err}");
        assert!(transport("smtp://mail.example?tls=maybe").is_err());
        assert_eq!(percent_decode("p%40ss%2"), "p@ss%2");
    }
}

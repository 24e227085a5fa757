//! The account unit's commands: every change to an account's agents and
//! groups goes through one of these methods of [`Writer`] (which holds the
//! account's write lock). Each checks the account's rules (an email is
//! unique in its account, an account keeps an admin, groups named exist),
//! stores the change, then applies it to the live state and re-derives —
//! on a single node and on a node of a cluster alike (`Writer::apply`).
//! Handlers validate the shape of what they were sent and call these.

use onair_shared::wire::{self, Role, Status};

use crate::error::{Error, Result};
use crate::hub::{Inner, Writer};
use onair_shared::office_hours::OfficeHoursSpec;

use crate::store::{AccountRecord, AgentRecord, AvatarRecord, GroupRecord, SessionRecord};

/// What may change about an agent (`None`: unchanged).
#[derive(Debug, Default)]
pub struct AgentChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub groups: Option<Vec<String>>,
    pub status: Option<Status>,
    /// A new password's hash.
    pub password_hash: Option<String>,
    pub email_notifications: Option<bool>,
    /// Disabling ends the agent's sessions and refuses its logins.
    pub disabled: Option<bool>,
}

impl Writer<'_> {
    /// Adds an agent: its email must be new in the account, its groups must
    /// exist (each named once).
    pub async fn add_agent(&self, mut record: AgentRecord) -> Result<wire::Agent> {
        record.groups = self.read(|inner| {
            if inner.agents.values().any(|a| a.email == record.email) {
                return Err(email_taken(&record.email));
            }
            known_groups(inner, &record.groups)
        })?;
        self.put_agent(record).await
    }

    /// Changes an agent; the account's last admin keeps its role.
    pub async fn change_agent(&self, id: &str, change: AgentChange) -> Result<wire::Agent> {
        let record = self.read(|inner| {
            let mut record = inner
                .agents
                .get(id)
                .cloned()
                .ok_or_else(|| unknown_agent(id))?;
            if let Some(groups) = &change.groups {
                record.groups = known_groups(inner, groups)?;
            }
            if let Some(role) = change.role {
                if role != Role::Admin && record.role == Role::Admin && admins(inner) == 1 {
                    return Err(last_admin());
                }
                record.role = role;
            }
            if let Some(name) = change.name {
                record.name = name;
            }
            if let Some(status) = change.status {
                record.status = status;
            }
            if let Some(hash) = change.password_hash {
                record.password_hash = hash;
            }
            if let Some(disabled) = change.disabled {
                if disabled
                    && record.role == Role::Admin
                    && !record.disabled
                    && enabled_admins(inner) == 1
                {
                    return Err(last_admin());
                }
                record.disabled = disabled;
            }
            if let Some(on) = change.email_notifications {
                record.email_notifications = on;
            }
            Ok(record)
        })?;
        self.put_agent(record).await
    }

    /// Gives an agent a new picture or (`None`) removes its picture; every
    /// device of the agent is told (`event: agent`).
    pub async fn set_avatar(&self, id: &str, avatar: Option<AvatarRecord>) -> Result<wire::Agent> {
        let store = &self.hub().store;
        let hash = match &avatar {
            Some(avatar) => {
                if !store.put_avatar(avatar).await? {
                    return Err(unknown_agent(id));
                }
                Some(avatar.hash.clone())
            }
            None => {
                store.delete_avatar(id).await?;
                None
            }
        };
        self.apply(|inner, now| {
            inner.agents.get_mut(id)?.avatar = hash;
            inner.agent_view(id, now)
        })
        .await
        .ok_or_else(|| unknown_agent(id))
    }

    /// Removes an agent and ends its sessions (and their streams); the
    /// account's last admin stays.
    pub async fn remove_agent(&self, id: &str) -> Result<()> {
        self.read(|inner| {
            let record = inner.agents.get(id).ok_or_else(|| unknown_agent(id))?;
            if record.role == Role::Admin && admins(inner) == 1 {
                return Err(last_admin());
            }
            Ok(())
        })?;
        self.hub().store.delete_agent(id).await?;
        self.apply(|inner, _| inner.remove_agent(id)).await;
        Ok(())
    }

    /// Adds a group; its key must be new in the account.
    pub async fn add_group(&self, record: GroupRecord) -> Result<wire::Group> {
        if self.read(|inner| inner.groups.contains_key(&record.key)) {
            return Err(Error::conflict(
                "key_taken",
                format!("a group with the key {:?} already exists", record.key),
            ));
        }
        self.put_group(record).await
    }

    /// Renames a group.
    pub async fn rename_group(&self, key: &str, name: String) -> Result<wire::Group> {
        let mut record = self.read(|inner| group(inner, key).cloned())?;
        record.name = name;
        self.put_group(record).await
    }

    /// Deletes a group. Its members leave it, so one left in no group now
    /// counts for every group; its conversations stay (as the site's).
    pub async fn remove_group(&self, key: &str) -> Result<()> {
        self.read(|inner| group(inner, key).map(drop))?;
        self.hub().store.delete_group(&self.live().id, key).await?;
        self.apply(|inner, _| {
            inner.groups.remove(key);
            for agent in inner.agents.values_mut() {
                agent.groups.retain(|k| k != key);
            }
            inner.sync_model();
        })
        .await;
        Ok(())
    }

    /// A new session (a login) of an agent that still exists and is not
    /// disabled.
    pub async fn start_session(&self, record: SessionRecord) -> Result<wire::Agent> {
        let agent_id = record.agent_id.clone();
        if !self.read(|inner| inner.agents.get(&agent_id).is_some_and(|a| !a.disabled)) {
            // Deleted or disabled while the password was being checked.
            return Err(Error::Unauthorized {
                code: "invalid_credentials",
                message: "the email or password is wrong",
            });
        }
        self.hub().store.put_session(&record).await?;
        self.apply(|inner, now| {
            inner.add_session(record);
            inner.agent_view(&agent_id, now)
        })
        .await
        .ok_or_else(|| Error::Internal("agent vanished during login".into()))
    }

    /// Ends a session at once (a logout): no grace, its streams end.
    pub async fn end_session(&self, session_id: &str) -> Result<()> {
        self.hub().store.delete_session(session_id).await?;
        self.apply(|inner, _| inner.end_session(session_id)).await;
        Ok(())
    }

    /// Ends every session of an agent but `keep` (the device asking, when an
    /// agent changes its own password), at once: no grace, their streams end.
    /// Returns how many ended.
    pub async fn end_sessions_of(&self, agent_id: &str, keep: Option<&str>) -> Result<usize> {
        let ending: Vec<String> = self.read(|inner| {
            inner
                .sessions
                .values()
                .filter(|s| s.record.agent_id == agent_id)
                .map(|s| s.record.id.clone())
                .filter(|id| Some(id.as_str()) != keep)
                .collect()
        });
        for id in &ending {
            self.hub().store.delete_session(id).await?;
        }
        self.apply(|inner, _| {
            for id in &ending {
                inner.end_session(id);
            }
        })
        .await;
        Ok(ending.len())
    }

    /// Ends one of an agent's own sessions (another device); 404 for a
    /// session that is not the agent's.
    pub async fn end_own_session(&self, agent_id: &str, session_id: &str) -> Result<()> {
        let mine = self.read(|inner| {
            inner
                .sessions
                .get(session_id)
                .is_some_and(|s| s.record.agent_id == agent_id)
        });
        if !mine {
            return Err(Error::not_found(
                "unknown_session",
                format!("you have no session {session_id:?}"),
            ));
        }
        self.end_session(session_id).await
    }

    /// Replaces the account's settings (office hours included).
    pub async fn update_account(&self, record: AccountRecord) -> Result<()> {
        self.hub().store.update_account(&record).await?;
        self.apply(|inner, _| {
            inner.account = record;
            inner.sync_model();
        })
        .await;
        Ok(())
    }

    /// Gives a group office hours of its own, or (`None`) makes it follow
    /// the account's again.
    pub async fn set_group_office_hours(
        &self,
        key: &str,
        spec: Option<OfficeHoursSpec>,
    ) -> Result<()> {
        let mut record = self.read(|inner| group(inner, key).cloned())?;
        record.office_hours = spec;
        self.put_group(record).await.map(drop)
    }

    /// Stores an agent, then makes it live; answers its view.
    async fn put_agent(&self, record: AgentRecord) -> Result<wire::Agent> {
        self.hub().store.put_agent(&record).await?;
        let id = record.id.clone();
        self.apply(|inner, now| {
            inner.agents.insert(id.clone(), record);
            inner.sync_model();
            inner.agent_view(&id, now)
        })
        .await
        .ok_or_else(|| Error::Internal("agent vanished while being stored".into()))
    }

    /// Stores a group, then makes it live (office hours included).
    pub async fn put_group(&self, record: GroupRecord) -> Result<wire::Group> {
        self.hub().store.put_group(&record).await?;
        let view = group_view(&record);
        self.apply(|inner, _| {
            inner.groups.insert(record.key.clone(), record);
            inner.sync_model();
        })
        .await;
        Ok(view)
    }
}

/// The groups an agent is put in: each must exist; duplicates collapse.
fn known_groups(inner: &Inner, keys: &[String]) -> Result<Vec<String>> {
    let mut set = std::collections::BTreeSet::new();
    for key in keys {
        if !inner.groups.contains_key(key) {
            return Err(Error::bad_request(
                "unknown_group",
                format!("there is no group {key:?} in this account"),
            ));
        }
        set.insert(key.clone());
    }
    Ok(set.into_iter().collect())
}

fn enabled_admins(inner: &Inner) -> usize {
    inner
        .agents
        .values()
        .filter(|a| a.role == Role::Admin && !a.disabled)
        .count()
}

fn admins(inner: &Inner) -> usize {
    inner
        .agents
        .values()
        .filter(|a| a.role == Role::Admin)
        .count()
}

/// A group of the account, or 404.
pub fn group<'a>(inner: &'a Inner, key: &str) -> Result<&'a GroupRecord> {
    inner.groups.get(key).ok_or_else(|| unknown_group(key))
}

pub fn group_view(record: &GroupRecord) -> wire::Group {
    wire::Group {
        key: record.key.clone(),
        name: record.name.clone(),
    }
}

pub fn unknown_group(key: &str) -> Error {
    Error::not_found(
        "unknown_group",
        format!("there is no group {key:?} in this account"),
    )
}

pub fn unknown_agent(id: &str) -> Error {
    Error::not_found(
        "unknown_agent",
        format!("there is no agent {id:?} in this account"),
    )
}

fn email_taken(email: &str) -> Error {
    Error::conflict(
        "email_taken",
        format!("an agent with the email {email:?} already exists in this account"),
    )
}

fn last_admin() -> Error {
    Error::conflict(
        "last_admin",
        "an account needs at least one admin; make another agent admin first",
    )
}

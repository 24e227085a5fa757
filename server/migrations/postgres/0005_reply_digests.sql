-- onair schema for PostgreSQL, version 5: emailing agents' replies to
-- visitors (docs/notifications.md). Never edit a migration that has landed;
-- add one.

-- The first agent reply not yet emailed to the visitor, while a digest of
-- replies waits in the outbox; NULL when none waits. Written in the same
-- transaction as the replies and the outbox item (under the conversation's
-- row lock), so each reply joins exactly one digest.
ALTER TABLE conversations ADD COLUMN reply_mail_from BIGINT;

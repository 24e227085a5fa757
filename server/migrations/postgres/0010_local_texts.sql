-- onair schema (PostgreSQL), version 10: an account's chat box texts per language
-- (docs/status.md). Never edit a migration that has landed; add one.

-- busy_message, offline_message, offline_reply and busy_reply now hold JSON
-- text: a string (every language), an object of languages (one text each) or
-- null (the built-in text). The messages accounts were given when they were
-- created are the built-in English ones: those become null, the built-in text
-- in every chat box language.
UPDATE accounts SET
    busy_message = CASE busy_message
        WHEN 'We''re busy right now — we''ll be back shortly.' THEN 'null'
        ELSE to_json(busy_message)::text END,
    offline_message = CASE offline_message
        WHEN 'We''re offline right now — leave us a message and we''ll get back to you.' THEN 'null'
        ELSE to_json(offline_message)::text END,
    offline_reply = to_json(offline_reply)::text,
    busy_reply = to_json(busy_reply)::text;

-- onair schema, version 8: the page a visitor wrote from (docs/conversations.md).
-- Never edit a migration that has landed; add one.

-- The page's URL (http or https) and title, as the chat box sent them when the
-- conversation started; NULL for conversations started without them.
ALTER TABLE conversations ADD COLUMN page_url TEXT;
ALTER TABLE conversations ADD COLUMN page_title TEXT;

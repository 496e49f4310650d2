-- The organization's SCIM token joins the kinds of tokens.
ALTER TABLE tokens DROP CONSTRAINT tokens_kind_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_kind_check
    CHECK (kind IN ('session', 'api', 'service_account', 'scim'));

-- People and service accounts of each organization.
CREATE TABLE IF NOT EXISTS rbac_users (
    org_id    TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    username  TEXT NOT NULL,
    email     TEXT,                 -- NULL for service accounts
    kind      TEXT NOT NULL CHECK (kind IN ('person', 'service_account')),
    PRIMARY KEY (org_id, user_id)
) STRICT, WITHOUT ROWID;

-- Groups and their organization role.
CREATE TABLE IF NOT EXISTS rbac_groups (
    org_id       TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    role_id      TEXT,
    PRIMARY KEY (org_id, group_id)
) STRICT, WITHOUT ROWID;

-- Who is in which group.
CREATE TABLE IF NOT EXISTS rbac_group_members (
    org_id    TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (org_id, group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rbac_group_members_by_user ON rbac_group_members (org_id, user_id);

-- Projects and their owner.
CREATE TABLE IF NOT EXISTS rbac_projects (
    org_id      TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    PRIMARY KEY (org_id, project_id)
) STRICT, WITHOUT ROWID;

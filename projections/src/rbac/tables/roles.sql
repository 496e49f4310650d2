-- Roles (predefined and custom), their own permissions and what they inherit.
CREATE TABLE IF NOT EXISTS rbac_roles (
    org_id           TEXT NOT NULL,
    role_id          TEXT NOT NULL,
    name             TEXT NOT NULL,
    scope            TEXT NOT NULL CHECK (scope IN ('organization', 'project')),
    description      TEXT NOT NULL,
    predefined       INTEGER NOT NULL,
    project_role_id  TEXT,          -- organization roles: granted on every project
    PRIMARY KEY (org_id, role_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rbac_role_permissions (
    org_id      TEXT NOT NULL,
    role_id     TEXT NOT NULL,
    permission  TEXT NOT NULL,
    PRIMARY KEY (org_id, role_id, permission)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rbac_role_inherits (
    org_id       TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    inherits_id  TEXT NOT NULL,
    PRIMARY KEY (org_id, role_id, inherits_id)
) STRICT, WITHOUT ROWID;

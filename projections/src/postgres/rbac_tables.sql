-- The RBAC tables in PostgreSQL (postgres/rbac.rs writes them), the same
-- rows as the embedded ones (rbac/tables/*.sql): ids as text in the
-- recorded tables, project_id '' for organization scope.

-- People and service accounts of each organization.
CREATE TABLE IF NOT EXISTS rbac_users (
    org_id    TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    username  TEXT NOT NULL,
    email     TEXT,                 -- NULL for service accounts
    kind      TEXT NOT NULL CHECK (kind IN ('person', 'service_account')),
    PRIMARY KEY (org_id, user_id)
);

-- Groups and their organization role.
CREATE TABLE IF NOT EXISTS rbac_groups (
    org_id       TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    role_id      TEXT,
    PRIMARY KEY (org_id, group_id)
);

-- Who is in which group.
CREATE TABLE IF NOT EXISTS rbac_group_members (
    org_id    TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (org_id, group_id, user_id)
);
CREATE INDEX IF NOT EXISTS rbac_group_members_by_user ON rbac_group_members (org_id, user_id);

-- Roles (predefined and custom), their own permissions and what they inherit.
CREATE TABLE IF NOT EXISTS rbac_roles (
    org_id           TEXT    NOT NULL,
    role_id          TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    scope            TEXT    NOT NULL CHECK (scope IN ('organization', 'project')),
    description      TEXT    NOT NULL,
    predefined       BOOLEAN NOT NULL,
    project_role_id  TEXT,          -- organization roles: granted on every project
    PRIMARY KEY (org_id, role_id)
);
CREATE TABLE IF NOT EXISTS rbac_role_permissions (
    org_id      TEXT NOT NULL,
    role_id     TEXT NOT NULL,
    permission  TEXT NOT NULL,
    PRIMARY KEY (org_id, role_id, permission)
);
CREATE TABLE IF NOT EXISTS rbac_role_inherits (
    org_id       TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    inherits_id  TEXT NOT NULL,
    PRIMARY KEY (org_id, role_id, inherits_id)
);

-- Projects and their owner.
CREATE TABLE IF NOT EXISTS rbac_projects (
    org_id      TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    PRIMARY KEY (org_id, project_id)
);

-- Recorded role bindings with their source: one per (subject, scope, source).
-- subject: 'user:<id>' or 'group:<id>'; project_id '' for organization scope;
-- source 'direct' or 'repository' (with its access level and mapped role).
CREATE TABLE IF NOT EXISTS rbac_role_bindings (
    org_id      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('direct', 'repository')),
    role_id     TEXT NOT NULL,
    access      TEXT,
    PRIMARY KEY (org_id, subject, project_id, source)
);
CREATE INDEX IF NOT EXISTS rbac_role_bindings_by_project ON rbac_role_bindings (org_id, project_id);

-- Each user's effective permissions per scope, the union of every source:
--   scope 0 organization, 1 every project (from organization roles), 2 one
--   project (direct, group and repository sources); project_id is the nil
--   UUID unless scope = 2. On a project a user holds scope 1 ∪ scope 2;
--   mask_lo, mask_hi: bits 0-63 and 64-127 of the permission set, bit n
--   being rbac_permission_catalog.bit = n.
CREATE TABLE IF NOT EXISTS rbac_effective_permissions (
    org_id      UUID     NOT NULL,
    user_id     UUID     NOT NULL,
    scope       SMALLINT NOT NULL CHECK (scope BETWEEN 0 AND 2),
    project_id  UUID     NOT NULL,
    mask_lo     BIGINT   NOT NULL,
    mask_hi     BIGINT   NOT NULL,
    PRIMARY KEY (org_id, user_id, scope, project_id)
);

CREATE TABLE IF NOT EXISTS rbac_permission_catalog (
    bit    INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE,
    scope  TEXT NOT NULL
);

-- The effective permissions as readable rows.
CREATE OR REPLACE VIEW rbac_effective_permission_names AS
SELECT e.org_id, e.user_id,
       CASE e.scope WHEN 0 THEN 'organization' WHEN 1 THEN 'every_project' ELSE 'project' END AS scope,
       CASE WHEN e.scope = 2 THEN e.project_id END AS project_id,
       c.name AS permission
FROM rbac_effective_permissions e
JOIN rbac_permission_catalog c
  ON (CASE WHEN c.bit < 64 THEN (e.mask_lo >> c.bit) & 1
           ELSE (e.mask_hi >> (c.bit - 64)) & 1 END) = 1;

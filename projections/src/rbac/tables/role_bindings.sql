-- Recorded role bindings with their source: one per (subject, scope, source).
-- subject: 'user:<id>' or 'group:<id>'; project_id '' for organization scope;
-- source 'direct' (a user's or a group's own binding) or 'repository'
-- (repository access, with its level and the role it maps to).
-- Derived roles (group members, organization-role mapping) are in
-- rbac_effective_permissions.
CREATE TABLE IF NOT EXISTS rbac_role_bindings (
    org_id      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('direct', 'repository')),
    role_id     TEXT NOT NULL,
    access      TEXT,
    PRIMARY KEY (org_id, subject, project_id, source)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rbac_role_bindings_by_project ON rbac_role_bindings (org_id, project_id);

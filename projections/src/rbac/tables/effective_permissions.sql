-- Each user's effective permissions per scope, the union of every source:
-- scope 'organization', 'every_project' (from organization roles, applies
-- to each project) or 'project' (direct, group and repository sources on
-- project_id). On a project a user holds every_project ∪ project.
-- permissions: a JSON array of permission names in catalog order.
CREATE TABLE IF NOT EXISTS rbac_effective_permissions (
    org_id       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('organization', 'every_project', 'project')),
    project_id   TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, scope, project_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rbac_effective_by_project ON rbac_effective_permissions (org_id, project_id);

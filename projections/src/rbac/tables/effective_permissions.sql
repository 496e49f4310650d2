-- Each user's effective permissions per scope, the union of every source.
-- Compact, because it is the biggest table (a row per user and project
-- where a direct, group or repository source applies):
--   org_id, user_id, project_id: the 16 bytes of the UUID (project_id empty
--     unless scope = 2);
--   scope: 0 organization, 1 every project (from organization roles; applies
--     to each project), 2 one project (direct, group and repository sources).
--     On a project a user holds scope 1 ∪ scope 2;
--   mask_lo, mask_hi: bits 0-63 and 64-127 of the permission set, bit n being
--     rbac_permission_catalog.bit = n.
-- rbac_effective_permission_names lists the same as readable rows.
CREATE TABLE IF NOT EXISTS rbac_effective_permissions (
    org_id      BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    scope       INTEGER NOT NULL CHECK (scope BETWEEN 0 AND 2),
    project_id  BLOB NOT NULL,
    mask_lo     INTEGER NOT NULL,
    mask_hi     INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id, scope, project_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rbac_permission_catalog (
    bit    INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE,
    scope  TEXT NOT NULL
) STRICT;

CREATE VIEW IF NOT EXISTS rbac_effective_permission_names AS
SELECT lower(hex(e.org_id)) AS org_hex,
       lower(hex(e.user_id)) AS user_hex,
       CASE e.scope WHEN 0 THEN 'organization' WHEN 1 THEN 'every_project' ELSE 'project' END AS scope,
       lower(hex(e.project_id)) AS project_hex,
       c.name AS permission
FROM rbac_effective_permissions e
JOIN rbac_permission_catalog c
  ON (CASE WHEN c.bit < 64 THEN (e.mask_lo >> c.bit) & 1 ELSE (e.mask_hi >> (c.bit - 64)) & 1 END) = 1;

// The console clicked through as a person would, in headless Chromium
// (the machine's, driven by playwright-core). Run by tests/console_browser.rs,
// which starts the server and its peers (an S3-compatible server, an
// OpenID Connect provider) and checks afterwards what the API answers.
//
// Environment: BASE (the server), LOGIN and PASSWORD (the Owner's, whose
// temporary password the Rust side already changed), OTHER_ORG (an
// organization the Owner is not in), SHOTS (where the screenshots go),
// CHROMIUM (the browser), MOTO_ENDPOINT, MOTO_KEY_ID, MOTO_SECRET (the
// bucket server and its keys), OIDC_ISSUER, OIDC_CLIENT_ID,
// OIDC_CLIENT_SECRET (the identity provider). Prints one JSON line: what
// the pages showed that the Rust side checks against the API.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const env = process.env;
const { BASE, LOGIN, PASSWORD, OTHER_ORG, SHOTS, CHROMIUM } = env;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ javaScriptEnabled: false });
const page = await context.newPage();
const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const out = {};

const notice = () => page.getByRole('status').innerText();
const alert = () => page.getByRole('alert').innerText();
const go = (name) =>
  page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name, exact: true }).click();
const tab = (name) =>
  page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name, exact: true }).click();
const label = (text) => page.getByLabel(text, { exact: true });
const button = (name) => page.getByRole('button', { name, exact: true }).click();

// Sign in with a temporary password: asked for a new one, then People.
async function signIn(login, temporary, chosen) {
  await page.goto(`${BASE}/login?org=default`);
  await label('Email or username').fill(login);
  await label('Password').fill(temporary);
  await button('Sign in');
  await label('New password').waitFor();
  assert.match(await alert(), /temporary password/);
  await label('Password').fill(temporary);
  await label('New password').fill(chosen);
  await button('Sign in');
  await page.waitForURL(/\/orgs\/default\/people$/);
}

// ---- Sign in ----------------------------------------------------------
await page.goto(`${BASE}/login?org=default`);
await shot('sign-in');
await label('Email or username').fill(LOGIN);
await label('Password').fill('not-the-password');
await button('Sign in');
assert.match(await alert(), /invalid|password/i);
await label('Email or username').fill(LOGIN);
await label('Password').fill(PASSWORD);
await button('Sign in');
await page.waitForURL(/\/orgs\/default\/people$/);
assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'People');
assert.match(await page.locator('#people').innerText(), /admin/);
// Five groups of a person's six, and a link to the rest.
const gina = page.locator('#people tr', { hasText: 'gina@example.com' });
assert.match(await gina.innerText(), /(z-team-\d, ){5}1 more/);
const session = (await context.cookies()).find((c) => c.name === 'rolebook_session');
assert.ok(session.httpOnly, 'the session cookie is HttpOnly');
assert.equal(session.sameSite, 'Strict');
await shot('people');

// ---- Add people: several emails, one with a username; passwords once --
const beforeAnn = new Date(Date.now() - 1000).toISOString();
await page.getByLabel('Emails, one per line').fill('ann@example.com\nbob@example.com\ncarol@example.com cc');
await label('Role').selectOption('Member');
await button('Add people');
const passwords = await page.locator('.temporary-password').allInnerTexts();
assert.equal(passwords.length, 3);
out.ann_temporary = passwords[0];
const listed = await page.locator('#people').innerText();
assert.match(listed, /ann@example\.com[\s\S]*bob@example\.com/);
assert.match(listed, /\bcc\tcarol@example\.com/);
await shot('add-people');
await page.goto(`${BASE}/orgs/default/people`);
assert.equal(await page.locator('.temporary-password').count(), 0);

// ---- Audit Logs: newest first, filtered, exported ---------------------
await go('Audit Logs');
await page.waitForURL(/\/audit-logs$/);
const rows = await page.locator('#audit tbody tr').allInnerTexts();
assert.match(rows[0], /User cc invited|Role Member assigned to cc/);
assert.ok(rows.some((r) => /User ann invited/.test(r)));
await shot('audit-logs');
await page.getByLabel('Action').selectOption('Added');
await button('Filter');
const added = await page.locator('#audit tbody tr').allInnerTexts();
assert.ok(added.length >= 3);
assert.ok(added.every((r) => /\tAdded\t/.test(r)), added.join('\n'));
const exportHref = await page.locator('#export').getAttribute('href');
assert.match(exportHref, /action=Added/);
const csv = await context.request.get(`${BASE}${exportHref}`);
assert.equal(csv.status(), 200);
assert.match(csv.headers()['content-type'], /text\/csv/);
out.csv = await csv.text();
await shot('audit-logs-filtered');

// ---- Configure Streaming: a failing test, a passing one, then saved ---
await page.getByRole('link', { name: 'Configure Streaming' }).click();
assert.match(await page.locator('#last-run').innerText(), /not configured/);
async function target(secret) {
  await label('Bucket').fill('audit');
  await label('Region').fill('us-east-1');
  await label('Prefix').fill('console');
  await page.getByLabel('Endpoint').fill(env.MOTO_ENDPOINT);
  await label('Access key ID').fill(env.MOTO_KEY_ID);
  await label('Secret access key').fill(secret);
}
await target('not-the-secret');
await button('Test connection');
assert.match(await alert(), /rolebook-connection-test|SignatureDoesNotMatch|403|denied|cannot write/i);
await target(env.MOTO_SECRET);
await button('Test connection');
assert.match(await page.locator('#tested').innerText(), /Connection works: wrote and read back s3:\/\/audit\/console\//);
await shot('streaming-tested');
await label('Access key ID').fill(env.MOTO_KEY_ID);
await label('Secret access key').fill(env.MOTO_SECRET);
await button('Test and save');
assert.equal(await notice(), 'Saved.');
assert.match(await page.locator('#last-run').innerText(), /No run yet|Finished/);
assert.doesNotMatch(await page.content(), new RegExp(env.MOTO_SECRET.replace(/[^\w]/g, '.')));
await shot('streaming');

// ---- The Access explorer ----------------------------------------------
await go('Access explorer');
assert.equal(await page.title(), 'Access explorer · rolebook');
await page.locator('#user').fill('ann');
await page.locator('#permission').selectOption('organization.view');
await button('Check');
assert.match(await page.locator('#verdict').innerText(), /ann may organization\.view/);
assert.match(await page.locator('#sources').innerText(), /Member\s+direct/);
await shot('access-explorer');
await page.locator('#user').fill('admin');
await page.locator('#as_of').fill(beforeAnn);
await button('Check');
assert.match(await page.locator('#verdict').innerText(), /admin may organization\.view as of/);
await page.locator('#user').fill('ann');
await button('Check');
assert.match(await alert(), /ann/);
await page.locator('#who_can').selectOption('organization.audit_logs.view');
await button('List');
const holders = await page.locator('#holders tbody').innerText();
assert.match(holders, /admin/);
assert.doesNotMatch(holders, /ann|bob/);
await shot('access-who-can');
await page.locator('#effective_of').fill('ann');
await button('Show');
const effective = await page.locator('#effective tbody').innerText();
assert.match(effective, /organization\.view\tMember \(direct\)/);
assert.doesNotMatch(effective, /organization\.audit_logs\.view/);

// ---- Edit a person: change role, reset password -----------------------
await go('People');
await page.locator('#people').getByRole('link', { name: 'bob', exact: true }).click();
assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'bob');
await label('Organization role').selectOption('Admin');
await button('Change role');
assert.equal(await notice(), 'Role changed.');
assert.equal(await page.locator('#current-role').innerText(), 'Admin');
await button('Reset password');
assert.equal(await page.locator('.temporary-password').count(), 1);
out.bob_reset = await page.locator('.temporary-password').innerText();
await shot('person');

// ---- Groups: create, modify members, modify role -----------------------
await go('Groups');
await label('Name').fill('developers');
await label('Description').fill('Builds things');
await page.getByLabel('Members (usernames or emails').fill('ann');
await button('Create group');
assert.equal(await notice(), 'Group created.');
assert.match(await page.locator('#members').innerText(), /ann/);
await page.getByLabel('Remove ann').check();
await page.getByLabel('Add members').fill('cc');
await button('Save group');
assert.equal(await notice(), 'Members changed.');
const members = await page.locator('#members').innerText();
assert.match(members, /cc/);
assert.doesNotMatch(members, /ann/);
await label('Organization role of every member').selectOption('Admin');
await button('Change group role');
assert.equal(await page.locator('#group-role').innerText(), 'Admin');
await shot('group');
await go('Groups');
assert.match(await page.locator('#groups').innerText(), /developers\tBuilds things\tAdmin\t1/);
await shot('groups');

// ---- Projects: owner transfer, members and their sources ---------------
await go('Projects');
await page.locator('#projects').getByRole('link', { name: 'web' }).click();
assert.equal(await page.locator('#project-owner').innerText(), 'admin');
await page.getByLabel('New owner').fill('bob');
await button('Transfer ownership');
assert.equal(await notice(), 'Ownership transferred.');
assert.equal(await page.locator('#project-owner').innerText(), 'bob');
await page.getByLabel('User (username or email) or group').fill('ann');
await label('Project role').selectOption('Reader');
await button('Assign role');
await page.getByLabel('User (username or email) or group').fill('group:developers');
await label('Project role').selectOption('Contributor');
await button('Assign role');
assert.equal(await notice(), 'Role assigned on the project.');
const projectMembers = await page.locator('#project-members').innerText();
assert.match(projectMembers, /ann\tReader\tdirect/);
assert.match(projectMembers, /cc\tContributor\tgroup/);
await shot('project');
// A role through a group: retracting it says which source must change.
await page.getByRole('button', { name: 'Retract Contributor from cc' }).click();
assert.match(await alert(), /not assigned to them directly/);
assert.match(await page.locator('#why').innerText(), /through the group developers/);
await shot('project-retract-explained');
await page.getByRole('button', { name: 'Retract Reader from ann' }).click();
assert.equal(await notice(), 'Role retracted.');
assert.doesNotMatch(await page.locator('#project-members').innerText(), /ann\tReader/);

// ---- Remove: blocked while they own a project, with the way out --------
await go('People');
await page.locator('#people').getByRole('link', { name: 'bob', exact: true }).click();
await button('Remove from the organization');
assert.match(await alert(), /owns|project/i);
await shot('remove-blocked');
await page.getByRole('link', { name: 'Transfer ownership of web' }).click();
await page.getByLabel('New owner').fill('admin');
await button('Transfer ownership');
assert.equal(await page.locator('#project-owner').innerText(), 'admin');
await go('People');
await page.locator('#people').getByRole('link', { name: 'bob', exact: true }).click();
await button('Remove from the organization');
await page.waitForURL(/\/people\?done=removed$/);
assert.equal(await notice(), 'Removed.');
assert.doesNotMatch(await page.locator('#people').innerText(), /bob@example\.com/);

// ---- Settings → Roles ---------------------------------------------------
await go('Settings');
await page.waitForURL(/\/settings\/roles$/);
assert.match(await page.locator('#organization-roles').innerText(), /Owner[\s\S]*Admin[\s\S]*Member/);
await page.locator('#organization-roles').getByRole('link', { name: 'Admin' }).click();
assert.ok((await page.locator('#permissions input').count()) > 5);
assert.equal(await page.locator('#permissions input:not([disabled])').count(), 0, 'predefined: read-only');
await shot('role-predefined');
await tab('Roles');
await page.getByRole('link', { name: 'New organization role' }).click();
const all = await page.locator('#permissions input').count();
await label('Search the permissions').fill('audit');
await button('Search');
const found = await page.locator('#permissions li').allInnerTexts();
assert.ok(found.length > 0 && found.length < all, `${found.length} of ${all}`);
assert.ok(found.every((t) => /audit|every role/i.test(t)), found.join('\n'));
await page.getByRole('checkbox', { name: /organization\.audit_logs\.view/ }).check();
await label('Search the permissions').fill('people.view');
await button('Search');
// What was checked stays checked (and shown) across searches.
assert.ok(await page.getByRole('checkbox', { name: /organization\.audit_logs\.view/ }).isChecked());
await page.getByRole('checkbox', { name: /organization\.people\.view/ }).check();
await label('Name').fill('Auditor');
await label('Description').fill('Reads the audit log and the people');
await page.getByLabel('On every project, also grants').selectOption({ label: 'Reader' });
await shot('new-role');
await button('Create role');
assert.equal(await notice(), 'Role created.');
const checked = await page.locator('#permissions input:checked').evaluateAll((els) => els.map((e) => e.value));
// Every organization role holds organization.view besides what was checked.
assert.deepEqual(checked.sort(), ['organization.audit_logs.view', 'organization.people.view', 'organization.view']);
await page.getByRole('checkbox', { name: 'Member', exact: true }).check();
await button('Save role');
assert.equal(await notice(), 'Role saved.');
assert.match(await page.locator('#permissions').innerText(), /\(inherited\)/);
await shot('custom-role');

// ---- Settings → General, Initialization job ----------------------------
await tab('General');
await label('URL').fill('https://example.com/acme');
await button('Save organization');
assert.equal(await notice(), 'Saved.');
await page.getByLabel('Job timeout').fill('90');
await button('Save workflow settings');
assert.equal(await notice(), 'Saved.');
assert.equal(await page.getByLabel('Job timeout').inputValue(), '90');
await shot('settings-general');
await tab('Initialization job');
await page.getByLabel('Self-hosted agent', { exact: true }).check();
await page.getByLabel('Self-hosted agent type').fill('s1-my-agents');
await button('Save initialization job');
assert.equal(await notice(), 'Saved.');
assert.match(await page.locator('#current-agent').innerText(), /s1-my-agents/);
await shot('settings-init-job');

// ---- Settings → Notifications -------------------------------------------
await tab('Notifications');
await label('Name').fill('audit-hook');
await label('URL').fill('http://127.0.0.1:9/hook');
await page.getByRole('checkbox', { name: 'User', exact: true }).check();
await page.getByRole('checkbox', { name: 'Added', exact: true }).check();
await button('Create notification');
assert.match(await page.locator('#signing-secret').innerText(), /\S{20,}/);
assert.match(await page.locator('#notifications').innerText(), /audit-hook\twebhook\thttp:\/\/127\.0\.0\.1:9\tUser · Added/);
await shot('settings-notifications');
await page.getByRole('button', { name: 'Send a test to audit-hook' }).click();
assert.match(await page.locator('#tested').innerText(), /not delivered/);
await page.getByRole('button', { name: 'Remove audit-hook' }).click();
assert.equal(await notice(), 'Notification removed.');

// ---- Settings → IP allow list -------------------------------------------
await tab('IP allow list');
assert.equal(await page.locator('#your-address').innerText(), '127.0.0.1');
await page.getByLabel('Allowed addresses').fill('10.0.0.0/8');
await button('Save IP allow list');
assert.match(await alert(), /127\.0\.0\.1/);
await shot('settings-ip-allow-list');
await page.getByLabel('Allowed addresses').fill('127.0.0.0/8\n10.0.0.0/8');
await button('Save IP allow list');
assert.equal(await notice(), 'Saved.');
await page.getByLabel('Allowed addresses').fill('');
await button('Save IP allow list');
assert.equal(await notice(), 'Saved.');

// ---- Settings → Okta: SCIM token, single sign-on -------------------------
await tab('Okta');
await button('Issue SCIM token');
out.scim_token = await page.locator('#scim-token').innerText();
assert.equal(await page.locator('#scim-token-state').innerText(), 'issued');
await label('Issuer URL').fill(env.OIDC_ISSUER);
await label('Client ID').fill(env.OIDC_CLIENT_ID);
await label('Client secret').fill(env.OIDC_CLIENT_SECRET);
await button('Save single sign-on');
assert.equal(await notice(), 'Saved.');
assert.match(await page.locator('#sso-state').innerText(), new RegExp(env.OIDC_ISSUER.replace(/[^\w]/g, '.')));
await shot('settings-okta');

// ---- Refusals: a forged form, another organization, the CSP ---------------
const forged = await context.request.post(`${BASE}/orgs/default/people`, {
  form: { emails: 'mallory@example.com', csrf: 'forged' },
});
assert.equal(forged.status(), 403);
assert.match(await forged.text(), /csrf_failed/);
const forgedRole = await context.request.post(`${BASE}/orgs/default/settings/roles`, {
  form: { intent: 'create', scope: 'organization', name: 'Mallory', permission: 'organization.view' },
});
assert.equal(forgedRole.status(), 403);
const other = await page.goto(`${BASE}/orgs/${OTHER_ORG}/people`);
assert.equal(other.status(), 403);
assert.match(await page.locator('main').innerText(), /not_this_organization/);
await shot('other-organization');
const people = await page.goto(`${BASE}/orgs/default/people`);
const csp = people.headers()['content-security-policy'];
assert.match(csp, /default-src 'none'/);
assert.doesNotMatch(csp, /script-src/);

// ---- Sign out -----------------------------------------------------------
await button('Sign out');
await page.waitForURL(/\/login\?org=default$/);
const after = await page.goto(`${BASE}/orgs/default/people`);
assert.match(page.url(), /\/login\?org=default$/, `after sign-out: ${after.status()}`);

// ---- Single sign-on from the console: ann through the provider ----------
await page.goto(`${BASE}/login?org=default`);
await page.getByLabel('Your email').fill('ann@example.com');
await shot('sign-in-sso');
await button('Sign in with SSO');
// The provider's pages, then rolebook's "Signed in", which goes on to
// People by itself.
await page.waitForURL(/\/orgs\/[^/]+\/people$/);
// ann is a Member: signed in, and People is not hers to see.
assert.match(await page.locator('header').innerText(), /ann/);
assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Not allowed');
await button('Sign out');
await page.waitForURL(/\/login\?org=default$/);

// ---- A Member's pages: no links, and the pages refuse ---------------------
await signIn('ann@example.com', out.ann_temporary, PASSWORD);
assert.equal(page.url(), `${BASE}/orgs/default/people`);
assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Not allowed');
assert.equal(await page.getByRole('link', { name: 'Audit Logs' }).count(), 0);
const audit = await page.goto(`${BASE}/orgs/default/audit-logs`);
assert.equal(audit.status(), 403);
assert.match(await page.locator('main').innerText(), /organization\.audit_logs\.view/);
await shot('refused');
// The controls a Member lacks are hidden, and their forms refused anyway.
await page.goto(`${BASE}/orgs/default/settings/roles`);
assert.equal(await page.getByRole('link', { name: 'New organization role' }).count(), 0);
assert.equal(await page.getByRole('link', { name: 'General', exact: true }).count(), 0);
const general = await page.goto(`${BASE}/orgs/default/settings/general`);
assert.equal(general.status(), 403);

await browser.close();
process.stdout.write(`${JSON.stringify(out)}\n`);

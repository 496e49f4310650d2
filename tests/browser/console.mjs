// The console clicked through as a person would, in headless Chromium
// (the machine's, driven by playwright-core). Run by tests/console_browser.rs,
// which starts the server and checks afterwards what the API answers.
//
// Environment: BASE (the server), LOGIN and TEMPORARY (the bootstrap
// Owner's), PASSWORD (the one to choose), OTHER_ORG (an organization the
// Owner is not in), SHOTS (where the screenshots go), CHROMIUM (the
// browser). Prints one JSON line: what the pages showed that the Rust side
// checks against the API.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const { BASE, LOGIN, TEMPORARY, PASSWORD, OTHER_ORG, SHOTS, CHROMIUM } = process.env;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ javaScriptEnabled: false });
const page = await context.newPage();
const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const out = {};

// Sign in with the temporary password: asked for a new one, then People.
async function signIn(login, temporary, chosen) {
  await page.goto(`${BASE}/login?org=default`);
  await page.getByLabel('Email or username').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(temporary);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('New password').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /temporary password/);
  await page.getByLabel('Password', { exact: true }).fill(temporary);
  await page.getByLabel('New password').fill(chosen);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/orgs\/default\/people$/);
}

await page.goto(`${BASE}/login?org=default`);
await shot('sign-in');
// A wrong password: the form again, saying why.
await page.getByLabel('Email or username').fill(LOGIN);
await page.getByLabel('Password', { exact: true }).fill('not-the-password');
await page.getByRole('button', { name: 'Sign in' }).click();
assert.match(await page.getByRole('alert').innerText(), /invalid|password/i);

await signIn(LOGIN, TEMPORARY, PASSWORD);
assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'People');
assert.match(await page.locator('#people').innerText(), /admin/);
const cookies = await context.cookies();
const session = cookies.find((c) => c.name === 'rolebook_session');
assert.ok(session.httpOnly, 'the session cookie is HttpOnly');
assert.equal(session.sameSite, 'Strict');
await shot('people');

// Add people: two emails at once, each temporary password shown once.
const beforeAnn = new Date(Date.now() - 1000).toISOString();
await page.getByLabel('Emails, one per line').fill('ann@example.com\nbob@example.com');
await page.getByLabel('Role').selectOption('Member');
await page.getByRole('button', { name: 'Add people' }).click();
const passwords = await page.locator('.temporary-password').allInnerTexts();
assert.equal(passwords.length, 2);
out.ann_temporary = passwords[0];
assert.match(await page.locator('#people').innerText(), /ann@example\.com[\s\S]*bob@example\.com/);
await shot('add-people');
// Shown once: the page opened again has no passwords.
await page.goto(`${BASE}/orgs/default/people`);
assert.equal(await page.locator('.temporary-password').count(), 0);

// Audit Logs: newest first, filtered, exported.
await page.getByRole('link', { name: 'Audit Logs' }).click();
await page.waitForURL(/\/audit-logs$/);
const rows = await page.locator('#audit tbody tr').allInnerTexts();
assert.match(rows[0], /User bob invited|Role Member assigned to bob/);
assert.ok(rows.some((r) => /User ann invited/.test(r)));
await shot('audit-logs');
await page.getByLabel('Action').selectOption('Added');
await page.getByRole('button', { name: 'Filter' }).click();
const added = await page.locator('#audit tbody tr').allInnerTexts();
assert.ok(added.length >= 2);
assert.ok(added.every((r) => /\tAdded\t/.test(r)), added.join('\n'));
const exportHref = await page.locator('#export').getAttribute('href');
assert.match(exportHref, /action=Added/);
const csv = await context.request.get(`${BASE}${exportHref}`);
assert.equal(csv.status(), 200);
assert.match(csv.headers()['content-type'], /text\/csv/);
out.csv = await csv.text();
await shot('audit-logs-filtered');

// The Access explorer: may ann see the organization, and why; as of a
// moment before she was added; who may read the audit log.
await page.getByRole('link', { name: 'Access explorer' }).click();
assert.equal(await page.title(), 'Access explorer · rolebook');
await page.locator('#user').fill('ann');
await page.locator('#permission').selectOption('organization.view');
await page.getByRole('button', { name: 'Check' }).click();
assert.match(await page.locator('#verdict').innerText(), /ann may organization\.view/);
assert.match(await page.locator('#sources').innerText(), /Member\s+direct/);
await shot('access-explorer');
await page.locator('#user').fill('admin');
await page.locator('#as_of').fill(beforeAnn);
await page.getByRole('button', { name: 'Check' }).click();
assert.match(await page.locator('#verdict').innerText(), /admin may organization\.view as of/);
await page.locator('#user').fill('ann');
await page.getByRole('button', { name: 'Check' }).click();
assert.match(await page.getByRole('alert').innerText(), /ann/);
await page.locator('#who_can').selectOption('organization.audit_logs.view');
await page.getByRole('button', { name: 'List' }).click();
const holders = await page.locator('#holders tbody').innerText();
assert.match(holders, /admin/);
assert.doesNotMatch(holders, /ann|bob/);
await shot('access-who-can');
await page.locator('#effective_of').fill('ann');
await page.getByRole('button', { name: 'Show' }).click();
const effective = await page.locator('#effective tbody').innerText();
assert.match(effective, /organization\.view\tMember \(direct\)/);
assert.doesNotMatch(effective, /organization\.audit_logs\.view/);

// A form posted without its CSRF token (as another site would): refused.
const forged = await context.request.post(`${BASE}/orgs/default/people`, {
  form: { emails: 'mallory@example.com', csrf: 'forged' },
});
assert.equal(forged.status(), 403);
assert.match(await forged.text(), /csrf_failed/);

// Another organization's page with this session: refused.
const other = await page.goto(`${BASE}/orgs/${OTHER_ORG}/people`);
assert.equal(other.status(), 403);
assert.match(await page.locator('main').innerText(), /not_this_organization/);
await shot('other-organization');

// The CSP of a page: no script at all.
const people = await page.goto(`${BASE}/orgs/default/people`);
const csp = people.headers()['content-security-policy'];
assert.match(csp, /default-src 'none'/);
assert.doesNotMatch(csp, /script-src/);

// Sign out: the session stops working.
await page.getByRole('button', { name: 'Sign out' }).click();
await page.waitForURL(/\/login\?org=default$/);
const after = await page.goto(`${BASE}/orgs/default/people`);
assert.match(page.url(), /\/login\?org=default$/, `after sign-out: ${after.status()}`);

// A Member has neither People nor Audit Logs: no links, and the pages
// refuse.
await signIn('ann@example.com', out.ann_temporary, PASSWORD);
assert.equal(page.url(), `${BASE}/orgs/default/people`);
assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Not allowed');
assert.equal(await page.getByRole('link', { name: 'Audit Logs' }).count(), 0);
const audit = await page.goto(`${BASE}/orgs/default/audit-logs`);
assert.equal(audit.status(), 403);
assert.match(await page.locator('main').innerText(), /organization\.audit_logs\.view/);
await shot('refused');

await browser.close();
process.stdout.write(`${JSON.stringify(out)}\n`);

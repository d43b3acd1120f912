// The console in a real browser: sign-in per role, the landing page's
// filters, fields, marking with confirmation, CSV, follow-up actions, retry,
// re-enable, escaping, vendor scoping, cookie flags. Screenshots of the main
// pages go to artifacts/screenshots/.
const { test, expect } = require('@playwright/test');
const fs = require('fs');
const path = require('path');

const seed = JSON.parse(fs.readFileSync(path.join(__dirname, 'artifacts', 'seed.json'), 'utf8'));
const shots = path.join(__dirname, 'artifacts', 'screenshots');
fs.mkdirSync(shots, { recursive: true });

const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
const row = (page, id) => page.locator(`tr[data-id="${id}"]`);
const heading = (page, name) => page.getByRole('heading', { level: 1, name, exact: true });

async function signIn(page, key) {
  await page.goto('/');
  await expect(page).toHaveURL(/\/console\/sign-in$/);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(heading(page, 'Failed Integration Events')).toBeVisible();
}

async function confirm(page, button, text, answer) {
  await page.getByRole('button', { name: button, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText(text);
  await dialog.getByRole('button', { name: answer, exact: true }).click();
  await expect(dialog).toBeHidden();
}

test.beforeEach(async ({ page }) => {
  // No page may ever open a dialog of the browser's own (alert, confirm).
  page.on('dialog', (d) => {
    throw new Error(`a browser dialog opened: ${d.message()}`);
  });
});

test('an admin signs in, sees the twelve default columns and the API keys entry, and signs out', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  const headings = await page.locator('thead th').allInnerTexts();
  expect(headings.slice(1)).toEqual([
    'Creation Date', 'Application Id', 'Importable Application Uuid', 'Application Name', 'User Id',
    'User email', 'Company Id', 'Company Name', 'Event Type', 'Error Code', 'Message', 'Manually Resolved',
  ]);
  await expect(page.getByRole('link', { name: 'API keys' })).toBeVisible();
  await expect(page.locator('tbody')).toContainText('NOT ACTIONED');
  await shot(page, 'failed-integration-events');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/console\/sign-in$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/console\/sign-in$/);
});

test('a manager and a vendor sign in without the API keys entry; the marketplace and an unknown key are refused', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  await expect(page.getByRole('link', { name: 'API keys' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, seed.keys.vendorA);
  await expect(page.getByText('Signed in as vendor demo-vendor')).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').fill(seed.keys.marketplace);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('The marketplace role has no console')).toBeVisible();
  await page.getByLabel('API key').fill('iev_not_a_key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('That key is not known')).toBeVisible();
});

test('signing in works with the keyboard alone', async ({ page }) => {
  await page.goto('/console/sign-in');
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement && document.activeElement.id === 'api_key')) break;
  }
  await page.keyboard.type(seed.keys.manager);
  await page.keyboard.press('Enter');
  await expect(heading(page, 'Failed Integration Events')).toBeVisible();
});

test('the session cookie is HttpOnly, SameSite=Strict, ends after 12 hours idle, and the key is nowhere in the browser', async ({ page, context }) => {
  await signIn(page, seed.keys.manager);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'iev_session');
  expect(session).toBeTruthy();
  expect(session.httpOnly).toBe(true);
  expect(session.sameSite).toBe('Strict');
  expect(session.secure).toBe(false); // the runner is on http here; https sets Secure
  const hours = (session.expires - Date.now() / 1000) / 3600;
  expect(hours).toBeGreaterThan(11.9);
  expect(hours).toBeLessThanOrEqual(12.01);
  for (const c of cookies) expect(c.value).not.toContain(seed.keys.manager);
  expect(await page.content()).not.toContain(seed.keys.manager);
  expect(page.url()).not.toContain(seed.keys.manager);
  const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
  expect(stored).not.toContain(seed.keys.manager);
  expect(await page.evaluate(() => document.cookie)).not.toContain('iev_session');
});

test('every page answers with a CSP without inline scripts that forbids framing', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  for (const route of ['/', `/console/failures/${seed.failures.mapping}`, '/console/events', '/console/overview']) {
    const response = await page.goto(route);
    const csp = response.headers()['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
  }
});

test('filters are applied with Apply and kept in the URL', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  await page.getByLabel('Error code', { exact: true }).selectOption('CONFIGURATION_ERROR');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/errorCode=CONFIGURATION_ERROR/);
  await expect(row(page, seed.failures.configuration)).toBeVisible();
  await expect(row(page, seed.failures.mapping)).toHaveCount(0);
  await page.reload();
  await expect(page.getByLabel('Error code', { exact: true })).toHaveValue('CONFIGURATION_ERROR');
  await expect(row(page, seed.failures.configuration)).toBeVisible();
  await page.goto('/?companyId=c-xss&applicationId=demo-app');
  await expect(page.getByLabel('Company', { exact: true })).toHaveValue('c-xss');
  await expect(page.locator('tbody tr')).toHaveCount(1);
});

test('a failure message holding HTML shows as text and runs nothing', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  await page.goto('/?companyId=c-xss');
  await expect(page.locator('tbody')).toContainText('<img src=x onerror=alert(1)> Closed');
  await expect(page.locator('img')).toHaveCount(0);
  await page.goto(`/console/failures/${seed.failures.xss}`);
  await expect(page.locator('main')).toContainText('<img src=x onerror=alert(1)>');
  await expect(page.locator('img')).toHaveCount(0);
});

test('choosing fields adds a custom attribute column, and the choice persists', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  await page.getByText('Choose fields').click();
  await page.getByLabel('ticket (custom attribute)').check();
  await page.getByLabel('category', { exact: true }).check();
  await page.getByRole('button', { name: 'Save fields' }).click();
  await expect(page.locator('thead th', { hasText: 'ticket' })).toBeVisible();
  await expect(row(page, seed.failures.authentication)).toContainText('T-42');
  await page.goto('/');
  await expect(page.locator('thead th', { hasText: 'ticket' })).toBeVisible();
  await expect(page.locator('thead th', { hasText: 'category' })).toBeVisible();
  await page.getByText('Choose fields').click();
  await page.getByRole('button', { name: 'Default fields' }).click();
  await expect(page.locator('thead th', { hasText: 'ticket' })).toHaveCount(0);
});

test('marking one row asks first; Cancel keeps it, Yes actions it; the switch shows it again; it can be marked not actioned', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  await page.goto('/?companyId=c-single');
  const id = seed.failures.single;
  await row(page, id).getByRole('checkbox').check();
  await confirm(page, 'Mark as actioned', 'Mark 1 event as actioned?', 'Cancel');
  await expect(row(page, id)).toBeVisible();
  await confirm(page, 'Mark as actioned', 'Mark 1 event as actioned?', 'Yes');
  await expect(page.getByRole('status').filter({ hasText: '1 marked as actioned.' })).toBeVisible();
  await expect(row(page, id)).toHaveCount(0);
  await page.getByRole('switch', { name: 'Include actioned events' }).check();
  await expect(page).toHaveURL(/resolved=all/);
  await expect(row(page, id)).toContainText('ACTIONED');
  await expect(row(page, id)).not.toContainText('NOT ACTIONED');
  await row(page, id).getByRole('checkbox').check();
  await confirm(page, 'Mark as not actioned', 'Mark 1 event as not actioned?', 'Yes');
  await expect(page.getByRole('status').filter({ hasText: '1 marked as not actioned.' })).toBeVisible();
  await expect(row(page, id)).toContainText('NOT ACTIONED');
});

test('marking several rows actions them all after Yes', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  await page.goto('/?companyId=c-bulk');
  await expect(page.locator('tbody tr')).toHaveCount(3);
  await page.getByLabel('Select every row').check();
  await confirm(page, 'Mark as actioned', 'Mark 3 events as actioned?', 'Yes');
  await expect(page.getByRole('status').filter({ hasText: '3 marked as actioned.' })).toBeVisible();
  await expect(page.locator('tbody')).toContainText('No failures match.');
});

test('Download CSV writes the current filters and fields through the API CSV', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  await page.goto('/?applicationId=app-b');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download CSV' }).click(),
  ]);
  const text = fs.readFileSync(await download.path(), 'utf8');
  const lines = text.trim().split('\n');
  expect(lines[0]).toBe('Creation Date,Application Id,Importable Application Uuid,Application Name,User Id,User email,Company Id,Company Name,Event Type,Error Code,Message,Manually Resolved');
  expect(lines.length).toBe(2);
  expect(lines[1]).toContain('app-b');
  expect(lines[1]).toContain('CONFIGURATION_ERROR');
});

test('View run lands on the event\'s attempts, and Retry delivery delivers it again', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  await page.goto(`/console/failures/${seed.failures.configuration}`);
  await expect(heading(page, 'Failed Integration Event')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'History' })).toBeVisible();
  await shot(page, 'failure');
  await page.getByRole('link', { name: 'View run' }).click();
  await expect(heading(page, 'Event')).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`/console/events/${seed.events.configuration}$`));
  const attempts = page.locator('section', { has: page.getByRole('heading', { name: 'Delivery attempts' }) }).locator('tbody tr');
  await expect(attempts.first()).toContainText('CONFIGURATION_ERROR');
  const before = await attempts.count();
  await page.getByRole('button', { name: 'Retry delivery' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Queued for one more delivery.' })).toBeVisible();
  await expect.poll(async () => {
    await page.reload();
    return attempts.count();
  }).toBeGreaterThan(before);
  await shot(page, 'event');
});

test('Add mapping lands on the integration page, which says what the vendor must do', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  await page.goto(`/console/failures/${seed.failures.mapping}`);
  await page.getByRole('link', { name: 'Add mapping' }).click();
  await expect(page).toHaveURL(/\/console\/integrations\/demo-app\?failure=.*#account-mapping$/);
  const section = page.locator('#account-mapping');
  await expect(section).toContainText('What the vendor must do');
  await expect(section).toContainText('Closed Shop');
  await expect(section).toContainText('ACCOUNT_NOT_FOUND');
});

test('Configure authorization shows the consumer key and takes a new secret, never showing the old one', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  await page.goto(`/console/failures/${seed.failures.authentication}`);
  await page.getByRole('link', { name: 'Configure authorization' }).click();
  await expect(page).toHaveURL(/\/console\/integrations\/demo-app#authorization$/);
  await expect(page.getByLabel('OAuth consumer key')).not.toHaveValue('');
  await page.goto('/console/integrations/app-b');
  await expect(page.getByLabel('OAuth consumer key')).toHaveValue('Vendor B Books-consumer-key');
  expect(await page.content()).not.toContain('Vendor B Books-old-secret');
  await page.getByLabel('New consumer secret').fill('a-new-secret');
  await page.getByRole('button', { name: 'Save authorization' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Authorization saved' })).toBeVisible();
  expect(await page.content()).not.toContain('a-new-secret');
  await shot(page, 'integration');
});

test('Re-enable lands on the disabled integration and re-enables it, redelivering what failed', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  await page.goto(`/console/failures/${seed.failures.refused}`);
  await page.getByRole('link', { name: 'Re-enable' }).click();
  await expect(page).toHaveURL(/\/console\/integrations\/app-c#enable$/);
  await expect(page.locator('main dl')).toContainText('Disabled');
  await page.getByLabel('Also redeliver the events that failed while it was disabled').check();
  await page.getByRole('button', { name: 'Re-enable', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: /Re-enabled; 1 event\(s\) queued/ })).toBeVisible();
  await expect(page.locator('main dl')).toContainText('Enabled');
});

test('a vendor sees only its own rows, and another vendor\'s record answers like a made-up one', async ({ page }) => {
  await signIn(page, seed.keys.vendorB);
  await page.goto('/?resolved=all');
  const ids = await page.locator('tbody tr[data-id]').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  expect(ids.length).toBeGreaterThan(0);
  expect(ids).toContain(seed.failures.configuration);
  expect(ids).not.toContain(seed.failures.mapping);
  await expect(page.locator('tbody')).not.toContainText('demo-app');
  const foreign = await page.goto(`/console/failures/${seed.failures.mapping}`);
  const foreignText = await page.locator('main').innerText();
  const madeUp = await page.goto('/console/failures/no-such-record.1');
  const madeUpText = await page.locator('main').innerText();
  expect(foreign.status()).toBe(404);
  expect(madeUp.status()).toBe(404);
  expect(foreignText).toBe(madeUpText);
  expect((await page.goto(`/console/events/${seed.events.mapping}`)).status()).toBe(404);
  expect((await page.goto('/console/integrations/demo-app')).status()).toBe(404);
  await page.goto('/console/events');
  await expect(page.locator('tbody')).not.toContainText('demo-app');
});

test('the events log filters by status, and the overview draws failures per day', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  await page.getByRole('link', { name: 'Events', exact: true }).click();
  await expect(heading(page, 'Events')).toBeVisible();
  await page.getByLabel('Status', { exact: true }).selectOption('COMPLETE');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/status=COMPLETE/);
  await expect(page.getByRole('link', { name: seed.events.delivered })).toBeVisible();
  await expect(page.locator('tbody')).not.toContainText('FAILED');
  await shot(page, 'events');
  await page.getByRole('link', { name: 'Overview' }).click();
  await expect(heading(page, 'Overview')).toBeVisible();
  await expect(page.getByRole('img', { name: 'Failures per day' })).toBeVisible();
  await expect(page.locator('table.heat')).toContainText('demo-app');
  await shot(page, 'overview');
});

test('the landing page reads at a phone\'s width', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, seed.keys.admin);
  await expect(page.getByRole('button', { name: 'Apply' })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(1);
  await shot(page, 'failed-integration-events-phone');
});

test('Integrations lists each integration with its state, scoped for a vendor', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  await page.getByRole('link', { name: 'Integrations', exact: true }).click();
  await expect(heading(page, 'Integrations')).toBeVisible();
  const rows = page.locator('tbody tr[data-application]');
  await expect(page.locator('tr[data-application="demo-app"]')).toContainText('Enabled');
  await expect(page.locator('tr[data-application="app-b"]')).toBeVisible();
  await page.getByLabel('State').selectOption('true');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/enabled=true/);
  await expect(rows.filter({ hasText: 'Disabled' })).toHaveCount(0);
  await shot(page, 'integrations');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, seed.keys.vendorB);
  await page.goto('/console/integrations');
  await expect(page.locator('tr[data-application="app-b"]')).toBeVisible();
  await expect(page.locator('tr[data-application="demo-app"]')).toHaveCount(0);
});

test('an admin creates a key, sees it once, and revokes it; the revoked key cannot sign in', async ({ page }) => {
  await signIn(page, seed.keys.admin);
  await page.getByRole('link', { name: 'API keys' }).click();
  await expect(heading(page, 'API keys')).toBeVisible();
  await page.getByLabel('Role').selectOption('vendor');
  await page.getByLabel('Vendor id (vendor keys only)').fill('vendor-new');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.locator('#created-key').innerText()).trim();
  expect(key).toMatch(/^iev_/);
  const id = (await page.locator('section[role=status] p.muted').innerText()).replace('Its id: ', '').trim();
  await shot(page, 'api-keys');
  await page.goto('/console/api-keys');
  expect(await page.content()).not.toContain(key);
  const keyRow = page.locator(`tr[data-key="${id}"]`);
  await expect(keyRow).toContainText('vendor-new');
  await keyRow.getByRole('button', { name: `Revoke key ${id}` }).click();
  await expect(page.getByRole('dialog')).toContainText(`Revoke key ${id}?`);
  await page.getByRole('dialog').getByRole('button', { name: 'Yes' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Key ${id} revoked.` })).toBeVisible();
  await expect(keyRow).toHaveCount(0);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('That key is not known')).toBeVisible();
});

test('a manager has no API keys page', async ({ page }) => {
  await signIn(page, seed.keys.manager);
  const response = await page.goto('/console/api-keys');
  expect(response.status()).toBe(403);
});

// Seeds the runner through its JSON API before the browser tests: keys for
// each role, two vendors' integrations, and failures the runner records
// itself (the demo vendor's answers, a missing endpoint, a disabled
// integration) or that another system reports (POST /api/integration_errors).
// Writes what the tests need to artifacts/seed.json.
const fs = require('fs');
const path = require('path');

const base = process.env.IEV_CONSOLE_URL || 'http://127.0.0.1:8080';
const admin = process.env.IEV_ADMIN_KEY;

async function call(method, route, body, key = admin) {
  const response = await fetch(base + route, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) {
    throw new Error(`${method} ${route} answered ${response.status}: ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

const marketplace = { partner: 'ACME', baseUrl: 'https://marketplace.example' };

function order(applicationId, companyName, companyId, email) {
  return {
    applicationId, type: 'SUBSCRIPTION_ORDER', marketplace,
    creator: { uuid: 'u-' + companyId, email },
    payload: { company: { uuid: companyId, name: companyName }, order: { editionCode: 'BASIC' } },
  };
}

function cancel(applicationId, account) {
  return {
    applicationId, type: 'SUBSCRIPTION_CANCEL', marketplace,
    creator: { uuid: 'u-cancel', email: 'carol@vendor-b.example' },
    payload: { account: { accountIdentifier: account } },
  };
}

async function settled(id) {
  for (let i = 0; i < 200; i++) {
    const event = await call('GET', `/v1/events/${id}`);
    if (event.status === 'COMPLETE' || event.status === 'FAILED') return event;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`event ${id} did not settle`);
}

async function send(event) {
  const accepted = await call('POST', '/v1/events', event);
  return settled(accepted.id);
}

module.exports = async () => {
  if (!admin) throw new Error('IEV_ADMIN_KEY is not set');
  const key = async (role, vendorId) => (await call('POST', '/v1/api-keys', vendorId ? { role, vendorId } : { role })).key;
  const keys = {
    admin,
    manager: await key('manager'),
    vendorA: await key('vendor', 'demo-vendor'),
    vendorB: await key('vendor', 'vendor-b'),
    marketplace: await key('marketplace'),
  };
  const settings = (name) => ({
    applicationName: name, vendorId: 'vendor-b',
    notificationUrls: { SUBSCRIPTION_ORDER: 'http://127.0.0.1:9/appdirect?eventUrl={eventUrl}' },
    oauth: { consumerKey: `${name}-consumer-key`, consumerSecret: `${name}-old-secret` },
  });
  await call('PUT', '/v1/integrations/app-b', settings('Vendor B Books'));
  await call('PUT', '/v1/integrations/app-c', settings('Vendor B Crates'));
  // Vendor B: no endpoint for cancellations (CONFIGURATION_ERROR, a perform error).
  const configuration = await send(cancel('app-b', 'acc-b-1'));
  // app-c is disabled after ten successive failures; the eleventh is refused.
  for (let n = 1; n <= 10; n++) await send(cancel('app-c', `acc-c-${n}`));
  const refused = await send(cancel('app-c', 'acc-c-11'));
  // Vendor A (the demo vendor behind demo-app): "Unknown" has no such user,
  // "Closed" has no account; the company's name is in the vendor's message.
  const mapping = await send(order('demo-app', 'Closed Shop', 'c-closed', 'ann@closed.example'));
  const xss = await send(order('demo-app', '<img src=x onerror=alert(1)> Closed', 'c-xss', 'eve@xss.example'));
  const bulk = [];
  for (const n of [1, 2, 3]) {
    bulk.push(await send(order('demo-app', `Unknown Bulk ${n}`, 'c-bulk', `bulk${n}@example.com`)));
  }
  const single = await send(order('demo-app', 'Unknown Single', 'c-single', 'single@example.com'));
  const delivered = await send(order('demo-app', 'Acme Corp', 'c-acme', 'ann@acme.example'));
  // Another system reports an authentication failure, with a custom attribute.
  const authentication = await call('POST', '/api/integration_errors', {
    applicationId: 'demo-app', errorCode: 'UNAUTHORIZED', message: 'The product refused the signature',
    eventType: 'SUBSCRIPTION_ORDER', companyId: 'c-auth', companyName: 'Auth Ltd',
    customAttributes: { ticket: 'T-42' },
  });
  const errors = (await call('GET', '/api/integration_errors?resolved=all&limit=100&fields=id,eventId,companyId,applicationId,errorCode,category')).items;
  const of = (event) => errors.find((r) => r.eventId === event.id);
  const seed = {
    keys,
    events: { configuration: configuration.id, refused: refused.id, mapping: mapping.id, delivered: delivered.id },
    failures: {
      configuration: of(configuration).id,
      refused: of(refused).id,
      mapping: of(mapping).id,
      xss: of(xss).id,
      bulk: bulk.map((e) => of(e).id),
      single: of(single).id,
      authentication: authentication.id,
    },
  };
  fs.mkdirSync(path.join(__dirname, 'artifacts'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'artifacts', 'seed.json'), JSON.stringify(seed, null, 2));
};

// Drives every method of the official JS SDK's BillingClient (threatwinds/js-sdk,
// src/billing/billing-client.ts) against a running server and reports every field or
// status that differs from what the SDK's types (src/billing/billing-types.ts) and doc
// comments expect. Started by run.sh, which builds the SDK and the server and passes:
//
//   SDK_CHECK_SDK_DIR       the SDK's checkout, built (dist/index.mjs)
//   SDK_CHECK_BASE_URL      the server, e.g. http://127.0.0.1:8123
//   SDK_CHECK_{OWNER,MEMBER,ADMIN,SERVICE}_TOKEN, SDK_CHECK_{OWNER,MEMBER}_{ID,EMAIL}
//   SDK_CHECK_STRICT_EXTRA=1  fields the types do not declare are differences, not notes
//
// Exit status: 0 no difference, 1 differences found, 2 the check itself failed.

import { pathToFileURL } from 'node:url';
import path from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`driver: ${name} is not set (run scripts/sdk-check/run.sh)`);
    process.exit(2);
  }
  return value;
};

const SDK_DIR = env('SDK_CHECK_SDK_DIR');
const BASE_URL = env('SDK_CHECK_BASE_URL');
const OWNER_ID = env('SDK_CHECK_OWNER_ID');
const MEMBER_ID = env('SDK_CHECK_MEMBER_ID');
const MEMBER_EMAIL = env('SDK_CHECK_MEMBER_EMAIL');
const STRICT_EXTRA = process.env.SDK_CHECK_STRICT_EXTRA === '1';

const sdk = await import(pathToFileURL(path.join(SDK_DIR, 'dist', 'index.mjs')).href);
const { ThreatWindsClient, BillingClient, APIError } = sdk;

// ---------------------------------------------------------------------------------------
// The SDK's declared interfaces (billing-types.ts), written out as checkable shapes.
// ---------------------------------------------------------------------------------------

const str = { kind: 'string' };
const num = { kind: 'number' };
const bool = { kind: 'boolean' };
const oneOf = (...values) => ({ kind: 'enum', values });
const opt = (type) => ({ ...type, optional: true });
const arr = (of) => ({ kind: 'array', of });
const rec = (of) => ({ kind: 'record', of });
const iface = (name, fields) => ({ kind: 'object', name, fields });

const Customer = iface('Customer', { id: str, gcid: opt(str) });
const CreateCustomerResponse = iface('CreateCustomerResponse', { message: str });
const CustomerRole = oneOf('owner', 'admin', 'user');
const CustomerMember = iface('CustomerMember', { roleID: str, userID: str, role: CustomerRole });
const CustomerMembersPage = iface('CustomerMembersPage', {
  members: arr(CustomerMember),
  pages: num,
  items: num,
});
const CustomerTier = iface('CustomerTier', {
  customerId: str,
  tierId: str,
  tierName: str,
  description: str,
  isActive: bool,
  subscriptionStatus: str,
  stacks: num,
  trialUsed: bool,
});
const UpgradeToProResponse = iface('UpgradeToProResponse', { checkoutURL: str });
const CustomerPortalSession = iface('CustomerPortalSession', { url: str });
const LimitDefinition = iface('LimitDefinition', { value: num, window: str, description: str });
const TierLimits = iface('TierLimits', {
  customerId: str,
  tierName: str,
  limits: rec(rec(LimitDefinition)),
});
const ServiceLimits = iface('ServiceLimits', {
  customerId: str,
  tierName: str,
  serviceName: str,
  limits: rec(LimitDefinition),
});
const FeatureUsage = iface('FeatureUsage', {
  featureKey: str,
  currentUsage: num,
  limit: num,
  remaining: num,
  tierName: opt(str),
  window: opt(str),
  description: opt(str),
  resetAt: opt(num),
  isLocked: opt(bool),
  identifier: opt(str),
  identifierType: opt(str),
});
const ServiceUsage = iface('ServiceUsage', { serviceName: str, features: arr(FeatureUsage) });
const UsageReport = iface('UsageReport', {
  identifier: str,
  identifierType: str,
  services: rec(ServiceUsage),
  totalFeatures: num,
  fetchedAt: num,
});
const QuotaReport = iface('QuotaReport', {
  customerId: str,
  services: rec(ServiceUsage),
  totalFeatures: num,
  fetchedAt: opt(num),
});

// ---------------------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------------------

const differences = [];
const notes = [];
let checks = 0;

// Differences known and accepted: printed as notes, never failures.
const ACCEPTED = [
  {
    // The SDK's comment on createCustomer says 412; the seed documents 400.
    match: (d) => d.kind === 'status' && d.expected === 412 && d.status === 400 && d.code === 'ALREADY_IN_CUSTOMER',
    why: 'the seed documents 400 ALREADY_IN_CUSTOMER where the SDK comment says 412',
  },
  {
    // No Stripe customer yet: the server says so with null; the SDK declares `gcid?: string`.
    match: (d) => d.kind === 'field' && d.type === 'Customer' && d.field === 'gcid' && d.actual === null,
    why: 'gcid is null before a Stripe customer exists (SDK: gcid?: string)',
  },
];

function difference(call, d) {
  const accepted = ACCEPTED.find((a) => a.match(d));
  if (accepted) {
    notes.push(`${call}: ${d.text} (accepted: ${accepted.why})`);
    console.log(`  note  ${d.text} (accepted)`);
  } else {
    differences.push(`${call}: ${d.text}`);
    console.log(`  DIFF  ${d.text}`);
  }
}

/** "call: text" entries, one line per text with the calls where it was seen. */
function group(entries) {
  const calls = new Map();
  for (const entry of entries) {
    const at = entry.indexOf(': ');
    const [label, text] = at < 0 ? ['', entry] : [entry.slice(0, at), entry.slice(at + 2)];
    if (!calls.has(text)) calls.set(text, []);
    if (label) calls.get(text).push(label);
  }
  return [...calls].map(([text, labels]) => (labels.length ? `${text} — ${labels.join('; ')}` : text));
}

function note(call, text) {
  notes.push(`${call}: ${text}`);
  console.log(`  note  ${text}`);
}

const show = (v) => (v === undefined ? 'absent' : JSON.stringify(v)?.slice(0, 80));
const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Compares `value` with a declared shape; reports each difference once per field path. */
function checkShape(call, value, type, where, seen, decl = type.name ?? where) {
  checks += 1;
  const expected = type.kind === 'enum' ? type.values.map((v) => JSON.stringify(v)).join(' | ') : type.kind;
  const key = `${decl}:${typeOf(value)}`;
  switch (type.kind) {
    case 'string':
    case 'number':
    case 'boolean':
      if (typeof value !== type.kind || (type.kind === 'number' && !Number.isFinite(value))) {
        report(call, seen, key, `${decl} is ${typeOf(value)} ${show(value)}, declared ${expected} (at ${where})`);
      }
      return;
    case 'enum':
      if (!type.values.includes(value)) {
        report(call, seen, key, `${decl} is ${show(value)}, declared ${expected} (at ${where})`);
      }
      return;
    case 'array':
      if (!Array.isArray(value)) {
        report(call, seen, key, `${decl} is ${typeOf(value)}, declared an array (at ${where})`);
        return;
      }
      value.forEach((item, i) => checkShape(call, item, type.of, `${where}[${i}]`, seen, type.of.name ?? `${decl}[]`));
      return;
    case 'record':
      if (typeOf(value) !== 'object') {
        report(call, seen, key, `${decl} is ${typeOf(value)}, declared an object keyed by name (at ${where})`);
        return;
      }
      for (const [name, item] of Object.entries(value)) checkShape(call, item, type.of, `${where}.${name}`, seen, type.of.name ?? `${decl}{}`);
      return;
    case 'object': {
      if (typeOf(value) !== 'object') {
        report(call, seen, key, `${decl} is ${typeOf(value)} ${show(value)}, declared ${type.name} (at ${where})`);
        return;
      }
      for (const [field, ftype] of Object.entries(type.fields)) {
        const fwhere = `${where}.${field}`;
        if (!(field in value)) {
          if (!ftype.optional) {
            report(call, seen, `${type.name}.${field}:missing`,
              `${type.name}.${field} is missing (declared ${ftype.kind === 'enum' ? 'a role' : ftype.kind})` +
                (fwhere === `${type.name}.${field}` ? '' : ` at ${fwhere}`),
              { kind: 'field', type: type.name, field, actual: undefined });
          }
          continue;
        }
        if (value[field] === null && ftype.kind !== 'object') {
          report(call, seen, `${type.name}.${field}:null`,
            `${type.name}.${field} is null, declared ${ftype.optional ? `${ftype.kind} or absent` : ftype.kind}` +
              (fwhere === `${type.name}.${field}` ? '' : ` at ${fwhere}`),
            { kind: 'field', type: type.name, field, actual: null });
          continue;
        }
        checkShape(call, value[field], ftype, fwhere, seen, `${type.name}.${field}`);
      }
      const extra = Object.keys(value).filter((k) => !(k in type.fields));
      if (extra.length) {
        const extraKey = `${type.name}:extra`;
        if (!seen.has(extraKey)) {
          seen.add(extraKey);
          const text = `${type.name} has fields the SDK does not declare: ${extra.join(', ')}`;
          if (STRICT_EXTRA) difference(call, { kind: 'extra', text });
          else note(call, text);
        }
      }
      return;
    }
    default:
      throw new Error(`unknown shape ${type.kind} at ${where}`);
  }
}

function report(call, seen, key, text, extra = {}) {
  // One line per declared field, not one per array element or record entry.
  if (seen.has(key)) return;
  seen.add(key);
  difference(call, { kind: 'field', text, ...extra });
}

// ---------------------------------------------------------------------------------------
// HTTP log: every request the SDK sends, so retries and statuses are visible.
// ---------------------------------------------------------------------------------------

const exchanges = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const response = await realFetch(url, init);
  const exchange = { method: init.method ?? 'GET', path: new URL(url).pathname, status: response.status, code: '' };
  if (response.status >= 400) {
    // The SDK keeps no parsed error body for 401/403 (AuthError), and for other statuses
    // its JSON.parse branch rethrows into the string branch: read the code here.
    try {
      exchange.code = JSON.parse(await response.clone().text())?.error?.code ?? '';
    } catch {
      exchange.code = '';
    }
  }
  exchanges.push(exchange);
  return response;
};

// ---------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------

function billing(bearer) {
  // As the SDK is meant to be used: a ThreatWindsClient holding base URL and credential,
  // and the billing sub-client on top of it.
  const client = new ThreatWindsClient(bearer ? { baseUrl: BASE_URL, bearer } : { baseUrl: BASE_URL });
  return new BillingClient(client);
}

const owner = billing(env('SDK_CHECK_OWNER_TOKEN'));
const member = billing(env('SDK_CHECK_MEMBER_TOKEN'));
const admin = billing(env('SDK_CHECK_ADMIN_TOKEN'));
const anonymous = billing(null);

/**
 * Runs one SDK call. `expect` is either `{ shape }` (success, checked against the shape,
 * optionally `check(result)` for what the comments promise) or `{ status, code? }` for an
 * expected failure; `stripe: true` marks a payments endpoint, where a server without
 * Stripe answering 501 STRIPE_NOT_CONFIGURED is the expected outcome.
 */
async function call(label, fn, expect) {
  console.log(`- ${label}`);
  const first = exchanges.length;
  let result;
  let error;
  try {
    result = await fn();
  } catch (err) {
    error = err;
  }
  const sent = exchanges.slice(first);
  if (sent.length > 1) {
    const statuses = sent.map((e) => e.status).join(', ');
    difference(label, {
      kind: 'retry',
      text: `the SDK sent ${sent[0].method} ${sent[0].path} ${sent.length} times (statuses ${statuses}): it retries ${sent[0].status}`,
    });
  }
  const status = sent.length ? sent[sent.length - 1].status : undefined;
  const code = sent.length ? sent[sent.length - 1].code : '';

  if (error && !(error instanceof APIError)) {
    difference(label, { kind: 'error', text: `the SDK threw ${error.name}: ${error.message}` });
    return undefined;
  }
  if (error) {
    if (!error.errorId) {
      difference(label, { kind: 'header', text: `error ${error.statusCode} carries no X-Error-Id (SDK's errorId is empty)` });
    }
    if (expect.stripe && error.statusCode === 501 && code === 'STRIPE_NOT_CONFIGURED') {
      console.log(`  ok    501 STRIPE_NOT_CONFIGURED (no Stripe on this server; the SDK does not retry it)`);
      return undefined;
    }
    if (expect.status === error.statusCode && (!expect.code || expect.code === code)) {
      console.log(`  ok    ${error.statusCode} ${code}`);
      return undefined;
    }
    const want = expect.status ? `${expect.status}${expect.code ? ` ${expect.code}` : ''}` : 'success';
    const also = expect.stripe && !expect.status ? ' (or 501 STRIPE_NOT_CONFIGURED without Stripe)' : '';
    difference(label, {
      kind: 'status',
      expected: expect.status,
      status: error.statusCode,
      code,
      text: `answered ${error.statusCode} ${code || '(no code)'}, the SDK expects ${want}${also}`,
    });
    return undefined;
  }
  if (expect.status) {
    difference(label, {
      kind: 'status',
      expected: expect.status,
      status,
      text: `answered ${status} ${show(result)}, the SDK expects ${expect.status}${expect.code ? ` ${expect.code}` : ''}`,
    });
    return result;
  }
  if (expect.stripe && status !== undefined) {
    note(label, `answered ${status}: this server has payments configured`);
  }
  const before = differences.length;
  if (expect.shape) checkShape(label, result, expect.shape, expect.shape.name ?? 'response', new Set());
  if (expect.check) {
    for (const problem of expect.check(result) ?? []) difference(label, { kind: 'value', text: problem });
  }
  if (differences.length === before) console.log(`  ok    ${status}${expect.shape ? ` ${expect.shape.name}` : ''}`);
  return result;
}

const membersBy = (page) => Object.fromEntries((page?.members ?? []).map((m) => [m.userID, m.role]));

async function consumeAsService(customerId) {
  // Not an SDK method: a metered service's call, so that usage has something to show.
  const response = await realFetch(`${BASE_URL}/api/billing/v1/limits/consume`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${env('SDK_CHECK_SERVICE_TOKEN')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ serviceName: 'ai-api', featureKey: 'chat_completions_per_minute', customerId, userId: OWNER_ID }),
  });
  if (!response.ok) note('consume (service, not an SDK call)', `answered ${response.status}; usage will show no consumption`);
}

async function main() {
  console.log(`SDK ${process.env.SDK_CHECK_SDK_COMMIT ?? ''} against ${BASE_URL}\n`);

  await call('getCustomer (owner, before creating one)', () => owner.getCustomer(), {
    check: (r) => (r === null ? [] : [`returned ${show(r)}, the SDK's comment promises null for a caller with no customer (a 404)`]),
  });
  await call('getCustomer (billing_admin on no team)', () => admin.getCustomer(), {
    check: (r) => (r === null ? [] : [`returned ${show(r)}, the SDK's comment promises null for a caller with no customer (a 404)`]),
  });

  const request = {
    name: 'SDK Check Corp',
    email: 'billing@sdk-check.example',
    billingAddress: { street: '1 Main St', city: 'Springfield', state: 'IL', postalCode: '62701', country: 'US' },
  };
  await call('createCustomer (owner)', () => owner.createCustomer(request), { shape: CreateCustomerResponse });
  await call('createCustomer (owner, again)', () => owner.createCustomer(request), { status: 412 });

  const customer = await call('getCustomer (owner)', () => owner.getCustomer(), {
    shape: Customer,
    check: (r) => (r === null ? ['returned null right after createCustomer'] : []),
  });
  const customerId = customer?.id;

  await call('getCustomerTier (owner)', () => owner.getCustomerTier(), {
    shape: CustomerTier,
    check: (r) => (customerId && r?.customerId !== customerId ? [`customerId ${show(r?.customerId)} is not the customer's id ${customerId}`] : []),
  });

  await call('listMembers (owner)', () => owner.listMembers(), {
    shape: CustomerMembersPage,
    check: (r) => {
      const roles = membersBy(r);
      const out = [];
      if (roles[OWNER_ID] !== 'owner') out.push(`the creator is listed as ${show(roles[OWNER_ID])}, expected "owner"`);
      if (typeof r?.items === 'number' && r.items < (r.members?.length ?? 0)) out.push(`items ${r.items} is fewer than the ${r.members.length} members listed`);
      return out;
    },
  });

  // AddMemberRequest carries only an e-mail: the member joins when that user signs in.
  await call('addMember (owner, {email})', () => owner.addMember({ email: MEMBER_EMAIL }), {});
  await call('getCustomer (added member)', () => member.getCustomer(), {
    shape: Customer,
    check: (r) => (r?.id === customerId ? [] : [`the member added by e-mail sees ${show(r)}, not customer ${customerId}`]),
  });
  await call('listMembers (owner, after addMember)', () => owner.listMembers(), {
    shape: CustomerMembersPage,
    check: (r) => (membersBy(r)[MEMBER_ID] === 'user' ? [] : [`the added member is listed as ${show(membersBy(r)[MEMBER_ID])}, expected "user"`]),
  });
  // "Owner and admin only, so a 403 here is itself the answer."
  await call('listMembers (member with role user)', () => member.listMembers(), { status: 403 });

  await call('getLimits (owner)', () => owner.getLimits(), {
    shape: TierLimits,
    check: (r) => (r && Object.keys(r.limits ?? {}).length === 0 ? ['limits is empty'] : []),
  });
  await call("getServiceLimits('ai-api') (owner)", () => owner.getServiceLimits('ai-api'), {
    shape: ServiceLimits,
    check: (r) => (r && r.serviceName !== 'ai-api' ? [`serviceName is ${show(r.serviceName)}`] : []),
  });

  if (customerId) await consumeAsService(customerId);
  const resetInSeconds = (r) => {
    const out = [];
    for (const service of Object.values(r?.services ?? {})) {
      for (const f of service.features ?? []) {
        if (typeof f.resetAt === 'number' && f.resetAt > 1e11) {
          out.push(`${service.serviceName}.${f.featureKey}.resetAt ${f.resetAt} is not in Unix seconds`);
          return out;
        }
      }
    }
    return out;
  };
  await call('getUsage (owner)', () => owner.getUsage(), {
    shape: UsageReport,
    check: (r) => [
      ...(r && r.identifierType !== 'user' ? [`identifierType is ${show(r.identifierType)}, the SDK says "user" for an authenticated caller`] : []),
      ...resetInSeconds(r),
    ],
  });
  await call('getIpUsage (anonymous)', () => anonymous.getIpUsage(), {
    shape: UsageReport,
    check: (r) => [
      ...(r && r.identifierType !== 'ip' ? [`identifierType is ${show(r.identifierType)}, the SDK says "ip" for anonymous`] : []),
      ...resetInSeconds(r),
    ],
  });
  await call('getQuotas (owner)', () => owner.getQuotas(), {
    shape: QuotaReport,
    check: (r) => (customerId && r?.customerId !== customerId ? [`customerId ${show(r?.customerId)} is not ${customerId}`] : []),
  });

  const upgrade = { successURL: 'https://app.example/billing/ok', cancelURL: 'https://app.example/billing/cancel' };
  await call('upgradeToPro (owner)', () => owner.upgradeToPro(upgrade), { shape: UpgradeToProResponse, stripe: true });
  await call('upgradeToPro (member, not owner)', () => member.upgradeToPro(upgrade), { status: 403 });
  await call('startCustomerPortal (owner)', () => owner.startCustomerPortal(), { shape: CustomerPortalSession, stripe: true });
  await call('startCustomerPortal (member, not owner)', () => member.startCustomerPortal(), { status: 403 });

  // TransferOwnershipRequest carries only an e-mail, of someone already on the team.
  await call('transferOwnership (owner, {email} of the member)', () => owner.transferOwnership({ email: MEMBER_EMAIL }), {});
  await call('listMembers (new owner)', () => member.listMembers(), {
    shape: CustomerMembersPage,
    check: (r) => {
      const roles = membersBy(r);
      const out = [];
      if (roles[MEMBER_ID] !== 'owner') out.push(`the new owner is listed as ${show(roles[MEMBER_ID])}`);
      if (roles[OWNER_ID] !== 'admin') out.push(`the former owner is listed as ${show(roles[OWNER_ID])}, expected "admin"`);
      return out;
    },
  });
  await call('startCustomerPortal (former owner, now admin)', () => owner.startCustomerPortal(), { status: 403 });
  await call('upgradeToPro (new owner)', () => member.upgradeToPro(upgrade), { shape: UpgradeToProResponse, stripe: true });

  const methods = Object.getOwnPropertyNames(BillingClient.prototype).filter((m) => m !== 'constructor');
  const driven = ['getCustomer', 'createCustomer', 'getCustomerTier', 'upgradeToPro', 'startCustomerPortal', 'listMembers',
    'getLimits', 'getServiceLimits', 'getUsage', 'getIpUsage', 'getQuotas', 'addMember', 'transferOwnership'];
  const untested = methods.filter((m) => !driven.includes(m));
  if (untested.length) {
    differences.push(`coverage: BillingClient has methods this check does not drive: ${untested.join(', ')} (extend driver.mjs)`);
  }

  console.log(`\n${checks} shape checks, ${exchanges.length} requests sent by the SDK.`);
  if (notes.length) {
    const grouped = group(notes);
    console.log(`\nNotes (${grouped.length}):`);
    for (const line of grouped) console.log(`  - ${line}`);
  }
  if (differences.length) {
    const grouped = group(differences);
    console.log(`\nDifferences from the SDK (${grouped.length}):`);
    for (const line of grouped) console.log(`  - ${line}`);
    process.exit(1);
  }
  console.log('\nNo difference from the SDK.');
}

main().catch((err) => {
  console.error('driver: the check failed to run:', err);
  process.exit(2);
});

// A real OpenID provider for the OIDC tests: panva's oidc-provider (pinned in
// package.json next to this file) on 127.0.0.1, issuer http://127.0.0.1:<port>.
//
//   node provider.mjs <port>
//
// Environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET  the one confidential client (client_secret_basic)
//   OIDC_REDIRECT_URIS                   space-separated redirect URIs of that client
//
// The client is registered as `application_type: native`, so a loopback
// redirect URI matches on any port (RFC 8252 section 7.3): registering
// http://127.0.0.1/auth/oidc/callback admits http://127.0.0.1:<any>/auth/oidc/callback.
//
// Logins go through the minimal interaction pages below (a login form, then a
// consent form): any non-empty password is accepted for a known account; an
// unknown account ends the login with error=access_denied to the client.
// Accounts: alice and bob, below. Their `groups` claim is released for the
// `groups` scope.
//
// Prints one line `ready <issuer>` on stdout once it listens.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number.parseInt(process.argv[2] ?? '', 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs <port>');
  process.exit(2);
}
const clientId = process.env.OIDC_CLIENT_ID;
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const redirectUris = (process.env.OIDC_REDIRECT_URIS ?? '').split(/\s+/u).filter(Boolean);
if (!clientId || !clientSecret || redirectUris.length === 0) {
  console.error('OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_REDIRECT_URIS are required');
  process.exit(2);
}

const ACCOUNTS = {
  alice: {
    name: 'Alice Example',
    preferred_username: 'alice',
    email: 'alice@example.org',
    email_verified: true,
    groups: ['team-a-devs', 'registry-admins'],
  },
  bob: {
    name: 'Bob Example',
    preferred_username: 'bob',
    email: 'bob@example.org',
    email_verified: true,
    groups: ['team-b'],
  },
};

async function findAccount(_ctx, id) {
  if (!Object.hasOwn(ACCOUNTS, id)) {
    return undefined;
  }
  return {
    accountId: id,
    async claims() {
      return { sub: id, ...ACCOUNTS[id] };
    },
  };
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      application_type: 'native',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  findAccount,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});

provider.on('server_error', (_ctx, error) => console.error('server_error', error));

// -- interaction pages ---------------------------------------------------------

const escape = (value) => String(value).replace(/[&<>"']/gu, (c) => `&#${c.charCodeAt(0)};`);

function page(res, uid, title, fields) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!DOCTYPE html><html><head><title>${escape(title)}</title></head><body>
<h1>${escape(title)}</h1>
<form method="post" action="/interaction/${escape(uid)}">${fields}
<button type="submit">${escape(title)}</button></form></body></html>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65536) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return page(res, uid, 'Sign in', `<input type="hidden" name="prompt" value="login">
<input type="text" name="login" required><input type="password" name="password" required>`);
    }
    return page(res, uid, 'Authorize', '<input type="hidden" name="prompt" value="consent">');
  }
  const form = await readForm(req);
  if (form.get('prompt') !== prompt.name) {
    res.writeHead(400).end('unexpected prompt');
    return undefined;
  }
  if (prompt.name === 'login') {
    const login = form.get('login') ?? '';
    const result = Object.hasOwn(ACCOUNTS, login) && form.get('password')
      ? { login: { accountId: login } }
      : { error: 'access_denied', error_description: 'unknown account or bad password' };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const result = { consent: { grantId: await grant.save() } };
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const handleOidc = provider.callback();
const server = createServer((req, res) => {
  if (req.url === '/favicon.ico') {
    // a browser asks for one on the provider's pages: no icon, and no 404 in its console
    res.writeHead(204).end();
    return;
  }
  if (!/^\/interaction\/[^/?]+(\?|$)/u.test(req.url)) {
    handleOidc(req, res);
    return;
  }
  interaction(req, res).catch((error) => {
    console.error('interaction error', error);
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${error.name}`);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

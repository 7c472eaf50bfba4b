// A real OpenID provider (npm oidc-provider) on loopback for tre's login tests.
//
// node provider.mjs PORT CLIENT_ID CLIENT_SECRET_FILE REDIRECT_URI ACCOUNTS_JSON
//
// One confidential client (authorization code flow, client_secret_basic), the accounts of
// ACCOUNTS_JSON ({name: {password, groups, name?}}, read afresh at each use so tests can change
// a person's groups) with a login form that checks their passwords, consent granted for the one
// client (a first-party hub), and the claims preferred_username and name (scope profile) and
// groups (scope groups) in userinfo. Prints "ready ISSUER" once listening.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const [port, clientId, secretFile, redirectUri, accountsFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accounts = () => JSON.parse(readFileSync(accountsFile, 'utf8'));
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: readFileSync(secretFile, 'utf8').trim(),
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'groups'],
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts(), id)) return undefined;
    return {
      accountId: id,
      async claims() {
        const account = accounts()[id];
        return { sub: id, preferred_username: id, name: account.name, groups: account.groups };
      },
    };
  },
  // The hub is this provider's only client: consent is granted without asking.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile groups');
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false } },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  jwks: { keys: [{ ...signingKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' }] },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(res, uid, message) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>Sign in</title>
<p class="error">${escape(message)}</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<input name="login" autocomplete="username"><input name="password" type="password">
<button type="submit">Sign in</button></form>`);
}

async function formBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid || details.prompt.name !== 'login') {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`unexpected interaction ${details.prompt.name}`);
    return;
  }
  if (req.method === 'GET' && !action) {
    loginForm(res, uid, '');
    return;
  }
  if (req.method !== 'POST' || action !== 'login') {
    res.writeHead(405).end();
    return;
  }
  const form = await formBody(req);
  const name = form.get('login') ?? '';
  const known = accounts();
  const account = Object.hasOwn(known, name) ? known[name] : undefined;
  if (!account || account.password !== form.get('password')) {
    loginForm(res, uid, 'Wrong user name or password.');
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: name } },
    { mergeWithLastSubmission: false });
}

const handle = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(\w+))?$/.exec(new URL(req.url, issuer).pathname);
  if (!match) {
    handle(req, res);
    return;
  }
  interaction(req, res, match[1], match[2]).catch((error) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`${error.name}: ${error.message}`);
  });
});
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));

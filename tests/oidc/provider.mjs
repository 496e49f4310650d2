// A real OpenID Connect provider for rolebook's SSO tests: panva's
// oidc-provider (the certified implementation) on a free loopback port.
//
// Environment: OIDC_CLIENTS, a JSON list of {client_id, client_secret,
// redirect_uris}. Accounts are any email: the account id, `sub` and
// `email` are the login hint the authorization request carries. The
// login and consent prompts are completed at once (a person would click
// through them), so a client that follows redirects and keeps cookies
// ends on the relying party's callback.
//
// For the tests that rolebook must refuse, POST /__test/mode with
// {"mode": ...} alters the next ID tokens the token endpoint gives:
//   normal     as issued
//   tamper     one character of the signature changed
//   wrong_aud  re-signed with the provider's key for another audience
//   expired    re-signed with the provider's key, expired an hour ago
//   rotate     re-signed with a second key, which the JWKS publishes from
//              now on (the first key stays published)
//
// Prints {"issuer": "..."} on stdout once listening.

import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]').map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  redirect_uris: c.redirect_uris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

const first = await jose.generateKeyPair('RS256', { extractable: true });
const second = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = async (pair, kid) => ({
  ...(await jose.exportJWK(pair.privateKey)),
  kid,
  alg: 'RS256',
  use: 'sig',
});
const firstJwk = await jwk(first, 'key-1');
const secondJwk = await jwk(second, 'key-2');
const publicOf = ({ d, p, q, dp, dq, qi, ...pub }) => pub;

let mode = 'normal';
let rotated = false;

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [firstJwk] },
  cookies: { keys: ['rolebook-tests-cookie-key'] },
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true };
      },
    };
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});

async function resign(idToken, change, pair, kid) {
  const claims = jose.decodeJwt(idToken);
  change(claims);
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .sign(pair.privateKey);
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    mode = JSON.parse(Buffer.concat(chunks).toString()).mode;
    if (mode === 'rotate') rotated = true;
    ctx.status = 204;
    return;
  }
  if (ctx.path === '/jwks' && rotated) {
    ctx.type = 'application/jwk-set+json';
    ctx.body = { keys: [publicOf(firstJwk), publicOf(secondJwk)] };
    return;
  }
  if (ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      const accountId = params.login_hint;
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId } }, {
        mergeWithLastSubmission: false,
      });
    } else {
      const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      grant.addOIDCScope(params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, {
        mergeWithLastSubmission: true,
      });
    }
    ctx.respond = false;
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token && mode !== 'normal') {
    const token = ctx.body.id_token;
    if (mode === 'tamper') {
      const last = token.at(-2) === 'A' ? 'B' : 'A';
      ctx.body = { ...ctx.body, id_token: `${token.slice(0, -2)}${last}${token.at(-1)}` };
    } else if (mode === 'wrong_aud') {
      ctx.body = {
        ...ctx.body,
        id_token: await resign(token, (c) => { c.aud = 'another-client'; }, first, 'key-1'),
      };
    } else if (mode === 'expired') {
      const now = Math.floor(Date.now() / 1000);
      ctx.body = {
        ...ctx.body,
        id_token: await resign(token, (c) => { c.iat = now - 7200; c.exp = now - 3600; }, first, 'key-1'),
      };
    } else if (mode === 'rotate') {
      ctx.body = { ...ctx.body, id_token: await resign(token, () => {}, second, 'key-2') };
    }
  }
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);

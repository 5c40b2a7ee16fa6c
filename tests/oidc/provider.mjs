// A real OpenID provider for countersign's company sign-in tests: the
// certified `oidc-provider` with one client (countersign), a few people,
// PKCE required, and a login page (its development interactions) the
// tests fill in. To test what countersign refuses, a mode (set with
// GET /_test/mode?mode=…) makes it answer the token request with an ID
// token that is wrong in one way: meant for another application, signed
// with a key it does not publish, altered; or signed with a new key it
// publishes beside the old one (a key rotation, which must just work).
//
// PORT: where it listens; REDIRECT_URI: countersign's callback.
import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

async function key(kid) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  return { jwk, pub, privateKey };
}
const published = await key('first');
const rotated = await key('second');
const foreign = await key('foreign');

const people = {
  carol: { email: 'carol@example.com', email_verified: true, name: 'Carol Chen', preferred_username: 'carol', locale: 'zh-CN', groups: ['Platform-Admins'] },
  dan: { email: 'dan@example.com', email_verified: true, name: 'Dan Deng', preferred_username: 'dan', groups: [] },
  nomail: { name: 'No Mail', preferred_username: 'nomail', groups: [] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'countersign',
    client_secret: 'countersign-secret',
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [published.jwk] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'locale'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const person = people[id];
    if (!person) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...person }; } };
  },
  // countersign is the company's own application: no consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});

let mode = 'normal';

async function resign(token) {
  const claims = jose.decodeJwt(token);
  const sign = (k) => new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: k.jwk.kid, typ: 'JWT' })
    .sign(k.privateKey);
  switch (mode) {
    case 'wrong-audience':
      claims.aud = 'another-application';
      return sign(published);
    case 'foreign-key':
      return sign(foreign);
    case 'rotated':
      return sign(rotated);
    case 'altered': {
      const [h, p, s] = token.split('.');
      const changed = { ...claims, email: 'mallory@example.com' };
      return `${h}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${s}`;
    }
    default:
      return token;
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/_test/mode') {
    mode = String(ctx.query.mode || 'normal');
    ctx.body = { mode };
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token) };
  }
  if (ctx.path === '/jwks' && mode === 'rotated' && ctx.body && ctx.body.keys) {
    ctx.body = { keys: [...ctx.body.keys, rotated.pub] };
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

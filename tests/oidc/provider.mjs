// The OpenID provider of the end-to-end tests: npm's `oidc-provider`
// (OpenID Certified), on 127.0.0.1, with one client (the log) and a login
// page that takes any user name as the account (its `sub`). Consent is
// granted without a page. The signing key (RS256) is made at start, with a
// random `kid`: restarting the provider on the same port rotates its key.
//
// Environment:
//   OIDC_PORT           port on 127.0.0.1 (default 0: a free port)
//   OIDC_CLIENT_ID      the log's client ID (default "stateanchor")
//   OIDC_CLIENT_SECRET  the log's client secret (required)
//   OIDC_REDIRECT_URI   the log's callback, e.g. http://127.0.0.1:8080/ui/oidc/callback (required)
// Prints `listening: http://127.0.0.1:PORT` (the issuer) once it serves.
//
// A local example: scripts in spec/cockpit.md ("Connecting an identity
// provider") start it beside `stateanchor-log serve`.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 0);
const clientId = process.env.OIDC_CLIENT_ID || 'stateanchor';
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const redirectUri = process.env.OIDC_REDIRECT_URI;
if (!clientSecret || !redirectUri) {
  console.error('provider.mjs: set OIDC_CLIENT_SECRET and OIDC_REDIRECT_URI');
  process.exit(2);
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  use: 'sig',
  alg: 'RS256',
};

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test identity provider: sign in</title></head>
<body><main><h1>Test identity provider</h1>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">User name</label> <input id="login" name="login" autocomplete="off" required>
<button type="submit" id="provider-signin">Sign in</button>
</form></main></body></html>`;
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    claims: { openid: ['sub'], profile: ['name'] },
    async findAccount(_ctx, sub) {
      return { accountId: sub, async claims() { return { sub, name: sub }; } };
    },
  });
  const callback = provider.callback();

  async function interaction(req, res, uid, isLogin) {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // Consent for the log's own scopes, without a page.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope || 'openid'));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    if (!isLogin || req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(uid));
      return;
    }
    const login = (new URLSearchParams(await readBody(req)).get('login') || '').trim();
    if (!login) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage(uid, 'a user name is required'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }

  server.on('request', async (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    const m = path.match(/^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/);
    if (!m) {
      callback(req, res);
      return;
    }
    try {
      await interaction(req, res, m[1], Boolean(m[2]));
    } catch (e) {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${e.message}\n`);
    }
  });
  console.log(`listening: ${issuer}`);
  console.log(`kid: ${signingKey.kid}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

// A deliberately faulty OpenID provider for the token-level negative tests
// (Node's standard library only). It speaks the code flow honestly up to
// the token endpoint: discovery, a JWKS, an authorization endpoint that
// answers at once with a code (no login page) for the configured subject,
// and a token endpoint that authenticates the client (HTTP Basic), checks
// the code (single use), the redirect URI and the PKCE verifier (S256).
// Then it signs an ID token (RS256) with the defect the test chose:
//
//   none            a correct token
//   wrong_audience  `aud` is another client
//   expired         `exp` ten minutes ago (beyond any clock skew)
//   expired_recently `exp` 30 s ago (within the log's 60 s of skew: accepted)
//   issued_in_future `iat` ten minutes ahead (beyond any clock skew)
//   wrong_nonce     `nonce` is not the one of the authorization request
//   wrong_issuer    `iss` is another issuer
//   unknown_key     signed by a key that is in no JWKS the provider serves
//   bad_signature   the signature's bytes altered
//   alg_none        an unsigned token (`alg: none`, empty signature)
//   hs256           MACed (HS256) with the client secret, not signed
//   no_subject      no `sub` claim
//   extra_audience  `aud` is [this client, another client], no `azp`
//   not_a_jwt       the `id_token` is not a JWT at all
//   payload_not_json the token's payload is not JSON (signed all the same)
//   huge_claim      a 200 kB claim (signed): accepted or refused, never a crash
//
// `POST /control` with JSON {"defect": "...", "subject": "...", "rotate": true,
// "claims": {...}} sets the defect and subject, with `rotate` replaces the
// signing key (new `kid`; the JWKS then serves only the new key), and with
// `claims` sets extra claims for every later token (e.g. `email`,
// `email_verified`; `{}` clears them). `GET /stats` answers
// {"jwks_fetches": N}.
//
// Environment: OIDC_PORT (default 0), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
// OIDC_REDIRECT_URI. Prints `listening: http://127.0.0.1:PORT` (the issuer).
import { createServer } from 'node:http';
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

const port = Number(process.env.OIDC_PORT || 0);
const clientId = process.env.OIDC_CLIENT_ID || 'stateanchor';
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const redirectUri = process.env.OIDC_REDIRECT_URI;
if (!clientSecret || !redirectUri) {
  console.error('hostile-op.mjs: set OIDC_CLIENT_SECRET and OIDC_REDIRECT_URI');
  process.exit(2);
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
function newKey() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  return { privateKey, kid, jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' } };
}
let key = newKey();
const strayKey = newKey();
let defect = 'none';
let subject = 'alice';
let extraClaims = {};
let jwksFetches = 0;
const codes = new Map();

function jwt(claims, k, rawPayload) {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: k.kid }));
  const payload = rawPayload === undefined ? b64url(JSON.stringify(claims)) : b64url(rawPayload);
  const sig = sign('sha256', Buffer.from(`${header}.${payload}`), k.privateKey);
  return `${header}.${payload}.${b64url(sig)}`;
}

// A token with another header, signed by `signer(input)` (or unsigned).
function jwtWith(headerObj, claims, signer) {
  const header = b64url(JSON.stringify(headerObj));
  const payload = b64url(JSON.stringify(claims));
  const input = `${header}.${payload}`;
  return `${input}.${signer ? b64url(signer(input)) : ''}`;
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  server.on('request', async (req, res) => {
    try {
      const url = new URL(req.url, issuer);
      if (url.pathname === '/.well-known/openid-configuration') {
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic'],
        });
      }
      if (url.pathname === '/jwks') {
        jwksFetches += 1;
        return json(res, 200, { keys: [key.jwk] });
      }
      if (url.pathname === '/stats') return json(res, 200, { jwks_fetches: jwksFetches });
      if (url.pathname === '/control' && req.method === 'POST') {
        const c = JSON.parse(await readBody(req));
        if (c.defect) defect = c.defect;
        if (c.subject) subject = c.subject;
        if (c.rotate) key = newKey();
        if (c.claims) extraClaims = c.claims;
        return json(res, 200, { defect, subject, kid: key.kid });
      }
      if (url.pathname === '/authorize') {
        const p = url.searchParams;
        if (p.get('client_id') !== clientId || p.get('redirect_uri') !== redirectUri
          || p.get('response_type') !== 'code' || p.get('code_challenge_method') !== 'S256'
          || !p.get('code_challenge') || !(p.get('scope') || '').split(' ').includes('openid')) {
          return json(res, 400, { error: 'invalid_request' });
        }
        const code = randomBytes(16).toString('hex');
        codes.set(code, { nonce: p.get('nonce'), challenge: p.get('code_challenge'), subject });
        const to = new URL(redirectUri);
        to.searchParams.set('code', code);
        to.searchParams.set('state', p.get('state') || '');
        res.writeHead(303, { location: to.toString() });
        return res.end();
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        const auth = req.headers.authorization || '';
        const expected = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
        if (auth !== expected) return json(res, 401, { error: 'invalid_client' });
        const p = new URLSearchParams(await readBody(req));
        const grant = codes.get(p.get('code') || '');
        codes.delete(p.get('code') || '');
        const verifier = p.get('code_verifier') || '';
        if (!grant || p.get('grant_type') !== 'authorization_code' || p.get('redirect_uri') !== redirectUri
          || b64url(createHash('sha256').update(verifier).digest()) !== grant.challenge) {
          return json(res, 400, { error: 'invalid_grant' });
        }
        const now = Math.floor(Date.now() / 1000);
        const claims = { ...extraClaims, iss: issuer, aud: clientId, sub: grant.subject, iat: now, exp: now + 300, nonce: grant.nonce };
        if (defect === 'wrong_audience') claims.aud = 'another-client';
        if (defect === 'expired') { claims.iat = now - 900; claims.exp = now - 600; }
        if (defect === 'expired_recently') { claims.iat = now - 330; claims.exp = now - 30; }
        if (defect === 'issued_in_future') { claims.iat = now + 600; claims.exp = now + 900; }
        if (defect === 'wrong_nonce') claims.nonce = randomBytes(12).toString('hex');
        if (defect === 'wrong_issuer') claims.iss = 'http://127.0.0.1:1';
        if (defect === 'no_subject') delete claims.sub;
        if (defect === 'extra_audience') claims.aud = [clientId, 'another-client'];
        if (defect === 'huge_claim') claims.padding = 'x'.repeat(200_000);
        let idToken = jwt(claims, defect === 'unknown_key' ? strayKey : key,
          defect === 'payload_not_json' ? '{"sub": "carol", not json' : undefined);
        if (defect === 'alg_none') idToken = jwtWith({ alg: 'none', typ: 'JWT' }, claims, null);
        if (defect === 'hs256') {
          idToken = jwtWith({ alg: 'HS256', typ: 'JWT' }, claims,
            (input) => createHmac('sha256', clientSecret).update(input).digest());
        }
        if (defect === 'not_a_jwt') idToken = 'this is not a JWT';
        if (defect === 'bad_signature') {
          const [h, pl, s] = idToken.split('.');
          const bytes = Buffer.from(s, 'base64url');
          bytes[0] ^= 0x01;
          idToken = `${h}.${pl}.${b64url(bytes)}`;
        }
        return json(res, 200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken });
      }
      return json(res, 404, { error: 'not_found' });
    } catch (e) {
      return json(res, 500, { error: String(e.message) });
    }
  });
  console.log(`listening: ${issuer}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

// A throwaway OpenID Connect provider for Plinth's federation tests (npm oidc-provider 9),
// started by start_oidc_provider in scripts/lib/services.sh on 127.0.0.1:$PORT.
//
// One confidential client (`plinth` / `plinth-secret`) whose redirect URIs may be any
// loopback URL (each test server listens on a port of its own), and test users whose
// claims include `groups`. The login and consent pages are oidc-provider's own
// development interactions (any password is accepted for a known user).
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const users = {
  jane: {
    sub: 'jane-0001',
    preferred_username: 'jane',
    email: 'jane@sso.test',
    email_verified: true,
    name: 'Jane Doe',
    groups: ['ml-engineers'],
  },
  olaf: {
    sub: 'olaf-0002',
    preferred_username: 'olaf',
    email: 'olaf@sso.test',
    email_verified: false,
    name: 'Olaf Outsider',
    groups: [],
  },
};

const configuration = {
  clients: [{
    client_id: 'plinth',
    client_secret: 'plinth-secret',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/auth/oidc/sso/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/login'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return { accountId: id, async claims() { return { ...user }; } };
  },
};

const provider = new Provider(issuer, configuration);
const loopback = (uri) => /^http:\/\/127\.0\.0\.1:\d+\//.test(uri);
// Every test server has its own port: any loopback callback is this client's.
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) { return loopback(uri); };
provider.Client.prototype.postLogoutRedirectUriAllowed = function allowed(uri) { return loopback(uri); };
provider.on('server_error', (ctx, error) => { console.error('server_error', ctx.path, error); });
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

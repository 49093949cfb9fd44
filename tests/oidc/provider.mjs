// A real OpenID provider (panva/oidc-provider from npm) for Gatehouse's staff single sign-on
// tests. Started by the test suite: PORT (the port to listen on) and REDIRECT_URI (Gatehouse's
// callback) come from the environment. Users are whatever login the dev sign-in form is given;
// a login's roles claim is taken from the part after '@' (e.g. "ann@administrator" has
// roles ["administrator"], "eve@" has none), so tests can sign in as any role.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'gatehouse-staff',
    client_secret: 'gatehouse-test-secret',
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name'], gatehouse: ['roles'] },
  // Put the requested claims in the ID token, as staff IdPs do with groups and roles.
  conformIdTokenClaims: false,
  async findAccount(ctx, sub) {
    const [name, roles = ''] = sub.split('@');
    return {
      accountId: sub,
      async claims() {
        return { sub, name, roles: roles ? roles.split('+') : [] };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['gatehouse-test-cookie-key'] },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

// Sign in: a local or LDAP user with a password, or OpenID Connect when the registry
// has it (the provider sends the browser back to /auth/oidc/callback, which lands here
// signed in).

import { html, nothing, notice, problem, formValues } from '../ui.js';
import { get, request } from '../api.js';

const SIGNED_OUT = {
  everywhere: 'You are signed out in every browser.',
  password: 'Your password has changed and every session of yours has ended: sign in with the new one.',
};

export async function show(ctx) {
  const { oidc } = await get('/auth/session');
  const said = SIGNED_OUT[ctx.query.get('signed_out')] || null;
  const next = ctx.query.get('next') || '#/';
  const safeNext = next.startsWith('#/') && !next.startsWith('#/login') ? next : '#/';
  let error = null;
  let busy = false;

  const submit = async (event) => {
    event.preventDefault();
    busy = true;
    error = null;
    paint();
    try {
      await request('POST', '/auth/login', { json: formValues(event.currentTarget) });
      await ctx.signedIn();
      ctx.go(safeNext);
    } catch (e) {
      error = e;
      busy = false;
      paint();
    }
  };

  const paint = () =>
    ctx.render(html`
      <section class="signin">
        <h1>Sign in to Dockyard</h1>
        ${error ? problem(error) : notice(said)}
        <form @submit=${submit}>
          <label>Username <input name="username" autocomplete="username" required maxlength="255"></label>
          <label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="4096"></label>
          <button type="submit" ?disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
        </form>
        ${oidc
          ? html`<p>Or <a class="button" href="/auth/oidc/login?next=${encodeURIComponent(safeNext)}">Sign in with single sign-on</a></p>`
          : nothing}
      </section>
    `);
  paint();
}

// Sign in: a local or LDAP user with a password, or OpenID Connect when the registry
// has it (the provider sends the browser back to /auth/oidc/callback, which lands here
// signed in).

import { html, problem, formValues } from '../ui.js';
import { request } from '../api.js';

export async function show(ctx) {
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
        ${problem(error)}
        <form @submit=${submit}>
          <label>Username <input name="username" autocomplete="username" required maxlength="255"></label>
          <label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="4096"></label>
          <button type="submit" ?disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
        </form>
        <p class="muted">Or <a href="/auth/oidc/login">sign in with your organisation's single sign-on</a> (when the registry has one).</p>
      </section>
    `);
  paint();
}

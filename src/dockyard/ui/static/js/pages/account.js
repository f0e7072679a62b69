// Who you are, your memberships, your password (local users), the CLI secret an
// OpenID Connect user gives `docker login` (shown once), and signing out of every
// browser at once.

import { html, nothing, problem, code, confirmed, formValues } from '../ui.js';
import { get, post, patch, del, seg } from '../api.js';

export async function show(ctx) {
  let me = await get('/users/current');
  let secret = null;
  let error = null;
  let passwordError = null;
  const generate = async () => {
    try {
      secret = (await post('/users/current/cli-secret')).secret;
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };
  const changePassword = async (event) => {
    event.preventDefault();
    const { current_password, password, again } = formValues(event.currentTarget);
    if (password !== again) {
      passwordError = new Error('The new password and its repetition differ.');
      paint();
      return;
    }
    try {
      await patch(`/users/${seg(me.username)}`, { current_password, password });
    } catch (e) {
      passwordError = e;
      paint();
      return;
    }
    ctx.signedOut('password'); // the server ended every session of this user
  };
  const everywhere = async () => {
    if (!confirmed('Sign out of Dockyard in every browser, this one included?')) return;
    try {
      await del(`/users/${seg(me.username)}/sessions`);
    } catch (e) {
      error = e;
      paint();
      return;
    }
    ctx.signedOut('everywhere');
  };
  const paint = () =>
    ctx.render(html`
      <h1>${me.username}</h1>
      <dl class="facts">
        <dt>Kind</dt><dd>${me.kind}${me.is_admin ? ' (administrator)' : ''}</dd>
        <dt>Signs in with</dt><dd>${me.source || 'local'}</dd>
        <dt>Email</dt><dd>${me.email || '—'}</dd>
        <dt>Groups</dt><dd>${(me.groups || []).join(', ') || '—'}</dd>
      </dl>
      <h2>Memberships</h2>
      ${(me.memberships || []).length
        ? html`<ul>${me.memberships.map((m) => html`<li><a href="#/projects/${encodeURIComponent(m.project)}">${m.project}</a>: ${m.role} (${m.via})</li>`)}</ul>`
        : html`<p class="muted">No project memberships.</p>`}
      ${problem(error)}
      ${me.source === 'oidc'
        ? html`<h2>CLI secret</h2>
            <p>For <code>docker login</code> and other clients: your username and this secret. Generating one replaces the last.</p>
            ${secret ? html`<p>Shown once: ${code(secret)}</p>` : nothing}
            <button type="button" @click=${generate}>Generate a CLI secret</button>`
        : nothing}
      ${me.kind === 'user' && (me.source || 'local') === 'local'
        ? html`<h2>Password</h2>
            <p>Changing it signs you out everywhere; sign in again with the new one.</p>
            ${problem(passwordError)}
            <form class="panel" @submit=${changePassword} aria-label="Change password">
              <label>Current password <input name="current_password" type="password" autocomplete="current-password" required maxlength="1024"></label>
              <label>New password <input name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024"></label>
              <label>New password again <input name="again" type="password" autocomplete="new-password" required minlength="8" maxlength="1024"></label>
              <button type="submit">Change password</button>
            </form>`
        : nothing}
      ${me.kind === 'user'
        ? html`<h2>Sessions</h2>
            <p>Signing out ends this browser's session. To end every session of yours — another computer, a browser you no longer have — sign out everywhere.</p>
            <button type="button" class="danger" @click=${everywhere}>Sign out everywhere</button>`
        : nothing}
    `);
  paint();
}

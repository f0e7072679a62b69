// Who you are, your memberships, and the CLI secret an OpenID Connect user gives
// `docker login` (shown once).

import { html, nothing, problem, code } from '../ui.js';
import { get, post } from '../api.js';

export async function show(ctx) {
  let me = await get('/users/current');
  let secret = null;
  let error = null;
  const generate = async () => {
    try {
      secret = (await post('/users/current/cli-secret')).secret;
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
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
      ${me.source === 'oidc'
        ? html`<h2>CLI secret</h2>
            <p>For <code>docker login</code> and other clients: your username and this secret. Generating one replaces the last.</p>
            ${problem(error)}
            ${secret ? html`<p>Shown once: ${code(secret)}</p>` : nothing}
            <button type="button" @click=${generate}>Generate a CLI secret</button>`
        : nothing}
    `);
  paint();
}

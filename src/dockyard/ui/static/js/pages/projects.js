// Projects the person can see (all of them for an administrator), searched, sorted
// and paged by the server (the page, order and search kept in the address); creating
// one (the creator becomes its project administrator).

import { html, nothing, table, search, problem, bytes, when, formValues, listState, keep, sortsOf } from '../ui.js';
import { page, post, seg } from '../api.js';

const MIB = 1024 * 1024;
const DEFAULTS = { page: 1, pageSize: 25, q: '', sort: 'name' };

export async function show(ctx) {
  const quota = (p) => (p.quota_bytes ? html`${bytes(p.used_bytes)} of ${bytes(p.quota_bytes)}
      <meter min="0" max=${p.quota_bytes} value=${p.used_bytes} aria-label="quota used"></meter>` : html`${bytes(p.used_bytes)}`);

  const columns = [
    { key: 'name', label: 'Project', sortable: true, render: (p) => html`<a href="#/projects/${seg(p.name)}">${p.name}</a>` },
    { key: 'public', label: 'Access', render: (p) => (p.public ? 'public' : 'private') },
    { key: 'used_bytes', label: 'Used', sort: 'size', render: quota },
    { key: 'created_at', label: 'Created', sort: 'created', render: (p) => when(p.created_at) },
  ];
  let state = listState(ctx.query, DEFAULTS, sortsOf(columns));
  let rows = [];
  let total = 0;
  let error = null;
  let creating = false;
  let createError = null;

  const load = async (next) => {
    state = next;
    keep(ctx, state, DEFAULTS);
    try {
      const params = { page: state.page, page_size: state.pageSize, q: state.q, sort: state.sort };
      ({ items: rows, total } = await page('/projects', params));
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };

  const create = async (event) => {
    event.preventDefault();
    const v = formValues(event.currentTarget);
    const body = { name: v.name, public: v.public };
    if (v.quota_mib) body.quota_bytes = Math.round(v.quota_mib * MIB);
    try {
      await post('/projects', body);
      ctx.go(`#/projects/${seg(v.name)}`);
    } catch (e) {
      createError = e;
      paint();
    }
  };

  const paint = () =>
    ctx.render(html`
      <div class="heading">
        <h1>Projects</h1>
        <button type="button" @click=${() => { creating = !creating; paint(); }} aria-expanded=${creating}>New project</button>
      </div>
      ${creating
        ? html`<form class="panel" @submit=${create} aria-label="New project">
            ${problem(createError)}
            <label>Name <input name="name" required maxlength="255" pattern="[a-z0-9]+([._\\-][a-z0-9]+)*"
              title="lowercase letters and digits, separated by . _ or -"></label>
            <label class="check"><input type="checkbox" name="public"> Public (anyone may pull)</label>
            ${ctx.user.is_admin ? html`<label>Quota in MiB (empty: unlimited) <input name="quota_mib" type="number" min="1" step="1"></label>` : nothing}
            <button type="submit">Create project</button>
          </form>`
        : nothing}
      ${search(state, load, 'Search projects')}
      ${problem(error)}
      ${table({ columns, rows, total, state, onChange: load, caption: 'Projects' })}
    `);
  await load(state);
}

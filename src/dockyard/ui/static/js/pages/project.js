// One project: its repositories, members, robot accounts, policies and usage, each a
// tab. What a tab offers follows what the API allows the person (a guest sees the
// lists; a project administrator changes them): the server decides, the page shows
// its answer.

import { html, nothing, table, search, problem, bytes, when, formValues, tabs, code, confirmed, listState, keep, sortsOf, feedback } from '../ui.js';
import { get, page, post, patch, del, seg } from '../api.js';
import { policies } from './policies.js';
import { webhooks } from './webhooks.js';
import { supplychain } from './supplychain.js';

const ROLES = ['project_admin', 'maintainer', 'developer', 'guest', 'limited_guest'];
const ACTIONS = ['pull', 'push', 'delete', 'create_tag', 'delete_tag', 'scan', 'read_logs'];

export async function show(ctx) {
  const name = ctx.params.project;
  const tab = ctx.query.get('tab') || 'repositories';
  const base = `#/projects/${seg(name)}`;
  const project = await get(`/projects/${seg(name)}`);
  const frame = (body) => html`
    <p class="crumbs"><a href="#/">Projects</a> / ${name}</p>
    <div class="heading"><h1>${name}</h1><span class="badge">${project.public ? 'public' : 'private'}</span></div>
    ${tabs(
      [
        ['Repositories', base, 'repositories'],
        ['Members', `${base}?tab=members`, 'members'],
        ['Robot accounts', `${base}?tab=robots`, 'robots'],
        ['Policies', `${base}?tab=policies`, 'policies'],
        ['Supply chain', `${base}?tab=supplychain`, 'supplychain'],
        ['Webhooks', `${base}?tab=webhooks`, 'webhooks'],
        ['Usage', `${base}?tab=usage`, 'usage'],
      ],
      tab,
    )}
    ${body}
  `;
  const sections = { repositories, members, robots, policies, supplychain, webhooks, usage };
  await (sections[tab] || repositories)(ctx, name, project, frame);
}

const REPOSITORIES = { page: 1, pageSize: 25, q: '', sort: 'name' };

async function repositories(ctx, name, project, frame) {
  const link = (r) => {
    const inside = r.name.startsWith(`${name}/`) ? r.name.slice(name.length + 1) : r.name;
    return html`<a href="#/projects/${seg(name)}/repositories/${inside.split('/').map(seg).join('/')}">${r.name}</a>`;
  };
  const columns = [
    { key: 'name', label: 'Repository', sortable: true, render: link },
    { key: 'artifact_count', label: 'Artifacts' },
    { key: 'tag_count', label: 'Tags' },
    { key: 'updated_at', label: 'Last push', sort: 'pushed', render: (r) => when(r.updated_at) },
    { key: 'created_at', label: 'Created', render: (r) => when(r.created_at) },
  ];
  let state = listState(ctx.query, REPOSITORIES, sortsOf(columns));
  let rows = [];
  let total = 0;
  let error = null;
  const load = async (next) => {
    state = next;
    keep(ctx, state, REPOSITORIES);
    try {
      ({ items: rows, total } = await page(`/projects/${seg(name)}/repositories`, {
        page: state.page, page_size: state.pageSize, q: state.q, sort: state.sort,
      }));
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };
  const host = location.host;
  const paint = () =>
    ctx.render(frame(html`
      <p class="muted">Push with ${code(`docker push ${host}/${name}/IMAGE:TAG`)}</p>
      ${search(state, load, 'Search repositories')}
      ${problem(error)}
      ${table({ columns, rows, total, state, onChange: load, caption: 'Repositories', empty: 'No repositories: push an image to create one.' })}
    `));
  await load(state);
}

async function members(ctx, name, project, frame) {
  let rows = [];
  let total = 0;
  let state = { page: 1, pageSize: 50, q: '', sort: 'name' };
  let error = null; // the listing's own
  const path = `/projects/${seg(name)}/members`;
  const load = async (next = state) => {
    state = next;
    try {
      ({ items: rows, total } = await page(path, { page: state.page, page_size: state.pageSize }));
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };
  const say = feedback(load);
  const act = say.run;
  const add = (event) => {
    event.preventDefault();
    const v = formValues(event.currentTarget);
    act(() => post(path, { kind: v.kind, name: v.name, role: v.role }), `${v.name} added as ${v.role}`);
  };
  const role = (m) => html`<label class="inline"><span class="sr-only">Role of ${m.name}</span>
    <select @change=${(e) => act(() => patch(`${path}/${m.id}`, { role: e.currentTarget.value }), `${m.name} is now ${e.currentTarget.value}`)}>
      ${ROLES.map((r) => html`<option value=${r} ?selected=${r === m.role}>${r}</option>`)}
    </select></label>`;
  const remove = (m) => html`<button type="button" class="small danger" aria-label="Remove ${m.name}"
    @click=${() => confirmed(`Remove ${m.name} from ${name}?`) && act(() => del(`${path}/${m.id}`), `${m.name} removed`)}>Remove</button>`;
  const columns = [
    { key: 'name', label: 'Member', render: (m) => html`${m.name} <span class="muted">${m.kind}</span>` },
    { key: 'role', label: 'Role', render: role },
    { key: 'repositories', label: 'Repositories', render: (m) => (m.repositories ? m.repositories.join(', ') : 'all') },
    { key: 'id', label: '', render: remove },
  ];
  const paint = () =>
    ctx.render(frame(html`
      ${problem(error)}${say.view()}
      <form class="panel row" @submit=${add} aria-label="Add a member">
        <label>Kind <select name="kind"><option value="user">user</option><option value="group">group</option></select></label>
        <label>Name <input name="name" required maxlength="255"></label>
        <label>Role <select name="role">${ROLES.map((r) => html`<option value=${r} ?selected=${r === 'developer'}>${r}</option>`)}</select></label>
        <button type="submit">Add member</button>
      </form>
      ${table({ columns, rows, total, state, onChange: load, caption: 'Members' })}
    `));
  await load();
}

const ROBOTS = { page: 1, pageSize: 50, q: '', sort: 'name' };

async function robots(ctx, name, project, frame) {
  let rows = [];
  let total = 0;
  let state = listState(ctx.query, ROBOTS, ['name', 'expires']);
  let error = null;
  let secret = null;
  const path = `/projects/${seg(name)}/robots`;
  const load = async (next = state) => {
    state = next;
    keep(ctx, state, ROBOTS);
    try {
      const params = { page: state.page, page_size: state.pageSize, q: state.q, sort: state.sort };
      ({ items: rows, total } = await page(path, params));
    } catch (e) {
      error = e;
    }
    paint();
  };
  const create = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const v = formValues(form);
    const actions = ACTIONS.filter((a) => v[`action_${a}`]);
    const body = {
      name: v.name,
      description: v.description,
      expires_in_days: v.expires_in_days || null,
      permissions: [{ project: name, repositories: v.repositories ? v.repositories.split(',').map((s) => s.trim()).filter(Boolean) : [], actions }],
    };
    try {
      const made = await post(path, body);
      secret = { name: made.name, secret: made.secret };
      error = null;
      form.reset();
    } catch (e) {
      error = e;
    }
    await load();
  };
  const rotate = async (r) => {
    if (!confirmed(`Rotate the secret of ${r.name}? The old one stops working at once.`)) return;
    try {
      const made = await post(`${path}/${seg(r.name)}/secret`);
      secret = { name: made.name, secret: made.secret };
      error = null;
    } catch (e) {
      error = e;
    }
    await load();
  };
  const revoke = async (r) => {
    if (!confirmed(`Revoke ${r.name}? It is deleted and cannot sign in again.`)) return;
    try {
      await del(`${path}/${seg(r.name)}`);
      error = null;
    } catch (e) {
      error = e;
    }
    await load();
  };
  const state_of = (r) => (r.disabled ? 'disabled' : r.expired ? 'expired' : r.expires_at ? html`until ${when(r.expires_at)}` : 'active');
  const columns = [
    { key: 'name', label: 'Robot', sortable: true, render: (r) => html`<code>${r.name}</code><br><span class="muted">${r.description}</span>` },
    { key: 'permissions', label: 'Permissions', render: (r) => r.permissions.map((g) => html`<div>${g.actions.join(', ')} on ${g.repositories.length ? g.repositories.join(', ') : 'all repositories'}</div>`) },
    { key: 'expires_at', label: 'State', sort: 'expires', render: state_of },
    { key: 'created_at', label: '', render: (r) => html`
      <button type="button" class="small" @click=${() => rotate(r)} aria-label="Rotate secret of ${r.name}">Rotate secret</button>
      <button type="button" class="small danger" @click=${() => revoke(r)} aria-label="Revoke ${r.name}">Revoke</button>` },
  ];
  const paint = () =>
    ctx.render(frame(html`
      ${problem(error)}
      ${secret
        ? html`<div class="panel secret" role="status">
            <p><strong>${secret.name}</strong>'s secret, shown once — store it now:</p>
            ${code(secret.secret)}
            <p class="muted">Sign in with ${code(`docker login ${location.host} -u '${secret.name}'`)}</p>
          </div>`
        : nothing}
      <form class="panel" @submit=${create} aria-label="New robot account">
        <div class="row">
          <label>Name <input name="name" required maxlength="64" pattern="[a-z0-9]+([._\\-][a-z0-9]+)*"></label>
          <label>Description <input name="description" maxlength="1024"></label>
          <label>Expires in days (empty: never) <input name="expires_in_days" type="number" min="1" max="36500"></label>
        </div>
        <label>Repositories (globs, comma-separated; empty: all) <input name="repositories" placeholder="${name}/api/*"></label>
        <fieldset><legend>Actions</legend>
          ${ACTIONS.map((a) => html`<label class="check"><input type="checkbox" name="action_${a}" ?checked=${a === 'pull' || a === 'push'}> ${a}</label>`)}
        </fieldset>
        <button type="submit">Create robot account</button>
      </form>
      ${search(state, load, 'Search robot accounts')}
      ${table({ columns, rows, total, state, onChange: load, caption: 'Robot accounts' })}
    `));
  await load();
}

async function usage(ctx, name, project, frame) {
  let found = null;
  let error = null;
  try {
    found = await get(`/usage/projects/${seg(name)}`);
  } catch (e) {
    error = e;
  }
  const q = project.quota_bytes;
  ctx.render(frame(html`
    ${problem(error)}
    <dl class="facts">
      <dt>Quota</dt><dd>${q ? html`${bytes(project.used_bytes)} of ${bytes(q)} <meter min="0" max=${q} value=${project.used_bytes}></meter>` : html`${bytes(project.used_bytes)} used, no quota`}</dd>
      ${found
        ? html`<dt>Logical (per image)</dt><dd>${bytes(found.logical_bytes)}</dd>
            <dt>Physical (each blob once)</dt><dd>${bytes(found.physical_bytes)}</dd>
            <dt>Saved by deduplication</dt><dd>${bytes(found.saved_bytes)} (${found.ratio.toFixed(2)}×)</dd>
            <dt>Manifests / blobs</dt><dd>${found.manifests} / ${found.blobs}</dd>`
        : nothing}
    </dl>
  `));
}

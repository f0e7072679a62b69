// Administration (system administrators; the API refuses everyone else): users, jobs
// and schedules, the audit log with its filters, garbage collection, storage (tiers,
// the dedup report), replication, registry endpoints, proxy caches, and the
// configuration as the server reads it. Each section is one paged API listing, sorted
// (and searched) by the server: users, jobs and the audit log by their columns.

import { html, nothing, table, search, cursorPager, problem, notice, bytes, when, formValues, tabs, confirmed, listState, keep, sortsOf, feedback } from '../ui.js';
import { get, page, post, patch } from '../api.js';
import { registries, replication, proxy } from './remote.js';

// A button inside a listing's table asks the listing to do something: the listing
// runs it and says how it went (its message, or the API's error), then reloads.
const act = (event, work, done) =>
  event.currentTarget.dispatchEvent(new CustomEvent('act', { bubbles: true, detail: { work, done } }));

const DRIVEN = { registries, replication, proxy };

// a scrollable block: focusable, so the keyboard can scroll it
const pretty = (value, label) => html`<pre class="json" tabindex="0" aria-label=${label}>${JSON.stringify(value, null, 2)}</pre>`;

const SECTIONS = {
  users: {
    title: 'Users',
    path: '/users',
    sort: 'name',
    search: 'Search users',
    columns: [
      { key: 'username', label: 'User', sort: 'name' },
      { key: 'source', label: 'Source' },
      { key: 'email', label: 'Email' },
      { key: 'is_admin', label: 'Administrator', render: (u) => (u.is_admin ? 'yes' : 'no') },
      { key: 'disabled', label: 'State', render: (u) => (u.disabled ? 'disabled' : 'active') },
      { key: 'created_at', label: 'Created', sort: 'created', render: (u) => when(u.created_at) },
      { key: 'last_login_at', label: 'Last sign-in', sort: 'login', render: (u) => when(u.last_login_at) },
    ],
    form: {
      label: 'New local user',
      fields: [['username', 'Username', 'text'], ['password', 'Password', 'password'], ['email', 'Email', 'email']],
      submit: (v) => post('/users', { username: v.username, password: v.password, ...(v.email ? { email: v.email } : {}) }),
      done: (v) => `User ${v.username} created.`,
    },
  },
  jobs: {
    title: 'Jobs',
    path: '/jobs',
    keyset: true, // paged by id: a Link to the next page, no count
    sort: '-created',
    filters: [['state', 'State', ['', 'queued', 'running', 'succeeded', 'failed', 'cancelled']], ['kind', 'Kind', null]],
    columns: [
      { key: 'id', label: 'Job' },
      { key: 'kind', label: 'Kind' },
      { key: 'state', label: 'State' },
      { key: 'attempts', label: 'Attempts' },
      { key: 'created_at', label: 'Queued', sort: 'created', render: (j) => when(j.created_at) },
      { key: 'finished_at', label: 'Finished', render: (j) => when(j.finished_at) },
      { key: 'last_error', label: 'Error', render: (j) => j.last_error || '' },
    ],
  },
  schedules: {
    title: 'Schedules',
    path: '/schedules',
    columns: [
      { key: 'name', label: 'Schedule' },
      { key: 'cron', label: 'Cron (UTC)' },
      { key: 'kind', label: 'Job kind' },
      { key: 'enabled', label: 'Enabled', render: (s) => html`<button type="button" class="small"
          @click=${(e) => act(e, () => patch(`/schedules/${encodeURIComponent(s.name)}`, { enabled: !s.enabled }), `Schedule ${s.name} ${s.enabled ? 'disabled' : 'enabled'}.`)}>${s.enabled ? 'yes: disable' : 'no: enable'}</button>` },
      { key: 'next_run_at', label: 'Next run', render: (s) => when(s.next_run_at) },
      { key: 'last_run_at', label: 'Last run', render: (s) => when(s.last_run_at) },
    ],
  },
  audit: {
    title: 'Audit log',
    path: '/audit-logs',
    sort: '-at',
    filters: [['actor', 'Who', null], ['action', 'Action', null], ['resource', 'Resource starts with', null], ['outcome', 'Outcome', ['', 'ok', 'failed']]],
    columns: [
      { key: 'at', label: 'When', sort: 'at', render: (a) => when(a.at || a.created_at) },
      { key: 'actor', label: 'Who', render: (a) => html`${a.actor} <span class="muted">${a.actor_kind || ''} ${a.address || ''}</span>` },
      { key: 'action', label: 'Action' },
      { key: 'resource', label: 'Resource' },
      { key: 'outcome', label: 'Outcome' },
    ],
  },
  gc: {
    title: 'Garbage collection',
    path: '/gc',
    columns: [
      { key: 'id', label: 'Run' },
      { key: 'state', label: 'State' },
      { key: 'trigger', label: 'Trigger' },
      { key: 'dry_run', label: 'Dry run', render: (r) => (r.dry_run ? 'yes' : 'no') },
      { key: 'started_at', label: 'Started', render: (r) => when(r.started_at) },
      { key: 'report', label: 'Freed', nowrap: true, render: (r) => (r.report ? bytes(r.report.bytes_freed) : '—') },
    ],
    actions: [['Run a pass now', () => post('/gc', {}), 'Garbage collection queued.'], ['Dry run', () => post('/gc', { dry_run: true }), 'Dry run queued.']],
  },
};

async function storage(ctx, frame) {
  const [tiers, usage] = await Promise.all([get('/tiering'), get('/usage')]);
  const tier = (t) => `${bytes(t.bytes)} in ${t.blobs} blobs`;
  ctx.render(frame(html`
    <h2>Tiers</h2>
    <dl class="facts">
      <dt>Tiering</dt><dd>${tiers.enabled ? `on (${tiers.mode}), cold tier ${tiers.cold_location}` : 'off (no cold tier configured)'}</dd>
      <dt>Hot</dt><dd>${tier(tiers.hot)}</dd>
      <dt>Cold</dt><dd>${tier(tiers.cold)}</dd>
      <dt>Projects with a rule</dt><dd>${tiers.rules}</dd>
    </dl>
    <h2>Deduplication</h2>
    <dl class="facts">
      <dt>Logical (per image)</dt><dd>${bytes(usage.logical_bytes)}</dd>
      <dt>Physical (each blob once)</dt><dd>${bytes(usage.physical_bytes)}</dd>
      <dt>Saved</dt><dd>${bytes(usage.saved_bytes)} (${usage.ratio.toFixed(2)}×)</dd>
      <dt>Stored, unreferenced</dt><dd>${bytes(usage.stored_bytes)}, ${bytes(usage.unreferenced_bytes)} awaiting GC</dd>
    </dl>`));
}

async function backups(ctx, frame) {
  let found = await get('/backups');
  let error = null;
  let message = '';
  const start = async () => {
    try {
      const job = await post('/backups');
      message = `Backup queued as job ${job.job_id}.`;
      error = null;
    } catch (e) {
      error = e;
    }
    found = await get('/backups');
    paint();
  };
  const columns = [
    { key: 'id', label: 'Snapshot' },
    { key: 'created_at', label: 'Taken', render: (s) => when(s.created_at) },
    { key: 'dialect', label: 'Database' },
    { key: 'blobs', label: 'Blobs', render: (s) => `${s.blobs.count} (${bytes(s.blobs.bytes)})` },
    { key: 'copied', label: 'Copied', render: (s) => `${s.copied.count} (${bytes(s.copied.bytes)})` },
    { key: 'dockyard', label: 'Version' },
  ];
  const paint = () =>
    ctx.render(frame(html`
      ${problem(error)}${notice(message)}
      <dl class="facts">
        <dt>Destination</dt><dd>${found.destination || 'none configured (backup.destination)'}</dd>
        <dt>Schedule</dt><dd>${found.schedule || 'none (backup.schedule)'}</dd>
        <dt>Keeps</dt><dd>${found.keep} snapshots</dd>
      </dl>
      ${found.destination ? html`<p><button type="button" @click=${start}>Back up now</button></p>` : nothing}
      ${table({ columns, rows: found.snapshots, total: found.snapshots.length, state: { page: 1, pageSize: 1000 }, onChange: () => {}, caption: 'Snapshots' })}
      <p class="muted">Restores rebuild an empty instance: <code>dockyard restore SRC</code> (docs/backup.md).</p>
    `));
  paint();
}

async function settings(ctx, frame) {
  const found = await get('/system/settings').catch((e) => ({ error: e }));
  ctx.render(frame(found.error ? problem(found.error) : pretty(found, "The configuration")));
}

async function listing(ctx, frame, spec) {
  const defaults = { page: 1, pageSize: 25, q: '', sort: spec.sort || '', cursor: null, trail: [] };
  let state = listState(ctx.query, defaults, sortsOf(spec.columns));
  const filters = {};
  let rows = [];
  let total = 0;
  let next = null; // a listing paged by id: the next page's bounds
  let extra = null;
  let error = null; // the listing's own
  const params = () => {
    const order = state.sort ? { sort: state.sort } : {};
    if (spec.keyset) return { limit: state.pageSize, ...order, ...(state.cursor || {}), ...filters };
    return { page: state.page, page_size: state.pageSize, q: state.q, ...order, ...filters };
  };
  const load = async (wanted = state) => {
    // another order or search starts again from its first page
    const fresh = wanted.sort !== state.sort || wanted.q !== state.q;
    state = spec.keyset && fresh ? { ...wanted, cursor: null, trail: [] } : wanted;
    keep(ctx, state, defaults);
    try {
      ({ items: rows, total, next } = await page(spec.path, params()));
      if (spec.also) extra = await page(spec.also.path, { page: 1, page_size: 25 });
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };
  const say = feedback(() => load());
  const run = say.run;
  const filter = (event) => {
    event.preventDefault();
    Object.assign(filters, formValues(event.currentTarget));
    load({ ...state, page: 1, cursor: null, trail: [] });
  };
  const create = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const v = formValues(form);
    run(async () => {
      await spec.form.submit(v);
      form.reset(); // only once it is done: a refusal leaves what was typed
    }, spec.form.done(v));
  };
  const paint = () =>
    ctx.render(frame(html`
      ${problem(error)}${say.view()}
      ${spec.actions ? html`<p>${spec.actions.map(([label, work, done]) => html`<button type="button" @click=${() => confirmed(`${label}?`) && run(work, done)}>${label}</button> `)}</p>` : nothing}
      ${spec.form
        ? html`<form class="panel row" @submit=${create} aria-label=${spec.form.label}>
            ${spec.form.fields.map(([n, label, type]) => html`<label>${label} <input name=${n} type=${type} ?required=${n !== 'email'}></label>`)}
            <button type="submit">${spec.form.label}</button></form>`
        : nothing}
      ${spec.filters
        ? html`<form class="panel row" @submit=${filter} aria-label="Filters">
            ${spec.filters.map(([n, label, options]) => options
              ? html`<label>${label} <select name=${n}>${options.map((o) => html`<option value=${o}>${o || 'any'}</option>`)}</select></label>`
              : html`<label>${label} <input name=${n} maxlength="255"></label>`)}
            <button type="submit">Filter</button></form>`
        : nothing}
      ${spec.search ? search(state, load, spec.search) : nothing}
      <div @act=${(e) => run(e.detail.work, e.detail.done)}>${table({ columns: spec.columns, rows, total: spec.keyset ? null : total, state, onChange: load, caption: spec.title })}</div>
      ${spec.keyset ? cursorPager(state, next, load) : nothing}
      ${extra ? table({ columns: spec.also.columns, rows: extra.items, total: extra.total, state: { page: 1, pageSize: 25 }, onChange: () => {}, caption: spec.also.title }) : nothing}
    `));
  await load();
}

export async function show(ctx) {
  const section = ctx.params.section || 'users';
  const links = [
    ...Object.entries(SECTIONS).map(([key, s]) => [s.title, `#/admin/${key}`, key]),
    ['Replication', '#/admin/replication', 'replication'],
    ['Registry endpoints', '#/admin/registries', 'registries'],
    ['Proxy caches', '#/admin/proxy', 'proxy'],
    ['Storage', '#/admin/storage', 'storage'],
    ['Backups', '#/admin/backups', 'backups'],
    ['Settings', '#/admin/settings', 'settings'],
  ];
  const frame = (body) => html`<h1>Administration</h1>${tabs(links, section)}${body}`;
  if (section === 'storage') return storage(ctx, frame);
  if (section === 'settings') return settings(ctx, frame);
  if (section === 'backups') return backups(ctx, frame);
  if (section in DRIVEN) return DRIVEN[section](ctx, frame);
  const spec = SECTIONS[section];
  if (!spec) return ctx.render(frame(html`<p>No section ${section}.</p>`));
  return listing(ctx, frame, spec);
}


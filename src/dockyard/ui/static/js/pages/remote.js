// Administration of what crosses to other registries: the stored registry endpoints
// (add, check, remove; the password is write-only), replication policies (add one as
// a document, run it now or as a dry run, its executions with stop and retry), and
// proxy caches (a project mirroring an endpoint; evict).

import { html, nothing, table, cursorPager, when, bytes, formValues, confirmed, feedback } from '../ui.js';
import { page, post, del, seg } from '../api.js';


const all = async (path) => (await page(path, { page: 1, page_size: 100 })).items;

export async function registries(ctx, frame) {
  let rows = [];
  const load = async () => {
    rows = await all('/registries');
    paint();
  };
  const say = feedback(load);
  const add = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const v = formValues(form);
    const body = { name: v.name, url: v.url, kind: v.kind, description: v.description, insecure: v.insecure };
    if (v.username) body.username = v.username;
    if (v.password) body.password = v.password;
    say.run(() => post('/registries', body).then(() => form.reset()), `Endpoint ${v.name} added.`);
  };
  const ping = (r) =>
    say.run(() => post(`/registries/${seg(r.name)}/ping`), (h) =>
      h.reachable ? `${r.name} answers (${h.status}, ${Math.round(h.latency_ms)} ms).` : `${r.name} does not answer: ${h.message}`);
  const columns = [
    { key: 'name', label: 'Endpoint', render: (r) => html`<strong>${r.name}</strong><br><span class="muted">${r.description}</span>` },
    { key: 'url', label: 'URL', render: (r) => html`<code>${r.url}</code> <span class="muted">${r.kind}</span>` },
    { key: 'username', label: 'Credentials', render: (r) => (r.username ? `${r.username}${r.has_secret ? ' (secret stored)' : ''}` : 'anonymous') },
    { key: 'actions', label: '', render: (r) => html`
      <button type="button" class="small" @click=${() => ping(r)}>Check</button>
      <button type="button" class="small danger" aria-label="Remove endpoint ${r.name}"
        @click=${() => confirmed(`Remove the endpoint ${r.name}?`) && say.run(() => del(`/registries/${seg(r.name)}`), `${r.name} removed.`)}>Remove</button>` },
  ];
  const paint = () =>
    ctx.render(frame(html`
      ${say.view()}
      <form class="panel" @submit=${add} aria-label="New registry endpoint">
        <div class="row">
          <label>Name <input name="name" required maxlength="64"></label>
          <label>URL <input name="url" type="url" required placeholder="https://registry.example.org"></label>
          <label>Kind <select name="kind">${['distribution', 'dockyard', 'harbor', 'dockerhub', 'ghcr', 'quay', 'zot'].map((k) => html`<option value=${k}>${k}</option>`)}</select></label>
        </div>
        <div class="row">
          <label>Username <input name="username" autocomplete="off"></label>
          <label>Password or token <input name="password" type="password" autocomplete="new-password"></label>
          <label>Description <input name="description" maxlength="1024"></label>
          <label class="check"><input type="checkbox" name="insecure"> skip TLS verification</label>
        </div>
        <button type="submit">Add endpoint</button>
      </form>
      ${table({ columns, rows, total: rows.length, state: { page: 1, pageSize: 100 }, onChange: () => {}, caption: 'Registry endpoints' })}
    `));
  await load();
}

const EXAMPLE_POLICY = {
  name: 'to-dr',
  direction: 'push',
  endpoint: 'dr-site',
  trigger: { kind: 'event', delete_propagation: true },
  filters: { repositories: ['team/*'], tags: ['v*'] },
  rewrite: { mode: 'none' },
};

export async function replication(ctx, frame) {
  let policies = [];
  let executions = { items: [], next: null };
  // paged by id, newest first unless sorted otherwise: the next page's bounds come from
  // the server (its Link), those of the pages before from the trail
  let estate = { pageSize: 25, sort: '-created', cursor: null, trail: [] };
  const load = async () => {
    policies = await all('/replication/policies');
    const params = { limit: estate.pageSize, sort: estate.sort, ...(estate.cursor || {}) };
    executions = await page('/replication/executions', params);
    paint();
  };
  const turn = (next) => {
    estate = next.sort === estate.sort ? next : { ...next, cursor: null, trail: [] };
    load();
  };
  const say = feedback(load);
  const add = (event) => {
    event.preventDefault();
    let doc;
    try {
      doc = JSON.parse(event.currentTarget.elements.policy.value);
    } catch (e) {
      say.error = new Error(`The policy is not valid JSON: ${e.message}`);
      paint();
      return;
    }
    say.run(() => post('/replication/policies', doc), `Policy ${doc.name} created.`);
  };
  const run = (p, dryRun) =>
    say.run(() => post(`/replication/policies/${seg(p.name)}/run`, { dry_run: dryRun }), (x) => `Execution ${x.id} of ${p.name} started${dryRun ? ' (dry run)' : ''}.`);
  const policyColumns = [
    { key: 'name', label: 'Policy', render: (p) => html`<strong>${p.name}</strong><br><span class="muted">${p.description}</span>` },
    { key: 'direction', label: 'Direction', render: (p) => `${p.direction} ${p.direction === 'push' ? '→' : '←'} ${p.endpoint}` },
    { key: 'trigger', label: 'Trigger', render: (p) => (p.trigger && p.trigger.kind) || String(p.trigger) },
    { key: 'enabled', label: 'Enabled', render: (p) => (p.enabled ? 'yes' : 'no') },
    { key: 'actions', label: '', render: (p) => html`
      <button type="button" class="small" @click=${() => run(p, false)}>Run now</button>
      <button type="button" class="small" @click=${() => run(p, true)}>Dry run</button>
      <button type="button" class="small danger" aria-label="Delete policy ${p.name}"
        @click=${() => confirmed(`Delete the policy ${p.name}?`) && say.run(() => del(`/replication/policies/${seg(p.name)}`), `${p.name} deleted.`)}>Delete</button>` },
  ];
  const executionColumns = [
    { key: 'id', label: 'Execution', sort: 'created', render: (x) => html`${x.id}<br><span class="muted">${x.policy}, ${x.trigger}${x.dry_run ? ', dry run' : ''}</span>` },
    { key: 'state', label: 'State', render: (x) => html`${x.state}${x.error ? html`<br><span class="bad">${x.error}</span>` : ''}` },
    { key: 'counts', label: 'Items', render: (x) => Object.entries(x.counts).map(([k, n]) => `${k} ${n}`).join(', ') || '—' },
    { key: 'bytes', label: 'Sent', render: (x) => bytes(x.bytes) },
    { key: 'created_at', label: 'Started', render: (x) => when(x.started_at || x.created_at) },
    { key: 'actions', label: '', render: (x) => html`
      ${['queued', 'running', 'retrying'].includes(x.state) ? html`<button type="button" class="small" @click=${() => say.run(() => post(`/replication/executions/${x.id}/stop`), `Execution ${x.id} stopping.`)}>Stop</button>` : nothing}
      ${['failed', 'stopped'].includes(x.state) ? html`<button type="button" class="small" @click=${() => say.run(() => post(`/replication/executions/${x.id}/retry`), `Execution ${x.id} retried.`)}>Retry</button>` : nothing}` },
  ];
  const paint = () =>
    ctx.render(frame(html`
      ${say.view()}
      ${table({ columns: policyColumns, rows: policies, total: policies.length, state: { page: 1, pageSize: 100 }, onChange: () => {}, caption: 'Replication policies' })}
      <form @submit=${add} aria-label="New replication policy">
        <label>New policy (JSON: name, direction push|pull, endpoint, trigger, filters, rewrite — docs/replication.md)
          <textarea name="policy" rows="10" spellcheck="false" .value=${JSON.stringify(EXAMPLE_POLICY, null, 2)}></textarea></label>
        <button type="submit">Create policy</button>
      </form>
      ${table({ columns: executionColumns, rows: executions.items, total: null, state: estate, onChange: turn, caption: 'Executions' })}
      ${cursorPager(estate, executions.next, turn)}
    `));
  await load();
}

export async function proxy(ctx, frame) {
  let rows = [];
  const load = async () => {
    rows = await all('/proxy/caches');
    paint();
  };
  const say = feedback(load);
  const add = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const v = formValues(form);
    const body = { project: v.project, endpoint: v.endpoint, public: v.public,
      mirror_hosts: v.mirror_hosts.split(',').map((s) => s.trim()).filter(Boolean) };
    if (v.upstream_prefix) body.upstream_prefix = v.upstream_prefix;
    say.run(() => post('/proxy/caches', body).then(() => form.reset()), `Project ${v.project} now mirrors ${v.endpoint}.`);
  };
  const columns = [
    { key: 'project', label: 'Project', render: (c) => html`<a href="#/projects/${seg(c.project)}">${c.project}</a>` },
    { key: 'endpoint', label: 'Upstream', render: (c) => `${c.endpoint}${c.upstream_prefix ? ` / ${c.upstream_prefix}` : ''}` },
    { key: 'mirror_hosts', label: 'Mirrors', render: (c) => c.mirror_hosts.join(', ') || '—' },
    { key: 'tag_ttl_seconds', label: 'Tag TTL', render: (c) => `${c.tag_ttl_seconds} s` },
    { key: 'size_limit_bytes', label: 'Size limit', render: (c) => (c.size_limit_bytes ? bytes(c.size_limit_bytes) : 'none') },
    { key: 'actions', label: '', render: (c) => html`
      <button type="button" class="small" @click=${() => say.run(() => post(`/proxy/caches/${seg(c.project)}/evict`), `Eviction of ${c.project} done.`)}>Evict now</button>
      <button type="button" class="small danger" aria-label="Stop mirroring in ${c.project}"
        @click=${() => confirmed(`Stop ${c.project} mirroring ${c.endpoint}?`) && say.run(() => del(`/proxy/caches/${seg(c.project)}`), `${c.project} is no longer a cache.`)}>Remove</button>` },
  ];
  const paint = () =>
    ctx.render(frame(html`
      ${say.view()}
      <form class="panel row" @submit=${add} aria-label="New proxy cache">
        <label>Project <input name="project" required maxlength="255"></label>
        <label>Endpoint <input name="endpoint" required maxlength="64"></label>
        <label>Upstream prefix <input name="upstream_prefix" placeholder="library"></label>
        <label>Mirror hosts (comma-separated) <input name="mirror_hosts" placeholder="docker.io"></label>
        <label class="check"><input type="checkbox" name="public"> public</label>
        <button type="submit">Add proxy cache</button>
      </form>
      ${table({ columns, rows, total: rows.length, state: { page: 1, pageSize: 100 }, onChange: () => {}, caption: 'Proxy caches' })}
    `));
  await load();
}

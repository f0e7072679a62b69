// A project's webhooks tab (project administrators): the webhooks, a new one (its
// signing secret shown once), enabling and removing, a test event, and each webhook's
// delivery log (paged by the server, oldest or newest first, by state).

import { html, nothing, table, problem, when, formValues, code, confirmed, feedback } from '../ui.js';
import { page, post, patch, del, seg } from '../api.js';

const KINDS = ['artifact.pushed', 'artifact.pulled', 'artifact.deleted', 'tag.deleted',
  'repository.deleted', 'quota.exceeded', 'scan.completed'];

export async function webhooks(ctx, name, project, frame) {
  const path = `/projects/${seg(name)}/webhooks`;
  let hooks = [];
  let open = null; // the webhook whose deliveries are shown
  let deliveries = { items: [], total: 0 };
  const DELIVERIES = { page: 1, pageSize: 25, sort: '-created', state: '' };
  let dstate = DELIVERIES;
  let secret = null;
  let error = null; // the listing's own

  const load = async () => {
    try {
      hooks = (await page(path, { page: 1, page_size: 100 })).items;
      if (open) {
        const params = { page: dstate.page, page_size: dstate.pageSize, sort: dstate.sort, state: dstate.state };
        deliveries = await page(`${path}/${open.id}/deliveries`, params);
      }
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };
  const say = feedback(load);
  const act = say.run;
  const create = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const v = formValues(form);
    const body = { name: v.name, url: v.url, format: v.format, description: v.description,
      event_kinds: KINDS.filter((k) => v[`kind_${k}`]) };
    act(async () => {
      const made = await post(path, body);
      secret = { name: made.name, secret: made.secret };
      form.reset();
    }, `Webhook ${v.name} created.`);
  };
  const show = (hook) => {
    open = hook;
    dstate = DELIVERIES;
    load();
  };
  const columns = [
    { key: 'name', label: 'Webhook', render: (h) => html`<strong>${h.name}</strong><br><span class="muted">${h.description}</span>` },
    { key: 'url', label: 'Endpoint', render: (h) => html`<code>${h.url}</code> <span class="muted">${h.format}</span>` },
    { key: 'event_kinds', label: 'Events', render: (h) => h.event_kinds.join(', ') },
    { key: 'enabled', label: 'State', render: (h) => (h.enabled ? 'enabled' : 'disabled') },
    { key: 'id', label: '', render: (h) => html`
      <button type="button" class="small" @click=${() => show(h)}>Deliveries</button>
      <button type="button" class="small" @click=${() => act(() => post(`${path}/${h.id}/test`), `Test event sent to ${h.name}.`)}>Send a test</button>
      <button type="button" class="small" @click=${() => act(() => patch(`${path}/${h.id}`, { enabled: !h.enabled }), `${h.name} ${h.enabled ? 'disabled' : 'enabled'}.`)}>${h.enabled ? 'Disable' : 'Enable'}</button>
      <button type="button" class="small danger" aria-label="Delete webhook ${h.name}"
        @click=${() => confirmed(`Delete the webhook ${h.name}?`) && act(() => del(`${path}/${h.id}`), `${h.name} deleted.`)}>Delete</button>` },
  ];
  const deliveryColumns = [
    { key: 'created_at', label: 'Event', sort: 'created', render: (d) => html`${d.kind}${d.test ? ' (test)' : ''}<br><span class="muted">${when(d.created_at)}</span>` },
    { key: 'repository', label: 'Artifact', render: (d) => [d.repository, d.tag || d.digest].filter(Boolean).join(':') || '—' },
    { key: 'state', label: 'State', render: (d) => html`<span class=${d.state === 'failed' ? 'bad' : d.state === 'delivered' ? 'ok' : ''}>${d.state}</span>` },
    { key: 'attempts', label: 'Attempts' },
    { key: 'status_code', label: 'Answer', render: (d) => d.status_code ?? '—' },
    { key: 'last_error', label: 'Last error', render: (d) => d.last_error || '' },
  ];
  const paint = () =>
    ctx.render(frame(html`
      ${problem(error)}${say.view()}
      ${secret ? html`<div class="panel secret" role="status"><p><strong>${secret.name}</strong>'s signing secret, shown once:</p>${code(secret.secret)}</div>` : nothing}
      <form class="panel" @submit=${create} aria-label="New webhook">
        <div class="row">
          <label>Name <input name="name" required maxlength="64"></label>
          <label>URL <input name="url" type="url" required placeholder="https://ci.example.org/hooks"></label>
          <label>Format <select name="format"><option value="harbor">harbor</option><option value="cloudevents">cloudevents</option></select></label>
          <label>Description <input name="description" maxlength="1024"></label>
        </div>
        <fieldset><legend>Events</legend>
          ${KINDS.map((k) => html`<label class="check"><input type="checkbox" name="kind_${k}" ?checked=${k === 'artifact.pushed'}> ${k}</label>`)}
        </fieldset>
        <button type="submit">Create webhook</button>
      </form>
      ${table({ columns, rows: hooks, total: hooks.length, state: { page: 1, pageSize: 1000 }, onChange: () => {}, caption: 'Webhooks' })}
      ${open
        ? html`<h2>Deliveries of ${open.name}</h2>
            <label class="search">Delivery state
              <select @change=${(e) => { dstate = { ...dstate, state: e.currentTarget.value, page: 1 }; load(); }}>
                ${['', 'pending', 'sending', 'delivered', 'failed'].map((st) => html`<option value=${st} ?selected=${dstate.state === st}>${st || 'any'}</option>`)}
              </select></label>
            ${table({ columns: deliveryColumns, rows: deliveries.items, total: deliveries.total, state: dstate,
              onChange: (next) => { dstate = next; load(); }, caption: 'Delivery log' })}`
        : nothing}
    `));
  await load();
}

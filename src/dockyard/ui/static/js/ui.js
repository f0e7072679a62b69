// Shared pieces of every page: formatting, the paged/sorted/searchable table, forms,
// confirmation, the copy button, messages. Everything is rendered by lit-html, which
// escapes every value it interpolates: a name crafted as HTML renders as text.

import { html, nothing } from '../vendor/lit-html.js';

export { html, nothing };

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i ? v.toFixed(v < 10 ? 1 : 0) : v}\u00a0${units[i]}`; // one piece: "1.0 KiB" never breaks
}

export function when(value) {
  if (!value) return '—';
  const d = new Date(value);
  return html`<time datetime=${d.toISOString()} title=${d.toISOString()}>${d.toLocaleString()}</time>`;
}

export const short = (digest) => (digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '—');

// A digest as people read it: its first 12 hex digits, the whole one on hover.
export const digest = (value) => html`<code class="digest" title=${value}>${short(value)}</code>`;

// What an artifact is: its artifact type, unless that is only an image's config
// type (what the API falls back to for an image), then its media type.
const IMAGE_CONFIGS = ['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json'];
export const kind = (a) => (a.artifact_type && !IMAGE_CONFIGS.includes(a.artifact_type) ? a.artifact_type : a.media_type);

export const href = (path, query) => {
  const q = query ? `?${new URLSearchParams(query)}` : '';
  return `#${path}${q}`;
};

// A message to the person: an error from the API is shown with its own words.
export function problem(error) {
  if (!error) return nothing;
  return html`<p class="error" role="alert">${error.message || String(error)}</p>`;
}

export function notice(text) {
  return text ? html`<p class="notice" role="status">${text}</p>` : nothing;
}

// What a page says after an action: `run(work, done)` runs `work`, then says `done`
// (a text, or a function of what `work` returned) or the API's error, then calls
// `after` (a reload, a repaint). A reload's own failure is the page's to show apart:
// a successful reload never hides the action's error.
export function feedback(after) {
  const said = { error: null, message: '' };
  said.run = async (work, done) => {
    try {
      const result = await work();
      said.message = typeof done === 'function' ? done(result) : done;
      said.error = null;
    } catch (e) {
      said.error = e;
      said.message = '';
    }
    await after();
  };
  said.view = () => html`${problem(said.error)}${notice(said.message)}`;
  return said;
}

// A copy-to-clipboard button for a value (a pull command, a robot's secret).
export function copyButton(value, label = 'Copy') {
  const copy = async (event) => {
    const button = event.currentTarget;
    try {
      await navigator.clipboard.writeText(value);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select and copy';
    }
  };
  return html`<button type="button" class="small" @click=${copy} aria-label="${label}: ${value}">${label}</button>`;
}

export function code(value) {
  return html`<span class="copyable"><code>${value}</code>${copyButton(value)}</span>`;
}

// Ask before something that cannot be undone. The browser's own dialog: keyboard
// and screen-reader accessible, no HTML of ours inside it.
export const confirmed = (question) => window.confirm(question);

// A table over a paged API listing. `state` is the page's: {page, pageSize, q, sort};
// `columns`: [{key, label, sortable, sort, nowrap, render(row)}] (sortable: the server
// sorts by `key`; sort: by that name of the API's `sort` instead; nowrap: a short value
// kept on one line, a size); `onChange(next)` re-queries. A sortable column's header is
// a button: the first press sorts ascending, the next descending (`-name`), and the
// header says which (aria-sort). `total` null: a listing paged by id, without a count
// or page numbers (its own pager, cursorPager, goes after the table).
export function table({ columns, rows, total, state, onChange, caption, empty = 'Nothing here yet.' }) {
  const counted = total !== null && total !== undefined;
  const pages = counted ? Math.max(1, Math.ceil(total / state.pageSize)) : 1;
  const order = (c) => c.sort || (c.sortable ? c.key : null);
  const sortBy = (key) => {
    const next = state.sort === key ? `-${key}` : key;
    onChange({ ...state, sort: next, page: 1 });
  };
  const arrow = (key) => (state.sort === key ? '▲' : state.sort === `-${key}` ? '▼' : '');
  const ariaSort = (key) =>
    state.sort === key ? 'ascending' : state.sort === `-${key}` ? 'descending' : 'none';
  const sorted = columns.filter(order);
  return html`
    ${sorted.length ? sortSelect(sorted, order, state, onChange, caption) : nothing}
    <div class="table-wrap">
      <table>
        <caption>${caption}${counted ? html` <span class="muted">(${total})</span>` : nothing}</caption>
        <thead>
          <tr>
            ${columns.map((c) =>
              order(c)
                ? html`<th scope="col" aria-sort=${ariaSort(order(c))}>
                    <button type="button" class="link" @click=${() => sortBy(order(c))}>${c.label}<span aria-hidden="true"> ${arrow(order(c))}</span></button>
                  </th>`
                : html`<th scope="col">${c.label}</th>`,
            )}
          </tr>
        </thead>
        <tbody>
          ${rows.length
            ? rows.map(
                (row) => html`<tr>${columns.map((c) => html`<td data-label=${c.label} class=${c.nowrap ? 'nowrap' : ''}>${c.render ? c.render(row) : row[c.key]}</td>`)}</tr>`,
              )
            : html`<tr><td colspan=${columns.length} class="muted">${empty}</td></tr>`}
        </tbody>
      </table>
    </div>
    ${counted ? pager(state, pages, onChange) : nothing}
  `;
}

export function pager(state, pages, onChange) {
  if (pages <= 1) return nothing;
  const go = (n) => onChange({ ...state, page: Math.min(Math.max(1, n), pages) });
  return html`
    <nav class="pager" aria-label="Pages">
      <button type="button" ?disabled=${state.page <= 1} @click=${() => go(1)}>First</button>
      <button type="button" ?disabled=${state.page <= 1} @click=${() => go(state.page - 1)}>Previous</button>
      <span>Page ${state.page} of ${pages}</span>
      <button type="button" ?disabled=${state.page >= pages} @click=${() => go(state.page + 1)}>Next</button>
      <button type="button" ?disabled=${state.page >= pages} @click=${() => go(pages)}>Last</button>
    </nav>
  `;
}

// At phone width the headers are hidden (each row is a card): the orders are offered
// as a list instead (shown only there, by the stylesheet).
function sortSelect(columns, order, state, onChange, caption) {
  const options = columns.flatMap((c) => [
    [order(c), `${c.label}, ascending`],
    [`-${order(c)}`, `${c.label}, descending`],
  ]);
  const change = (event) => onChange({ ...state, sort: event.currentTarget.value, page: 1 });
  return html`<label class="sort-by">Order of ${caption.toLowerCase()}
    <select @change=${change}>
      ${options.map(([value, label]) => html`<option value=${value} ?selected=${state.sort === value}>${label}</option>`)}
    </select></label>`;
}

// The pager of a listing paged by id (jobs, replication executions): the server says
// whether a page follows (its Link), and the way back is the bounds already passed.
// `state.cursor` is this page's bound ({before} or {after} an id; null: the first
// page), `state.trail` those of the pages before it.
export function cursorPager(state, next, onChange) {
  const trail = state.trail || [];
  if (!next && !trail.length) return nothing;
  const bound = next ? Object.fromEntries(['before', 'after'].filter((k) => next.has(k)).map((k) => [k, next.get(k)])) : null;
  const go = (cursor, passed) => onChange({ ...state, cursor, trail: passed });
  return html`
    <nav class="pager" aria-label="Pages">
      <button type="button" ?disabled=${!trail.length} @click=${() => go(null, [])}>First</button>
      <button type="button" ?disabled=${!trail.length} @click=${() => go(trail[trail.length - 1], trail.slice(0, -1))}>Previous</button>
      <span>Page ${trail.length + 1}</span>
      <button type="button" ?disabled=${!next} @click=${() => go(bound, [...trail, state.cursor])}>Next</button>
    </nav>
  `;
}

// A listing's state from the page's address: `page`, `sort` (one of `sorts`, either
// way) and `q`; `defaults` for the rest. With keep() below, a reload or a bookmark
// shows the same page of the same order and search.
export function listState(query, defaults, sorts = []) {
  const page = Number.parseInt(query.get('page') || '', 10);
  const sort = query.get('sort') || '';
  return {
    ...defaults,
    page: page >= 1 ? page : 1,
    sort: sorts.includes(sort.replace(/^-/, '')) ? sort : defaults.sort,
    q: query.get('q') || defaults.q || '',
  };
}

// Write a listing's state into the address (values that are the default are left
// out), keeping the rest of its query (a tab, a view). replaceState: no history entry
// per keystroke, and no hashchange, so the page is not shown again. Only while the
// page is the one shown: a search typed just before leaving never lands on the next.
export function keep(ctx, state, defaults) {
  if (!ctx.live()) return;
  const [path, query] = location.hash.replace(/^#/, '').split('?', 2);
  const params = new URLSearchParams(query || '');
  for (const key of ['page', 'sort', 'q']) {
    params.delete(key); // then added back in this order: one address per state
    const value = state[key];
    const usual = defaults[key] ?? (key === 'page' ? 1 : '');
    if (value !== undefined && value !== null && value !== '' && String(value) !== String(usual)) {
      params.append(key, String(value));
    }
  }
  const rest = params.toString();
  history.replaceState(history.state, '', `#${path || '/'}${rest ? `?${rest}` : ''}`);
}

// The API's orders a listing's columns offer (for listState).
export const sortsOf = (columns) => columns.map((c) => c.sort || (c.sortable ? c.key : null)).filter(Boolean);

// A search box that re-queries after the person stops typing.
export function search(state, onChange, label = 'Search') {
  let timer;
  const input = (event) => {
    clearTimeout(timer);
    const q = event.currentTarget.value;
    timer = setTimeout(() => onChange({ ...state, q, page: 1 }), 250);
  };
  return html`<label class="search">${label}
    <input type="search" .value=${state.q || ''} @input=${input} autocomplete="off">
  </label>`;
}

// The values of a form's named controls (checkboxes as booleans, numbers as numbers).
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'number') out[el.name] = el.value === '' ? null : Number(el.value);
    else out[el.name] = el.value;
  }
  return out;
}

export function tabs(items, current) {
  return html`<nav class="tabs" aria-label="Sections">
    ${items.map(
      ([label, link, key]) =>
        html`<a href=${link} aria-current=${key === current ? 'page' : 'false'}>${label}</a>`,
    )}
  </nav>`;
}

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
// `columns`: [{key, label, sortable, nowrap, render(row)}] (nowrap: a short value kept
// on one line, a size); `onChange(next)` re-queries.
export function table({ columns, rows, total, state, onChange, caption, empty = 'Nothing here yet.' }) {
  const pages = Math.max(1, Math.ceil(total / state.pageSize));
  const sortBy = (key) => {
    const next = state.sort === key ? `-${key}` : key;
    onChange({ ...state, sort: next, page: 1 });
  };
  const arrow = (key) => (state.sort === key ? '▲' : state.sort === `-${key}` ? '▼' : '');
  const ariaSort = (key) =>
    state.sort === key ? 'ascending' : state.sort === `-${key}` ? 'descending' : 'none';
  return html`
    <div class="table-wrap">
      <table>
        <caption>${caption} <span class="muted">(${total})</span></caption>
        <thead>
          <tr>
            ${columns.map((c) =>
              c.sortable
                ? html`<th scope="col" aria-sort=${ariaSort(c.key)}>
                    <button type="button" class="link" @click=${() => sortBy(c.key)}>${c.label} ${arrow(c.key)}</button>
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
    ${pager(state, pages, onChange)}
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

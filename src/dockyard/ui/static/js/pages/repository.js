// A repository: its tags and its artifacts (each paged, searched and sorted by the
// server: a repository of 100k tags loads one page; the page, order and search kept
// in the address), the pull command to copy, deleting a tag.

import { html, table, search, problem, notice, bytes, when, short, digest, kind, code, copyButton, confirmed, tabs, listState, keep, sortsOf } from '../ui.js';
import { page, del, seg, repoPath } from '../api.js';

export async function show(ctx) {
  const project = ctx.params.project;
  const repo = ctx.params.repo;
  const full = `${project}/${repo}`;
  const view = ctx.query.get('view') || 'tags';
  const base = `/projects/${seg(project)}/repositories/${repoPath(repo)}`;
  const here = `#/projects/${seg(project)}/repositories/${repoPath(repo)}`;
  const artifactLink = (digest, label) => html`<a href="${here}/-/artifacts/${seg(digest)}">${label}</a>`;
  const defaults = { page: 1, pageSize: 50, q: '', sort: view === 'tags' ? '-updated' : '-pushed' };
  let state = defaults;
  let rows = [];
  let total = 0;
  let error = null;
  // after an artifact's page deleted it: its digest (only a digest is shown)
  const deleted = ctx.query.get('deleted') || '';
  let message = /^sha(256|512):[a-f0-9]+$/.test(deleted) ? `Artifact ${deleted} deleted.` : '';

  const load = async (next) => {
    state = next;
    keep(ctx, state, defaults);
    try {
      const params = { page: state.page, page_size: state.pageSize, q: state.q, sort: state.sort };
      ({ items: rows, total } = await page(`${base}/-/${view === 'tags' ? 'tags' : 'artifacts'}`, params));
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };

  const deleteTag = async (tag) => {
    if (!confirmed(`Delete the tag ${full}:${tag}? The artifact stays, reachable by its digest.`)) return;
    try {
      await del(`${base}/-/tags/${seg(tag)}`);
      message = `Tag ${tag} deleted.`;
      error = null;
    } catch (e) {
      error = e;
      message = '';
    }
    await load(state);
  };

  const deleteArtifact = async (a) => {
    const tags = a.tags.length ? ` Its tags go with it: ${a.tags.join(', ')}.` : '';
    if (!confirmed(`Delete ${full}@${a.digest}?${tags} This cannot be undone.`)) return;
    try {
      await del(`${base}/-/artifacts/${seg(a.digest)}`);
      message = `Artifact ${a.digest} deleted.`;
      error = null;
    } catch (e) {
      error = e;
      message = '';
    }
    await load(state);
  };

  const tagColumns = [
    { key: 'name', label: 'Tag', sortable: true, render: (t) => artifactLink(t.digest, t.name) },
    { key: 'digest', label: 'Digest', render: (t) => digest(t.digest) },
    { key: 'size', label: 'Size', nowrap: true, render: (t) => bytes(t.size) },
    { key: 'updated', label: 'Tagged', sortable: true, render: (t) => when(t.updated_at) },
    { key: 'pull_count', label: 'Pulls', render: (t) => html`${t.pull_count}${t.last_pulled_at ? html`<br><span class="muted">last ${when(t.last_pulled_at)}</span>` : ''}` },
    // the command is the button's accessible name and tooltip: the column stays narrow
    { key: 'pull', label: 'Pull', render: (t) => copyButton(`docker pull ${location.host}/${full}:${t.name}`, 'Copy pull command') },
    { key: 'actions', label: '', render: (t) => html`<button type="button" class="small danger" aria-label="Delete tag ${t.name}" @click=${() => deleteTag(t.name)}>Delete</button>` },
  ];
  const artifactColumns = [
    { key: 'digest', label: 'Artifact', render: (a) => artifactLink(a.digest, short(a.digest)) },
    { key: 'tags', label: 'Tags', render: (a) => a.tags.join(', ') || html`<span class="muted">untagged</span>` },
    { key: 'media_type', label: 'Type', render: kind },
    { key: 'platforms', label: 'Platforms', render: (a) => (a.platforms || []).map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')).join(', ') || '—' },
    { key: 'size', label: 'Size', sort: 'size', nowrap: true, render: (a) => bytes(a.size) },
    { key: 'created_at', label: 'Pushed', sort: 'pushed', render: (a) => when(a.created_at) },
    { key: 'pull_count', label: 'Pulls', sort: 'pulls' },
    { key: 'actions', label: '', render: (a) => html`<button type="button" class="small danger" aria-label="Delete artifact ${short(a.digest)}" @click=${() => deleteArtifact(a)}>Delete</button>` },
  ];

  const paint = () =>
    ctx.render(html`
      <p class="crumbs"><a href="#/">Projects</a> / <a href="#/projects/${seg(project)}">${project}</a> / ${repo}</p>
      <h1>${full}</h1>
      <p>${code(`docker pull ${location.host}/${full}`)}</p>
      ${tabs([['Tags', here, 'tags'], ['Artifacts', `${here}?view=artifacts`, 'artifacts']], view)}
      ${problem(error)}${notice(message)}
      ${search(state, load, view === 'tags' ? 'Search tags' : 'Search by tag or digest')}
      ${table({
        columns: view === 'tags' ? tagColumns : artifactColumns,
        rows, total, state, onChange: load,
        caption: view === 'tags' ? 'Tags' : 'Artifacts',
      })}
    `);
  state = listState(ctx.query, defaults, sortsOf(view === 'tags' ? tagColumns : artifactColumns));
  await load(state);
}

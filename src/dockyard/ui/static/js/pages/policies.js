// A project's policies tab: the retention policy (a rule is tried as a dry run first:
// what it would remove and keep, with the reason for each, before it is saved), the
// tag immutability rules, and the tiering rule.

import { html, nothing, problem, notice, when, digest, formValues, confirmed } from '../ui.js';
import { get, post, put, del, seg } from '../api.js';

const KEEPS = [
  ['most_recent', 'the N most recently pushed'],
  ['most_recently_pulled', 'the N most recently pulled'],
  ['pushed_within_days', 'pushed within N days'],
  ['pulled_within_days', 'pulled within N days'],
  ['pushed_or_pulled_within_days', 'pushed or pulled within N days'],
  ['always', 'always'],
];

const MAX_RULES = 15; // the API's limit per project

const list = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

function ruleFrom(v) {
  const rule = { repositories: list(v.repositories), tags: list(v.tags || '*'), keep: v.keep };
  if (v.exclude_tags) rule.exclude_tags = list(v.exclude_tags);
  if (v.untagged) rule.untagged = true;
  if (v.keep.endsWith('_days')) rule.days = v.n;
  else if (v.keep !== 'always') rule.count = v.n;
  return rule;
}

const describe = (r) => {
  const what = KEEPS.find(([k]) => k === r.keep)[1].replace('N', r.count ?? r.days ?? '');
  return `keep ${what} of tags ${r.tags.join(', ')}${r.exclude_tags && r.exclude_tags.length ? ` except ${r.exclude_tags.join(', ')}` : ''} in ${r.repositories.join(', ')}`;
};

export async function policies(ctx, name, project, frame) {
  const base = `/projects/${seg(name)}`;
  let stored = await get(`${base}/retention`); // null: no policy
  let immutable = await get(`${base}/immutability`);
  let tiering = await get(`${base}/tiering`); // null: no rule
  let draft = stored ? stored.rules.slice() : [];
  let unsaved = false; // the draft has rules tried in a dry run, not saved yet
  let preview = null;
  let error = null;
  let message = '';

  const act = async (work, done) => {
    try {
      await work();
      error = null;
      message = done;
    } catch (e) {
      error = e;
      message = '';
    }
    paint();
  };

  const tryRule = async (event) => {
    event.preventDefault();
    const candidate = [...draft, ruleFrom(formValues(event.currentTarget))];
    await act(async () => {
      preview = { rules: candidate, result: await post(`${base}/retention/dry-run`, { enabled: true, rules: candidate }) };
    }, 'Dry run done: nothing was deleted. Apply it to save the policy.');
  };
  const apply = () =>
    act(async () => {
      stored = await put(`${base}/retention`, { enabled: true, rules: preview.rules });
      draft = stored.rules.slice();
      unsaved = false;
      preview = null;
    }, 'Retention policy saved: the scheduled run applies it.');
  // Rules combine (an artifact is kept if any rule keeps it), so a policy of several
  // rules is built in the draft and dry run as a whole before anything is saved: a
  // policy saved one rule at a time could remove, at the next scheduled run, what the
  // rule not added yet would have kept.
  const addAnother = () => {
    draft = preview.rules;
    unsaved = true;
    preview = null;
    error = null;
    message = 'Rule added to the draft, not saved: add the next one and dry run them together.';
    paint();
  };
  const discard = () => {
    draft = stored ? stored.rules.slice() : [];
    unsaved = false;
    preview = null;
    message = 'Draft discarded.';
    paint();
  };
  const removePolicy = () =>
    confirmed(`Remove ${name}'s retention policy?`) &&
    act(async () => {
      await del(`${base}/retention`);
      stored = null;
      draft = [];
      unsaved = false;
      preview = null;
    }, 'Retention policy removed.');
  const addImmutable = (event) => {
    event.preventDefault();
    const v = formValues(event.currentTarget);
    act(async () => {
      await post(`${base}/immutability`, { repository: v.repository, tag: v.tag });
      immutable = await get(`${base}/immutability`);
    }, `Tags ${v.tag} in ${v.repository} are now immutable.`);
  };
  const removeImmutable = (rule) =>
    confirmed(`Remove the rule ${rule.repository}:${rule.tag}?`) &&
    act(async () => {
      await del(`${base}/immutability/${rule.id}`);
      immutable = await get(`${base}/immutability`);
    }, 'Immutability rule removed.');
  const setTiering = (event) => {
    event.preventDefault();
    const v = formValues(event.currentTarget);
    act(async () => {
      tiering = await put(`${base}/tiering`, { cold_after_days: v.days });
    }, `Blobs not pulled for ${v.days} days will move to the cold tier.`);
  };
  const unsetTiering = () =>
    act(async () => {
      await del(`${base}/tiering`);
      tiering = null;
    }, 'Tiering rule removed: cold blobs come back at the next pass.');

  const decision = (d) => html`<tr>
    <td data-label="Repository">${d.repository}</td>
    <td data-label="Artifact">${digest(d.digest)} ${d.tags.join(', ')}</td>
    <td data-label="Pushed">${when(d.pushed_at)}</td>
    <td data-label="Why">${d.reason}</td></tr>`;
  const decisions = (caption, rows) => html`<div class="table-wrap"><table>
      <caption>${caption} <span class="muted">(${rows.length})</span></caption>
      <thead><tr><th scope="col">Repository</th><th scope="col">Artifact</th><th scope="col">Pushed</th><th scope="col">Why</th></tr></thead>
      <tbody>${rows.length ? rows.map(decision) : html`<tr><td colspan="4" class="muted">None.</td></tr>`}</tbody>
    </table></div>`;

  const paint = () =>
    ctx.render(frame(html`
      ${problem(error)}${notice(message)}
      <section aria-labelledby="retention">
        <h2 id="retention">Retention</h2>
        ${draft.length
          ? html`${unsaved ? html`<p class="notice">Draft, not saved yet: a dry run of these rules and the next one, then Apply, saves them.</p>` : nothing}
              <ol aria-label="Retention rules">${draft.map((r) => html`<li>${describe(r)}</li>`)}</ol>`
          : html`<p class="muted">No retention policy: everything is kept.</p>`}
        ${unsaved ? html`<button type="button" class="small" @click=${discard}>Discard the draft</button>` : nothing}
        ${stored ? html`<button type="button" class="small danger" @click=${removePolicy}>Remove the policy</button>` : nothing}
        <form class="panel" @submit=${tryRule} aria-label="Add a retention rule">
          <div class="row">
            <label>Repositories (globs) <input name="repositories" required value="${name}/*"></label>
            <label>Tags <input name="tags" value="*"></label>
            <label>Except tags <input name="exclude_tags"></label>
          </div>
          <div class="row">
            <label>Keep <select name="keep">${KEEPS.map(([k, label]) => html`<option value=${k}>${label}</option>`)}</select></label>
            <label>N <input name="n" type="number" min="1" max="36500" value="10"></label>
            <label class="check"><input type="checkbox" name="untagged"> untagged artifacts too</label>
          </div>
          <button type="submit">Dry run with this rule</button>
        </form>
        ${preview
          ? html`<section class="panel" aria-labelledby="dry-run">
              <h3 id="dry-run">Dry run</h3>
              <p class="muted">Of ${preview.rules.length} ${preview.rules.length === 1 ? 'rule' : 'rules'}, at ${when(preview.result.evaluated_at)}: nothing was deleted.</p>
              ${decisions('Would be removed', preview.result.removed)}
              ${decisions('Kept', preview.result.kept)}
              <button type="button" @click=${apply}>Apply this policy</button>
              ${preview.rules.length < MAX_RULES ? html`<button type="button" class="small" @click=${addAnother}>Add another rule</button>` : nothing}
            </section>`
          : nothing}
      </section>
      <section aria-labelledby="immutability">
        <h2 id="immutability">Tag immutability</h2>
        <ul>${immutable.map((r) => html`<li><code>${r.repository}</code> : <code>${r.tag}</code>
          <button type="button" class="small danger" aria-label="Remove ${r.repository}:${r.tag}" @click=${() => removeImmutable(r)}>Remove</button></li>`)}</ul>
        <form class="panel row" @submit=${addImmutable} aria-label="Add an immutability rule">
          <label>Repository glob <input name="repository" required value="${name}/*"></label>
          <label>Tag glob <input name="tag" required placeholder="v*"></label>
          <button type="submit">Add rule</button>
        </form>
      </section>
      <section aria-labelledby="tiering">
        <h2 id="tiering">Storage tiering</h2>
        <p>${tiering ? `Blobs no image pulled for ${tiering.cold_after_days} days move to the cold tier.` : 'No tiering rule: every blob stays on the hot tier.'}</p>
        <form class="panel row" @submit=${setTiering} aria-label="Tiering rule">
          <label>Cold after days <input name="days" type="number" min="1" max="36500" required value=${tiering ? tiering.cold_after_days : 30}></label>
          <button type="submit">Save</button>
          ${tiering ? html`<button type="button" class="danger" @click=${unsetTiering}>Remove</button>` : nothing}
        </form>
      </section>
    `));
  paint();
}

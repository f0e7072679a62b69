// A project's supply-chain tab: the signature, vulnerability and SBOM policy that
// applies (its own or the system default it inherits), changed as a whole document
// (keys are PEM text: a JSON editor carries them as they are), or removed to inherit
// the default again.

import { html, nothing, problem, notice, when, confirmed } from '../ui.js';
import { get, put, del, seg } from '../api.js';

export async function supplychain(ctx, name, project, frame) {
  const path = `/projects/${seg(name)}/supplychain`;
  let found = await get(path);
  let text = JSON.stringify(found.policy, null, 2);
  let error = null;
  let message = '';

  const save = async (event) => {
    event.preventDefault();
    let doc;
    try {
      doc = JSON.parse(event.currentTarget.elements.policy.value);
    } catch (e) {
      error = new Error(`The policy is not valid JSON: ${e.message}`);
      paint();
      return;
    }
    try {
      await put(path, doc);
      found = await get(path);
      text = JSON.stringify(found.policy, null, 2);
      message = 'Policy saved: pulls are checked against it from now on.';
      error = null;
    } catch (e) {
      error = e;
      message = '';
    }
    paint();
  };
  const inherit = async () => {
    if (!confirmed(`Remove ${name}'s own policy? It inherits the system default again.`)) return;
    try {
      await del(path);
      found = await get(path);
      text = JSON.stringify(found.policy, null, 2);
      message = 'The project inherits the system default policy.';
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };
  const p = () => found.policy;
  const paint = () =>
    ctx.render(frame(html`
      ${problem(error)}${notice(message)}
      <dl class="facts">
        <dt>Applies</dt><dd>${found.applies}${found.own && found.updated_by ? html`, set by ${found.updated_by} ${when(found.updated_at)}` : ''}</dd>
        <dt>Signatures</dt><dd>${p().signatures.mode}, ${p().signatures.keys.length} trusted key(s)</dd>
        <dt>Vulnerabilities</dt><dd>${p().vulnerabilities.mode}, blocking ${p().vulnerabilities.severity} and above${p().vulnerabilities.block_unscanned ? ', and unscanned images' : ''}</dd>
        <dt>SBOM</dt><dd>${p().sbom.generate_on_push ? 'generated on push' : 'on demand'}; ${p().sbom.scan_on_push ? 'scanned on push' : 'scanned on demand'}</dd>
      </dl>
      <form @submit=${save} aria-label="Supply-chain policy">
        <label>Policy (JSON: signatures, vulnerabilities, sbom)
          <textarea name="policy" rows="18" spellcheck="false" .value=${text}></textarea></label>
        <button type="submit">Save the project's policy</button>
      </form>
      ${found.own ? html`<p><button type="button" class="danger" @click=${inherit}>Inherit the system default</button></p>` : nothing}
    `));
  paint();
}

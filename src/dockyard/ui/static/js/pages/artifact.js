// One artifact: what it is (digest, size, tags, pushes and pulls, platforms of an
// index, layers), what refers to it (signatures with their verification, SBOMs,
// attestations, anything else) as a tree, its vulnerability report with severity
// counts and a filter, and its SBOM to view or download.

import { html, nothing, problem, notice, bytes, when, short, digest, kind, code, confirmed } from '../ui.js';
import { get, post, del, seg, repoPath, request, ApiError } from '../api.js';

const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];
const SCANNER = 'dockyard'; // the built-in scanner's reports
const INDEXES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const FOLLOW_MS = 2000;
const FOLLOW_LIMIT_MS = 10 * 60 * 1000;
const platformName = (p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/') || 'unknown platform';

async function optional(path, params) {
  try {
    return await request('GET', path, { params });
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

export async function show(ctx) {
  const { project, repo } = ctx.params;
  const ref = decodeURIComponent(ctx.params.ref);
  const full = `${project}/${repo}`;
  const base = `/projects/${seg(project)}/repositories/${repoPath(repo)}/-/artifacts/${seg(ref)}`;
  const here = `#/projects/${seg(project)}/repositories/${repoPath(repo)}`;
  const artifact = await get(base);
  const isIndex = INDEXES.includes(artifact.media_type);
  const children = isIndex ? (artifact.platforms || []).filter((p) => p.digest) : [];
  const childBase = (digest) => `/projects/${seg(project)}/repositories/${repoPath(repo)}/-/artifacts/${seg(digest)}`;
  let status = null;
  let report = null;
  let platformReports = []; // an index: each platform's report summary (or null)
  let floor = ctx.query.get('severity') || '';
  // the status names the reports there are: the report is asked for only then (no
  // request that answers 404 before the first scan)
  const refresh = async () => {
    status = await optional(`${base}/supplychain`);
    const scanned = status && status.reports.some((r) => r.scanner === SCANNER);
    report = scanned ? await get(`${base}/vulnerabilities`, { severity: floor || undefined }) : null;
    if (isIndex) {
      platformReports = await Promise.all(
        children.map(async (p) => {
          const s = await optional(`${childBase(p.digest)}/supplychain`);
          return (s && s.reports.find((r) => r.scanner === SCANNER)) || null;
        }),
      );
    }
  };
  await refresh();
  let sbom = null;
  let error = null;
  let message = '';

  // After "Scan now" the page asks again every few seconds until the scan's reports
  // are there (an index: one per platform, each scanned on its own), then shows them.
  const latest = () =>
    isIndex
      ? platformReports.map((r) => (r ? r.scanned_at : ''))
      : [status ? (status.reports.find((r) => r.scanner === SCANNER) || {}).scanned_at || '' : ''];
  const follow = async (before, deadline) => {
    if (!ctx.live() || Date.now() > deadline) return;
    try {
      await refresh();
    } catch (e) {
      error = e;
      paint();
      return;
    }
    const now = latest();
    if (now.every((at, i) => at && at !== before[i])) {
      message = 'Scan done.';
      paint();
      return;
    }
    paint();
    setTimeout(() => follow(before, deadline), FOLLOW_MS);
  };
  const scan = async () => {
    try {
      const job = await post(`${base}/scan`);
      message = isIndex
        ? `Scan queued as job ${job.job_id}: each platform is scanned on its own; this page shows their reports once they are done.`
        : `Scan queued as job ${job.job_id}; this page shows the report once it is done.`;
      error = null;
      setTimeout(() => follow(latest(), Date.now() + FOLLOW_LIMIT_MS), FOLLOW_MS);
    } catch (e) {
      error = e;
    }
    paint();
  };
  const filter = async (event) => {
    floor = event.currentTarget.value;
    try {
      await refresh();
    } catch (e) {
      error = e;
    }
    paint();
  };
  const showSbom = async () => {
    try {
      const response = await request('GET', `${base}/sbom`, { raw: true });
      sbom = JSON.stringify(await response.json(), null, 2);
      error = null;
    } catch (e) {
      error = e;
    }
    paint();
  };
  const download = async (format) => {
    try {
      const response = await request('GET', `${base}/sbom`, { params: { format }, raw: true });
      const blob = await response.blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `${full.replaceAll('/', '_')}-${short(artifact.digest)}.${format}.json`;
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (e) {
      error = e;
      paint();
    }
  };

  const remove = async () => {
    const tags = artifact.tags.length ? ` Its tags go with it: ${artifact.tags.join(', ')}.` : '';
    if (!confirmed(`Delete ${full}@${artifact.digest}?${tags} This cannot be undone.`)) return;
    try {
      await del(childBase(artifact.digest));
    } catch (e) {
      error = e;
      paint();
      return;
    }
    ctx.go(`${here}?view=artifacts&deleted=${seg(artifact.digest)}`);
  };

  const signatureOf = (digest) =>
    status && status.signatures ? status.signatures.signatures.find((s) => s.signature_digest === digest) : null;
  const kindOf = (node) => {
    const t = node.artifact_type || node.media_type || '';
    if (/sig|signature|cosign|notation/.test(t)) return 'signature';
    if (/spdx|cyclonedx|sbom/.test(t)) return 'SBOM';
    if (/in-toto|attestation|dsse/.test(t)) return 'attestation';
    return t || 'artifact';
  };
  const tree = (nodes) =>
    nodes && nodes.length
      ? html`<ul class="tree">${nodes.map((n) => {
          const sig = signatureOf(n.digest);
          return html`<li>
            <span class="badge">${kindOf(n)}</span>
            <a href="${here}/-/artifacts/${seg(n.digest)}">${digest(n.digest)}</a>
            ${bytes(n.size)} · ${when(n.created_at)}
            ${sig ? html` · <span class=${sig.verified ? 'ok' : 'bad'}>${sig.verified ? `verified: ${sig.signer || 'trusted key'}` : `not verified: ${sig.reason || sig.detail}`}</span>` : nothing}
            ${tree(n.referrers)}
          </li>`;
        })}</ul>`
      : nothing;

  // an index lists its platforms, each a page of its own; an image names its own
  const platforms = (artifact.platforms || []).length
    ? html`<h2 id="platforms">Platforms</h2><ul aria-labelledby="platforms">${artifact.platforms.map((p) => html`<li>
        ${isIndex && p.digest
          ? html`<a href="${here}/-/artifacts/${seg(p.digest)}">${platformName(p)}</a> ${digest(p.digest)}`
          : platformName(p)}
        ${isIndex && p.size ? bytes(p.size) : ''}</li>`)}</ul>`
    : nothing;

  const signatures = () => {
    if (!status) return nothing;
    const s = status.signatures;
    return html`<h2>Signatures</h2>
      ${s
        ? html`<p class=${s.signed ? 'ok' : 'bad'}>${s.signed ? `Signed by ${s.signers.join(', ')}` : `Not signed as the policy asks: ${s.reason}`}${s.through_index ? html`, through the index ${digest(s.through_index)} that lists it` : nothing}</p>
            <ul>${s.signatures.map((x) => html`<li>${x.kind} ${digest(x.signature_digest)}:
              <span class=${x.verified ? 'ok' : 'bad'}>${x.verified ? `verified (${x.signer})` : `not verified (${x.reason || x.detail})`}</span></li>`)}</ul>`
        : html`<p class="muted">The policy that applies (${status.policy}) trusts no key or identity: signatures are not checked.</p>`}`;
  };

  const platformScans = () => html`<div class="table-wrap"><table>
      <caption>Scans of the platforms <span class="muted">(${children.length})</span></caption>
      <thead><tr><th scope="col">Platform</th>${SEVERITIES.map((s) => html`<th scope="col">${s}</th>`)}<th scope="col">Scanned</th></tr></thead>
      <tbody>${children.map((p, i) => {
        const r = platformReports[i];
        return html`<tr>
          <td data-label="Platform"><a href="${here}/-/artifacts/${seg(p.digest)}">${platformName(p)}</a></td>
          ${SEVERITIES.map((s) => html`<td data-label=${s} class="sev-${s.toLowerCase()}">${r ? r.summary[s] || 0 : '—'}</td>`)}
          <td data-label="Scanned">${r ? html`${when(r.scanned_at)}${r.error ? html` <span class="bad">${r.error}</span>` : nothing}` : 'not yet'}</td>
        </tr>`;
      })}</tbody>
    </table></div>`;

  const vulnerabilities = () => html`<h2>Vulnerabilities</h2>
    ${isIndex && children.length ? platformScans() : nothing}
    ${isIndex ? nothing : report
      ? html`<p>Scanned ${when(report.scanned_at)} by ${report.scanner}: ${report.status}${report.error ? ` (${report.error})` : ''}</p>
          <ul class="counts" aria-label="Findings by severity">${SEVERITIES.map((s) => html`<li class="sev-${s.toLowerCase()}">${s}: ${report.summary[s] || 0}</li>`)}</ul>
          <label class="inline">At or above <select @change=${filter}>
            <option value="" ?selected=${!floor}>any severity</option>
            ${SEVERITIES.map((s) => html`<option value=${s} ?selected=${floor === s}>${s}</option>`)}
          </select></label>
          <div class="table-wrap"><table>
            <caption>Findings <span class="muted">(${report.vulnerabilities.length})</span></caption>
            <thead><tr><th scope="col">Vulnerability</th><th scope="col">Severity</th><th scope="col">Package</th><th scope="col">Installed</th><th scope="col">Fixed in</th></tr></thead>
            <tbody>${report.vulnerabilities.map((f) => html`<tr>
              <td data-label="Vulnerability">${f.id}<br><span class="muted">${f.summary}</span></td>
              <td data-label="Severity" class="sev-${f.severity.toLowerCase()}">${f.severity}${f.cvss_score ? ` ${f.cvss_score}` : ''}</td>
              <td data-label="Package">${f.package} <span class="muted">${f.ecosystem}</span></td>
              <td data-label="Installed">${f.installed_version}</td>
              <td data-label="Fixed in">${f.fixed_versions.join(', ') || '—'}</td></tr>`)}</tbody>
          </table></div>`
      : html`<p class="muted">Not scanned yet.</p>`}
    <button type="button" @click=${scan}>Scan now</button>`;

  const annotations = Object.entries(artifact.annotations || {});

  const paint = () =>
    ctx.render(html`
      <p class="crumbs"><a href="#/">Projects</a> / <a href="#/projects/${seg(project)}">${project}</a> /
        <a href=${here}>${repo}</a> / ${short(artifact.digest)}</p>
      <h1>${full}@${short(artifact.digest)}</h1>
      ${problem(error)}${notice(message)}
      <dl class="facts">
        <dt>Digest</dt><dd>${code(artifact.digest)}</dd>
        <dt>Type</dt><dd>${kind(artifact)}</dd>
        <dt>Size</dt><dd>${bytes(artifact.size)}</dd>
        <dt>Tags</dt><dd>${artifact.tags.join(', ') || 'untagged'}</dd>
        <dt>Pushed</dt><dd>${when(artifact.created_at)}</dd>
        <dt>Pulls</dt><dd>${artifact.pull_count}${artifact.last_pulled_at ? html`, last ${when(artifact.last_pulled_at)}` : ''}</dd>
        <dt>Pull</dt><dd>${code(`docker pull ${location.host}/${full}@${artifact.digest}`)}</dd>
      </dl>
      ${annotations.length
        ? html`<h2>Annotations</h2><dl class="facts annotations">${annotations.map(([k, v]) => html`<dt><code>${k}</code></dt><dd>${v}</dd>`)}</dl>`
        : nothing}
      ${platforms}
      ${(artifact.layers || []).length
        ? html`<h2>Layers</h2><ol>${artifact.layers.map((l) => html`<li>${digest(l.digest)} ${bytes(l.size)} <span class="muted">${l.mediaType || l.media_type}</span></li>`)}</ol>`
        : nothing}
      <h2>Referrers</h2>
      ${(artifact.referrers || []).length ? tree(artifact.referrers) : html`<p class="muted">Nothing refers to this artifact.</p>`}
      ${signatures()}
      ${vulnerabilities()}
      <h2>SBOM</h2>
      ${status && status.sbom
        ? html`<button type="button" @click=${showSbom}>View</button>
            <button type="button" @click=${() => download('cyclonedx')}>Download CycloneDX</button>
            <button type="button" @click=${() => download('spdx')}>Download SPDX</button>
            ${sbom ? html`<pre class="sbom" tabindex="0" aria-label="SBOM">${sbom}</pre>` : nothing}`
        : html`<p class="muted">${isIndex ? 'An index has no layers of its own: each platform has its SBOM, on its page.' : 'No SBOM yet: a scan makes one from the layers.'}</p>`}
      <h2>Delete</h2>
      <p>Deletes the manifest and its tags; what refers to it (signatures, SBOMs) stays until deleted itself, and the layers' space comes back at the next garbage collection.</p>
      <button type="button" class="danger" @click=${remove}>Delete this artifact</button>
    `);
  paint();
}

// The management API, as the CLI uses it: /api/v1 with the browser's session cookie.
// Every change carries the CSRF header the server requires of cookie-authenticated
// requests (a cross-site form cannot set it). Errors arrive as the API's error JSON
// and become ApiError with the server's message, shown to the user as is.

export const CSRF = { 'X-Requested-With': 'dockyard-ui' };

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = '';
  try {
    const body = await response.json();
    const first = body.errors && body.errors[0];
    if (first) {
      message = first.message || message;
      code = first.code || '';
    } else if (body.detail) {
      message = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, code);
}

function url(path, params) {
  const u = new URL(path.startsWith('/auth/') ? path : `/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  }
  return u;
}

export async function request(method, path, { json, params, raw } = {}) {
  const headers = { Accept: 'application/json', ...CSRF };
  const init = { method, headers, credentials: 'same-origin', redirect: 'error' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const response = await fetch(url(path, params), init);
  if (!response.ok) throw await failure(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, params) => request('GET', path, { params });
export const post = (path, json) => request('POST', path, { json });
export const put = (path, json) => request('PUT', path, { json });
export const patch = (path, json) => request('PATCH', path, { json });
export const del = (path) => request('DELETE', path);

// One page of a paged listing: the items, the total the server counted, and the query
// of the next page (its Link rel="next", as URLSearchParams), null on the last page.
export async function page(path, params) {
  const response = await request('GET', path, { params, raw: true });
  const items = await response.json();
  const total = Number(response.headers.get('X-Total-Count') || items.length);
  const link = /<([^>]*)>;\s*rel="next"/.exec(response.headers.get('Link') || '');
  const next = link ? new URL(link[1], location.origin).searchParams : null;
  return { items, total, next };
}

// A path segment: project, user and tag names are escaped; repository names keep
// their slashes (the API's routes take the whole path).
export const seg = (value) => encodeURIComponent(value);
export const repoPath = (name) => name.split('/').map(encodeURIComponent).join('/');

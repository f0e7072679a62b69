// The shell: who is signed in, the navigation, and the hash router that hands the
// main area to one page module at a time. Pages are ES modules (js/pages/), each
// exporting `show(ctx)`: it renders with ctx.render(template) as often as its state
// changes; ctx.live() turns false once the person has navigated away, so a late
// answer never paints over the next page.

import { render, html, nothing } from '../vendor/lit-html.js';
import { ApiError, get, post } from './api.js';
import { problem } from './ui.js';
import { ROUTES } from './routes.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
main.replaceChildren(); // the "Loading…" of the page as served: lit renders from here
let user = null;
let generation = 0;

async function whoAmI() {
  // always 200: signed in or not, no failed request
  const session = await get('/auth/session');
  user = session.username ? await get('/users/current') : null;
  return user;
}

async function signOut() {
  await post('/auth/logout');
  signedOut();
}

// The session has ended (here, or everywhere): the sign-in form, saying why when a
// reason is given (a fixed word the sign-in page knows, never free text).
function signedOut(why) {
  user = null;
  location.hash = why ? `#/login?signed_out=${why}` : '#/login';
}

function header() {
  const admin = user && user.is_admin;
  render(
    html`<nav class="top" aria-label="Main">
      <a class="brand" href="#/"><img src="/ui/logo.svg" alt="" width="24" height="24"> Dockyard</a>
      ${user
        ? html`<a href="#/">Projects</a>
            ${admin ? html`<a href="#/admin">Administration</a>` : nothing}
            <span class="spacer"></span>
            <a href="#/account" class="who">${user.username}</a>
            <button type="button" class="link" @click=${signOut}>Sign out</button>`
        : nothing}
    </nav>`,
    top,
  );
}

function parse() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?', 2);
  return { path, query: new URLSearchParams(query || '') };
}

function match(path) {
  for (const [pattern, load] of ROUTES) {
    const found = pattern.exec(path);
    if (found) return { load, params: found.groups || {} };
  }
  return null;
}

async function route() {
  const mine = ++generation;
  const { path, query } = parse();
  if (!user && path !== '/login') {
    await whoAmI();
    if (mine !== generation) return;
    if (!user) {
      location.hash = `#/login?next=${encodeURIComponent(location.hash || '#/')}`;
      return;
    }
  }
  header();
  const found = match(path);
  const ctx = {
    params: found ? found.params : {},
    query,
    get user() {
      return user;
    },
    live: () => mine === generation,
    render: (template) => {
      if (mine === generation) render(template, main);
    },
    go: (hash) => {
      location.hash = hash;
    },
    reload: () => route(),
    signedIn: async () => {
      await whoAmI();
      header();
    },
    signedOut,
  };
  if (!found) {
    ctx.render(html`<h1>Not found</h1><p>No page at ${path}. <a href="#/">Projects</a></p>`);
    return;
  }
  try {
    const module = await found.load();
    if (mine !== generation) return;
    await module.show(ctx);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      user = null;
      location.hash = '#/login';
      return;
    }
    ctx.render(html`<h1>Something went wrong</h1>${problem(error)}`);
  }
  if (mine === generation) main.focus({ preventScroll: true });
}

// The skip link would set location.hash to "#main", which this router reads as a
// page: it moves the focus to the content instead, and the address stays.
document.querySelector('a.skip').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', route);
route();

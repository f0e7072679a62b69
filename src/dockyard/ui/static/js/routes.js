// Every page: a pattern over the hash path, and the module that shows it (loaded when
// first visited). Repository names keep their slashes; `/-/` ends one, as in the API.

const P = '(?<project>[^/]+)';
const R = '(?<repo>.+?)';

export const ROUTES = [
  [/^\/login$/, () => import('./pages/login.js')],
  [/^\/$/, () => import('./pages/projects.js')],
  [/^\/account$/, () => import('./pages/account.js')],
  [new RegExp(`^/projects/${P}$`), () => import('./pages/project.js')],
  [new RegExp(`^/projects/${P}/repositories/${R}/-/artifacts/(?<ref>[^/]+)$`), () => import('./pages/artifact.js')],
  [new RegExp(`^/projects/${P}/repositories/${R}$`), () => import('./pages/repository.js')],
  [/^\/admin(?:\/(?<section>[a-z-]+))?$/, () => import('./pages/admin.js')],
];

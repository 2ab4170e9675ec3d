// Streamlet web app: a small single-page app on plain DOM. Routes match the
// paths the server answers with index.html: /, /login, /upload, /library, /watch/{id},
// /embed/{id}, /u/{username}
// /account, /admin, /analytics, /analytics/{id}
// (the kWebPage rows of server/route_table.hpp; keep the two lists the same).
import './styles.css';
import { h } from './dom.js';
import { session, onSessionChange, auth } from './api.js';
import { renderLogin } from './pages/login.js';
import { renderUpload } from './pages/upload.js';
import { renderLibrary, renderBrowse } from './pages/library.js';
import { renderWatch } from './pages/watch.js';
import { renderEmbed } from './pages/embed.js';
import { renderChannel } from './pages/channel.js';
import { renderAccount } from './pages/account.js';
import { renderAdmin } from './pages/admin.js';
import { renderAnalytics } from './pages/analytics.js';

const routes = [
  { re: /^\/$/, title: 'Videos', render: renderBrowse },
  { re: /^\/login\/?$/, title: 'Sign in', render: renderLogin },
  { re: /^\/upload\/?$/, title: 'Upload', render: renderUpload, auth: true },
  { re: /^\/library\/?$/, title: 'Library', render: renderLibrary, auth: true },
  { re: /^\/watch\/([^/]+)\/?$/, title: 'Watch', render: renderWatch },
  // The player alone (in another site's iframe): no site header.
  { re: /^\/embed\/([^/]+)\/?$/, title: 'Video', render: renderEmbed, bare: true },
  { re: /^\/u\/([^/]+)\/?$/, title: 'Channel', render: renderChannel },
  { re: /^\/account\/?$/, title: 'Account', render: renderAccount, auth: true },
  { re: /^\/admin\/?$/, title: 'Users', render: renderAdmin, auth: true },
  { re: /^\/analytics\/?$/, title: 'Analytics', render: renderAnalytics, auth: true },
  { re: /^\/analytics\/([^/]+)\/?$/, title: 'Analytics', render: renderAnalytics, auth: true },
];

const main = h('main', { id: 'main', tabIndex: -1 });
const nav = h('nav', { 'aria-label': 'Main' });
let cleanup = null;

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

function renderNav() {
  const user = session.user;
  const here = location.pathname;
  const link = (href, text) =>
    h('a', { href, 'aria-current': here === href ? 'page' : null }, text);
  nav.replaceChildren(
    h('a.brand', { href: '/' }, h('span', { 'aria-hidden': 'true' }, '▶'), ' Streamlet'),
    h(
      'ul',
      h('li', link('/', 'Videos')),
      user && h('li', link('/upload', 'Upload')),
      user && h('li', link('/library', 'Library')),
      user && user.role === 'admin' && h('li', link('/admin', 'Users')),
      user
        ? h(
            'li.account',
            h('a.who', { href: '/account', title: `Signed in as ${user.username}: account settings` }, user.username),
            h('button.link', { type: 'button', on: { click: () => { auth.logout(); navigate('/login'); } } }, 'Sign out'),
          )
        : h('li', link('/login', 'Sign in')),
    ),
  );
}

function route() {
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.error(e);
    }
    cleanup = null;
  }
  // "/upload/" is "/upload": show the address without the trailing slash.
  if (location.pathname.length > 1 && location.pathname.endsWith('/')) {
    history.replaceState(history.state, '', location.pathname.replace(/\/+$/, '') + location.search + location.hash);
  }
  const path = location.pathname;
  const match = routes.map((r) => ({ r, m: path.match(r.re) })).find((x) => x.m);
  renderNav();
  main.replaceChildren();
  const bare = Boolean(match?.r.bare);
  top.hidden = bare;
  document.body.classList.toggle('bare', bare);
  if (!match) {
    document.title = 'Not found · Streamlet';
    main.append(h('h1', 'Page not found'), h('p', 'There is nothing at this address. ', h('a', { href: '/' }, 'Go to the videos')));
    return;
  }
  const { r, m } = match;
  if (r.auth && !session.token) {
    navigate(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    return;
  }
  document.title = `${r.title} · Streamlet`;
  cleanup = r.render(main, { params: m.slice(1), query: new URLSearchParams(location.search), navigate }) || null;
  // Move focus to the new page's heading so keyboard and screen-reader users land on it.
  requestAnimationFrame(() => {
    const heading = main.querySelector('h1');
    if (heading && document.activeElement === document.body) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  });
}

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/media/') || url.pathname.startsWith('/v1/')) return;
  e.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search + url.hash);
});
window.addEventListener('popstate', route);
onSessionChange(renderNav);

const offline = h('div.offline', { role: 'status', hidden: navigator.onLine !== false }, 'You are offline. Uploads pause and resume when the connection returns.');
window.addEventListener('offline', () => (offline.hidden = false));
window.addEventListener('online', () => (offline.hidden = true));

const top = h('header.top', nav);
document.body.replaceChildren(
  h('a.skip', { href: '#main', on: { click: (e) => { e.preventDefault(); main.focus(); } } }, 'Skip to content'),
  top,
  offline,
  main,
);
route();

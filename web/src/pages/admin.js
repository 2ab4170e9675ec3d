// "/admin": for admins, every account with its role, and a switch to disable it. The server
// refuses (409) to demote or disable the last enabled admin; the page says so.
import { h } from '../dom.js';
import { admin, session } from '../api.js';

export function renderAdmin(main, { navigate }) {
  let alive = true;
  const summary = h('p.summary', { role: 'status' });
  const error = h('p.error', { role: 'alert', hidden: true });
  const body = h('tbody');
  const table = h('table.users', h('caption.sr-only', 'Users'), h('thead', h('tr', ['User', 'Role', 'Status', 'Joined', ''].map((t) => h('th', { scope: 'col' }, t)))), body);
  main.append(h('h1', 'Users'), summary, error, table);

  if (session.user?.role !== 'admin') {
    summary.textContent = 'Only admins can manage users.';
    table.hidden = true;
    return () => {};
  }

  async function load() {
    let r;
    try {
      r = await admin.users();
    } catch (err) {
      if (err.status === 401) return navigate('/login?next=/admin', { replace: true });
      table.hidden = true;
      return show(`Could not load the users: ${err.message}`);
    }
    if (!alive) return;
    summary.textContent = `${r.total} user${r.total === 1 ? '' : 's'}`;
    body.replaceChildren(...r.items.map(row));
  }

  function row(u) {
    const role = h(
      'select.role',
      { 'aria-label': `Role of ${u.username}` },
      ['user', 'admin'].map((x) => h('option', { value: x, selected: u.role === x }, x === 'admin' ? 'Admin' : 'User')),
    );
    role.addEventListener('change', () => change(u, { role: role.value }, () => (role.value = u.role)));
    const toggle = h(
      'button.small',
      { type: 'button', class: u.disabled ? '' : 'danger', on: { click: () => change(u, { disabled: !u.disabled }) } },
      u.disabled ? 'Enable' : 'Disable',
    );
    toggle.setAttribute('aria-label', `${u.disabled ? 'Enable' : 'Disable'} ${u.username}`);
    return h(
      'tr',
      { dataset: { userId: u.id, username: u.username } },
      h('th', { scope: 'row' }, u.username),
      h('td', role),
      h('td', h('span.badge', { class: u.disabled ? 'status-failed' : 'status-ready' }, u.disabled ? 'Disabled' : 'Active')),
      h('td', new Date(u.created_at).toLocaleDateString()),
      h('td', toggle),
    );
  }

  async function change(u, fields, undo = () => {}) {
    error.hidden = true;
    try {
      await admin.updateUser(u.id, fields);
      await load();
    } catch (err) {
      undo();
      show(err.status === 409 ? `${u.username}: ${err.message}` : `Could not change ${u.username}: ${err.message}`);
    }
  }

  function show(text) {
    error.textContent = text;
    error.hidden = false;
  }

  load();
  return () => {
    alive = false;
  };
}

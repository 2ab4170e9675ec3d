// "/account": the signed-in person's API keys (made here, shown once, revoked here), their email
// settings (account_email.js), their password, and signing out of every browser and device.
import { h, field } from '../dom.js';
import { account, ApiError } from '../api.js';
import { emailSection } from './account_email.js';

const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');

export function renderAccount(main, { navigate }) {
  let alive = true;
  main.append(h('h1', 'Account'));

  // ---- API keys ----
  const keyList = h('ul.keys', { 'aria-label': 'API keys' });
  const keyStatus = h('p.summary', { role: 'status' });
  const fresh = h('div.fresh-key', { hidden: true });
  const keyError = h('p.error', { role: 'alert', hidden: true });
  const [nameField, nameInput] = field('Name', h('input', { name: 'key-name', maxLength: 100, placeholder: 'e.g. laptop CLI', autocomplete: 'off' }), 'A label to recognise the key by.');
  const keyForm = h(
    'form.new-key',
    { 'aria-label': 'New API key', on: { submit: async (e) => { e.preventDefault(); await createKey(); } } },
    nameField,
    h('button.primary', { type: 'submit' }, 'Create key'),
  );
  main.append(h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'API keys'), h('p', 'Keys let programs such as streamlet-cli act as you. Anyone who has a key can upload and change your videos: revoke a key you no longer use.'), keyForm, fresh, keyError, keyStatus, keyList));

  async function createKey() {
    keyError.hidden = true;
    try {
      const k = await account.createKey(nameInput.value.trim());
      nameInput.value = '';
      const code = h('code.secret', k.key);
      const copy = h('button.small', { type: 'button', on: { click: async () => { try { await navigator.clipboard.writeText(k.key); copy.textContent = 'Copied'; } catch { copy.textContent = 'Select it and copy'; } } } }, 'Copy');
      fresh.replaceChildren(h('p', h('strong', 'Copy this key now: it is shown only once.')), h('p', code, ' ', copy));
      fresh.hidden = false;
      await loadKeys();
    } catch (err) {
      show(keyError, `Could not create the key: ${err.message}`);
    }
  }

  async function loadKeys() {
    let r;
    try {
      r = await account.keys();
    } catch (err) {
      if (err.status === 401) return navigate('/login?next=/account', { replace: true });
      return show(keyError, `Could not load your keys: ${err.message}`);
    }
    if (!alive) return;
    const items = r.items || [];
    keyStatus.textContent = items.length ? `${items.length} key${items.length === 1 ? '' : 's'}` : 'You have no API keys.';
    keyList.replaceChildren(
      ...items.map((k) =>
        h(
          'li.key',
          { dataset: { keyId: k.id } },
          h('span.name', k.name || 'Unnamed key'),
          ' ',
          h('code', `${k.prefix}…`),
          h('small', ` made ${when(k.created_at)}, last used ${when(k.last_used_at)}`),
          ' ',
          h('button.small.danger', { type: 'button', 'aria-label': `Revoke ${k.name || k.prefix}`, on: { click: () => revoke(k) } }, 'Revoke'),
        ),
      ),
    );
  }

  async function revoke(k) {
    if (!confirm(`Revoke “${k.name || k.prefix}”? Programs using it stop working at once.`)) return;
    try {
      await account.revokeKey(k.id);
      fresh.hidden = true;
      await loadKeys();
    } catch (err) {
      show(keyError, `Could not revoke the key: ${err.message}`);
    }
  }

  main.append(emailSection());

  // ---- password ----
  const [curField, current] = field('Current password', h('input', { type: 'password', autocomplete: 'current-password', required: true }));
  const [newField, next] = field('New password', h('input', { type: 'password', autocomplete: 'new-password', required: true, minLength: 8, maxLength: 1024 }), 'At least 8 characters. Your other sessions are signed out.');
  const pwStatus = h('p.status', { role: 'status' });
  const pwForm = h(
    'form.password',
    {
      'aria-label': 'Change password',
      on: {
        submit: async (e) => {
          e.preventDefault();
          pwStatus.textContent = '';
          try {
            await account.changePassword(current.value, next.value);
            current.value = next.value = '';
            pwStatus.textContent = 'Password changed. Other browsers and devices are signed out.';
          } catch (err) {
            pwStatus.textContent = err instanceof ApiError && err.status === 401 && err.code === 'unauthenticated' && !err.message.includes('session') ? 'The current password is wrong.' : `Could not change the password: ${err.message}`;
          }
        },
      },
    },
    curField,
    newField,
    h('button.primary', { type: 'submit' }, 'Change password'),
    pwStatus,
  );
  main.append(h('section', { 'aria-labelledby': 'pw-h' }, h('h2', { id: 'pw-h' }, 'Password'), pwForm));

  // ---- sessions ----
  const outError = h('p.error', { role: 'alert', hidden: true });
  const everywhere = h(
    'button.danger',
    {
      type: 'button',
      on: {
        click: async () => {
          if (!confirm('Sign out of every browser and device, this one included? API keys keep working.')) return;
          try {
            await account.signOutEverywhere();
            navigate('/login', { replace: true });
          } catch (err) {
            show(outError, `Could not sign out everywhere: ${err.message}`);
          }
        },
      },
    },
    'Sign out everywhere',
  );
  main.append(h('section', { 'aria-labelledby': 'out-h' }, h('h2', { id: 'out-h' }, 'Sessions'), h('p', 'Lost a device, or signed in on a shared computer? End every session at once.'), everywhere, outError));

  loadKeys();
  return () => {
    alive = false;
  };
}

function show(el, text) {
  el.textContent = text;
  el.hidden = false;
}

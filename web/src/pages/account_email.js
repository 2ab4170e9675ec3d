// The account page's "Email" section: the address mail about the user's videos goes to, and
// whether it is sent (ready or failed videos). Says so when this server sends no mail at all.
import { h, field } from '../dom.js';
import { account } from '../api.js';

export function emailSection() {
  const [emailField, email] = field('Email address', h('input', { type: 'email', name: 'email', autocomplete: 'email', maxLength: 254, placeholder: 'you@example.com' }), 'Leave it empty to give none.');
  const notify = h('input', { type: 'checkbox', name: 'email-notifications', id: 'email-notifications' });
  const status = h('p.status', { role: 'status' });
  const note = h('p.hint', { hidden: true }, 'This server sends no mail: the setting applies if its operator turns mail on.');
  const form = h(
    'form.email-settings',
    {
      'aria-label': 'Email settings',
      on: {
        submit: async (e) => {
          e.preventDefault();
          status.textContent = '';
          try {
            const r = await account.updateMe({ email: email.value.trim(), email_notifications: notify.checked });
            fill(r.user);
            status.textContent = 'Saved.';
          } catch (err) {
            status.textContent = `Could not save: ${err.message}`;
          }
        },
      },
    },
    emailField,
    h('p.check', notify, ' ', h('label', { htmlFor: 'email-notifications' }, 'Email me when a video of mine is ready or fails')),
    h('button.primary', { type: 'submit' }, 'Save'),
    status,
  );
  const fill = (user) => {
    email.value = user.email || '';
    notify.checked = user.email_notifications !== false;
  };
  account.me().then((r) => {
    fill(r.user);
    note.hidden = r.mail !== false;
  }, (err) => {
    status.textContent = `Could not load your settings: ${err.message}`;
  });
  return h('section', { 'aria-labelledby': 'email-h' }, h('h2', { id: 'email-h' }, 'Email'), note, form);
}

import { h, field } from '../dom.js';
import { auth, session } from '../api.js';

// Sign in and create account share one form; a toggle switches the mode.
export function renderLogin(main, { query, navigate }) {
  const next = safeNext(query.get('next'));
  let mode = query.get('mode') === 'register' ? 'register' : 'login';

  const [userField, username] = field(
    'Username',
    h('input', { name: 'username', autocomplete: 'username', required: true, minLength: 3, maxLength: 32, pattern: '[A-Za-z0-9_.\\-]+', autocapitalize: 'none', spellcheck: false }),
    '3 to 32 letters, digits, dots, dashes or underscores.',
  );
  const [passField, password] = field(
    'Password',
    h('input', { name: 'password', type: 'password', required: true, minLength: 8 }),
    'At least 8 characters.',
  );
  const error = h('p.error', { role: 'alert', hidden: true });
  const submit = h('button.primary', { type: 'submit' });
  const heading = h('h1');
  const switcher = h('p.switch');

  const form = h('form.card.narrow', { noValidate: false, on: { submit: onSubmit } }, heading, userField, passField, error, submit, switcher);
  // The server's answer was about what was sent: once the fields change, or the browser
  // refuses them itself (its bubble, no submit event), it is stale.
  const clearError = () => (error.hidden = true);
  form.addEventListener('input', clearError);
  form.addEventListener('invalid', clearError, true);

  function paint() {
    const reg = mode === 'register';
    heading.textContent = reg ? 'Create an account' : 'Sign in';
    submit.textContent = reg ? 'Create account' : 'Sign in';
    password.autocomplete = reg ? 'new-password' : 'current-password';
    switcher.replaceChildren(
      reg ? 'Already have an account? ' : 'New here? ',
      h('button.link', { type: 'button', on: { click: () => { mode = reg ? 'login' : 'register'; error.hidden = true; paint(); } } }, reg ? 'Sign in' : 'Create an account'),
    );
  }

  async function onSubmit(e) {
    e.preventDefault();
    error.hidden = true;
    if (!form.reportValidity()) return;
    submit.disabled = true;
    try {
      if (mode === 'register') await auth.register(username.value.trim(), password.value);
      else await auth.login(username.value.trim(), password.value);
      navigate(next || (mode === 'register' ? '/upload' : '/library'), { replace: true });
    } catch (err) {
      error.textContent =
        err.status === 401 ? 'Wrong username or password.'
        : err.status === 409 ? 'That username is taken. Pick another one, or sign in.'
        : err.status === 403 && mode === 'register' ? 'This server does not allow new accounts. Ask its administrator for one.'
        : err.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  }

  paint();
  if (session.user) main.append(h('p.notice', `You are signed in as ${session.user.username}. Signing in again switches account.`));
  main.append(form);
}

// Only same-site paths may be a post-login destination.
function safeNext(next) {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : null;
}

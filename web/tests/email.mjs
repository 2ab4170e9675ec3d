// Browser checks of the account page's email settings (issue 13, mail to the uploader), run
// by run.mjs with its page, server and helpers (ctx), on an account of its own.
export async function emailSteps(ctx) {
  const { page, api, step, assert, shot } = ctx;
  const name = `erin_${Date.now().toString(36)}`;
  const reg = await api('POST', '/v1/auth/register', { username: name, password: 'correct horse' }, null);
  if (reg.status !== 201) throw new Error(`register ${name}: ${reg.status} ${reg.text}`);
  const { token, user } = reg.json;

  await step('account page: set an email address, turn video mail off, see both after a reload', async () => {
    await page.goto('/');
    await page.evaluate(([t, u]) => {
      localStorage.setItem('streamlet.token', t);
      localStorage.setItem('streamlet.user', JSON.stringify(u));
    }, [token, user]);
    await page.goto('/account');
    await page.getByRole('heading', { name: 'Email' }).waitFor();
    // The suite's server sends no mail: the page says so.
    await page.getByText('This server sends no mail').waitFor();
    const box = page.getByLabel('Email me when a video of mine is ready or fails');
    assert(await box.isChecked(), 'video mail is not on by default');
    const form = page.getByRole('form', { name: 'Email settings' });
    await page.getByLabel('Email address').fill('erin@example.com');
    await box.uncheck();
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('Saved.').waitFor();
    const me = (await api('GET', '/v1/auth/me', null, token)).json.user;
    assert(me.email === 'erin@example.com' && me.email_notifications === false, `saved ${JSON.stringify(me)}`);
    await page.reload();
    await page.getByRole('heading', { name: 'Email' }).waitFor();
    await page.waitForFunction(() => document.querySelector('input[name=email]').value === 'erin@example.com');
    assert(!(await box.isChecked()), 'video mail is on again after a reload');
    // A bad address is the server's clear answer, shown by the form.
    await page.getByLabel('Email address').fill('erin@example.com, boss@example.com');
    await page.evaluate(() => { document.querySelector('input[name=email]').type = 'text'; });
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText(/Could not save: email address/).waitFor();
    await shot('account-email');
  });
}

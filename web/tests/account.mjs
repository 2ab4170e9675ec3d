// Browser checks of the account page, the admin's users page and the library's sort, filters
// and bulk actions (issue 13), run by run.mjs after its main flow with its page, server and
// helpers (ctx). Each works on accounts and videos of its own, made through the API.
export async function accountSteps(ctx) {
  const { page, base, api, step, assert, poll, shot, PHONE, adminKey } = ctx;
  const stamp = Date.now().toString(36);
  const register = async (name) => {
    const r = await api('POST', '/v1/auth/register', { username: name, password: 'correct horse' }, null);
    if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${r.text}`);
    return r.json;
  };
  // The web app keeps its session in localStorage: put one there and open `path`.
  const signInAs = async (token, user, path) => {
    await page.goto('/');
    await page.evaluate(([t, u]) => {
      localStorage.setItem('streamlet.token', t);
      localStorage.setItem('streamlet.user', JSON.stringify(u));
    }, [token, user]);
    await page.goto(path);
  };
  const carol = await register(`carol_${stamp}`);

  await step('account page: make an API key, see it once, revoke it (the key then gets 401)', async () => {
    await signInAs(carol.token, carol.user, '/account');
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.getByLabel('Name').fill('browser key');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = page.locator('.fresh-key code.secret');
    await secret.waitFor();
    const key = (await secret.innerText()).trim();
    assert(/^sk_[A-Za-z0-9_-]{43}$/.test(key), `the shown key is ${key}`);
    assert((await api('GET', '/v1/auth/me', null, key)).status === 200, 'the new key does not work');
    await shot('account-new-key');
    await page.reload();
    const row = page.locator('li.key', { hasText: 'browser key' });
    await row.waitFor();
    assert((await page.content()).indexOf(key) < 0, 'the key is still on the page after a reload');
    assert((await row.innerText()).includes(key.slice(0, 10)), `the row does not show the prefix: ${await row.innerText()}`);
    await row.getByRole('button', { name: /^Revoke/ }).click();
    await row.waitFor({ state: 'detached' });
    await page.getByText('You have no API keys.').waitFor();
    const after = await api('GET', '/v1/auth/me', null, key);
    assert(after.status === 401, `the revoked key answered ${after.status}`);
    await shot('account-phone', PHONE);
  });

  await step('account page: sign out everywhere ends this and every other session', async () => {
    const other = (await api('POST', '/v1/auth/login', { username: carol.user.username, password: 'correct horse' }, null)).json.token;
    await signInAs(carol.token, carol.user, '/account');
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.waitForURL(/\/login/);
    for (const t of [carol.token, other]) {
      const r = await api('GET', '/v1/auth/me', null, t);
      assert(r.status === 401, `an old session answered ${r.status}`);
    }
  });

  const dave = await register(`dave_${stamp}`);
  await step('admin users page: 403 for a user; an admin disables a user and cannot demote the last admin', async () => {
    await signInAs(dave.token, dave.user, '/admin');
    await page.getByText('Only admins can manage users.').waitFor();
    assert((await api('GET', '/v1/admin/users', null, dave.token)).status === 403, 'a user may list users');
    const me = (await api('GET', '/v1/auth/me', null, adminKey)).json.user;
    await signInAs(adminKey, me, '/admin');
    const daveRow = page.locator(`tr[data-username="${dave.user.username}"]`);
    await daveRow.waitFor();
    await shot('admin-users');
    await daveRow.getByRole('button', { name: `Disable ${dave.user.username}` }).click();
    await poll('the row to say Disabled', async () => (await daveRow.innerText()).includes('Disabled'));
    const refused = await api('GET', '/v1/auth/me', null, dave.token);
    assert(refused.status === 401, `the disabled user's session answered ${refused.status}`);
    const login = await api('POST', '/v1/auth/login', { username: dave.user.username, password: 'correct horse' }, null);
    assert(login.status === 403, `the disabled user signed in: ${login.status}`);
    await daveRow.getByRole('button', { name: `Enable ${dave.user.username}` }).click();
    await poll('the row to say Active', async () => (await daveRow.innerText()).includes('Active'));
    // The only admin: the role change is refused and the select goes back.
    const adminRow = page.locator(`tr[data-username="${me.username}"]`);
    await adminRow.getByLabel(`Role of ${me.username}`).selectOption('user');
    await page.getByRole('alert').filter({ hasText: 'no enabled admin' }).waitFor();
    assert((await adminRow.getByLabel(`Role of ${me.username}`).inputValue()) === 'admin', 'the select shows a role the server refused');
    assert((await api('GET', '/v1/auth/me', null, adminKey)).json.user.role === 'admin', 'the admin was demoted');
  });

  await step('library: sort by title, filter by status and visibility, bulk visibility and delete', async () => {
    const erin = await register(`erin_${stamp}`);
    const ids = {};
    for (const title of ['Mango', 'apple', 'Kiwi']) {
      const res = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${erin.token}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': '1000' } });
      assert(res.status === 201, `tus create answered ${res.status}`);
      const id = res.headers.get('Streamlet-Video-Id');
      assert((await api('PATCH', `/v1/videos/${id}`, { title, visibility: 'public' }, erin.token)).status === 200, 'PATCH failed');
      ids[title] = id;
    }
    await signInAs(erin.token, erin.user, '/library');
    const titles = async () => (await page.locator('li.video .title').allInnerTexts()).map((t) => t.trim());
    await poll('three cards', async () => (await titles()).length === 3);
    assert(JSON.stringify(await titles()) === JSON.stringify(['Kiwi', 'apple', 'Mango']), `newest first: ${await titles()}`);
    await page.getByLabel('Sort by').selectOption('title');
    await poll('title order', async () => JSON.stringify(await titles()) === JSON.stringify(['apple', 'Kiwi', 'Mango']));
    assert(new URL(page.url()).searchParams.get('sort') === 'title', `the address is ${page.url()}`);
    const badges = await page.locator('li.video .badge.visibility').allInnerTexts();
    assert(badges.length === 3 && badges.every((b) => b.trim() === 'Public'), `badges: ${badges}`);
    // Bulk: two videos made private in one go.
    await page.getByRole('checkbox', { name: 'Select apple' }).check();
    await page.getByRole('checkbox', { name: 'Select Mango' }).check();
    await page.getByText('2 videos selected').waitFor();
    await page.getByLabel('New visibility for the selected videos').selectOption('private');
    await page.getByRole('button', { name: 'Set visibility' }).click();
    await poll('two private badges', async () => (await page.locator('li.video .badge.visibility-private').count()) === 2);
    for (const t of ['apple', 'Mango']) assert((await api('GET', `/v1/videos/${ids[t]}`, null, erin.token)).json.visibility === 'private', `${t} is not private`);
    await page.getByLabel('Visibility', { exact: true }).selectOption('private');
    await poll('the private filter', async () => JSON.stringify(await titles()) === JSON.stringify(['apple', 'Mango']));
    await page.getByLabel('Status', { exact: true }).selectOption('ready');
    await page.getByText('No videos match these filters.').waitFor();
    await page.getByLabel('Status', { exact: true }).selectOption('');
    await poll('the private filter again', async () => (await titles()).length === 2);
    await shot('library-filters');
    // Bulk delete of what the filter shows.
    await page.getByRole('checkbox', { name: 'Select apple' }).check();
    await page.getByRole('checkbox', { name: 'Select Mango' }).check();
    await page.getByRole('button', { name: 'Delete selected' }).click();
    await page.getByText('No videos match these filters.').waitFor();
    for (const t of ['apple', 'Mango']) assert((await api('GET', `/v1/videos/${ids[t]}`, null, erin.token)).status === 404, `${t} is still there`);
    assert((await api('GET', `/v1/videos/${ids.Kiwi}`, null, erin.token)).status === 200, 'Kiwi went too');
    const bad = await api('GET', '/v1/videos?owner=me&sort=popular', null, erin.token);
    assert(bad.status === 400 && bad.json.code === 'invalid_argument', `a bad sort answered ${bad.status}`);
  });
}

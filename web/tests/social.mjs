// Browser checks of likes and comments on the watch page (issue 13), run by run.mjs after its
// other steps with its page, server and helpers (ctx): sign in, like, comment, see it, delete
// it; a hostile comment stays text; "Load more" pages through older comments.
export async function socialSteps(ctx) {
  const { page, base, api, step, assert, poll, shot, PHONE, DESKTOP } = ctx;
  const stamp = Date.now().toString(36);
  const register = async (name) => {
    const r = await api('POST', '/v1/auth/register', { username: name, password: 'correct horse' }, null);
    if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${r.text}`);
    return r.json;
  };
  const owner = await register(`owner_${stamp}`);
  const fan = await register(`fan_${stamp}`);
  // A public video (an upload begun, enough for a watch page) of the owner's.
  const created = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: {
    Authorization: `Bearer ${owner.token}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': '1000',
    'Upload-Metadata': `filename ${Buffer.from('talk.mp4').toString('base64')},visibility ${Buffer.from('public').toString('base64')}`,
  } });
  if (created.status !== 201) throw new Error(`tus POST answered ${created.status}`);
  const id = created.headers.get('streamlet-video-id');
  const signIn = async (user) => {
    await page.goto('/');
    await page.evaluate(() => localStorage.clear());
    await page.goto(`/login?next=/watch/${id}`);
    await page.getByLabel('Username').fill(user.user.username);
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`**/watch/${id}`);
    await page.locator('section.social').waitFor();
  };
  const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> nice talk`;

  await step('watch page: sign in, like (the count says 1, kept after a reload), comment (a hostile one stays text), see it, delete it', async () => {
    await page.setViewportSize(DESKTOP);
    await signIn(fan);
    const like = page.locator('button.like');
    await like.waitFor();
    assert((await like.innerText()).includes('0 likes'), `before: ${await like.innerText()}`);
    await like.click();
    await poll('the like to count', async () => (await like.getAttribute('aria-pressed')) === 'true');
    assert((await like.innerText()).includes('1 like'), `after: ${await like.innerText()}`);
    const seen = await api('GET', `/v1/videos/${id}`, null, fan.token);
    assert(seen.json.likes === 1 && seen.json.liked === true, `the API says ${seen.text}`);
    await page.reload();
    await page.locator('button.like[aria-pressed="true"]').waitFor();

    await page.getByLabel('Your comment').fill(hostile);
    await page.getByRole('button', { name: 'Post comment' }).click();
    const item = page.locator('li.comment', { hasText: 'nice talk' });
    await item.waitFor();
    // The body is shown as the text it is: no element made from it, nothing run.
    const body = await item.locator('.comment-body').innerText();
    assert(body === hostile, `the comment reads ${body}`);
    assert(await item.locator('.comment-body img, .comment-body script').count() === 0, 'the comment made elements');
    assert(await page.evaluate(() => window.__pwned === undefined), 'the comment ran script');
    assert((await item.locator('.author').innerText()) === fan.user.username, 'no author name');
    await page.getByRole('heading', { name: 'Comments (1)' }).waitFor();
    await page.reload();  // stored, not only drawn
    await item.waitFor();
    assert(await page.evaluate(() => window.__pwned === undefined), 'the stored comment ran script');
    await shot('watch-comments');
    await item.getByRole('button', { name: 'Delete' }).click();
    await item.waitFor({ state: 'detached' });
    await page.getByText('No comments yet.').waitFor();
    const left = await api('GET', `/v1/videos/${id}/comments`, null, fan.token);
    assert(left.json.total === 0, `after delete the API lists ${left.text}`);
  });

  await step('watch page: other people see no Delete, the owner does; Load more shows older comments', async () => {
    // 23 comments from three users (each under the 10 a minute a user may post).
    const people = [fan, await register(`third_${stamp}`), await register(`fourth_${stamp}`)];
    for (let i = 0; i < 23; i++) {
      const r = await api('POST', `/v1/videos/${id}/comments`, { body: `comment ${i}` }, people[i % 3].token);
      assert(r.status === 201, `comment ${i}: ${r.status} ${r.text}`);
    }
    await signIn(people[1]);
    await page.getByRole('heading', { name: 'Comments (23)' }).waitFor();
    const items = page.locator('li.comment');
    assert(await items.count() === 20, `first page shows ${await items.count()}`);
    assert((await items.first().innerText()).includes('comment 22'), 'not newest first');
    // The newest (comment 22, 22 % 3 == 1) is people[1]'s own: only it has Delete.
    assert(await items.nth(0).getByRole('button', { name: 'Delete' }).count() === 1, 'no Delete on own comment');
    assert(await items.nth(1).getByRole('button', { name: 'Delete' }).count() === 0, 'Delete on another user\'s comment');
    await page.getByRole('button', { name: 'Load more comments' }).click();
    await poll('the older comments', async () => (await items.count()) === 23);
    assert((await items.last().innerText()).includes('comment 0'), 'the oldest is not last');
    assert(await page.getByRole('button', { name: 'Load more comments' }).isHidden(), 'Load more still offered at the end');
    await signIn(owner);
    await page.locator('li.comment').first().waitFor();
    const deletable = await page.locator('li.comment button.delete-comment').count();
    assert(deletable === 20, `the owner can delete ${deletable} of 20`);
    await shot('watch-comments-phone', PHONE);
    await page.setViewportSize(DESKTOP);
  });

  await step('watch page signed out: likes and comments shown, an invitation to sign in', async () => {
    await page.goto('/');
    await page.evaluate(() => localStorage.clear());
    await page.goto(`/watch/${id}`);
    await page.getByRole('heading', { name: 'Comments (23)' }).waitFor();
    assert(await page.locator('button.like').isDisabled(), 'anonymous like button is enabled');
    assert(await page.getByLabel('Your comment').count() === 0, 'a comment box for an anonymous viewer');
    await page.getByRole('link', { name: 'Sign in' }).first().waitFor();
  });
}

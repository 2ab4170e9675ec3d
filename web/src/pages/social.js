// The watch page's like button and comments (GET/POST/DELETE /v1/videos/{id}/comments,
// PUT/DELETE /v1/videos/{id}/like). Comment text goes into the page as text nodes only
// (h() appends strings as text), so a hostile body stays inert.
import { h, formatCount } from '../dom.js';
import { api, session } from '../api.js';

const PAGE = 20;

export function socialSection(video) {
  const base = `/v1/videos/${encodeURIComponent(video.id)}`;
  const signedIn = !!session.user;
  const likeError = h('span.error', { role: 'alert' });
  let liked = !!video.liked;
  let likes = video.likes || 0;
  const likeButton = h('button.like', { type: 'button', disabled: !signedIn, on: { click: toggleLike } });
  function paintLike() {
    likeButton.setAttribute('aria-pressed', String(liked));
    likeButton.textContent = `${liked ? '♥' : '♡'} ${formatCount(likes, 'like')}`;
    likeButton.title = signedIn ? (liked ? 'Unlike' : 'Like') : 'Sign in to like';
  }
  async function toggleLike() {
    likeError.textContent = '';
    likeButton.disabled = true;
    try {
      const r = await api(liked ? 'DELETE' : 'PUT', `${base}/like`);
      liked = r.liked;
      likes = r.likes;
      paintLike();
    } catch (err) {
      likeError.textContent = err.message;
    } finally {
      likeButton.disabled = false;
    }
  }
  paintLike();

  const heading = h('h2', 'Comments');
  const list = h('ol.comments', { 'aria-label': 'Comments' });
  const empty = h('p.hint.no-comments', 'No comments yet.');
  const listError = h('p.error', { role: 'alert' });
  const more = h('button.small.more-comments', { type: 'button', hidden: true, on: { click: () => load(cursor) } }, 'Load more comments');
  let cursor = null;
  let total = 0;
  const paintTotal = () => {
    heading.textContent = total ? `Comments (${total})` : 'Comments';
    empty.hidden = list.children.length > 0;
  };

  function commentItem(c) {
    const error = h('span.error', { role: 'alert' });
    const item = h('li.comment', { dataset: { commentId: c.id } },
      h('p.comment-meta', h('a.author', { href: `/u/${encodeURIComponent(c.author.username)}` }, c.author.username),
        ' · ', h('time', { dateTime: c.created_at }, new Date(c.created_at).toLocaleString())),
      h('p.comment-body', c.body));
    if (c.can_delete) {
      item.append(h('button.link.delete-comment', { type: 'button', on: { click: async () => {
        error.textContent = '';
        try {
          await api('DELETE', `${base}/comments/${encodeURIComponent(c.id)}`);
          item.remove();
          total = Math.max(0, total - 1);
          paintTotal();
        } catch (err) {
          error.textContent = err.message;
        }
      } } }, 'Delete'), ' ', error);
    }
    return item;
  }

  async function load(after) {
    listError.textContent = '';
    more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (after) q.set('cursor', after);
      const r = await api('GET', `${base}/comments?${q}`);
      for (const c of r.items) list.append(commentItem(c));
      cursor = r.next_cursor;
      total = r.total;
      more.hidden = !cursor;
      paintTotal();
    } catch (err) {
      listError.textContent = `Could not load the comments: ${err.message}`;
    } finally {
      more.disabled = false;
    }
  }

  let form;
  if (signedIn) {
    const box = h('textarea', { id: 'comment-body', name: 'body', rows: 3, maxLength: 2000, required: true, placeholder: 'Add a comment…' });
    const count = h('span.hint.counter', { 'aria-live': 'polite' }, '0 / 2000');
    const formError = h('p.error', { role: 'alert' });
    const post = h('button', { type: 'submit' }, 'Post comment');
    box.addEventListener('input', () => { count.textContent = `${[...box.value].length} / 2000`; });
    form = h('form.comment-form', { on: { submit: async (e) => {
      e.preventDefault();
      formError.textContent = '';
      if (!box.value.trim()) return (formError.textContent = 'Write something first.');
      post.disabled = true;
      try {
        const c = await api('POST', `${base}/comments`, { body: box.value });
        list.prepend(commentItem(c));
        total += 1;
        paintTotal();
        box.value = '';
        count.textContent = '0 / 2000';
      } catch (err) {
        formError.textContent = err.message;
      } finally {
        post.disabled = false;
      }
    } } },
    h('label', { htmlFor: 'comment-body' }, 'Your comment'), box, h('div.comment-actions', post, count), formError);
  } else {
    form = h('p.hint', h('a', { href: `/login?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'), ' to like and comment.');
  }

  load(null);
  return h('section.social', { 'aria-label': 'Likes and comments' },
    h('p.like-row', likeButton, ' ', likeError), heading, form, listError, list, empty, more);
}

// /u/{username}: a user's public, ready videos (GET /v1/videos?owner=<username>).
import { renderGrid } from './library.js';

export function renderChannel(main, ctx) {
  const username = decodeURIComponent(ctx.params[0]);
  document.title = `${username} · Streamlet`;
  return renderGrid(main, ctx, { owner: username, title: username, editable: false, channel: true });
}

#include "platform/social.hpp"

#include <chrono>
#include <string>

#include "catalog/fields.hpp"

namespace streamlet::platform::internal {

namespace {

using accounts::Principal;

bool may_delete(const Principal& who, const catalog::Video& video,
                const catalog::Comment& comment) {
  return who.admin() || who.user_id == comment.author_id || who.user_id == video.owner_id;
}

Status over_rate(std::chrono::seconds wait, std::string_view what) {
  return rate_limited("too many " + std::string(what) + "; try again in " +
                          std::to_string(wait.count()) + " s",
                      wait);
}

}  // namespace

Social::Social(std::shared_ptr<catalog::Catalog> catalog, int likes_per_minute,
               int comments_per_minute)
    : catalog_(std::move(catalog)),
      likes_(likes_per_minute, std::chrono::minutes(1)),
      comments_(comments_per_minute, std::chrono::minutes(1)) {}

Result<catalog::Video> Social::video_for(const Principal& who, std::string_view video_id,
                                         bool must_sign_in) {
  if (must_sign_in && !who.authenticated())
    return error(ErrorCode::kUnauthenticated, "sign in to like or comment");
  auto v = catalog_->get_video(video_id);
  if (!v.ok() || !accounts::authorize(who, accounts::Action::kView, *v))
    return error(ErrorCode::kNotFound, "no such video");
  return v;
}

Result<LikeView> Social::set_like(const Principal& who, std::string_view video_id, bool like) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(who, video_id, true));
  if (auto wait = likes_.acquire(who.user_id); wait.count() > 0)
    return over_rate(wait, "likes");
  STREAMLET_ASSIGN_OR_RETURN(int64_t count, catalog_->set_like(v.id, who.user_id, like));
  return LikeView{count, like};
}

Result<CommentView> Social::add_comment(const Principal& who, std::string_view video_id,
                                        std::string_view body) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(who, video_id, true));
  // A refused body takes nothing from the rate: only comments that would be stored count.
  STREAMLET_RETURN_IF_ERROR(catalog::detail::comment_body(body).status());
  if (auto wait = comments_.acquire(who.user_id); wait.count() > 0)
    return over_rate(wait, "comments");
  STREAMLET_ASSIGN_OR_RETURN(auto c, catalog_->add_comment(v.id, who.user_id, body));
  return CommentView{std::move(c), true};
}

Result<CommentList> Social::list_comments(const Principal& who, std::string_view video_id,
                                          std::string_view cursor, int limit) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(who, video_id, false));
  if (limit < 1 || limit > 100) return error(ErrorCode::kInvalidArgument, "limit: 1..100");
  STREAMLET_ASSIGN_OR_RETURN(auto page, catalog_->list_comments(v.id, cursor, limit));
  CommentList out;
  out.next_cursor = std::move(page.next_cursor);
  out.total = page.total;
  for (auto& c : page.items) {
    const bool can = who.authenticated() && may_delete(who, v, c);
    out.items.push_back({std::move(c), can});
  }
  return out;
}

Status Social::delete_comment(const Principal& who, std::string_view video_id,
                              std::string_view comment_id) {
  STREAMLET_ASSIGN_OR_RETURN(auto v, video_for(who, video_id, true));
  STREAMLET_ASSIGN_OR_RETURN(auto c, catalog_->get_comment(v.id, comment_id));
  if (!may_delete(who, v, c))
    return error(ErrorCode::kPermissionDenied,
                 "only the comment's author, the video's owner or an admin may delete it");
  return catalog_->delete_comment(v.id, c.id);
}

}  // namespace streamlet::platform::internal

// Likes and comments (internal): the rules of Platform::set_like, add_comment, list_comments
// and delete_comment over the catalog, with their per-user rates.
//
// Who may do what: a signed-in user likes and comments on any video they may view; a comment
// is deleted by its author, the video's owner or an admin. A video the caller may not view
// answers kNotFound, as the video itself does. Thread safe.
#pragma once

#include <memory>
#include <string_view>

#include "streamlet/accounts.hpp"
#include "streamlet/catalog.hpp"
#include "streamlet/platform.hpp"
#include "streamlet/status.hpp"
#include "streamlet/throttle.hpp"

namespace streamlet::platform::internal {

class Social {
 public:
  // Rates are events per minute and user on this node; <= 0 is no limit.
  Social(std::shared_ptr<catalog::Catalog> catalog, int likes_per_minute,
         int comments_per_minute);

  Result<LikeView> set_like(const accounts::Principal& who, std::string_view video_id, bool like);
  Result<CommentView> add_comment(const accounts::Principal& who, std::string_view video_id,
                                  std::string_view body);
  Result<CommentList> list_comments(const accounts::Principal& who, std::string_view video_id,
                                    std::string_view cursor, int limit);
  Status delete_comment(const accounts::Principal& who, std::string_view video_id,
                        std::string_view comment_id);

 private:
  // The video, when `who` is signed in (kUnauthenticated) and may view it (kNotFound).
  Result<catalog::Video> video_for(const accounts::Principal& who, std::string_view video_id,
                                   bool must_sign_in);

  std::shared_ptr<catalog::Catalog> catalog_;
  throttle::RateLimiter likes_;
  throttle::RateLimiter comments_;
};

}  // namespace streamlet::platform::internal

// /media/{id}/{path}: playback is answered by the front's event loops (origin::Front with
// Platform::serve_media), so no GET, HEAD or OPTIONS of it reaches httplib. The route table
// still knows the pattern, so other methods on it answer 405 with Allow.
#include "routes.hpp"

namespace streamlet::server {

void register_media_routes(Routes& r, httplib::Server&) {
  route_elsewhere(r, RouteId::kMediaGet);
  route_elsewhere(r, RouteId::kMediaOptions);
}

}  // namespace streamlet::server

// The tus endpoint (/v1/uploads) as cpp-httplib routes over the library's TusHandler.
#pragma once

#include <httplib.h>

#include <string>

#include "streamlet/platform.hpp"
#include "streamlet/upload.hpp"

namespace streamlet::server {

// Registers OPTIONS/POST/HEAD/PATCH/DELETE on handler's base path. Every method but OPTIONS
// (a CORS preflight) needs a signed-in user or API key; creation makes the video
// (Streamlet-Video-Id), other methods need the uploader or an admin. `tus` and `platform`
// must outlive `server`.
void register_upload_routes(httplib::Server& server, upload::TusHandler& tus,
                            platform::Platform& platform, const std::string& base_path);

}  // namespace streamlet::server

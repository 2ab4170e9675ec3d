// The tus endpoint (/v1/uploads) as cpp-httplib routes over the library's TusHandler.
#pragma once

#include <httplib.h>

#include <string>

#include "streamlet/upload.hpp"

namespace streamlet::server {

// Registers OPTIONS/POST/HEAD/PATCH/DELETE on handler's base path. Every method but OPTIONS
// (a CORS preflight) needs "Authorization: Bearer <api_key>". `tus` must outlive `server`.
void register_upload_routes(httplib::Server& server, upload::TusHandler& tus,
                            const std::string& base_path, const std::string& api_key);

}  // namespace streamlet::server

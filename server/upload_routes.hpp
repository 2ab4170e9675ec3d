// The tus endpoint (/v1/uploads) as cpp-httplib routes over the library's TusHandler.
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>

#include "request_metrics.hpp"
#include "streamlet/platform.hpp"
#include "streamlet/upload.hpp"

namespace streamlet::server {

// Registers the route table's upload rows (OPTIONS/POST/HEAD/PATCH/DELETE on uploads_path()
// and every upload under it; `tus` must have that base path). Every method but OPTIONS
// (a CORS preflight) needs a signed-in user or API key; creation makes the video
// (Streamlet-Video-Id), other methods need the uploader or an admin. `tus` and `platform`
// must outlive `server`.
// Upload URLs (Location) start with `public_url` when it is set (parse_public_url's form),
// else with the scheme and the request's Host, which must be a plausible host[:port] (400).
void register_upload_routes(httplib::Server& server, platform::Platform& platform,
                            RequestMetrics& metrics, const std::string& public_url = "");

// A Host header value that may be put in a URL: a DNS name or IPv4 address, or an IPv6
// address in brackets, with an optional port. No spaces, slashes, userinfo or CR/LF.
bool plausible_host(std::string_view host);

// How clients reach this server, for absolute URLs: `public_url` when set, else the scheme
// (X-Forwarded-Proto https, else http) and the request's Host; nullopt when that Host is not
// plausible_host().
std::optional<std::string> request_base_url(const std::string& public_url,
                                            const httplib::Request& req);

// --public-url: "http[s]://host[:port][/path]" (a trailing slash is dropped), how clients
// reach this server. kInvalidArgument for anything else (no scheme, a query, a bad host).
Result<std::string> parse_public_url(std::string_view url);

}  // namespace streamlet::server

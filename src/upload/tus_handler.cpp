// tus 1.0.0 over UploadStore: parses and checks headers, calls the store, formats headers.
// Knows nothing about sockets; the server adapts it to cpp-httplib.
#include <strings.h>

#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "streamlet/upload.hpp"

namespace streamlet::upload {

namespace {

constexpr std::string_view kOffsetContentType = "application/offset+octet-stream";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A response decided by the protocol itself (405, 412), not by a store Status.
TusResponse protocol_response(int status, std::string_view message) {
  TusResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = streamlet::detail::json_text(nlohmann::json{{"error", message}});
  return r;
}

TusResponse error_response(Status status) {
  TusResponse r;
  r.error = std::move(status);
  return r;
}

Result<std::optional<uint64_t>> optional_uint(const TusRequest& req, std::string_view name) {
  auto v = req.header(name);
  if (!v) return std::optional<uint64_t>();
  auto n = parse_uint(trim(*v));
  if (!n.ok())
    return error(ErrorCode::kInvalidArgument, std::string(name) + ": " + n.status().message());
  return std::optional<uint64_t>(*n);
}

bool has_body(const TusRequest& req) {
  if (!req.body) return false;
  if (auto te = req.header("Transfer-Encoding"); te && !trim(*te).empty()) return true;
  auto cl = req.header("Content-Length");
  return cl && trim(*cl) != "0";
}

Status check_content_type(const TusRequest& req) {
  auto ct = req.header("Content-Type");
  if (!ct || !iequals(trim(ct->substr(0, ct->find(';'))), kOffsetContentType))
    return error(ErrorCode::kUnsupported, "Content-Type must be application/offset+octet-stream");
  return Status::Ok();
}

// Wraps a body reader to learn whether the body was read to its end.
struct TrackedBody {
  BodyReader inner;
  bool drained = false;
  BodyReader reader() {
    return [this](const BodySink& sink) {
      bool ok = inner(sink);
      drained = ok;
      return ok;
    };
  }
};

}  // namespace

std::optional<std::string> TusRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

TusHandler::TusHandler(UploadStore& store, TusOptions options)
    : store_(store), options_(std::move(options)) {
  while (options_.base_path.size() > 1 && options_.base_path.back() == '/')
    options_.base_path.pop_back();
}

void TusHandler::add_common_headers(TusResponse& r) const {
  r.headers.emplace_back("Tus-Resumable", std::string(kVersion));
  r.headers.emplace_back("Access-Control-Allow-Origin", options_.cors_allow_origin);
  r.headers.emplace_back(
      "Access-Control-Expose-Headers",
      "Location, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
      "Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Concat, "
      "Upload-Expires, Retry-After");
}

void TusHandler::add_upload_headers(TusResponse& r, const UploadInfo& info) const {
  r.headers.emplace_back("Upload-Offset", std::to_string(info.offset));
  if (!info.complete()) r.headers.emplace_back("Upload-Expires", http_date(info.expires));
}

TusResponse TusHandler::handle(const TusRequest& request) {
  std::string method = request.header("X-HTTP-Method-Override").value_or(request.method);
  for (auto& c : method) c = char(std::toupper(static_cast<unsigned char>(c)));

  // Split the path into the collection or one upload id.
  std::string_view path = request.path;
  std::string_view base = options_.base_path;
  std::optional<std::string_view> id;
  TusResponse r;
  if (path == base || (path.size() == base.size() + 1 && path.substr(0, base.size()) == base &&
                       path.back() == '/')) {
  } else if (path.size() > base.size() + 1 && path.substr(0, base.size()) == base &&
             path[base.size()] == '/' && path.find('/', base.size() + 1) == path.npos) {
    id = path.substr(base.size() + 1);
  } else {
    r = error_response(error(ErrorCode::kNotFound, "no such upload"));
    add_common_headers(r);
    return r;
  }

  if (method == "OPTIONS") {
    r = options_response();
  } else if (auto v = request.header("Tus-Resumable"); !v || trim(*v) != kVersion) {
    // Version negotiation failed: the client speaks another tus version (or none).
    r = protocol_response(412, "Tus-Resumable: 1.0.0 is required");
    r.headers.emplace_back("Tus-Version", std::string(kVersion));
    r.body_unread = has_body(request);
  } else if (!id) {
    if (method == "POST") {
      r = create(request);
    } else {
      r = protocol_response(405, "method not allowed on the upload collection");
      r.headers.emplace_back("Allow", "OPTIONS, POST");
      r.body_unread = has_body(request);
    }
  } else if (method == "HEAD") {
    r = head(*id);
  } else if (method == "PATCH") {
    r = patch(*id, request);
  } else if (method == "DELETE") {
    r = remove(*id);
    r.body_unread = has_body(request);
  } else {
    r = protocol_response(405, "method not allowed on an upload");
    r.headers.emplace_back("Allow", "OPTIONS, HEAD, PATCH, DELETE");
    r.body_unread = has_body(request);
  }
  add_common_headers(r);
  return r;
}

TusResponse TusHandler::options_response() const {
  TusResponse r;
  r.status = 204;
  r.headers.emplace_back("Tus-Version", std::string(kVersion));
  r.headers.emplace_back("Tus-Extension", std::string(kExtensions));
  r.headers.emplace_back("Tus-Max-Size", std::to_string(store_.options().max_upload_size));
  r.headers.emplace_back("Tus-Checksum-Algorithm", std::string(kChecksumAlgorithms));
  r.headers.emplace_back("Access-Control-Allow-Methods", "POST, HEAD, PATCH, DELETE, OPTIONS");
  r.headers.emplace_back(
      "Access-Control-Allow-Headers",
      "Authorization, Content-Type, Origin, X-Requested-With, X-HTTP-Method-Override, "
      "Tus-Resumable, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Offset, "
      "Upload-Concat, Upload-Checksum");
  r.headers.emplace_back("Access-Control-Max-Age", "86400");
  return r;
}

TusResponse TusHandler::create(const TusRequest& req) {
  TusResponse bad;
  bad.body_unread = has_body(req);
  auto fail = [&](Status s) {
    bad.error = std::move(s);
    return bad;
  };

  std::map<std::string, std::string> metadata;
  if (auto m = req.header("Upload-Metadata")) {
    if (m->size() > options_.max_metadata_size)
      return fail(error(ErrorCode::kInvalidArgument, "Upload-Metadata is too large"));
    auto parsed = parse_metadata(*m);
    if (!parsed.ok()) return fail(parsed.status());
    metadata = std::move(parsed).value();
  }

  bool partial = false;
  std::vector<std::string> final_parts;
  if (auto c = req.header("Upload-Concat")) {
    std::string_view concat = trim(*c);
    if (concat == "partial") {
      partial = true;
    } else if (concat.substr(0, 6) == "final;") {
      std::string_view rest = concat.substr(6);
      while (!rest.empty()) {
        rest = trim(rest);
        size_t sp = rest.find(' ');
        std::string_view url = rest.substr(0, sp);
        rest = sp == rest.npos ? std::string_view() : rest.substr(sp + 1);
        if (url.empty()) continue;
        // Parts may be named by absolute URL or by path; the id is the last segment.
        size_t slash = url.rfind('/');
        std::string_view prefix = slash == url.npos ? std::string_view() : url.substr(0, slash);
        if (prefix.size() < options_.base_path.size() ||
            prefix.substr(prefix.size() - options_.base_path.size()) != options_.base_path)
          return fail(error(ErrorCode::kInvalidArgument,
                            "Upload-Concat: not an upload URL of this server: " +
                                std::string(url.substr(0, 200))));
        final_parts.emplace_back(url.substr(slash + 1));
      }
      if (final_parts.empty())
        return fail(error(ErrorCode::kInvalidArgument, "Upload-Concat: final lists no parts"));
    } else {
      return fail(error(ErrorCode::kInvalidArgument,
                        "Upload-Concat must be 'partial' or 'final;<url> <url>...'"));
    }
  }

  UploadInfo info;
  if (!final_parts.empty()) {
    if (has_body(req))
      return fail(error(ErrorCode::kInvalidArgument, "a final upload cannot carry a body"));
    auto made = store_.concatenate(final_parts, std::move(metadata));
    if (!made.ok()) return fail(made.status());
    info = std::move(made).value();
  } else {
    auto length = optional_uint(req, "Upload-Length");
    if (!length.ok()) return fail(length.status());
    auto defer = req.header("Upload-Defer-Length");
    if (defer && trim(*defer) != "1")
      return fail(error(ErrorCode::kInvalidArgument, "Upload-Defer-Length must be 1"));
    if (length->has_value() == defer.has_value())
      return fail(error(ErrorCode::kInvalidArgument,
                        "exactly one of Upload-Length and Upload-Defer-Length is required"));
    std::optional<Checksum> checksum;
    if (has_body(req)) {
      if (Status st = check_content_type(req); !st.ok()) return fail(st);
      if (auto h = req.header("Upload-Checksum")) {
        auto parsed = parse_checksum(*h);
        if (!parsed.ok()) return fail(parsed.status());
        checksum = std::move(parsed).value();
      }
    }
    auto content_length = optional_uint(req, "Content-Length");
    if (!content_length.ok()) return fail(content_length.status());
    if (length->has_value() && content_length->value_or(0) > **length)
      return fail(error(ErrorCode::kTooLarge, "the body is longer than Upload-Length"));

    auto made =
        store_.create({.length = *length, .metadata = std::move(metadata), .partial = partial});
    if (!made.ok()) return fail(made.status());
    info = std::move(made).value();
    if (has_body(req)) {  // creation-with-upload
      TrackedBody tracked{req.body};
      auto appended = store_.append(
          info.id, {.offset = 0, .content_length = *content_length, .checksum = checksum},
          tracked.reader());
      // The upload exists either way; the client learns the offset and PATCHes the rest.
      if (appended.ok())
        info = std::move(appended).value();
      else if (auto now = store_.info(info.id); now.ok())
        info = std::move(now).value();
      bad.body_unread = !tracked.drained;
    }
  }

  TusResponse r;
  r.status = 201;
  r.body_unread = bad.body_unread;
  r.headers.emplace_back("Location", req.scheme_host + options_.base_path + "/" + info.id);
  add_upload_headers(r, info);
  return r;
}

TusResponse TusHandler::head(std::string_view id) const {
  auto info = store_.info(id);
  if (!info.ok()) return error_response(info.status());
  TusResponse r;
  r.status = 200;
  r.headers.emplace_back("Cache-Control", "no-store");
  add_upload_headers(r, *info);
  if (info->length)
    r.headers.emplace_back("Upload-Length", std::to_string(*info->length));
  else
    r.headers.emplace_back("Upload-Defer-Length", "1");
  if (!info->metadata.empty())
    r.headers.emplace_back("Upload-Metadata", format_metadata(info->metadata));
  if (info->partial) r.headers.emplace_back("Upload-Concat", "partial");
  if (info->final()) {
    std::string concat = "final;";
    for (size_t i = 0; i < info->parts.size(); ++i)
      concat += (i ? " " : "") + options_.base_path + "/" + info->parts[i];
    r.headers.emplace_back("Upload-Concat", concat);
  }
  return r;
}

TusResponse TusHandler::patch(std::string_view id, const TusRequest& req) {
  TusResponse bad;
  bad.body_unread = has_body(req);
  auto fail = [&](Status s) {
    bad.error = std::move(s);
    // Tell the client where the upload stands, so it can resume without a HEAD.
    if (auto now = store_.info(id); now.ok() && bad.error.code() == ErrorCode::kConflict)
      bad.headers.emplace_back("Upload-Offset", std::to_string(now->offset));
    return bad;
  };
  if (Status st = check_content_type(req); !st.ok()) return fail(st);
  auto offset = optional_uint(req, "Upload-Offset");
  if (!offset.ok()) return fail(offset.status());
  if (!offset->has_value())
    return fail(error(ErrorCode::kInvalidArgument, "Upload-Offset is required"));
  auto content_length = optional_uint(req, "Content-Length");
  if (!content_length.ok()) return fail(content_length.status());
  std::optional<Checksum> checksum;
  if (auto h = req.header("Upload-Checksum")) {
    auto parsed = parse_checksum(*h);
    if (!parsed.ok()) return fail(parsed.status());
    checksum = std::move(parsed).value();
  }
  auto length = optional_uint(req, "Upload-Length");
  if (!length.ok()) return fail(length.status());
  if (length->has_value()) {  // creation-defer-length: the length arrives with a PATCH
    auto declared = store_.declare_length(id, **length);
    if (!declared.ok()) return fail(declared.status());
  }

  TrackedBody tracked{req.body ? req.body : BodyReader([](const BodySink&) { return true; })};
  auto info = store_.append(
      id, {.offset = **offset, .content_length = *content_length, .checksum = checksum},
      tracked.reader());
  bad.body_unread = has_body(req) && !tracked.drained;
  if (!info.ok()) return fail(info.status());
  TusResponse r;
  r.status = 204;
  add_upload_headers(r, *info);
  return r;
}

TusResponse TusHandler::remove(std::string_view id) {
  Status st = store_.terminate(id);
  if (!st.ok()) return error_response(st);
  TusResponse r;
  r.status = 204;
  return r;
}

}  // namespace streamlet::upload

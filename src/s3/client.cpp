#include "s3/client.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>

namespace streamlet::s3::detail {

namespace {

constexpr size_t kMaxIdleSessions = 16;
constexpr size_t kDeleteBatch = 1000;  // DeleteObjects' limit

std::string digest(const EVP_MD* md, std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &n, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), n);
}

uint64_t to_u64(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

// "2024-05-01T12:34:56.789Z" -> Unix ms (0 when malformed).
int64_t iso_ms(std::string_view s) {
  int y, mo, d, h, mi;
  double sec;
  std::string text(s);
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &d, &h, &mi, &sec) != 6) return 0;
  struct tm t = {};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = 0;
  return int64_t(timegm(&t)) * 1000 + int64_t(sec * 1000);
}

}  // namespace

std::string aws_encode(std::string_view s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s.substr(i);
      break;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (!ent.empty() && ent[0] == '#') {
      unsigned long cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      // UTF-8 of the code point.
      if (cp < 0x80) {
        out += char(cp);
      } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      }
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<std::string_view> xml_all(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> found;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  size_t at = 0;
  while ((at = xml.find(open, at)) != std::string_view::npos) {
    size_t begin = at + open.size();
    size_t end = xml.find(close, begin);
    if (end == std::string_view::npos) break;
    found.push_back(xml.substr(begin, end - begin));
    at = end + close.size();
  }
  return found;
}

std::string xml_first(std::string_view xml, std::string_view tag) {
  auto all = xml_all(xml, tag);
  return all.empty() ? std::string() : xml_unescape(all.front());
}

std::string sha256_hex(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string raw = digest(EVP_sha256(), bytes), out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string md5_base64(std::string_view bytes) {
  std::string raw = digest(EVP_md5(), bytes);
  std::string out(4 * ((raw.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), int(raw.size()));
  out.resize(size_t(n));
  return out;
}

Client::Client(S3Options options) : options_(std::move(options)) {
  http_.connect_timeout = options_.connect_timeout;
  http_.idle_timeout = options_.idle_timeout;
  http_.ca_file = options_.ca_file;
  http_.max_response_bytes = 16u << 20;  // a ListObjectsV2 page of long keys fits
  http_.user_agent = "streamlet-s3";
  http_.aws_sigv4 = net::AwsSigV4{.region = options_.region,
                                  .service = "s3",
                                  .access_key = options_.access_key,
                                  .secret_key = options_.secret_key};
}

std::string Client::describe() const {
  return "s3://" + options_.bucket + "/" + options_.key_prefix + " (" + options_.endpoint + ")";
}

std::string Client::url(std::string_view key, const Query& query) const {
  std::string u;
  std::string endpoint = options_.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (options_.path_style) {
    u = endpoint + "/" + aws_encode(options_.bucket, false);
    if (!key.empty()) u += "/" + aws_encode(key, true);
  } else {
    size_t scheme = endpoint.find("://");
    u = endpoint.substr(0, scheme + 3) + options_.bucket + "." + endpoint.substr(scheme + 3) + "/" +
        aws_encode(key, true);
  }
  // curl signs the query exactly as given: sorted by name, every name and value encoded,
  // "name=" even for an empty value.
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : query) q.emplace_back(aws_encode(k, false), aws_encode(v, false));
  std::sort(q.begin(), q.end());
  for (size_t i = 0; i < q.size(); ++i) u += (i ? "&" : "?") + q[i].first + "=" + q[i].second;
  return u;
}

std::unique_ptr<net::HttpSession> Client::borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto s = std::move(idle_.back());
      idle_.pop_back();
      return s;
    }
  }
  return std::make_unique<net::HttpSession>(http_);
}

void Client::give_back(std::unique_ptr<net::HttpSession> session) {
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleSessions) idle_.push_back(std::move(session));
}

Result<net::HttpResponse> Client::perform(const Request& r) {
  net::HttpRequest req;
  req.method = r.method;
  req.url = url(r.key, r.query);
  req.headers = r.headers;
  // curl never sends it, and S3 refuses a SigV4 request without it: the real hash, so the
  // server also checks the bytes.
  req.headers.push_back("x-amz-content-sha256: " + sha256_hex(r.body));
  if (!r.body.empty() || r.method == "PUT" || r.method == "POST") req.set_body(r.body);
  req.sink = r.sink;
  auto session = borrow();
  auto res = session->perform(req);
  if (res.ok()) give_back(std::move(session));  // a failed connection is not reused
  return res;
}

Status Client::failure(const Result<net::HttpResponse>& res, std::string_view what,
                       std::string_view key) const {
  std::string where = "s3 " + std::string(what) + " " + options_.bucket + "/" + std::string(key);
  if (!res.ok()) return error(res.status().code(), where + ": " + res.status().message());
  const int status = res->status;
  std::string message = where + ": HTTP " + std::to_string(status);
  std::string code = xml_first(res->body, "Code");
  std::string text = xml_first(res->body, "Message");
  if (!code.empty()) message += " " + code;
  if (!text.empty()) message += ": " + text;
  ErrorCode ec = status == 404                   ? ErrorCode::kNotFound
                 : status == 401 || status == 403 ? ErrorCode::kPermissionDenied
                 : status == 409 || status == 412 ? ErrorCode::kConflict
                 : status == 413 || code == "EntityTooLarge" ? ErrorCode::kTooLarge
                 : status == 400 && code == "BadDigest"     ? ErrorCode::kChecksumMismatch
                 : status >= 500 || status == 429           ? ErrorCode::kIo
                 : code == "QuotaExceeded"                  ? ErrorCode::kResourceExhausted
                                                            : ErrorCode::kInvalidArgument;
  if (code == "QuotaExceeded") ec = ErrorCode::kResourceExhausted;
  return error(ec, message);
}

Result<net::HttpResponse> Client::expect_ok(const Request& request, std::string_view what) {
  auto res = perform(request);
  if (!res.ok() || res->status < 200 || res->status >= 300)
    return failure(res, what, request.key);
  // CopyObject and CompleteMultipartUpload may fail after a 200 has been sent.
  if (res->body.find("<Error>") != std::string::npos) {
    net::HttpResponse copy = *res;
    copy.status = 500;
    return failure(copy, what, request.key);
  }
  return res;
}

Status Client::head_bucket() {
  auto res = perform({.method = "HEAD"});
  if (res.ok() && res->status == 200) return Status::Ok();
  if (res.ok() && res->status == 404)
    return error(ErrorCode::kNotFound, "s3: no bucket \"" + options_.bucket + "\" at " +
                                           options_.endpoint);
  if (res.ok() && res->status == 403) {
    // HEAD has no body: ask again with GET to have S3 say why (bad key, bad signature).
    auto why = perform({.method = "GET", .query = {{"max-keys", "0"}}});
    Status st = failure(why.ok() && why->status == 403 ? why : res, "open bucket", "");
    return error(ErrorCode::kPermissionDenied, st.message());
  }
  return failure(res, "open bucket", "");
}

Status Client::create_bucket() {
  auto res = perform({.method = "PUT"});
  if (res.ok() && (res->status == 200 || res->status == 409)) return Status::Ok();
  return failure(res, "create bucket", "");
}

Status Client::put(const std::string& key, std::string_view bytes,
                   const std::vector<std::string>& headers) {
  Request r{.method = "PUT", .key = key, .headers = headers, .body = bytes};
  r.headers.push_back("Content-MD5: " + md5_base64(bytes));
  return expect_ok(r, "put").status();
}

Status Client::remove(const std::string& key) {
  auto res = perform({.method = "DELETE", .key = key});
  if (res.ok() && (res->status == 204 || res->status == 200 || res->status == 404))
    return Status::Ok();
  return failure(res, "delete", key);
}

Status Client::copy(const std::string& from, const std::string& to) {
  Request r{.method = "PUT", .key = to};
  r.headers.push_back("x-amz-copy-source: /" + aws_encode(options_.bucket, false) + "/" +
                      aws_encode(from, true));
  return expect_ok(r, "copy " + from + " to").status();
}

Status Client::list(const std::string& prefix,
                    const std::function<bool(const ListedObject&)>& each) {
  std::string token;
  while (true) {
    Request r{.method = "GET", .query = {{"list-type", "2"}, {"prefix", prefix}}};
    if (!token.empty()) r.query.emplace_back("continuation-token", token);
    STREAMLET_ASSIGN_OR_RETURN(auto res, expect_ok(r, "list " + prefix + " in"));
    for (std::string_view c : xml_all(res.body, "Contents")) {
      ListedObject o;
      o.key = xml_first(c, "Key");
      o.size = to_u64(xml_first(c, "Size"));
      o.modified_ms = iso_ms(xml_first(c, "LastModified"));
      if (!each(o)) return Status::Ok();
    }
    if (xml_first(res.body, "IsTruncated") != "true") return Status::Ok();
    token = xml_first(res.body, "NextContinuationToken");
    if (token.empty()) return error(ErrorCode::kIo, "s3 list: truncated page without a token");
  }
}

Status Client::remove_keys(const std::vector<std::string>& keys) {
  for (size_t at = 0; at < keys.size(); at += kDeleteBatch) {
    std::string body = "<Delete><Quiet>true</Quiet>";
    for (size_t i = at; i < std::min(keys.size(), at + kDeleteBatch); ++i)
      body += "<Object><Key>" + xml_escape(keys[i]) + "</Key></Object>";
    body += "</Delete>";
    Request r{.method = "POST", .query = {{"delete", ""}}, .body = body};
    r.headers = {"Content-MD5: " + md5_base64(body), "Content-Type: application/xml"};
    STREAMLET_ASSIGN_OR_RETURN(auto res, expect_ok(r, "delete objects in"));
    auto errors = xml_all(res.body, "Error");
    if (!errors.empty())
      return error(ErrorCode::kIo, "s3 delete " + xml_first(errors[0], "Key") + ": " +
                                       xml_first(errors[0], "Code") + " " +
                                       xml_first(errors[0], "Message"));
  }
  return Status::Ok();
}

Result<std::string> Client::create_multipart(const std::string& key) {
  STREAMLET_ASSIGN_OR_RETURN(
      auto res, expect_ok({.method = "POST", .key = key, .query = {{"uploads", ""}}},
                          "start multipart upload of"));
  std::string id = xml_first(res.body, "UploadId");
  if (id.empty()) return error(ErrorCode::kIo, "s3: no UploadId for " + key);
  return id;
}

Result<std::string> Client::upload_part(const std::string& key, const std::string& upload_id,
                                        int number, std::string_view bytes) {
  Request r{.method = "PUT",
            .key = key,
            .query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}},
            .body = bytes};
  r.headers.push_back("Content-MD5: " + md5_base64(bytes));
  STREAMLET_ASSIGN_OR_RETURN(auto res, expect_ok(r, "upload part of"));
  return res.header("ETag");
}

Status Client::complete_multipart(const std::string& key, const std::string& upload_id,
                                  const std::vector<PartInfo>& parts) {
  std::string body = "<CompleteMultipartUpload>";
  for (const auto& p : parts)
    body += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>" +
            xml_escape(p.etag) + "</ETag></Part>";
  body += "</CompleteMultipartUpload>";
  Request r{.method = "POST", .key = key, .query = {{"uploadId", upload_id}}, .body = body};
  r.headers.push_back("Content-Type: application/xml");
  return expect_ok(r, "complete multipart upload of").status();
}

Status Client::abort_multipart(const std::string& key, const std::string& upload_id) {
  auto res = perform({.method = "DELETE", .key = key, .query = {{"uploadId", upload_id}}});
  if (res.ok() && (res->status == 204 || res->status == 200 || res->status == 404))
    return Status::Ok();
  return failure(res, "abort multipart upload of", key);
}

Result<std::vector<PartInfo>> Client::list_parts(const std::string& key,
                                                 const std::string& upload_id) {
  std::vector<PartInfo> parts;
  std::string marker;
  while (true) {
    Request r{.method = "GET", .key = key, .query = {{"uploadId", upload_id}}};
    if (!marker.empty()) r.query.emplace_back("part-number-marker", marker);
    STREAMLET_ASSIGN_OR_RETURN(auto res, expect_ok(r, "list parts of"));
    for (std::string_view p : xml_all(res.body, "Part"))
      parts.push_back({.number = int(to_u64(xml_first(p, "PartNumber"))),
                       .size = to_u64(xml_first(p, "Size")),
                       .etag = xml_first(p, "ETag")});
    if (xml_first(res.body, "IsTruncated") != "true") break;
    marker = xml_first(res.body, "NextPartNumberMarker");
    if (marker.empty()) break;
  }
  std::sort(parts.begin(), parts.end(),
            [](const PartInfo& a, const PartInfo& b) { return a.number < b.number; });
  return parts;
}

Result<std::vector<std::pair<std::string, std::string>>> Client::list_multipart(
    const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> found;
  std::string key_marker, id_marker;
  while (true) {
    Request r{.method = "GET", .query = {{"uploads", ""}, {"prefix", prefix}}};
    if (!key_marker.empty()) {
      r.query.emplace_back("key-marker", key_marker);
      r.query.emplace_back("upload-id-marker", id_marker);
    }
    STREAMLET_ASSIGN_OR_RETURN(auto res, expect_ok(r, "list multipart uploads " + prefix + " in"));
    for (std::string_view u : xml_all(res.body, "Upload"))
      found.emplace_back(xml_first(u, "Key"), xml_first(u, "UploadId"));
    if (xml_first(res.body, "IsTruncated") != "true") break;
    key_marker = xml_first(res.body, "NextKeyMarker");
    id_marker = xml_first(res.body, "NextUploadIdMarker");
    if (key_marker.empty()) break;
  }
  return found;
}

}  // namespace streamlet::s3::detail

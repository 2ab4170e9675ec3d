#include "net/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace streamlet::net {

namespace {

// curl_global_init is not thread-safe on every build; once per process, never cleaned up
// (other code in the process may use curl too).
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// What one transfer's callbacks share.
struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse response;
  size_t max_body = 0;
  bool body_too_long = false;
  bool body_failed = false;
  bool cancelled = false;
  bool sink_refused = false;
  bool stopped_at_body = false;  // status_only: ended on purpose where the body began
  std::optional<bool> to_sink;  // decided at the first byte of the body, from the status
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") {
    t->response.headers.clear();  // a new response (after 100 Continue, say)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t->response.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                     std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->request->status_only) {
    t->stopped_at_body = true;
    return 0;
  }
  if (!t->to_sink) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->to_sink = t->request->sink && status >= 200 && status < 300;
  }
  if (*t->to_sink) {
    if (n && !t->request->sink(data, n)) {
      t->sink_refused = true;
      return 0;
    }
    return n;
  }
  if (t->response.body.size() + n > t->max_body) {
    t->body_too_long = true;
    return 0;  // aborts the transfer: a hostile server cannot fill our memory
  }
  t->response.body.append(data, n);
  return n;
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long n = t->request->body(buffer, size * count);
  if (n < 0) {
    t->body_failed = true;
    return CURL_READFUNC_ABORT;
  }
  return size_t(n);
}

int on_seek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || !t->request->rewind) return CURL_SEEKFUNC_CANTSEEK;
  return t->request->rewind(uint64_t(offset)) ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(user);
  if (t->request->uploaded) t->request->uploaded->store(uint64_t(ulnow));
  if (t->request->cancelled && t->request->cancelled()) {
    t->cancelled = true;
    return 1;
  }
  return 0;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

void HttpRequest::set_body(std::string_view bytes) {
  body_length = bytes.size();
  auto sent = std::make_shared<size_t>(0);
  body = [bytes, sent](char* buffer, size_t size) -> long {
    size_t n = std::min(size, bytes.size() - *sent);
    std::memcpy(buffer, bytes.data() + *sent, n);
    *sent += n;
    return long(n);
  };
  rewind = [bytes, sent](uint64_t offset) {
    if (offset > bytes.size()) return false;
    *sent = size_t(offset);
    return true;
  };
}

struct HttpSession::Impl {
  HttpOptions options;
  CURL* curl = nullptr;
};

HttpSession::HttpSession(HttpOptions options) : impl_(std::make_unique<Impl>()) {
  init_curl_once();
  impl_->options = std::move(options);
  impl_->curl = curl_easy_init();
}

const HttpOptions& HttpSession::options() const { return impl_->options; }

HttpSession::~HttpSession() {
  if (impl_->curl) curl_easy_cleanup(impl_->curl);
}

Result<HttpResponse> HttpSession::perform(const HttpRequest& request) {
  CURL* c = impl_->curl;
  if (!c) return error(ErrorCode::kInternal, "curl_easy_init failed");
  const HttpOptions& o = impl_->options;
  // A reset keeps the handle's open connections, so the chunks of a part share one.
  curl_easy_reset(c);
  Transfer t;
  t.curl = c;
  t.request = &request;
  t.max_body = o.max_response_bytes;
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&](const std::string& h) {
    curl_slist* l = curl_slist_append(headers.get(), h.c_str());
    if (l) {
      headers.release();
      headers.reset(l);
    }
  };
  for (const auto& h : request.headers) add_header(h);
  // No 100-continue round trip before each chunk. Not with SigV4: curl signs every header it
  // is given, the empty one included, then leaves it out of the request, and the server
  // rejects the signature. There curl sends "Expect: 100-continue" with bodies over 1 MiB and
  // waits up to a second for an answer RGW does not give: do not wait (measured: 6.5 MB/s
  // upload with the wait, see docs/performance.md).
  if (!o.aws_sigv4) add_header("Expect:");
  else curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 1L);

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(o.connect_timeout.count()));
  // "Less than one byte per second for idle_timeout" is curl's way of saying "nothing moved".
  long idle_seconds = std::max<long>(1, long((o.idle_timeout.count() + 999) / 1000));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, idle_seconds);
  if (o.total_timeout.count() > 0)
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(o.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_SSLVERSION, long(CURL_SSLVERSION_TLSv1_2));
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.verify_tls) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!o.user_agent.empty()) curl_easy_setopt(c, CURLOPT_USERAGENT, o.user_agent.c_str());
  std::string sigv4_provider;
  if (o.aws_sigv4) {
    sigv4_provider = "aws:amz:" + o.aws_sigv4->region + ":" + o.aws_sigv4->service;
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4_provider.c_str());
    // USERNAME/PASSWORD, not USERPWD: a secret key may hold a ':'.
    curl_easy_setopt(c, CURLOPT_USERNAME, o.aws_sigv4->access_key.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.aws_sigv4->secret_key.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (request.max_send_speed)
    curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, curl_off_t(request.max_send_speed));

  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.body) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body_length));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(0));
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  if (t.cancelled) return error(ErrorCode::kCancelled, "cancelled");
  if (t.body_failed) return error(ErrorCode::kIo, "could not read the bytes to send");
  if (t.sink_refused) return error(ErrorCode::kIo, "could not keep the bytes received");
  if (t.body_too_long)
    return error(ErrorCode::kIo,
                 "the answer is longer than " + std::to_string(o.max_response_bytes) + " bytes");
  if (rc == CURLE_WRITE_ERROR && t.stopped_at_body) rc = CURLE_OK;
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) why = "timed out (" + why + ")";
    if (rc == CURLE_SSL_CACERT_BADFILE)
      return error(ErrorCode::kInvalidArgument,
                   "cannot load trusted certificates " + o.ca_file + " (" + why + ")");
    if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      // OpenSSL checks the chain during the handshake and curl records its X509_V_ERR_* code
      // (2 and up); curl's own name check runs after a handshake that passed and leaves 1.
      long chain = 0;
      curl_easy_getinfo(c, CURLINFO_SSL_VERIFYRESULT, &chain);
      why = (chain > 1 ? "TLS: certificate not trusted (" : "TLS: certificate name mismatch (") +
            why + ")";
    }
    return error(ErrorCode::kIo, why);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  t.response.status = int(status);
  return std::move(t.response);
}

Result<std::string> url_origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos ||
      (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0))
    return error(ErrorCode::kInvalidArgument, "not an http(s) URL: " + url);
  size_t slash = url.find('/', scheme + 3);
  std::string origin = url.substr(0, slash);
  if (origin.size() == scheme + 3)
    return error(ErrorCode::kInvalidArgument, "no host in the URL: " + url);
  return origin;
}

}  // namespace streamlet::net

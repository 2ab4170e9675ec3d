// The built-in SMTP transport: libcurl's SMTP client. smtp:// upgrades with STARTTLS when the
// relay offers it, smtps:// speaks TLS from the start; TLS is 1.2 at least and verified (the
// relay's certificate must name its host). A 5xx reply or a refused login is final; anything
// else (no connection, a 4xx reply, a timeout) is worth another try.
#include <curl/curl.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "streamlet/mail.hpp"

namespace streamlet::mail {

namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Easy {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct Slist {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Source {
  const std::string* data;
  size_t offset = 0;
};

size_t read_body(char* buffer, size_t size, size_t count, void* user) {
  auto* s = static_cast<Source*>(user);
  const size_t n = std::min(size * count, s->data->size() - s->offset);
  std::memcpy(buffer, s->data->data() + s->offset, n);
  s->offset += n;
  return n;
}

// smtp[s]://host[:port] and nothing else (a path would be curl's EHLO name, user info a
// credential on the command line).
Status check_url(const std::string& url) {
  auto bad = [&](const char* why) {
    return Status(ErrorCode::kInvalidArgument, "SMTP URL " + url + ": " + why);
  };
  std::string rest;
  if (url.rfind("smtp://", 0) == 0)
    rest = url.substr(7);
  else if (url.rfind("smtps://", 0) == 0)
    rest = url.substr(8);
  else
    return bad("must start with smtp:// or smtps://");
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty()) return bad("no host");
  if (rest.find_first_of("/?#@ ") != std::string::npos)
    return bad("only smtp[s]://host[:port] (the user goes in --smtp-user)");
  return Status::Ok();
}

class CurlSmtp final : public Transport {
 public:
  explicit CurlSmtp(SmtpOptions o) : o_(std::move(o)) {}

  Status send(const std::string& from, const std::string& to, const std::string& wire) override {
    init_curl_once();
    std::unique_ptr<CURL, Easy> c(curl_easy_init());
    if (!c) return Status(ErrorCode::kInternal, "SMTP: curl_easy_init failed");
    CURL* h = c.get();
    const std::string from_path = "<" + from + ">";
    std::unique_ptr<curl_slist, Slist> rcpt(curl_slist_append(nullptr, ("<" + to + ">").c_str()));
    Source src{&wire};
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_URL, o_.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from_path.c_str());
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt.get());
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(h, CURLOPT_READDATA, &src);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(wire.size()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, long(o_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, long(std::min<int64_t>(o_.timeout.count(), 10'000)));
    curl_easy_setopt(h, CURLOPT_USE_SSL, long(CURLUSESSL_TRY));
    curl_easy_setopt(h, CURLOPT_SSLVERSION, long(CURL_SSLVERSION_TLSv1_2));
    if (!o_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o_.ca_file.c_str());
    if (!o_.user.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, o_.user.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, o_.password.c_str());
    }
    const CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) return Status::Ok();
    long reply = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
    std::string what = "SMTP to " + o_.url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (reply) what += " (reply " + std::to_string(reply) + ")";
    if (rc == CURLE_LOGIN_DENIED) return Status(ErrorCode::kPermissionDenied, what);
    if (reply >= 500) return Status(ErrorCode::kInvalidArgument, what);
    return Status(ErrorCode::kIo, what);
  }

 private:
  SmtpOptions o_;
};

}  // namespace

Result<std::unique_ptr<Transport>> make_smtp_transport(SmtpOptions options) {
  STREAMLET_RETURN_IF_ERROR(check_url(options.url));
  if (options.timeout.count() <= 0)
    return Status(ErrorCode::kInvalidArgument, "SMTP: the timeout must be positive");
  return std::unique_ptr<Transport>(new CurlSmtp(std::move(options)));
}

}  // namespace streamlet::mail

// Mail: short text messages to users (a video is ready, or failed), sent through an SMTP
// relay by a background thread that retries with backoff, so a slow or absent mail server
// never holds up whoever enqueues.
//
// A message is rendered once, at enqueue (render()): Date, Message-ID, From, To, Subject,
// MIME-Version and Content-Type headers, then a UTF-8 text body. Nothing a user typed can
// start a header: CR, LF and other control characters in a header value become spaces, a
// subject that is not plain ASCII is an RFC 2047 encoded word, and addresses are checked.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "streamlet/status.hpp"

namespace streamlet::mail {

// One message to one recipient.
struct Message {
  std::string from;     // "name@example.com" (a bare address; see check_address)
  std::string to;       // the same
  std::string subject;  // one line of UTF-8; control characters become spaces
  std::string text;     // UTF-8 body; lines end in CRLF on the wire whatever they end in here
};

// A bare address "local@domain": 3..254 bytes, one '@', no space, control character, quote,
// angle bracket, comma or semicolon (the characters that would let it name a second
// recipient or end the header). kInvalidArgument with what is wrong otherwise.
Status check_address(std::string_view address);

// The message as it goes on the wire (RFC 5322, CRLF line ends, dot-stuffing left to the
// transport). `message_id` is the part inside <...>, e.g. "3f2a...@streamlet"; `date` the
// Date header's instant (written in UTC). kInvalidArgument for a bad from/to address.
Result<std::string> render(const Message& message, std::string_view message_id,
                           std::chrono::system_clock::time_point date =
                               std::chrono::system_clock::now());

// How the relay is reached.
struct SmtpOptions {
  // smtp://host[:port] (STARTTLS when the server offers it) or smtps://host[:port] (TLS from
  // the first byte). Required.
  std::string url;
  std::string user{};      // "" = no AUTH
  std::string password{};  // with user
  // PEM certificates TLS relays are checked against; "" = the system's store.
  std::string ca_file{};
  std::chrono::milliseconds timeout{30'000};  // one whole attempt
};

// How one message leaves the process; the built-in one is libcurl's SMTP client. Called from
// the mailer's thread only.
class Transport {
 public:
  virtual ~Transport() = default;
  // Sends `wire` (render()'s output) from `from` to `to`. An error whose code is
  // kInvalidArgument or kPermissionDenied will not get better by retrying (a 5xx reply, a
  // refused login); any other is retried.
  virtual Status send(const std::string& from, const std::string& to, const std::string& wire) = 0;
};

// kInvalidArgument for a URL that is not smtp:// or smtps://host[:port].
Result<std::unique_ptr<Transport>> make_smtp_transport(SmtpOptions options);

// What happened to one attempt of one message.
struct AttemptReport {
  uint64_t id = 0;
  std::string to{};
  int attempt = 0;  // 1-based
  bool sent = false;
  bool final = false;  // sent, refused for good, or out of attempts
  std::string error{};  // "" when sent
  std::chrono::milliseconds retry_in{0};  // when not final
};

struct MailerOptions {
  std::shared_ptr<Transport> transport;  // required
  int max_attempts = 8;                  // first try included
  // Wait before retry n (n >= 1): min(backoff_cap, backoff_base * 2^(n-1)).
  std::chrono::milliseconds backoff_base{5'000};
  std::chrono::milliseconds backoff_cap{std::chrono::minutes(10)};
  size_t max_pending = 10'000;  // enqueue() beyond this is kResourceExhausted
  // Called on the mailer's thread after every attempt (logs, metrics); must not call back.
  // Also for a message refused because the queue is full (attempt 0, on enqueue's thread).
  std::function<void(const AttemptReport&)> on_attempt{};
};

// One background thread sending queued messages in due-time order, one at a time.
// Thread safe. Memory only: what is pending when the mailer stops is counted as abandoned.
class Mailer {
 public:
  static Result<std::unique_ptr<Mailer>> start(MailerOptions options);
  ~Mailer();  // stop(0)
  Mailer(const Mailer&) = delete;
  Mailer& operator=(const Mailer&) = delete;

  // Renders `message` now (so its Date is when it was queued) and queues it. Returns its id.
  // kInvalidArgument for a bad address, kCancelled after stop(), kResourceExhausted when
  // max_pending are waiting (then also counted failed and told to on_attempt, attempt 0, on
  // the caller's thread).
  Result<uint64_t> enqueue(const Message& message);

  // Stops accepting, keeps sending until nothing is pending or `drain` has passed, then
  // abandons the rest. Idempotent.
  void stop(std::chrono::milliseconds drain);

  struct Stats {
    uint64_t sent = 0;
    uint64_t failed = 0;  // refused for good or out of attempts
    uint64_t attempts = 0;
    uint64_t retries = 0;    // attempts that failed and will be tried again
    uint64_t abandoned = 0;  // pending when the mailer stopped
    size_t pending = 0;
  };
  Stats stats() const;

 private:
  Mailer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamlet::mail

// origin::Front: epoll loops that read and check every request on the public port, answer
// playback and event streams themselves, and hand every other request over, one at a time.
//
// Each loop owns its connections outright (no locks on the data path): a SO_REUSEPORT
// listening socket, an epoll set, an eventfd to be woken (adopted connections, stream data,
// stop). Sockets are edge-triggered; a connection remembers whether its socket is readable
// and drive() moves bytes until it would block.
//
// A connection is in one state at a time: reading a request (head, then a buffered body),
// answering (a playback or error answer being written), streaming (an event stream), or
// lingering (closing: write side shut, what still arrives dropped). Requests are parsed by
// RequestParser (http-parser plus RFC 9112 checks) and never forwarded as raw bytes, so
// what the taker of a hand-off reads is exactly one well-framed request.
#include "streamlet/origin_front.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/file_util.hpp"
#include "core/time_format.hpp"
#include "origin/detail.hpp"
#include "origin/http1.hpp"
#include "origin/request_parser.hpp"

namespace streamlet::origin {
namespace {

using detail::iequals;
using Clock = std::chrono::steady_clock;
using streamlet::detail::Fd;

// After an answer, a buffer bigger than this is given back rather than kept per connection.
constexpr size_t kIdleBufferKeep = 4 * 1024;
constexpr size_t kReadChunk = 16 * 1024;          // what one recv asks for
constexpr uint64_t kInlineFileBytes = 64 * 1024;  // smaller files are read into the answer
constexpr size_t kSendfileChunk = 1 << 20;
// An object without a descriptor is read into the write buffer this much at a time, so a
// segment of any size costs one piece of memory per connection, never the whole object.
constexpr size_t kReadPiece = 64 * 1024;
// Lingering close: how long the bytes of a refused request are read and dropped.
constexpr auto kLingerTotal = std::chrono::seconds(5);
constexpr auto kLingerIdle = std::chrono::seconds(2);

// "Date: <IMF-fixdate>\r\n", formatted once per second per loop thread.
const std::string& date_line() {
  thread_local int64_t second = -1;
  thread_local std::string line;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (now != second) {
    second = now;
    line = "Date: " + streamlet::detail::http_date(now) + "\r\n";
  }
  return line;
}

std::string peer_address(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, text, sizeof text);
  } else if (a.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, text, sizeof text);
  }
  return text;
}

}  // namespace

std::string_view FrontRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

std::string_view FrontRequest::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

bool plausible_video_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::optional<MediaTarget> parse_media_target(std::string_view target, std::string_view prefix) {
  if (prefix.empty() || !target.starts_with(prefix)) return std::nullopt;
  target.remove_prefix(prefix.size());
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  size_t slash = target.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view id = target.substr(0, slash);
  if (!plausible_video_id(id)) return std::nullopt;
  return MediaTarget{std::string(id), std::string(target.substr(slash + 1)), std::string(query)};
}

namespace front_detail {

// A byte buffer with a read and a write end; compacts instead of growing.
class Buffer {
 public:
  void reserve(size_t capacity) {
    if (capacity <= cap_) return;
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size() > 0) std::memcpy(bigger.get(), data_.get() + begin_, size());
    end_ = size();
    begin_ = 0;
    data_ = std::move(bigger);
    cap_ = capacity;
  }
  size_t size() const { return end_ - begin_; }
  size_t capacity() const { return cap_; }
  // Frees an empty buffer whose capacity exceeds `keep`.
  void release_if_empty(size_t keep) {
    if (empty() && cap_ > keep) {
      data_.reset();
      cap_ = begin_ = end_ = 0;
    }
  }
  // Doubles a buffer that a read filled up, up to `max`.
  void grow_if_full(size_t max) {
    if (cap_ < max && end_ == cap_) reserve(std::min(max, cap_ * 2));
  }
  bool empty() const { return begin_ == end_; }
  const char* data() const { return data_.get() + begin_; }
  std::string_view view() const { return {data(), size()}; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Room at the write end, after moving unread bytes to the front if that makes some.
  size_t space() {
    if (end_ == cap_ && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, size());
      end_ = size();
      begin_ = 0;
    }
    return cap_ - end_;
  }
  char* write_ptr() { return data_.get() + end_; }
  void produced(size_t n) { end_ += n; }
  void append(std::string_view s) {
    reserve(size() + s.size());
    if (space() < s.size()) reserve(cap_ + s.size());
    std::memcpy(write_ptr(), s.data(), s.size());
    produced(s.size());
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0, begin_ = 0, end_ = 0;
};

// What one non-blocking recv or send did.
enum class Io { kMoved, kEof, kWouldBlock, kFailed };

// Receives into the free space of `b` (which must have some).
Io receive_into(int fd, Buffer& b) {
  for (;;) {
    ssize_t n = ::recv(fd, b.write_ptr(), b.space(), 0);
    if (n > 0) {
      b.produced(size_t(n));
      return Io::kMoved;
    }
    if (n == 0) return Io::kEof;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? Io::kWouldBlock : Io::kFailed;
  }
}

// Sends from the front of `b` (which must not be empty).
Io send_from(int fd, Buffer& b, int flags = 0) {
  for (;;) {
    ssize_t n = ::send(fd, b.data(), b.size(), MSG_NOSIGNAL | flags);
    if (n > 0) {
      b.consume(size_t(n));
      return Io::kMoved;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? Io::kWouldBlock : Io::kFailed;
  }
}

class Loop;
struct Conn;

// The StreamChannel of one event stream. `conn` and `loop` are set and cleared on the loop
// thread under `mu`; other threads only queue data and post the channel to the loop.
class Channel : public StreamChannel, public std::enable_shared_from_this<Channel> {
 public:
  Channel(Loop* loop, bool chunked, size_t backlog) : loop_(loop), chunked_(chunked), backlog_(backlog) {}
  bool send(std::string_view data) override;
  void finish() override;

  // Loop side.
  struct Taken {
    std::string data;
    bool finish = false;
    bool overflow = false;
  };
  Taken take();
  void attach(Conn* c) {
    std::lock_guard lock(mu_);
    conn_ = c;
  }
  // The stream is over: nothing more is accepted or posted.
  void end() {
    std::lock_guard lock(mu_);
    ended_ = true;
    conn_ = nullptr;
    loop_ = nullptr;
  }
  Conn* conn() {
    std::lock_guard lock(mu_);
    return conn_;
  }

 private:
  void post_locked();

  std::mutex mu_;
  Loop* loop_;
  Conn* conn_ = nullptr;
  const bool chunked_;
  const size_t backlog_;
  std::string pending_;
  bool finished_ = false, ended_ = false, queued_ = false, overflow_ = false;
};

enum class State { kReading, kAnswering, kStreaming, kLingering };
enum class Target { kNone, kMedia, kStream, kHandOff };

struct Conn {
  Fd client;
  State state = State::kReading;
  bool closed = false;
  bool readable = true;  // edge-triggered: cleared when a read would block
  bool eof = false;

  detail::RequestParser parser;
  Buffer in;   // received, not yet parsed
  Buffer out;  // to the client
  // The request being read.
  Target target = Target::kNone;
  RequestKind kind = RequestKind::kBuffered;
  std::string body;  // buffered body
  size_t requests = 0;

  // Answering: the body of the answer, when it is a large object range.
  std::shared_ptr<const storage::Reader> file;
  off_t file_offset = 0;
  uint64_t file_left = 0;
  bool close_after = false;
  std::string log_method;
  FrontRequestLog log;
  Clock::time_point head_parsed;

  // Streaming.
  std::shared_ptr<Channel> channel;
  std::function<void()> on_end;
  std::string heartbeat;
  std::chrono::seconds heartbeat_interval{15};
  Clock::time_point last_stream_write;
  std::string peer;  // set for streams (per-client caps)
  bool stream_chunked = true;
  bool stream_finishing = false;

  Clock::time_point last_active;
  Clock::time_point head_started;  // first byte of the request being read
  Clock::time_point body_started;  // its head complete
  Clock::time_point linger_started;
  std::list<std::unique_ptr<Conn>>::iterator self;

  explicit Conn(detail::ParserLimits limits) : parser(limits) {}
};

}  // namespace front_detail

using front_detail::Buffer;
using front_detail::Channel;
using front_detail::Conn;
using front_detail::Loop;
using front_detail::State;
using front_detail::Target;

struct Front::Impl {
  FrontOptions options;
  MediaHandler handler;
  FrontObserver observer;
  int port = 0;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> next_adopter{0};
  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<std::thread> threads;
  std::mutex stop_mu;
  bool stop_begun = false;
  bool joined = false;
  // Open event streams, in all and per client address.
  std::mutex streams_mu;
  size_t streams = 0;
  std::unordered_map<std::string, size_t> streams_by_peer;
};

namespace front_detail {

class Loop {
 public:
  Loop(Front::Impl& front, Fd listener) : front_(front), listener_(std::move(listener)) {
    limits_.max_head_bytes = front.options.max_head_bytes;
    limits_.max_header_count = front.options.max_header_count;
  }

  Status init() {
    epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
    wake_ = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!epoll_.valid() || !wake_.valid())
      return error(ErrorCode::kInternal, std::string("epoll: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &listener_;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), &ev) != 0)
      return error(ErrorCode::kInternal, std::string("epoll_ctl: ") + std::strerror(errno));
    ev.data.ptr = &wake_;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0)
      return error(ErrorCode::kInternal, std::string("epoll_ctl: ") + std::strerror(errno));
    return Status();
  }

  void wake() {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }

  // From any thread: the connection joins this loop at its next wake-up.
  void adopt(int fd, std::string after, bool close) {
    {
      std::lock_guard lock(incoming_mu_);
      if (!ended_) {
        incoming_.push_back({fd, std::move(after), close});
        fd = -1;
      }
    }
    if (fd >= 0) ::close(fd);  // the loop is gone
    wake();
  }

  // From any thread, with the channel's lock held: it has data or finished.
  void post(std::shared_ptr<Channel> ch) {
    {
      std::lock_guard lock(incoming_mu_);
      if (ended_) return;
      dirty_.push_back(std::move(ch));
    }
    wake();
  }

  void stop(Clock::time_point deadline) {
    deadline_ns_.store(deadline.time_since_epoch().count());
    stopping_.store(true);
    wake();
  }

  void run() {
    epoll_event events[256];
    Clock::time_point last_sweep = Clock::now();
    for (;;) {
      int n = ::epoll_wait(epoll_.get(), events, 256, stopping_.load() ? 50 : 1000);
      if (n < 0 && errno != EINTR) break;
      now_ = Clock::now();
      for (int i = 0; i < n; ++i) {
        void* p = events[i].data.ptr;
        if (p == &listener_) {
          accept_all();
        } else if (p == &wake_) {
          uint64_t v;
          (void)!::read(wake_.get(), &v, sizeof v);
          take_incoming();
        } else {
          auto* c = static_cast<Conn*>(p);
          if (c->closed) continue;
          const uint32_t e = events[i].events;
          if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = true;
          // A client that leaves an event stream ends it (nothing is read while streaming).
          if (c->state == State::kStreaming && (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
            close_conn(c);
            continue;
          }
          drive(c);
        }
      }
      graveyard_.clear();
      if (stopping_.load()) {
        if (!stop_seen_) begin_stopping();
        if (conns_.empty()) break;
        if (now_.time_since_epoch().count() >= deadline_ns_.load()) {
          while (!conns_.empty()) close_conn(conns_.front().get());
          graveyard_.clear();
          break;
        }
      }
      if (now_ - last_sweep >= std::chrono::seconds(1)) {
        last_sweep = now_;
        sweep();
        if (accept_paused_ && listener_.valid()) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = &listener_;
          if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), &ev) == 0)
            accept_paused_ = false;
        }
      }
    }
    std::lock_guard lock(incoming_mu_);
    ended_ = true;
    for (auto& a : incoming_) ::close(a.fd);
    incoming_.clear();
    dirty_.clear();
  }

 private:
  struct Adopted {
    int fd;
    std::string after;
    bool close;
  };

  void begin_stopping() {
    stop_seen_ = true;
    if (listener_.valid()) {
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
      listener_ = Fd();
    }
    // Idle and half-received connections end now, event streams end (their last chunk is
    // sent), answers in progress finish and then close.
    std::vector<Conn*> idle;
    for (auto& c : conns_) {
      switch (c->state) {
        case State::kAnswering:
          c->close_after = true;
          break;
        case State::kStreaming:
          c->close_after = true;
          end_stream_output(c.get());
          break;
        default:
          idle.push_back(c.get());
      }
    }
    for (Conn* c : idle) close_conn(c);
    std::vector<Conn*> rest;
    for (auto& c : conns_) rest.push_back(c.get());
    for (Conn* c : rest) drive(c);
    graveyard_.clear();
  }

  void take_incoming() {
    std::vector<Adopted> batch;
    std::vector<std::shared_ptr<Channel>> dirty;
    {
      std::lock_guard lock(incoming_mu_);
      batch.swap(incoming_);
      dirty.swap(dirty_);
    }
    for (auto& a : batch) {
      if (stopping_.load()) {
        ::close(a.fd);
        continue;
      }
      Conn* c = add_conn(a.fd);
      if (!c) continue;
      if (a.close) {
        start_lingering(c);
      } else if (!a.after.empty()) {
        c->in.append(a.after);
        c->head_started = now_;
      }
      drive(c);
    }
    for (auto& ch : dirty) {
      Conn* c = ch->conn();
      if (!c || c->closed || c->channel != ch) continue;
      pump_stream(c);
    }
  }

  // Registers an accepted (or adopted) non-blocking socket; nullptr when it was closed.
  Conn* add_conn(int fd) {
    auto conn = std::make_unique<Conn>(limits_);
    conn->client = Fd(fd);
    conn->last_active = now_;
    Conn* c = conn.get();
    conns_.push_front(std::move(conn));
    c->self = conns_.begin();
    front_.connections.fetch_add(1);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      close_conn(c);
      return nullptr;
    }
    return c;
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: the listener would stay readable and spin the loop. Stop
          // watching it until the next sweep; the backlog keeps the waiting clients.
          ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
          accept_paused_ = true;
        }
        return;  // EAGAIN, or paused
      }
      if (front_.connections.load() >= front_.options.max_connections) {
        ::close(fd);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      add_conn(fd);
    }
  }

  void close_conn(Conn* c) {
    if (c->closed) return;
    c->closed = true;
    if (c->channel) end_stream(c);
    // Closing the descriptor takes it out of the epoll set; the Conn itself lives until the
    // end of this batch of events, which may still point at it.
    c->client = Fd();
    c->file.reset();
    graveyard_.push_back(std::move(*c->self));
    conns_.erase(c->self);
    front_.connections.fetch_sub(1);
  }

  // Connections that sat idle, sent a head or a buffered body too slowly, did not read an
  // answer, or lingered long enough; event streams get their heartbeat.
  void sweep() {
    const FrontOptions& opt = front_.options;
    std::vector<Conn*> stale;
    std::vector<std::pair<Conn*, int>> late;  // answered 408
    std::vector<Conn*> beat;
    for (auto& cp : conns_) {
      Conn* c = cp.get();
      switch (c->state) {
        case State::kReading:
          if (c->parser.head_done()) {
            if (now_ - c->body_started > opt.body_timeout) late.emplace_back(c, 408);
          } else if (c->parser.started() || !c->in.empty()) {
            if (now_ - c->head_started > opt.head_timeout) late.emplace_back(c, 408);
          } else if (now_ - c->last_active > opt.idle_timeout) {
            stale.push_back(c);
          }
          break;
        case State::kAnswering:
          if (now_ - c->last_active > opt.idle_timeout) stale.push_back(c);
          break;
        case State::kStreaming:
          if (!c->out.empty() && now_ - c->last_active > opt.idle_timeout) {
            stale.push_back(c);  // a client that stopped reading
          } else if (now_ - c->last_stream_write >= c->heartbeat_interval) {
            beat.push_back(c);
          }
          break;
        case State::kLingering:
          if (now_ - c->linger_started > kLingerTotal || now_ - c->last_active > kLingerIdle)
            stale.push_back(c);
          break;
      }
    }
    for (Conn* c : stale) close_conn(c);
    for (auto [c, status] : late) {
      if (c->closed) continue;
      refuse(c, status, c->parser.head_done() ? "the request body did not arrive in time"
                                              : "the request head did not arrive in time");
      drive(c);
    }
    for (Conn* c : beat) {
      if (c->closed || c->heartbeat.empty()) continue;
      queue_stream_data(c, c->heartbeat);
      drive(c);
    }
    graveyard_.clear();
  }

  void drive(Conn* c) {
    for (int rounds = 0; !c->closed; ++rounds) {
      switch (c->state) {
        case State::kAnswering:
          if (!flush_answer(c)) return;
          finish_answer(c);
          continue;
        case State::kStreaming:
          flush_stream(c);
          return;
        case State::kLingering:
          linger(c);
          return;
        case State::kReading:
          if (!read_request(c)) return;
          continue;
      }
    }
  }

  // --- reading ------------------------------------------------------------------------------

  // Parses what is buffered and reads more; true when the state changed (drive again).
  bool read_request(Conn* c) {
    for (;;) {
      if (!c->out.empty()) {  // a "100 Continue" on its way
        Io io = send_from(c->client.get(), c->out);
        if (io == Io::kFailed) {
          close_conn(c);
          return false;
        }
      }
      if (!c->in.empty()) {
        if (parse(c)) return true;
        if (c->closed) return false;
      }
      if (c->eof) {
        close_conn(c);
        return false;
      }
      if (!c->readable) {
        c->in.release_if_empty(0);
        return false;
      }
      c->in.reserve(kReadChunk);
      if (c->in.space() == 0) return false;  // cannot happen: parse() consumes it
      const bool fresh = c->in.empty() && !c->parser.started();
      switch (receive_into(c->client.get(), c->in)) {
        case Io::kMoved:
          if (fresh) c->head_started = now_;
          c->last_active = now_;
          break;
        case Io::kEof:
          c->eof = true;
          break;
        case Io::kWouldBlock:
          c->readable = false;
          break;
        case Io::kFailed:
          close_conn(c);
          return false;
      }
    }
  }

  // Feeds the parser; true when the connection left the reading state.
  bool parse(Conn* c) {
    const FrontOptions& opt = front_.options;
    while (!c->in.empty()) {
      auto step = c->parser.feed(c->in.view());
      c->in.consume(step.consumed);
      switch (step.event) {
        case detail::RequestParser::Event::kError:
          refuse(c, c->parser.error_status(), c->parser.error_message());
          return true;
        case detail::RequestParser::Event::kHead:
          c->body_started = now_;
          c->head_parsed = Clock::now();
          if (on_head(c)) return true;
          break;
        case detail::RequestParser::Event::kBody:
          c->body += c->parser.take_body();
          if (c->body.size() > opt.max_buffered_body) {
            refuse(c, 413, "the request body is larger than " +
                               std::to_string(opt.max_buffered_body) + " bytes");
            return true;
          }
          break;
        case detail::RequestParser::Event::kComplete:
          c->body += c->parser.take_body();
          if (c->body.size() > opt.max_buffered_body) {
            refuse(c, 413, "the request body is larger than " +
                               std::to_string(opt.max_buffered_body) + " bytes");
            return true;
          }
          on_complete(c);
          return true;
        case detail::RequestParser::Event::kNeedMore:
          return false;
      }
    }
    return false;
  }

  FrontRequest front_request(Conn* c) {
    const auto& h = c->parser.head();
    FrontRequest r;
    r.method = h.method;
    r.target = h.target;
    r.http_minor = h.http_minor;
    r.headers = h.headers;
    if (c->peer.empty()) c->peer = peer_address(c->client.get());
    r.peer = c->peer;
    return r;
  }

  // The head is in: where does this request go? True when the connection left reading.
  bool on_head(Conn* c) {
    const FrontOptions& opt = front_.options;
    const auto& h = c->parser.head();
    ++c->requests;
    const bool playback_method = h.method == "GET" || h.method == "HEAD" || h.method == "OPTIONS";
    if (playback_method && std::string_view(h.target).starts_with(opt.prefix)) {
      c->target = Target::kMedia;
    } else {
      c->kind = opt.classify ? opt.classify(front_request(c)) : RequestKind::kBuffered;
      if (c->kind == RequestKind::kEventStream && !opt.stream_handler)
        c->kind = RequestKind::kBuffered;
      c->target = c->kind == RequestKind::kEventStream ? Target::kStream : Target::kHandOff;
    }
    if (c->target == Target::kHandOff && c->kind == RequestKind::kStreamed) {
      if (h.chunked) {
        refuse(c, 411, "an upload body needs a Content-Length");
        return true;
      }
      // Whatever of the body is already here goes with the head; the rest follows on the socket.
      if (!c->in.empty()) {
        auto step = c->parser.feed(c->in.view());
        c->in.consume(step.consumed);
        if (step.event == detail::RequestParser::Event::kError) {
          refuse(c, c->parser.error_status(), c->parser.error_message());
          return true;
        }
      }
      c->body = c->parser.take_body();
      hand_off(c);
      return true;
    }
    if (h.content_length.value_or(0) > opt.max_buffered_body) {
      refuse(c, 413,
             "the request body is larger than " + std::to_string(opt.max_buffered_body) + " bytes");
      return true;
    }
    // The client waits for a go-ahead before sending the body; the front reads it itself.
    if (h.expect_continue && h.has_body()) c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
    return false;
  }

  void on_complete(Conn* c) {
    switch (c->target) {
      case Target::kMedia:
        return answer_media(c);
      case Target::kStream:
        return start_stream(c);
      default:
        return hand_off(c);
    }
  }

  bool keep_alive(Conn* c) {
    const auto& opt = front_.options;
    return c->parser.head().keep_alive && !stopping_.load() &&
           (opt.max_requests_per_connection == 0 || c->requests < opt.max_requests_per_connection);
  }

  // Ready for the next request on this connection.
  void next_request(Conn* c) {
    c->parser.reset();
    c->target = Target::kNone;
    c->kind = RequestKind::kBuffered;
    std::string().swap(c->body);
    c->state = State::kReading;
    if (!c->in.empty()) c->head_started = now_;
    c->last_active = now_;
  }

  // --- answers --------------------------------------------------------------------------------

  // An error the front gives itself; the connection closes after it (lingering when a
  // request body may still be coming).
  void refuse(Conn* c, int status, std::string_view message) {
    c->out.append(detail::response_head(date_line(), "HTTP/1.1", status, detail::json_error(status, message).headers, false));
    c->out.append(detail::json_error(status, message).body);
    c->state = State::kAnswering;
    c->close_after = true;
    c->log_method = c->parser.head_done() ? c->parser.head().method : "";
    c->log.status = status;
    c->log.kind = FrontAnswer::kRefused;
    c->log.body_bytes = 0;
    c->head_parsed = now_;
  }

  void answer_media(Conn* c) {
    const auto& h = c->parser.head();
    auto media = parse_media_target(h.target, front_.options.prefix);
    OriginResponse res;
    OriginRequest req;
    req.method = h.method;
    if (!media) {
      res = detail::json_error(404, "not found");
    } else {
      req.path = std::move(media->path);
      req.query = std::move(media->query);
      for (const auto& [name, value] : h.headers) {
        std::string lower(name);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char ch) { return char(std::tolower(ch)); });
        req.headers.emplace(std::move(lower), value);
      }
      try {
        res = front_.handler(media->video_id, req);
      } catch (...) {
        res = detail::json_error(500, "internal error");
      }
    }
    write_answer(c, h.method, h.http_minor, keep_alive(c), std::move(res), FrontAnswer::kPlayback);
  }

  void write_answer(Conn* c, std::string_view method, int minor, bool keep_alive,
                    OriginResponse res, FrontAnswer kind) {
    const bool bodyless = method == "HEAD" || res.status == 204 || res.status == 304;
    std::string inline_body;
    std::shared_ptr<const storage::Reader> file;
    if (res.has_file() && !bodyless) {
      // The reader the origin opened and checked: never a key opened a second time.
      file = res.file;
      if (res.length <= kInlineFileBytes) {
        inline_body.resize(size_t(res.length));
        bool ok = true;
        for (size_t done = 0; ok && done < inline_body.size();) {
          auto n = file->read_at(res.offset + done, inline_body.data() + done,
                                 inline_body.size() - done);
          ok = n.ok() && *n > 0;
          if (ok) done += *n;
        }
        file.reset();
        if (!ok) {
          res = detail::json_error(500, "cannot read file");
          inline_body.clear();
        }
      }
    }
    c->out.append(detail::response_head(date_line(), minor == 0 ? "HTTP/1.0" : "HTTP/1.1", res.status, res.headers,
                            keep_alive, minor == 0));
    uint64_t body_bytes = 0;
    if (!bodyless) {
      if (file) {
        c->file = std::move(file);
        c->file_offset = off_t(res.offset);
        c->file_left = res.length;
        body_bytes = res.length;
      } else if (res.has_file()) {
        c->out.append(inline_body);
        body_bytes = inline_body.size();
      } else {
        c->out.append(res.body);
        body_bytes = res.body.size();
      }
    }
    c->state = State::kAnswering;
    c->close_after = !keep_alive;
    c->log_method.assign(method);
    c->log.status = res.status;
    c->log.body_bytes = body_bytes;
    c->log.kind = kind;
  }

  // Sends what is pending; true once the whole answer is out.
  bool flush_answer(Conn* c) {
    while (!c->out.empty()) {
      Io io = send_from(c->client.get(), c->out, c->file_left > 0 ? MSG_MORE : 0);
      if (io == Io::kWouldBlock) return false;
      if (io == Io::kFailed) {
        close_conn(c);
        return false;
      }
      c->last_active = now_;
    }
    if (c->file_left > 0 && c->file->fd() < 0) return flush_read_pieces(c);
    while (c->file_left > 0) {
      size_t want = size_t(std::min<uint64_t>(c->file_left, kSendfileChunk));
      ssize_t n = ::sendfile(c->client.get(), c->file->fd(), &c->file_offset, want);
      if (n > 0) {
        c->file_left -= uint64_t(n);
        c->last_active = now_;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return false;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        // The file shrank under us (never for a published segment) or the client left:
        // the promised length cannot be kept, so the connection must end.
        close_conn(c);
        return false;
      }
    }
    c->file.reset();
    return true;
  }

  // The rest of flush_answer for an object without a descriptor: one piece at a time is read
  // into the (empty) write buffer and sent, until the socket would block.
  bool flush_read_pieces(Conn* c) {
    while (c->file_left > 0 || !c->out.empty()) {
      if (c->out.empty()) {
        const size_t want = size_t(std::min<uint64_t>(c->file_left, kReadPiece));
        c->out.reserve(want);
        auto n = c->file->read_at(uint64_t(c->file_offset), c->out.write_ptr(),
                                  std::min(want, c->out.space()));
        if (!n.ok() || *n == 0) {
          // The object ended early or the backend failed: the promised length cannot be kept.
          close_conn(c);
          return false;
        }
        c->out.produced(*n);
        c->file_offset += off_t(*n);
        c->file_left -= *n;
      }
      Io io = send_from(c->client.get(), c->out, c->file_left > 0 ? MSG_MORE : 0);
      if (io == Io::kWouldBlock) return false;
      if (io == Io::kFailed) {
        close_conn(c);
        return false;
      }
      c->last_active = now_;
    }
    c->file.reset();
    return true;
  }

  void finish_answer(Conn* c) {
    c->out.release_if_empty(kIdleBufferKeep);
    if (front_.observer && !c->log_method.empty()) {
      c->log.method = c->log_method;
      c->log.elapsed = Clock::now() - c->head_parsed;
      front_.observer(c->log);
    }
    if (c->close_after) {
      // The rest of a refused request may still be coming: drop it for a moment so the
      // client reads the answer rather than a reset.
      if (!c->eof && !stopping_.load()) return start_lingering(c);
      return close_conn(c);
    }
    next_request(c);
  }

  void start_lingering(Conn* c) {
    ::shutdown(c->client.get(), SHUT_WR);
    c->state = State::kLingering;
    c->linger_started = now_;
    c->last_active = now_;
    c->in.consume(c->in.size());
  }

  void linger(Conn* c) {
    char sink[16 * 1024];
    for (;;) {
      ssize_t n = ::recv(c->client.get(), sink, sizeof sink, 0);
      if (n > 0) {
        c->last_active = now_;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return close_conn(c);  // EOF or error
    }
  }

  // --- hand-off ---------------------------------------------------------------------------

  void hand_off(Conn* c) {
    const FrontOptions& opt = front_.options;
    const auto& h = c->parser.head();
    if (!opt.handoff) {
      write_answer(c, h.method, h.http_minor, false, detail::json_error(404, "no such endpoint"),
                   FrontAnswer::kRefused);
      if (c->kind == RequestKind::kStreamed && !c->parser.head_done()) c->close_after = true;
      return;
    }
    HandOff off;
    off.streamed = c->kind == RequestKind::kStreamed;
    const uint64_t length = off.streamed ? h.content_length.value_or(0) : c->body.size();
    off.request = detail::canonical_head(h, length, /*keep_expect=*/off.streamed) + c->body;
    off.body_left = off.streamed ? length - c->body.size() : 0;
    if (off.body_left == 0) off.after = std::string(c->in.view());
    off.last = !keep_alive(c);
    off.peer = c->peer.empty() ? peer_address(c->client.get()) : c->peer;
    off.fd = c->client.get();
    if (!opt.handoff(off)) {
      // The taker is saturated: say so rather than queue without bound.
      OriginResponse busy = detail::json_error(503, "the server is busy; retry later");
      busy.headers.emplace_back("Retry-After", "1");
      write_answer(c, h.method, h.http_minor, false, std::move(busy), FrontAnswer::kRefused);
      return;
    }
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c->client.get(), nullptr);
    (void)c->client.release();  // the taker's now
    close_conn(c);
  }

  // --- event streams ----------------------------------------------------------------------

  void start_stream(Conn* c) {
    const FrontOptions& opt = front_.options;
    const auto& h = c->parser.head();
    FrontRequest req = front_request(c);
    // Caps first, so a refused client costs no handler call.
    {
      std::lock_guard lock(front_.streams_mu);
      if (front_.streams >= opt.max_streams) {
        OriginResponse busy = detail::json_error(503, "too many open event streams; retry later");
        busy.headers.emplace_back("Retry-After", "10");
        return write_answer(c, h.method, h.http_minor, keep_alive(c), std::move(busy),
                            FrontAnswer::kEventStream);
      }
      size_t& mine = front_.streams_by_peer[c->peer];
      if (mine >= opt.max_streams_per_client) {
        OriginResponse busy = detail::json_error(429, "too many open event streams from this address");
        busy.headers.emplace_back("Retry-After", "10");
        if (mine == 0) front_.streams_by_peer.erase(c->peer);
        return write_answer(c, h.method, h.http_minor, keep_alive(c), std::move(busy),
                            FrontAnswer::kEventStream);
      }
      ++mine;
      ++front_.streams;
    }
    c->stream_chunked = h.http_minor == 1;
    auto ch = std::make_shared<Channel>(this, c->stream_chunked, opt.max_stream_backlog);
    StreamAnswer answer;
    try {
      answer = opt.stream_handler(req, ch);
    } catch (...) {
      answer = StreamAnswer{};
      answer.response = detail::json_error(500, "internal error");
    }
    if (answer.response.status != 200) {
      ch->end();
      release_stream_slot(c->peer);
      if (answer.on_end) answer.on_end();
      return write_answer(c, h.method, h.http_minor, keep_alive(c), std::move(answer.response),
                          FrontAnswer::kEventStream);
    }
    auto headers = answer.response.headers;
    headers.erase(std::remove_if(headers.begin(), headers.end(),
                                 [](const auto& kv) {
                                   return iequals(kv.first, "Content-Length") ||
                                          iequals(kv.first, "Transfer-Encoding");
                                 }),
                  headers.end());
    const bool keep = c->stream_chunked && keep_alive(c);
    if (c->stream_chunked) headers.emplace_back("Transfer-Encoding", "chunked");
    c->out.append(detail::response_head(date_line(), c->stream_chunked ? "HTTP/1.1" : "HTTP/1.0", 200, headers, keep));
    c->close_after = !keep;
    c->state = State::kStreaming;
    c->channel = ch;
    c->on_end = std::move(answer.on_end);
    c->heartbeat = std::move(answer.heartbeat);
    c->heartbeat_interval = std::max(answer.heartbeat_interval, std::chrono::seconds(1));
    c->last_stream_write = now_;
    c->stream_finishing = false;
    c->in.release_if_empty(0);
    std::string().swap(c->body);
    ch->attach(c);
    if (!answer.first.empty()) queue_stream_data(c, answer.first);
    if (front_.observer) {
      FrontRequestLog log;
      log.method = h.method;
      log.status = 200;
      log.kind = FrontAnswer::kEventStream;
      log.elapsed = Clock::now() - c->head_parsed;
      front_.observer(log);
    }
    pump_stream(c);
  }

  void release_stream_slot(const std::string& peer) {
    std::lock_guard lock(front_.streams_mu);
    --front_.streams;
    auto it = front_.streams_by_peer.find(peer);
    if (it != front_.streams_by_peer.end() && --it->second == 0) front_.streams_by_peer.erase(it);
  }

  void queue_stream_data(Conn* c, std::string_view data) {
    if (data.empty() || c->stream_finishing) return;
    c->out.append(c->stream_chunked ? detail::chunk(data) : std::string(data));
    c->last_stream_write = now_;
  }

  // The last bytes of a stream: the terminating chunk (or, without chunking, a close).
  void end_stream_output(Conn* c) {
    if (c->stream_finishing) return;
    if (c->stream_chunked) c->out.append("0\r\n\r\n");
    c->stream_finishing = true;
    if (!c->stream_chunked) c->close_after = true;
  }

  // Moves what the channel has queued to the socket.
  void pump_stream(Conn* c) {
    auto taken = c->channel->take();
    if (taken.overflow) return close_conn(c);  // the client fell too far behind
    if (!taken.data.empty() && !c->stream_finishing) {
      c->out.append(taken.data);
      c->last_stream_write = now_;
    }
    if (taken.finish) end_stream_output(c);
    if (c->out.size() > front_.options.max_stream_backlog) return close_conn(c);
    flush_stream(c);
  }

  void flush_stream(Conn* c) {
    while (!c->out.empty()) {
      Io io = send_from(c->client.get(), c->out);
      if (io == Io::kWouldBlock) return;
      if (io == Io::kFailed) return close_conn(c);
      c->last_active = now_;
    }
    c->out.release_if_empty(kIdleBufferKeep);
    if (!c->stream_finishing) return;
    // The stream is over: the connection goes on (or closes).
    end_stream(c);
    if (c->close_after) return close_conn(c);
    next_request(c);
    drive(c);
  }

  void end_stream(Conn* c) {
    auto ch = std::move(c->channel);
    ch->end();
    release_stream_slot(c->peer);
    auto on_end = std::move(c->on_end);
    c->on_end = nullptr;
    if (on_end) on_end();
  }

  Front::Impl& front_;
  detail::ParserLimits limits_;
  Fd listener_;
  Fd epoll_;
  Fd wake_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> deadline_ns_{0};
  bool stop_seen_ = false;
  bool accept_paused_ = false;
  Clock::time_point now_ = Clock::now();
  std::list<std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<Conn>> graveyard_;
  std::mutex incoming_mu_;
  std::vector<Adopted> incoming_;                // adopted, not yet registered
  std::vector<std::shared_ptr<Channel>> dirty_;  // streams with data to send
  bool ended_ = false;                           // run() returned: adopt() closes
};

bool Channel::send(std::string_view data) {
  std::lock_guard lock(mu_);
  if (ended_ || finished_ || overflow_) return false;
  if (data.empty()) return true;
  if (pending_.size() + data.size() > backlog_) {
    overflow_ = true;
  } else {
    pending_ += chunked_ ? detail::chunk(data) : std::string(data);
  }
  post_locked();
  return !overflow_;
}

void Channel::finish() {
  std::lock_guard lock(mu_);
  if (ended_ || finished_) return;
  finished_ = true;
  post_locked();
}

void Channel::post_locked() {
  if (queued_ || !loop_) return;
  queued_ = true;
  loop_->post(shared_from_this());
}

Channel::Taken Channel::take() {
  std::lock_guard lock(mu_);
  queued_ = false;
  return Taken{std::exchange(pending_, {}), finished_, overflow_};
}

}  // namespace front_detail

namespace {

Result<std::vector<sockaddr_storage>> resolve(const std::string& host, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0)
    return error(ErrorCode::kInvalidArgument, "cannot resolve " + host + ": " + gai_strerror(rc));
  std::vector<sockaddr_storage> out;
  for (addrinfo* a = found; a; a = a->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, a->ai_addr, a->ai_addrlen);
    out.push_back(s);
  }
  ::freeaddrinfo(found);
  if (out.empty()) return error(ErrorCode::kInvalidArgument, "cannot resolve " + host);
  return out;
}

socklen_t addr_len(const sockaddr_storage& a) {
  return a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

int port_of(const sockaddr_storage& a) {
  return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port)
                                 : ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
}

void set_port(sockaddr_storage& a, int port) {
  if (a.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6&>(a).sin6_port = htons(uint16_t(port));
  } else {
    reinterpret_cast<sockaddr_in&>(a).sin_port = htons(uint16_t(port));
  }
}

Result<Fd> listen_on(sockaddr_storage addr) {
  Fd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return error(ErrorCode::kIo, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), addr_len(addr)) != 0 ||
      ::listen(fd.get(), SOMAXCONN) != 0)
    return error(ErrorCode::kIo, std::string("cannot listen: ") + std::strerror(errno));
  return fd;
}

}  // namespace

Result<std::unique_ptr<Front>> Front::start(FrontOptions options, MediaHandler handler,
                                            FrontObserver observer) {
  if (!handler) return error(ErrorCode::kInvalidArgument, "the front needs a media handler");
  if (options.port < 0 || options.port > 65535)
    return error(ErrorCode::kInvalidArgument, "port out of range");
  if (options.prefix.empty() || options.prefix.front() != '/' || options.prefix.back() != '/')
    return error(ErrorCode::kInvalidArgument, "the prefix must start and end with '/'");
  if (options.max_head_bytes < 256)
    return error(ErrorCode::kInvalidArgument, "max_head_bytes must be at least 256");
  if (options.max_header_count < 1)
    return error(ErrorCode::kInvalidArgument, "max_header_count must be at least 1");
  if (options.head_timeout.count() < 1 || options.body_timeout.count() < 1 ||
      options.idle_timeout.count() < 1)
    return error(ErrorCode::kInvalidArgument, "timeouts must be at least one second");
  int threads =
      options.threads > 0 ? options.threads : std::max(1, int(std::thread::hardware_concurrency()));

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  impl->observer = std::move(observer);
  const FrontOptions& opt = impl->options;
  STREAMLET_ASSIGN_OR_RETURN(auto here, resolve(opt.host, opt.port, true));
  sockaddr_storage addr = here.front();
  for (int i = 0; i < threads; ++i) {
    STREAMLET_ASSIGN_OR_RETURN(Fd listener, listen_on(addr));
    if (i == 0) {
      // Port 0: the kernel picked one; the other loops join that port.
      sockaddr_storage bound{};
      socklen_t len = sizeof bound;
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &len);
      impl->port = port_of(bound);
      set_port(addr, impl->port);
    }
    auto loop = std::make_unique<Loop>(*impl, std::move(listener));
    STREAMLET_RETURN_IF_ERROR(loop->init());
    impl->loops.push_back(std::move(loop));
  }
  for (auto& loop : impl->loops) impl->threads.emplace_back([l = loop.get()] { l->run(); });
  return std::unique_ptr<Front>(new Front(std::move(impl)));
}

Front::Front(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Front::~Front() {
  stop();
}

int Front::port() const {
  return impl_->port;
}

size_t Front::open_streams() const {
  std::lock_guard lock(impl_->streams_mu);
  return impl_->streams;
}

void Front::adopt(int fd, std::string after, bool close) {
  const size_t n = impl_->loops.size();
  const size_t pick = impl_->next_adopter.fetch_add(1) % n;
  impl_->loops[pick]->adopt(fd, std::move(after), close);
}

void Front::begin_stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stop_begun) return;
  impl_->stop_begun = true;
  const auto deadline = Clock::now() + grace;
  for (auto& loop : impl_->loops) loop->stop(deadline);
}

void Front::stop(std::chrono::milliseconds grace) {
  begin_stop(grace);
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->joined) return;
  impl_->joined = true;
  for (auto& t : impl_->threads) t.join();
}

}  // namespace streamlet::origin

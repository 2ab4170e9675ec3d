// origin::Front: epoll loops that answer playback requests and relay the rest.
//
// Each loop owns its connections outright (no locks on the data path): a
// SO_REUSEPORT listening socket, an epoll set, an eventfd to be woken for
// stop. Sockets are edge-triggered; a connection remembers which of its ends
// are readable and writable and drive() moves bytes until both would block.
//
// A connection starts in local mode: heads are parsed here and answered with
// the MediaHandler, one at a time in order (pipelined requests wait in the
// input buffer). The first request that is not a plain playback GET/HEAD/
// OPTIONS turns the connection into a relay to the upstream for good, starting
// with that request's bytes: nothing is rewritten, so the upstream's own
// parsing, limits and error answers apply.
#include "streamlet/origin_front.hpp"

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
#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "core/file_util.hpp"
#include "core/time_format.hpp"
#include "origin/detail.hpp"

namespace streamlet::origin {
namespace {

using detail::iequals;
using detail::trim;
using Clock = std::chrono::steady_clock;
using streamlet::detail::Fd;

// Relay buffers start small (most relayed connections are idle API keep-alives or SSE
// streams) and grow, up to the maximum, while a transfer keeps filling them (uploads).
constexpr size_t kRelayBufferStart = 16 * 1024;
constexpr size_t kRelayBufferMax = 256 * 1024;
// After an answer, a buffer bigger than this is given back rather than kept per connection.
constexpr size_t kIdleBufferKeep = 16 * 1024;
constexpr uint64_t kInlineFileBytes = 64 * 1024;  // smaller files are read into the answer
constexpr size_t kSendfileChunk = 1 << 20;

// RFC 9110 token characters, for header field names.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 410:
      return "Gone";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

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

}  // namespace

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

struct Conn;
// What an epoll event points at: one end of a connection.
struct Endpoint {
  Conn* conn;
  bool upstream;
};

struct Conn {
  Fd client;
  Fd upstream;
  Endpoint client_end{this, false};
  Endpoint upstream_end{this, true};
  bool relaying = false;
  bool closed = false;
  // Edge-triggered readiness, cleared when a call would block.
  bool client_readable = true, upstream_readable = false;
  bool client_eof = false, upstream_eof = false;
  bool upstream_connected = false, upstream_shut = false;

  Buffer in;   // from the client: request heads (local), anything (relay)
  Buffer out;  // to the client: answer heads and small bodies (local), upstream bytes (relay)
  // Local mode: the body of the answer being sent, when it is a large file range.
  Fd file;
  off_t file_offset = 0;
  uint64_t file_left = 0;
  bool responding = false;
  bool close_after = false;
  std::string log_method;
  FrontRequestLog log;
  Clock::time_point head_parsed;

  Clock::time_point last_active;
  Clock::time_point head_started;  // when the bytes of the head being received began
  std::list<std::unique_ptr<Conn>>::iterator self;
};

class Loop;

}  // namespace front_detail

using front_detail::Buffer;
using front_detail::Conn;
using front_detail::Endpoint;
using front_detail::Loop;

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

struct Front::Impl {
  FrontOptions options;
  MediaHandler handler;
  FrontObserver observer;
  sockaddr_storage upstream_addr{};
  socklen_t upstream_len = 0;
  int port = 0;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> next_adopter{0};
  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<std::thread> threads;
  std::mutex stop_mu;
  bool stop_begun = false;
  bool joined = false;
};

namespace {

enum class Step { kNeedMore, kAnswered, kRelay };

}  // namespace

namespace front_detail {

class Loop {
 public:
  Loop(Front::Impl& front, Fd listener) : front_(front), listener_(std::move(listener)) {}

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
  void adopt(int fd, std::string already_read) {
    {
      std::lock_guard lock(incoming_mu_);
      if (!ended_) {
        incoming_.emplace_back(fd, std::move(already_read));
        fd = -1;
      }
    }
    if (fd >= 0) ::close(fd);  // the loop is gone
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
          auto* end = static_cast<Endpoint*>(p);
          Conn* c = end->conn;
          if (c->closed) continue;
          const uint32_t e = events[i].events;
          if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            (end->upstream ? c->upstream_readable : c->client_readable) = true;
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
    for (auto& [fd, bytes] : incoming_) ::close(fd);
    incoming_.clear();
  }

 private:
  void begin_stopping() {
    stop_seen_ = true;
    if (listener_.valid()) {
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
      listener_ = Fd();
    }
    // Idle and half-received local connections end now; answers in progress finish, then
    // close; relays run until the upstream closes them.
    std::vector<Conn*> idle;
    for (auto& c : conns_) {
      if (c->relaying) continue;
      if (c->responding) {
        c->close_after = true;
      } else {
        idle.push_back(c.get());
      }
    }
    for (Conn* c : idle) close_conn(c);
    graveyard_.clear();
  }

  void take_incoming() {
    std::vector<std::pair<int, std::string>> batch;
    {
      std::lock_guard lock(incoming_mu_);
      batch.swap(incoming_);
    }
    for (auto& [fd, bytes] : batch) {
      if (stopping_.load()) {
        ::close(fd);
        continue;
      }
      Conn* c = add_conn(fd);
      if (!c) continue;
      if (!bytes.empty()) {
        c->in.reserve(std::max(front_.options.max_head_bytes + 1, bytes.size()));
        c->in.append(bytes);
        c->head_started = now_;
        drive(c);
      }
    }
  }

  // Registers an accepted (or adopted) non-blocking socket; nullptr when it was closed.
  Conn* add_conn(int fd) {
    auto conn = std::make_unique<Conn>();
    conn->client = Fd(fd);
    conn->last_active = now_;
    Conn* c = conn.get();
    conns_.push_front(std::move(conn));
    c->self = conns_.begin();
    front_.connections.fetch_add(1);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &c->client_end;
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
    // Closing the descriptors takes them out of the epoll set; the Conn itself lives until
    // the end of this batch of events, which may still point at it.
    c->client = Fd();
    c->upstream = Fd();
    c->file = Fd();
    graveyard_.push_back(std::move(*c->self));
    conns_.erase(c->self);
    front_.connections.fetch_sub(1);
  }

  // Local connections that sat idle, or were too slow sending a head (however it trickles
  // in) or reading an answer.
  void sweep() {
    const auto limit = front_.options.idle_timeout;
    std::vector<Conn*> stale;
    for (auto& c : conns_) {
      if (c->relaying) continue;
      const bool partial_head = !c->responding && !c->in.empty();
      if (now_ - c->last_active > limit || (partial_head && now_ - c->head_started > limit))
        stale.push_back(c.get());
    }
    for (Conn* c : stale) close_conn(c);
    graveyard_.clear();
  }

  void drive(Conn* c) {
    if (!c->relaying) drive_local(c);
    if (!c->closed && c->relaying) drive_relay(c);
  }

  // --- local mode ---------------------------------------------------------------------------

  void drive_local(Conn* c) {
    for (;;) {
      if (c->responding) {
        if (!flush_answer(c)) return;
        c->responding = false;
        c->out.release_if_empty(kIdleBufferKeep);
        if (front_.observer) {
          c->log.method = c->log_method;
          c->log.elapsed = Clock::now() - c->head_parsed;
          front_.observer(c->log);
        }
        if (c->close_after) return close_conn(c);
      }
      Step step = parse_and_answer(c);
      if (c->closed) return;
      if (step == Step::kAnswered) continue;
      if (step == Step::kRelay) return start_relay(c);
      // A head is incomplete: read more.
      if (c->client_eof) return close_conn(c);
      if (!c->client_readable) return;
      c->in.reserve(front_.options.max_head_bytes + 1);
      if (c->in.space() == 0) return start_relay(c);  // cannot happen: parsing relays first
      const bool fresh = c->in.empty();
      switch (receive_into(c->client.get(), c->in)) {
        case Io::kMoved:
          if (fresh) c->head_started = now_;
          c->last_active = now_;
          break;
        case Io::kEof:
          c->client_eof = true;
          break;
        case Io::kWouldBlock:
          c->client_readable = false;
          break;
        case Io::kFailed:
          return close_conn(c);
      }
    }
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
    while (c->file_left > 0) {
      size_t want = size_t(std::min<uint64_t>(c->file_left, kSendfileChunk));
      ssize_t n = ::sendfile(c->client.get(), c->file.get(), &c->file_offset, want);
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
    c->file = Fd();
    return true;
  }

  Step parse_and_answer(Conn* c) {
    const FrontOptions& opt = front_.options;
    std::string_view data = c->in.view();
    // RFC 9112 2.2: empty lines before a request line are ignored.
    size_t skip = 0;
    while (skip + 1 < data.size() && data[skip] == '\r' && data[skip + 1] == '\n') skip += 2;
    if (skip > 0) {
      c->in.consume(skip);
      data = c->in.view();
    }
    if (data.empty()) return Step::kNeedMore;
    size_t line_end = data.find("\r\n");
    if (line_end == std::string_view::npos)
      return data.size() >= opt.max_head_bytes ? Step::kRelay : Step::kNeedMore;

    // request-line = method SP request-target SP HTTP-version
    std::string_view line = data.substr(0, line_end);
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
      return Step::kRelay;
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if ((method != "GET" && method != "HEAD" && method != "OPTIONS") ||
        (version != "HTTP/1.1" && version != "HTTP/1.0") || !target.starts_with(opt.prefix))
      return Step::kRelay;

    size_t head_end = data.find("\r\n\r\n");
    if (head_end == std::string_view::npos)
      return data.size() >= opt.max_head_bytes ? Step::kRelay : Step::kNeedMore;
    if (head_end + 4 > opt.max_head_bytes) return Step::kRelay;

    auto media = parse_media_target(target, opt.prefix);
    if (!media) return Step::kRelay;
    OriginRequest req;
    req.method = std::string(method);
    req.path = std::move(media->path);
    req.query = std::move(media->query);
    bool keep_alive = version == "HTTP/1.1";
    std::string_view fields = data.substr(line_end + 2, head_end - line_end - 2 + 2);
    while (!fields.empty()) {
      size_t eol = fields.find("\r\n");
      std::string_view field = fields.substr(0, eol);
      fields.remove_prefix(eol + 2);
      size_t colon = field.find(':');
      // obs-fold, a field without a name or with a bad one: the upstream answers 400.
      if (colon == 0 || colon == std::string_view::npos) return Step::kRelay;
      std::string_view name = field.substr(0, colon);
      if (!std::all_of(name.begin(), name.end(), is_tchar)) return Step::kRelay;
      std::string_view value = trim(field.substr(colon + 1));
      std::string lower(name);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return char(std::tolower(ch)); });
      // A request with a body is not a playback request.
      if (lower == "transfer-encoding" || (lower == "content-length" && value != "0"))
        return Step::kRelay;
      if (lower == "connection") {
        if (has_token(value, "close")) keep_alive = false;
        if (version == "HTTP/1.0" && has_token(value, "keep-alive")) keep_alive = true;
      }
      req.headers.emplace(std::move(lower), std::string(value));
    }
    c->in.consume(head_end + 4);
    c->head_parsed = Clock::now();
    c->last_active = now_;

    OriginResponse res;
    try {
      res = front_.handler(media->video_id, req);
    } catch (...) {
      res = OriginResponse{};
      res.status = 500;
      res.body = R"({"error":"internal error","code":"internal"})";
      res.headers = {{"Content-Type", "application/json"},
                     {"Content-Length", std::to_string(res.body.size())}};
    }
    if (stopping_.load()) keep_alive = false;
    write_answer(c, req.method, version, keep_alive, std::move(res));
    return Step::kAnswered;
  }

  void write_answer(Conn* c, std::string_view method, std::string_view version, bool keep_alive,
                    OriginResponse res) {
    const bool bodyless = method == "HEAD" || res.status == 204 || res.status == 304;
    std::string inline_body;
    Fd file;
    if (res.has_file() && !bodyless) {
      file = Fd(::open(res.file_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      bool ok = file.valid();
      if (ok && res.length <= kInlineFileBytes) {
        inline_body.resize(size_t(res.length));
        ssize_t got =
            ::pread(file.get(), inline_body.data(), inline_body.size(), off_t(res.offset));
        ok = got == ssize_t(inline_body.size());
        file = Fd();
      }
      if (!ok) {
        // Gone between the origin's check and here (the video was just deleted).
        res = OriginResponse{};
        res.status = 404;
        res.body = R"({"error":"not found","code":"not_found"})";
        res.headers = {{"Content-Type", "application/json"},
                       {"Content-Length", std::to_string(res.body.size())}};
        file = Fd();
        inline_body.clear();
      }
    }
    std::string head;
    head.reserve(512);
    head += version;
    head += ' ';
    head += std::to_string(res.status);
    head += ' ';
    head += reason_phrase(res.status);
    head += "\r\n";
    head += date_line();
    for (const auto& [name, value] : res.headers) {
      if (iequals(name, "Connection")) continue;
      head += name;
      head += ": ";
      head += value;
      head += "\r\n";
    }
    if (!keep_alive) {
      head += "Connection: close\r\n";
    } else if (version == "HTTP/1.0") {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    c->out.append(head);
    uint64_t body_bytes = 0;
    if (!bodyless) {
      if (file.valid()) {
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
    c->responding = true;
    c->close_after = !keep_alive;
    c->log_method.assign(method);
    c->log.status = res.status;
    c->log.body_bytes = body_bytes;
  }

  // --- relay mode ----------------------------------------------------------------------------

  void start_relay(Conn* c) {
    if (front_.options.handoff) return hand_off(c);
    c->relaying = true;
    c->in.reserve(kRelayBufferStart);
    c->out.reserve(kRelayBufferStart);
    if (front_.upstream_len == 0) {
      // Nothing behind the front: answer like any server without that path, then close.
      std::string body = R"({"error":"no such endpoint","code":"not_found"})";
      c->out.append("HTTP/1.1 404 Not Found\r\n" + date_line() +
                    "Content-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
      c->upstream_eof = true;
      return drive_relay(c);
    }
    int fd =
        ::socket(front_.upstream_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return bad_gateway(c);
    c->upstream = Fd(fd);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&front_.upstream_addr),
                  front_.upstream_len) == 0) {
      c->upstream_connected = true;
    } else if (errno != EINPROGRESS) {
      return bad_gateway(c);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &c->upstream_end;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return bad_gateway(c);
    drive_relay(c);
  }

  // The connection and what was read from it become the handoff's.
  void hand_off(Conn* c) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c->client.get(), nullptr);
    std::string already_read(c->in.view());
    int fd = c->client.release();
    close_conn(c);
    front_.options.handoff(fd, std::move(already_read));
  }

  // The upstream cannot be reached: the client gets a 502 instead of a hang.
  void bad_gateway(Conn* c) {
    c->upstream = Fd();
    c->upstream_connected = false;
    std::string body = R"({"error":"the API server is not reachable","code":"unavailable"})";
    c->out.append("HTTP/1.1 502 Bad Gateway\r\n" + date_line() +
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    c->upstream_eof = true;
    drive_relay(c);
  }

  void drive_relay(Conn* c) {
    for (bool moved = true; moved && !c->closed;) {
      moved = false;
      if (c->upstream.valid() && !c->upstream_connected) {
        sockaddr_storage peer{};
        socklen_t plen = sizeof peer;
        if (::getpeername(c->upstream.get(), reinterpret_cast<sockaddr*>(&peer), &plen) != 0) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(c->upstream.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) return bad_gateway(c);
          return;  // still connecting: EPOLLOUT will say when
        }
        c->upstream_connected = true;
      }
      // client -> upstream
      if (!c->client_eof && c->client_readable && c->in.space() > 0) {
        Io io = receive_into(c->client.get(), c->in);
        if (io == Io::kFailed) return close_conn(c);
        if (io == Io::kWouldBlock) c->client_readable = false;
        if (io == Io::kEof) c->client_eof = true;
        if (io == Io::kMoved) c->in.grow_if_full(kRelayBufferMax);
        moved = moved || io == Io::kMoved || io == Io::kEof;
      }
      if (c->upstream_connected && !c->in.empty()) {
        Io io = send_from(c->upstream.get(), c->in);
        // The upstream reset: nothing sensible to tell the client.
        if (io == Io::kFailed) return close_conn(c);
        moved = moved || io == Io::kMoved;
      }
      if (c->client_eof && c->in.empty() && c->upstream_connected && !c->upstream_shut) {
        ::shutdown(c->upstream.get(), SHUT_WR);
        c->upstream_shut = true;
      }
      // upstream -> client
      if (c->upstream_connected && !c->upstream_eof && c->upstream_readable && c->out.space() > 0) {
        Io io = receive_into(c->upstream.get(), c->out);
        if (io == Io::kWouldBlock) c->upstream_readable = false;
        // An upstream error ends the relay like its EOF: the client gets what arrived.
        if (io == Io::kEof || io == Io::kFailed) c->upstream_eof = true;
        if (io == Io::kMoved) c->out.grow_if_full(kRelayBufferMax);
        moved = moved || io != Io::kWouldBlock;
      }
      if (!c->out.empty()) {
        Io io = send_from(c->client.get(), c->out);
        if (io == Io::kFailed) return close_conn(c);
        moved = moved || io == Io::kMoved;
      }
      if (c->upstream_eof && c->out.empty()) return close_conn(c);
    }
  }

  Front::Impl& front_;
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
  std::vector<std::pair<int, std::string>> incoming_;  // adopted, not yet registered
  bool ended_ = false;                                 // run() returned: adopt() closes
};

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
  if (options.port < 0 || options.port > 65535 || options.upstream_port < 0 ||
      options.upstream_port > 65535)
    return error(ErrorCode::kInvalidArgument, "port out of range");
  if (options.prefix.empty() || options.prefix.front() != '/' || options.prefix.back() != '/')
    return error(ErrorCode::kInvalidArgument, "the prefix must start and end with '/'");
  if (options.max_head_bytes < 256)
    return error(ErrorCode::kInvalidArgument, "max_head_bytes must be at least 256");
  int threads =
      options.threads > 0 ? options.threads : std::max(1, int(std::thread::hardware_concurrency()));

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  impl->observer = std::move(observer);
  const FrontOptions& opt = impl->options;
  if (opt.upstream_port != 0) {
    STREAMLET_ASSIGN_OR_RETURN(auto up, resolve(opt.upstream_host, opt.upstream_port, false));
    impl->upstream_addr = up.front();
    impl->upstream_len = addr_len(up.front());
  }
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

void Front::adopt(int fd, std::string already_read) {
  const size_t n = impl_->loops.size();
  const size_t pick = impl_->next_adopter.fetch_add(1) % n;
  impl_->loops[pick]->adopt(fd, std::move(already_read));
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

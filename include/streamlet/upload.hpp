// Resumable uploads with tus 1.0 semantics: an upload store kept on any storage::Storage
// (a local directory by default) and an HTTP-agnostic tus protocol handler that any HTTP
// stack can adapt.
//
//   auto store = streamlet::upload::UploadStore::open({.dir = "data/uploads"});
//   // or on a backend of your own: UploadStore::open({.storage = my_storage})
//   streamlet::upload::TusHandler tus(**store, {.base_path = "/v1/uploads"});
//   TusResponse r = tus.handle(request);   // from your HTTP server's request
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamlet/status.hpp"
#include "streamlet/storage.hpp"

namespace streamlet::upload {

// What one owner may hold in an UploadStore at once; 0 means no limit.
struct OwnerLimits {
  size_t max_unfinished = 0;  // unfinished uploads
  // Bytes: the length of every upload (declared, or received so far while deferred),
  // finished ones included, since a finished upload stays as the source of its video.
  uint64_t max_bytes = 0;
};

// A request's hold on one upload across every process sharing the store, released when the
// handle is destroyed.
class UploadLock {
 public:
  virtual ~UploadLock() = default;
  // Called by the store while a request streams its body (often: keep it cheap when there is
  // nothing to do); an error (the hold was lost) ends the request with that error.
  virtual Status keep() = 0;
};

// Serialises the requests that change an upload (appends, terminations) across the
// processes sharing a store (StoreOptions::shared): the in-process check alone cannot see a
// request another API node is serving. Thread safe.
class UploadLocker {
 public:
  virtual ~UploadLocker() = default;
  // The hold on upload `id` for one request; kConflict ("upload is locked by another
  // request") while another request, on any node, holds it.
  virtual Result<std::unique_ptr<UploadLock>> lock(std::string_view id) = 0;
};

// Tunables of an UploadStore. Every field has a usable default except where the bytes go:
// `storage`, or `dir` for a local directory.
struct StoreOptions {
  // The backend every byte and every state goes through: upload data is an appendable
  // object <prefix><id>.bin, its state an object <prefix><id>.json replaced whole on each
  // change. Default: none, then `dir` is opened as a local store
  // (storage::open_local({.root = dir, .durable = durable})) with an empty prefix, the
  // layout the store always had. UploadStore::options() reports the backend in use.
  std::shared_ptr<storage::Storage> storage{};
  // Where the store's keys start in `storage` (ignored with `dir`). Default: "uploads/".
  std::string prefix = "uploads/";
  // A local directory of upload data (<id>.bin) and state (<id>.json), created if missing;
  // used only when `storage` is not set. Default: none.
  std::filesystem::path dir{};
  // Largest Upload-Length accepted, in bytes. Default: 8 GiB.
  uint64_t max_upload_size = 8ull << 30;
  // Most unfinished uploads that may exist at once; creating one more is
  // refused (kResourceExhausted) until some finish, expire or are terminated. Default: 1000.
  size_t max_concurrent_uploads = 1000;
  // An unfinished upload with no append for this long expires. Default: 24 h.
  std::chrono::seconds expiration = std::chrono::hours(24);
  // Appends are refused (kResourceExhausted) rather than filling the disk past this reserve,
  // on a backend that knows its free space (Storage::free_bytes). Default: 64 MiB.
  uint64_t min_free_bytes = 64ull << 20;
  // A long append without checksum is made durable (and its offset acknowledged) every this
  // many bytes, so an interrupted request keeps most of what it sent. Default: 64 MiB.
  uint64_t checkpoint_bytes = 64ull << 20;
  // fsync data and state before acknowledging (with `dir`; a `storage` keeps its own setting,
  // and the store syncs through it before every acknowledgement either way). Turn off only
  // for throwaway stores. Default: on.
  bool durable = true;
  // Uploads have owners when set: the value of this metadata key (e.g. the uploader's user
  // id). Then a final upload concatenates only parts of its own owner (any other part is
  // answered as unknown, so its existence is not revealed), and `owner_limits` applies.
  // Default: "" (no owners).
  std::string owner_key{};
  // The limits of an owner, asked (outside the store's lock) whenever a creation or an
  // append needs them; exceeding one is kRateLimited with a retry_after. Uploads without an
  // owner are not limited. Default: none.
  std::function<OwnerLimits(std::string_view owner)> owner_limits{};
  // Other processes (the API nodes of a cluster) create and append to uploads in the same
  // storage: every lookup reads the upload's state object instead of trusting what this
  // process last saw, so an upload started on one node resumes on any other at the offset
  // kept in storage, and the expiry sweep looks at every upload in storage. One request at
  // a time per upload is what tus clients send; `locker` refuses a second one on any node.
  // Default: off (this process is the store's only user).
  bool shared = false;
  // Who holds an upload while an append or a termination changes it, across processes; the
  // state is read after the hold is taken. Default: none, then only this process's own
  // requests are serialised (enough unless `shared`).
  std::shared_ptr<UploadLocker> locker{};
};

// What the store knows about one upload. A plain value: copying it is cheap and safe.
struct UploadInfo {
  std::string id;                                 // 32 lowercase hex characters
  std::optional<uint64_t> length{};               // total size; empty while the length is deferred
  uint64_t offset = 0;                            // bytes received and durable
  std::map<std::string, std::string> metadata{};  // decoded Upload-Metadata (filename, title, ...)
  bool partial = false;              // a part meant to be concatenated (Upload-Concat: partial)
  std::vector<std::string> parts{};  // for a final upload: the ids it was concatenated from
  std::chrono::system_clock::time_point created{};
  std::chrono::system_clock::time_point expires{};  // meaningful while incomplete

  bool complete() const { return length && offset == *length; }
  bool final() const { return !parts.empty(); }
};

// A finished upload, handed to the completion callback. `key` names its bytes in the
// store's storage (options().storage) until the upload is terminated; a receiver that needs
// a file asks the storage for one (Storage::local_file), or copies the object elsewhere.
struct CompletedUpload {
  UploadInfo info;
  std::string key;
};

// Called once per finished (non-partial) upload after its bytes are durable, on the thread
// that completed it and outside every store lock. It must not throw.
using CompletionCallback = std::function<void(const CompletedUpload&)>;

// How an upload left the store other than by being concatenated into a final upload.
enum class RemovalReason {
  kExpired,     // unfinished and idle past its expiry (expire_idle)
  kTerminated,  // terminate(), e.g. a tus DELETE
};

// Called once per upload that expire_idle() or terminate() removed, after its files are gone,
// on the thread that removed it and outside every store lock (so it may call the store). Lets
// whoever attached something to an upload (a video waiting for its file) let go of it.
// It must not throw.
using RemovalCallback = std::function<void(const UploadInfo&, RemovalReason)>;

enum class ChecksumAlgorithm { kSha1, kSha256, kMd5 };

// The tus checksum of one append: algorithm and raw (not base64) digest bytes.
struct Checksum {
  ChecksumAlgorithm algorithm = ChecksumAlgorithm::kSha1;
  std::string digest;
};

// Pushes the request body to `sink` chunk by chunk; returns false if the body could not be
// read whole (connection lost) or the sink returned false. Same shape as cpp-httplib's
// ContentReader, without its types.
using BodySink = std::function<bool(const char* data, size_t size)>;
using BodyReader = std::function<bool(const BodySink& sink)>;

struct CreateParams {
  std::optional<uint64_t> length{};               // empty: deferred (creation-defer-length)
  std::map<std::string, std::string> metadata{};  // kept with the upload. Default: none
  bool partial = false;                           // Upload-Concat: partial. Default: false
};

struct AppendParams {
  uint64_t offset = 0;                       // where the client believes the upload stands
  std::optional<uint64_t> content_length{};  // bytes announced, checked against limits up front
  std::optional<Checksum> checksum{};        // verified before the append is acknowledged
};

// The upload store. Thread-safe: any number of threads may call any method; appends to one
// upload are serialised (a second concurrent append gets kConflict). Appends stream to the
// storage through a small fixed buffer, so memory does not grow with upload size. An offset
// is reported only after its bytes are synced (Appender::sync), and states are replaced
// atomically (Writer::commit), so a process killed at any instant reopens with every
// acknowledged byte. It uses nothing of the storage but the storage::Storage interface.
class UploadStore {
 public:
  // Opens (creating if needed) the store and reconciles each upload with its data:
  // bytes past the last acknowledged offset are truncated away.
  static Result<std::unique_ptr<UploadStore>> open(StoreOptions options);
  ~UploadStore();
  UploadStore(const UploadStore&) = delete;
  UploadStore& operator=(const UploadStore&) = delete;

  // The options in use; `storage` is always set (the local store opened for `dir`).
  const StoreOptions& options() const;
  void set_completion_callback(CompletionCallback callback);
  void set_removal_callback(RemovalCallback callback);

  Result<UploadInfo> create(const CreateParams& params);
  // kNotFound for unknown ids, kGone for uploads that expired or were terminated.
  Result<UploadInfo> info(std::string_view id) const;
  // Fixes a deferred length (Upload-Length on a later PATCH).
  Result<UploadInfo> declare_length(std::string_view id, uint64_t length);
  // Appends the body at params.offset. A different offset is kConflict, nothing written; a
  // checksum mismatch is kChecksumMismatch with the offset unchanged; going past the length is
  // kTooLarge; a full disk is kResourceExhausted with the offset unchanged. If the body breaks
  // off (no checksum), what arrived is kept and acknowledged.
  Result<UploadInfo> append(std::string_view id, const AppendParams& params,
                            const BodyReader& body);
  // Builds a final upload from complete partial uploads, in order; the parts are removed.
  Result<UploadInfo> concatenate(const std::vector<std::string>& part_ids,
                                 std::map<std::string, std::string> metadata);
  // Removes an upload and its bytes; later lookups give kGone.
  Status terminate(std::string_view id);
  // Removes unfinished uploads idle past their expiry; returns how many went.
  size_t expire_idle();
  // Key of the data of a complete upload in options().storage (kConflict while incomplete).
  Result<std::string> data_key(std::string_view id) const;

 private:
  struct Impl;
  explicit UploadStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- tus 1.0.0 protocol, independent of any HTTP library ---------------------------

struct TusOptions {
  // Path the tus collection is served at; upload URLs are base_path + "/" + id.
  // Default: "/v1/uploads".
  std::string base_path = "/v1/uploads";
  // Access-Control-Allow-Origin sent to browsers. Default: "*".
  std::string cors_allow_origin = "*";
  // Largest Upload-Metadata header accepted, in bytes. Default: 4 KiB.
  size_t max_metadata_size = 4096;
};

// One HTTP request as the tus handler needs it. Header names are matched case-insensitively.
struct TusRequest {
  std::string method;       // "POST", "PATCH", ... (X-HTTP-Method-Override is honoured)
  std::string path;         // request path, without query string
  std::string scheme_host;  // e.g. "http://127.0.0.1:8080", prefixed to Location; may be empty
  std::vector<std::pair<std::string, std::string>> headers;
  BodyReader body;  // may be empty when there is no body

  std::optional<std::string> header(std::string_view name) const;
};

// What to send back. When `error` is not ok the adapter chooses the HTTP status from its code
// (one mapping, in the adapter) and sends a short body; `headers` are sent either way.
struct TusResponse {
  int status = 204;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Status error;
  // True when the request body was not consumed: the adapter should close the connection.
  bool body_unread = false;
};

// Implements tus 1.0.0 core + creation, creation-with-upload, creation-defer-length,
// termination, checksum, expiration and concatenation on top of an UploadStore, with CORS.
// Thread-safe; holds a reference to the store, which must outlive it.
class TusHandler {
 public:
  TusHandler(UploadStore& store, TusOptions options = {});
  TusResponse handle(const TusRequest& request);

  static constexpr std::string_view kVersion = "1.0.0";
  static constexpr std::string_view kExtensions =
      "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,"
      "concatenation";
  static constexpr std::string_view kChecksumAlgorithms = "sha1,sha256,md5";

 private:
  TusResponse options_response() const;
  TusResponse create(const TusRequest& request);
  TusResponse head(std::string_view id) const;
  TusResponse patch(std::string_view id, const TusRequest& request);
  TusResponse remove(std::string_view id);
  void add_common_headers(TusResponse& response) const;
  void add_upload_headers(TusResponse& response, const UploadInfo& info) const;

  UploadStore& store_;
  TusOptions options_;
};

// ---- tus header helpers (exposed for clients and tests) --------------------------

// Parses "key base64value,key2 base64value2" (values optional); kInvalidArgument when malformed.
Result<std::map<std::string, std::string>> parse_metadata(std::string_view header);
std::string format_metadata(const std::map<std::string, std::string>& metadata);
// Parses "sha1 <base64 digest>"; kInvalidArgument for an unsupported algorithm or bad base64.
Result<Checksum> parse_checksum(std::string_view header);
// A non-negative decimal integer with no sign, spaces or overflow; kInvalidArgument otherwise.
Result<uint64_t> parse_uint(std::string_view text);
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);
// RFC 7231 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::chrono::system_clock::time_point time);
// Hex SHA-256 of a file, streamed (for clients and tests).
Result<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace streamlet::upload

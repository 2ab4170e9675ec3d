// The platform inside the test process, without the server: built from parts the test keeps
// (so it can look at the catalog and the queue as an operator would), with tus requests made
// through Platform::handle_upload, the library call every HTTP adapter makes.
#pragma once

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "platform/backends.hpp"
#include "streamlet/platform.hpp"
#include "support/support.hpp"
#ifdef STREAMLET_PLATFORM_PG_S3
#include "streamlet/postgres.hpp"
#endif

namespace streamlet::test {

struct InProcess {
  std::shared_ptr<catalog::Catalog> catalog;
  std::shared_ptr<jobs::JobQueue> queue;
  std::shared_ptr<events::EventBus> bus;
  std::shared_ptr<storage::Storage> storage;
  std::unique_ptr<platform::Platform> platform;

  platform::Platform* operator->() { return platform.get(); }
  platform::Platform& operator*() { return *platform; }
};

inline platform::PlatformOptions in_process_options(
    const fs::path& data, std::chrono::seconds upload_expiration = std::chrono::hours(1)) {
  platform::PlatformOptions o;
  o.data_dir = data;
  o.upload_expiration = upload_expiration;
  o.durable_uploads = false;  // throwaway store: no fsync per test
  return o;
}

// Opens (or reopens) the platform on `data` with the stores made here: in the embedded build
// the SQLite catalog and queue in data/catalog.db and local storage on data/; in the
// PostgreSQL + S3 build the catalog, queue and event bus in data's database and the storage
// under data's prefix in the test bucket (backends.hpp). Fixed secrets either way.
inline InProcess open_in_process(const platform::PlatformOptions& o) {
  InProcess out;
  fs::create_directories(o.data_dir);
  jobs::QueueOptions qo;
  qo.retry = o.retry;
#ifdef STREAMLET_PLATFORM_PG_S3
  DataBackends& backends = backends_of(o.data_dir);
  auto c = postgres::open_catalog(backends.catalog_url());
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  out.catalog = std::move(*c);
  auto q = postgres::open_job_queue(backends.catalog_url(), {.queue = qo});
  REQUIRE_MESSAGE(q.ok(), q.status().to_string());
  out.queue = std::move(*q);
  auto bus = postgres::open_event_bus(backends.catalog_url());
  REQUIRE_MESSAGE(bus.ok(), bus.status().to_string());
  out.bus = std::move(*bus);
  out.storage = backends.shared_storage();
#else
  const std::string db = (o.data_dir / "catalog.db").string();
  auto c = catalog::open_sqlite_catalog(db);
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  out.catalog = std::move(*c);
  auto q = jobs::open_sqlite_job_queue(db, qo);
  REQUIRE_MESSAGE(q.ok(), q.status().to_string());
  out.queue = std::move(*q);
  out.bus = std::make_shared<events::InProcessBus>();
  auto st = storage::open_local({.root = o.data_dir, .durable = false, .private_files = true});
  REQUIRE_MESSAGE(st.ok(), st.status().to_string());
  out.storage = *st;
#endif
  platform::PlatformParts parts;
  parts.catalog = out.catalog;
  parts.queue = out.queue;
  parts.bus = out.bus;
  parts.storage = out.storage;
  if (kPlatformOnPgS3) {
    // As Platform::open: sources are fetched from the bucket into this node's scratch space.
    parts.scratch_dir = o.data_dir / "scratch";
    fs::create_directories(parts.scratch_dir);
  }
  parts.token_secret = "test token secret, 16+ bytes";
  parts.signing_key = "test signing key, 16+ bytes";
  auto p = platform::Platform::create(o, parts);
  REQUIRE_MESSAGE(p.ok(), p.status().to_string());
  out.platform = std::move(*p);
  return out;
}

struct SignedUp {
  accounts::Principal who;
  std::string token;
};

inline SignedUp sign_up(platform::Platform& p, const std::string& name) {
  auto reg = p.register_user(name, "correct horse");
  REQUIRE_MESSAGE(reg.ok(), reg.status().to_string());
  auto who = p.authenticate("Bearer " + reg->token);
  REQUIRE(who.ok());
  return {*who, reg->token};
}

// One tus request through the platform.
inline upload::TusResponse tus(platform::Platform& p, const std::string& method,
                               const std::string& path, const std::string& token,
                               std::vector<std::pair<std::string, std::string>> headers = {},
                               const std::string* body = nullptr) {
  upload::TusRequest r;
  r.method = method;
  r.path = path;
  r.scheme_host = "http://test";
  r.headers = std::move(headers);
  r.headers.emplace_back("Tus-Resumable", "1.0.0");
  if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
  if (body) {
    r.headers.emplace_back("Content-Length", std::to_string(body->size()));
    r.body = [body](const upload::BodySink& sink) { return sink(body->data(), body->size()); };
  }
  return p.handle_upload(r);
}

inline std::string header_of(const upload::TusResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

struct Started {
  std::string video_id;
  std::string upload_id;
};

// A tus creation as a client makes it: the platform creates the video, the store the upload.
inline Started start_upload(platform::Platform& p, const std::string& token, uint64_t length,
                            std::map<std::string, std::string> metadata = {{"filename",
                                                                            "clip.mp4"}}) {
  auto r = tus(p, "POST", "/v1/uploads", token,
               {{"Upload-Length", std::to_string(length)},
                {"Upload-Metadata", upload::format_metadata(metadata)}});
  REQUIRE_MESSAGE(r.error.ok(), r.error.to_string());
  REQUIRE(r.status == 201);
  const std::string location = header_of(r, "Location");
  return {header_of(r, "Streamlet-Video-Id"), location.substr(location.rfind('/') + 1)};
}

// The bytes of an upload, in one PATCH from offset 0.
inline upload::TusResponse send_bytes(platform::Platform& p, const std::string& token,
                                      const std::string& upload_id, const std::string& bytes) {
  return tus(p, "PATCH", "/v1/uploads/" + upload_id, token,
             {{"Upload-Offset", "0"}, {"Content-Type", "application/offset+octet-stream"}},
             &bytes);
}

inline std::string read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace streamlet::test

// The whole platform inside another program, on a storage backend of that program's own: here
// every object (upload bytes, the source, the transcoded ladder) lives in memory, and nothing
// but the catalog file touches the disk. The same Platform runs streamlet-server.
//
//   example_embed_platform clip.mp4 [work-dir]
//
// Signs up a user, uploads the clip with tus requests made through Platform::handle_upload,
// follows the transcode to the end, then plays it back through Platform::serve_media and
// checks what came out: the master playlist, a media playlist and a segment, read from the
// in-memory objects (no file descriptor to send from). Exits 0 when all of that worked.
#include <streamlet/platform.hpp>
#include <streamlet/storage.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using namespace streamlet;

namespace {

// ---- a storage backend written by the embedding program --------------------------------

struct Object {
  mutable std::mutex mu;
  std::string bytes;
  int64_t modified_ms = 0;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class MemoryReader final : public storage::Reader {
 public:
  MemoryReader(std::string key, std::shared_ptr<const Object> object) : object_(std::move(object)) {
    std::lock_guard lock(object_->mu);
    info_ = {std::move(key), object_->bytes.size(), object_->modified_ms};
  }
  const storage::ObjectInfo& info() const override { return info_; }
  Result<size_t> read_at(uint64_t offset, char* data, size_t size) const override {
    std::lock_guard lock(object_->mu);
    if (offset >= object_->bytes.size()) return size_t{0};
    const size_t n = std::min<uint64_t>(size, object_->bytes.size() - offset);
    std::memcpy(data, object_->bytes.data() + offset, n);
    return n;
  }

 private:
  std::shared_ptr<const Object> object_;
  storage::ObjectInfo info_;
};

class MemoryStorage final : public storage::Storage {
 public:
  Result<std::unique_ptr<storage::Reader>> open(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) return error(ErrorCode::kNotFound, "no object " + std::string(key));
    return std::unique_ptr<storage::Reader>(new MemoryReader(it->first, it->second));
  }
  Result<storage::ObjectInfo> stat(std::string_view key) override {
    STREAMLET_ASSIGN_OR_RETURN(auto r, open(key));
    return r->info();
  }
  Result<std::unique_ptr<storage::Writer>> write(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    return std::unique_ptr<storage::Writer>(new Writer(
        [this, k = std::string(key)](std::string bytes) { put_now(k, std::move(bytes)); }));
  }
  Result<std::unique_ptr<storage::Appender>> append(std::string_view key, bool create) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) {
      if (!create) return error(ErrorCode::kNotFound, "no object " + std::string(key));
      it = objects_.emplace(std::string(key), std::make_shared<Object>()).first;
    }
    return std::unique_ptr<storage::Appender>(new Appender(it->second));
  }
  Status remove(std::string_view key) override {
    STREAMLET_RETURN_IF_ERROR(storage::check_key(key));
    std::lock_guard lock(mu_);
    objects_.erase(std::string(key));
    return Status::Ok();
  }
  Status list(std::string_view prefix,
              const std::function<bool(const storage::ObjectInfo&)>& each) override {
    std::vector<storage::ObjectInfo> found;
    {
      std::lock_guard lock(mu_);
      for (auto it = objects_.lower_bound(std::string(prefix));
           it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        std::lock_guard object_lock(it->second->mu);
        found.push_back({it->first, it->second->bytes.size(), it->second->modified_ms});
      }
    }
    for (const auto& info : found)
      if (!each(info)) break;
    return Status::Ok();
  }
  Result<uint64_t> remove_prefix(std::string_view prefix) override {
    std::lock_guard lock(mu_);
    uint64_t removed = 0;
    for (auto it = objects_.lower_bound(std::string(prefix));
         it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = objects_.erase(it);
      ++removed;
    }
    return removed;
  }
  Result<std::unique_ptr<storage::Publication>> publish(std::string_view prefix) override {
    return std::unique_ptr<storage::Publication>(new Publication(*this, std::string(prefix)));
  }
  std::string describe() const override { return "memory:"; }

  uint64_t bytes_held() {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (const auto& [key, object] : objects_) {
      std::lock_guard object_lock(object->mu);
      n += object->bytes.size();
    }
    return n;
  }

 private:
  class Writer final : public storage::Writer {
   public:
    explicit Writer(std::function<void(std::string)> commit) : commit_(std::move(commit)) {}
    Status write(const char* data, size_t size) override {
      bytes_.append(data, size);
      return Status::Ok();
    }
    Status commit() override {
      commit_(std::move(bytes_));
      bytes_.clear();
      return Status::Ok();
    }
    uint64_t bytes_written() const override { return bytes_.size(); }

   private:
    std::function<void(std::string)> commit_;
    std::string bytes_;
  };

  class Appender final : public storage::Appender {
   public:
    explicit Appender(std::shared_ptr<Object> object) : object_(std::move(object)) {}
    uint64_t size() const override {
      std::lock_guard lock(object_->mu);
      return object_->bytes.size();
    }
    Status append(const char* data, size_t size) override {
      std::lock_guard lock(object_->mu);
      object_->bytes.append(data, size);
      object_->modified_ms = now_ms();
      return Status::Ok();
    }
    Status sync() override { return Status::Ok(); }  // memory is as durable as it gets here
    Status truncate(uint64_t size) override {
      std::lock_guard lock(object_->mu);
      if (size > object_->bytes.size())
        return error(ErrorCode::kInvalidArgument, "truncate past the end");
      object_->bytes.resize(size);
      return Status::Ok();
    }

   private:
    std::shared_ptr<Object> object_;
  };

  // Objects are staged apart and swapped in under the prefix in one step (under the lock).
  class Publication final : public storage::Publication {
   public:
    Publication(MemoryStorage& store, std::string prefix)
        : store_(store), prefix_(std::move(prefix)) {}
    Result<std::unique_ptr<storage::Writer>> create(std::string_view name) override {
      STREAMLET_RETURN_IF_ERROR(storage::check_key(prefix_ + std::string(name)));
      return std::unique_ptr<storage::Writer>(
          new Writer([this, n = std::string(name)](std::string bytes) {
            auto o = std::make_shared<Object>();
            o->bytes = std::move(bytes);
            o->modified_ms = now_ms();
            std::lock_guard lock(mu_);
            staged_[n] = std::move(o);
          }));
    }
    Result<std::unique_ptr<storage::Reader>> open(std::string_view name) override {
      std::lock_guard lock(mu_);
      auto it = staged_.find(std::string(name));
      if (it == staged_.end()) return error(ErrorCode::kNotFound, "not staged: " + std::string(name));
      return std::unique_ptr<storage::Reader>(new MemoryReader(prefix_ + it->first, it->second));
    }
    Status publish(const std::vector<std::string>&) override {
      std::lock_guard lock(mu_);
      std::lock_guard store_lock(store_.mu_);
      auto& objects = store_.objects_;
      for (auto it = objects.lower_bound(prefix_);
           it != objects.end() && it->first.compare(0, prefix_.size(), prefix_) == 0;)
        it = objects.erase(it);
      for (auto& [name, object] : staged_) objects[prefix_ + name] = object;
      staged_.clear();
      return Status::Ok();
    }

   private:
    MemoryStorage& store_;
    std::string prefix_;
    std::mutex mu_;
    std::map<std::string, std::shared_ptr<Object>> staged_;
  };

  void put_now(const std::string& key, std::string bytes) {
    auto o = std::make_shared<Object>();
    o->bytes = std::move(bytes);
    o->modified_ms = now_ms();
    std::lock_guard lock(mu_);
    objects_[key] = std::move(o);
  }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Object>> objects_;
};

// ---- the embedding program -----------------------------------------------------------------

int fail(const std::string& what) {
  std::fprintf(stderr, "embed_platform: %s\n", what.c_str());
  return 1;
}

std::string header(const upload::TusResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

upload::TusRequest tus_request(std::string method, std::string path, const std::string& token) {
  upload::TusRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.scheme_host = "http://embedded";
  r.headers = {{"Tus-Resumable", "1.0.0"}, {"Authorization", "Bearer " + token}};
  return r;
}

// The body of a playback answer, read from the object when it is not inline.
std::string body_of(const origin::OriginResponse& r) {
  if (!r.has_file()) return r.body;
  std::string out(r.length, '\0');
  auto n = r.file->read_at(r.offset, out.data(), out.size());
  out.resize(n.ok() ? *n : 0);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail("usage: example_embed_platform <video file> [work dir]");
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) return fail(std::string("cannot read ") + argv[1]);
  const std::string clip((std::istreambuf_iterator<char>(in)), {});
  const fs::path work = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / "embed-platform";
  fs::remove_all(work);
  fs::create_directories(work);

  // The parts: SQLite for the catalog and queue (a file), the rest in this process.
  const std::string db = (work / "catalog.db").string();
  auto catalog = catalog::open_sqlite_catalog(db);
  if (!catalog.ok()) return fail(catalog.status().to_string());
  auto queue = jobs::open_sqlite_job_queue(db);
  if (!queue.ok()) return fail(queue.status().to_string());
  auto memory = std::make_shared<MemoryStorage>();
  platform::PlatformParts parts;
  parts.catalog = std::move(*catalog);
  parts.queue = std::move(*queue);
  parts.bus = std::make_shared<events::InProcessBus>();
  parts.storage = memory;
  parts.scratch_dir = work / "scratch";
  parts.token_secret = "an embedding app's token secret";
  parts.signing_key = "an embedding app's signing key";

  platform::PlatformOptions options;
  options.data_dir = work;
  options.transcode.ladder = {{"240p", 240, 300'000}};
  options.transcode.preset = "ultrafast";
  options.transcode.segment_seconds = 1;
  options.transcode.keyframe_interval_seconds = 1;
  auto opened = platform::Platform::create(options, parts);
  if (!opened.ok()) return fail(opened.status().to_string());
  platform::Platform& p = **opened;

  auto session = p.register_user("embedder", "a long enough password");
  if (!session.ok()) return fail(session.status().to_string());
  const std::string& token = session->token;
  auto who = p.authenticate("Bearer " + token);
  if (!who.ok()) return fail(who.status().to_string());

  // tus: create, then send the whole file in one PATCH.
  auto create = tus_request("POST", "/v1/uploads", token);
  create.headers.emplace_back("Upload-Length", std::to_string(clip.size()));
  create.headers.emplace_back("Upload-Metadata",
                              upload::format_metadata({{"filename", "clip.mp4"},
                                                       {"title", "Embedded"}}));
  auto created = p.handle_upload(create);
  if (!created.error.ok() || created.status != 201)
    return fail("tus POST: " + created.error.to_string());
  const std::string video_id = header(created, "Streamlet-Video-Id");
  const std::string location = header(created, "Location");
  auto patch = tus_request("PATCH", location.substr(location.find("/v1/uploads")), token);
  patch.headers.emplace_back("Upload-Offset", "0");
  patch.headers.emplace_back("Content-Type", "application/offset+octet-stream");
  patch.headers.emplace_back("Content-Length", std::to_string(clip.size()));
  patch.body = [&clip](const upload::BodySink& sink) { return sink(clip.data(), clip.size()); };
  auto sent = p.handle_upload(patch);
  if (!sent.error.ok() || sent.status != 204) return fail("tus PATCH: " + sent.error.to_string());

  // Follow the video until its transcode ends.
  std::mutex mu;
  std::condition_variable cv;
  std::string last = "queued";
  auto following = p.follow_video(*who, video_id, [&](const platform::VideoEvent& e) {
    if (e.type != "status") return;
    std::lock_guard lock(mu);
    last = e.state;
    cv.notify_all();
  });
  if (!following.ok()) return fail(following.status().to_string());
  if (auto s = p.start(); !s.ok()) return fail(s.to_string());
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::minutes(5), [&] { return last == "ready" || last == "failed"; });
  }
  auto video = p.get_video(*who, video_id);
  if (!video.ok()) return fail(video.status().to_string());
  if (video->video.status != catalog::VideoStatus::kReady)
    return fail("the video did not become ready: " + video->video.status_reason);

  // Play it back from the in-memory objects.
  auto get = [&](const std::string& path) {
    origin::OriginRequest req;
    req.path = path;
    return p.serve_media(video_id, req);
  };
  auto master = get("master.m3u8");
  if (master.status != 200 || body_of(master).find("#EXTM3U") != 0)
    return fail("master.m3u8: HTTP " + std::to_string(master.status));
  auto media = get("240p/index.m3u8");
  const std::string playlist = body_of(media);
  const size_t seg = playlist.find(".m4s");
  if (media.status != 200 || seg == std::string::npos)
    return fail("240p/index.m3u8: HTTP " + std::to_string(media.status));
  const size_t line = playlist.rfind('\n', seg) + 1;
  const std::string segment_name = playlist.substr(line, seg + 4 - line);
  auto segment = get("240p/" + segment_name);
  const std::string bytes = body_of(segment);
  const bool fragment = bytes.size() >= 8 && (bytes.compare(4, 4, "moof") == 0 ||
                                               bytes.compare(4, 4, "styp") == 0);
  if (segment.status != 200 || !fragment)
    return fail("240p/" + segment_name + ": HTTP " + std::to_string(segment.status));
  std::printf("embed_platform: video %s ready (%.1f s), %s is %zu bytes, %llu bytes in memory\n",
              video_id.c_str(), video->video.duration_seconds, segment_name.c_str(), bytes.size(),
              static_cast<unsigned long long>(memory->bytes_held()));
  following->subscription.close();
  p.stop();
  // Nothing but the catalog (and scratch, emptied) went to disk.
  for (const auto& entry : fs::recursive_directory_iterator(work)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("catalog.db", 0) != 0)
      return fail("a file on disk: " + entry.path().string());
  }
  return 0;
}

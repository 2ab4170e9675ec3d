// What the tus door lets through and what it says back: upload metadata that becomes a
// video's text must be UTF-8, the Host header is not reflected unchecked, --public-url names
// the server in Location, and a refused large body gets the status its JSON error names.
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "streamlet/upload.hpp"
#include "support/raw_http.hpp"
#include "tus_helpers.hpp"

namespace up = streamlet::upload;
using namespace streamlet::test;
using json = nlohmann::json;

namespace {

// A tus creation sent byte for byte, with the given Host header.
RawClient::Answer create_with_host(const ServerProcess& s, const std::string& host) {
  RawClient raw(s.port());
  raw.send("POST /v1/uploads HTTP/1.1\r\nHost: " + host +
           "\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer " + s.api_key() +
           "\r\nUpload-Length: 10\r\nContent-Length: 0\r\n\r\n");
  return raw.read();
}

}  // namespace

TEST_CASE("upload metadata that is not UTF-8 text is refused at creation and the listing lives") {
  TempDir dir;
  ServerProcess server(dir / "data");
  auto cli = server.client();
  auto create = [&](const std::string& key, const std::string& value) {
    return cli.Post("/v1/uploads",
                    tus(server, {{"Upload-Length", "10"},
                                 {"Upload-Metadata", key + " " + up::base64_encode(value)}}),
                    "", "");
  };
  for (auto [key, value] : {std::pair<std::string, std::string>{"title", "caf\xE9 (latin-1)"},
                            {"title", "\xED\xA0\x80 surrogate"},
                            {"title", "overlong \xC0\xAF"},
                            {"title", std::string("nul\0byte", 8)},
                            {"title", "bell\x07"},
                            {"filename", "clip\xFF.mp4"},
                            {"filename", "two\nlines.mp4"},
                            {"description", "escape \x1B[2J sequence"}}) {
    CAPTURE(key);
    CAPTURE(value);
    auto r = create(key, value);
    REQUIRE(r);
    CHECK(r->status == 400);
    auto body = json::parse(r->body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body["code"] == "invalid_argument");
    CHECK_MESSAGE(body["error"].get<std::string>().find(key) != std::string::npos, r->body);
    CHECK(r->get_header_value("Location").empty());
  }
  // Good UTF-8 (with lines in the description) is taken as it is.
  auto ok = cli.Post("/v1/uploads",
                     tus(server, {{"Upload-Length", "10"},
                                  {"Upload-Metadata",
                                   "title " + up::base64_encode("K\xC3\xB6ln \xF0\x9F\x8E\xAC") +
                                       ",description " + up::base64_encode("one\ntwo")}}),
                     "", "");
  REQUIRE(ok);
  CHECK(ok->status == 201);
  auto list = cli.Get("/v1/videos", {{"Authorization", "Bearer " + server.api_key()}});
  REQUIRE(list);
  REQUIRE(list->status == 200);
  auto items = json::parse(list->body)["items"];
  REQUIRE(items.size() == 1);  // nothing of the refused creations is left
  CHECK(items[0]["title"] == "K\xC3\xB6ln \xF0\x9F\x8E\xAC");
  CHECK(items[0]["description"] == "one\ntwo");
}

TEST_CASE("the Host header is checked before it goes into Location") {
  TempDir dir;
  ServerProcess server(dir / "data");
  for (std::string host : {"localhost:8080", "127.0.0.1", "[::1]:8080", "video.example.com"}) {
    CAPTURE(host);
    auto a = create_with_host(server, host);
    CHECK(a.status == 201);
    CHECK(a.header("Location").rfind("http://" + host + "/v1/uploads/", 0) == 0);
  }
  for (std::string host : {"evil.example/phish?x=", "a b", "evil.example:80:80", "host\\x",
                           "user@evil.example", "[::1", "[::1]x", "host:", "host:99999"}) {
    CAPTURE(host);
    auto a = create_with_host(server, host);
    CHECK(a.status == 400);
    CHECK(a.header("Location").empty());
    CHECK(a.body.find("\"invalid_argument\"") != std::string::npos);
  }
  // An empty Host names no host (RFC 9110 7.2): the Location is then a path on this server.
  auto empty = create_with_host(server, "");
  CHECK(empty.status == 201);
  CHECK(empty.header("Location").rfind("/v1/uploads/", 0) == 0);
}

TEST_CASE("with --public-url, Location names the configured server whatever Host says") {
  TempDir dir;
  ServerProcess server(dir / "data", "test-key", {"--public-url", "https://video.example.com/"});
  for (std::string host : {"evil.example", "localhost"}) {
    CAPTURE(host);
    auto a = create_with_host(server, host);
    CHECK(a.status == 201);
    CHECK(a.header("Location").rfind("https://video.example.com/v1/uploads/", 0) == 0);
  }
  // The Location it gives works as the upload's address (path and id are ours).
  std::string upload = path_of(create_with_host(server, "x").header("Location"));
  CHECK(patch(server, upload, 0, "0123456789")->status == 204);

  // A value that is not an http(s) origin is refused at start.
  for (std::string bad : {"video.example.com", "ftp://video.example.com", "https://",
                          "https://video.example.com/?q=1", "https://a b"}) {
    CAPTURE(bad);
    std::vector<std::string> argv = {
        server_path().string(), "--listen", "127.0.0.1:0", "--data", (dir / "other").string(),
        "--public-url",         bad};
    Child child(argv, dir / "refused.log");
    CHECK(child.wait() == 2);
    CHECK(child.output().find("--public-url") != std::string::npos);
  }
}

TEST_CASE("a refused PATCH whose body is larger than what is drained answers 409, as its JSON") {
  TempDir dir;
  ServerProcess server(dir / "data");
  std::string upload = create_upload(server, 40 << 20);
  const std::string body((17 << 20) + 5, 'z');  // past the 16 MiB the server reads to discard
  RawClient raw(server.port());
  raw.send("PATCH " + upload + " HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n" +
           "Authorization: Bearer " + server.api_key() +
           "\r\nUpload-Offset: 5\r\nContent-Type: application/offset+octet-stream\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  // The body goes out on another thread: the server answers (and closes) before it has all.
  std::thread sender([&] {
    size_t done = 0;
    while (done < body.size()) {
      ssize_t n = ::send(raw.fd(), body.data() + done, body.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += size_t(n);
    }
  });
  auto a = raw.read();
  ::shutdown(raw.fd(), SHUT_RDWR);
  sender.join();
  CHECK(a.status == 409);
  CHECK(a.body.find("\"conflict\"") != std::string::npos);
  CHECK(a.header("Connection") == "close");
  // The upload is as it was.
  CHECK(server.client().Head(upload, tus(server))->get_header_value("Upload-Offset") == "0");
}

# Every dependency is a Debian package found on the system; nothing is
# vendored or downloaded. Shared by the build and by streamlet-config.cmake,
# so a consumer of the installed static library resolves the same targets.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBAV REQUIRED IMPORTED_TARGET GLOBAL
  libavformat libavcodec libavfilter libswscale libswresample libavutil)
find_package(TBB REQUIRED)
# OpenSSL's libcrypto: SHA-1/SHA-256 for tus checksums and HMAC for signed URLs,
# better audited than anything we would write ourselves; libssl: https webhooks.
find_package(OpenSSL REQUIRED COMPONENTS Crypto SSL)
find_package(nlohmann_json 3.10 REQUIRED)
# SQLite: the embedded catalog and job queue (one file, durable, WAL for concurrent readers).
find_package(SQLite3 REQUIRED)
# libsodium: maintained argon2id password hashing (crypto_pwhash_str) and a CSPRNG.
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET GLOBAL libsodium)
# libpq: the PostgreSQL catalog, job queue and event bus (the cluster backends).
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET GLOBAL libpq)
find_package(Threads REQUIRED)
# libcurl (Debian libcurl4-openssl-dev): the HTTP client of upload::Client, with TLS, proxies,
# connection reuse and timeouts that we would otherwise write and keep up ourselves.
find_package(CURL 7.85 REQUIRED)
# http-parser (Debian libhttp-parser-dev, the parser Node.js used for years): the framing of
# every request on the public port, rather than a hand-written HTTP/1 parser. No pkg-config file.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY NAMES http_parser REQUIRED)
if(NOT TARGET HttpParser::HttpParser)
  add_library(HttpParser::HttpParser UNKNOWN IMPORTED GLOBAL)
  set_target_properties(HttpParser::HttpParser PROPERTIES IMPORTED_LOCATION "${HTTP_PARSER_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${HTTP_PARSER_INCLUDE_DIR}")
endif()

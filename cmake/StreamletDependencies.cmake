# Every dependency is a Debian package found on the system; nothing is
# vendored or downloaded. Shared by the build and by streamlet-config.cmake,
# so a consumer of the installed static library resolves the same targets.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBAV REQUIRED IMPORTED_TARGET GLOBAL
  libavformat libavcodec libavfilter libswscale libswresample libavutil)
find_package(TBB REQUIRED)
# OpenSSL's libcrypto: SHA-1/SHA-256 for tus checksums and HMAC for signed URLs,
# better audited than anything we would write ourselves.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)

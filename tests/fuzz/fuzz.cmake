# libFuzzer targets over what the public port parses: the front's request parser (with the
# origin's path and Range parsers) and the tus header codec. They are built with clang++
# (Debian's clang and libclang-rt-14-dev) whatever compiler builds the rest, with ASan and
# UBSan, and the suite runs each for a short smoke run over the seed corpus in
# tests/fuzz/corpus; docs/operations.md gives the longer run. Without clang or libFuzzer
# the smoke runs report skipped.
find_program(STREAMLET_CLANGXX NAMES clang++ clang++-14)
set(STREAMLET_FUZZ_FLAGS -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
set(STREAMLET_FUZZ_OK FALSE)
if(STREAMLET_CLANGXX)
  set(probe ${CMAKE_BINARY_DIR}/fuzz-probe.cpp)
  file(WRITE ${probe} "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
  execute_process(COMMAND ${STREAMLET_CLANGXX} ${STREAMLET_FUZZ_FLAGS} ${probe} -o ${CMAKE_BINARY_DIR}/fuzz-probe
                  RESULT_VARIABLE probe_rc OUTPUT_QUIET ERROR_QUIET)
  if(probe_rc EQUAL 0)
    set(STREAMLET_FUZZ_OK TRUE)
  endif()
endif()
if(NOT STREAMLET_FUZZ_OK)
  message(STATUS "fuzz targets: clang++ with libFuzzer not found; their smoke runs will be skipped")
endif()

set(STREAMLET_FUZZ_SMOKE_SECONDS 20 CACHE STRING "seconds each fuzz target runs in the test suite")

function(streamlet_fuzzer name corpus)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  set(binary ${CMAKE_BINARY_DIR}/fuzz/${name})
  if(STREAMLET_FUZZ_OK)
    set(sources)
    set(implicit)
    foreach(s ${F_SOURCES})
      list(APPEND sources ${PROJECT_SOURCE_DIR}/${s})
      list(APPEND implicit CXX ${PROJECT_SOURCE_DIR}/${s})
    endforeach()
    add_custom_command(OUTPUT ${binary}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/fuzz
      COMMAND ${STREAMLET_CLANGXX} ${STREAMLET_FUZZ_FLAGS} -I${PROJECT_SOURCE_DIR}/src
              -I${PROJECT_SOURCE_DIR}/include ${sources} ${F_LIBS} -o ${binary}
      DEPENDS ${sources} IMPLICIT_DEPENDS ${implicit}
      COMMENT "Building fuzz target ${name} with clang++ and libFuzzer" VERBATIM)
    add_custom_target(${name} ALL DEPENDS ${binary})
  endif()
  add_test(NAME "fuzz: ${name} survives a ${STREAMLET_FUZZ_SMOKE_SECONDS} s run over its seed corpus"
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_fuzzer.sh ${binary}
                   ${CMAKE_CURRENT_LIST_DIR}/corpus/${corpus} ${STREAMLET_FUZZ_SMOKE_SECONDS})
  set_tests_properties("fuzz: ${name} survives a ${STREAMLET_FUZZ_SMOKE_SECONDS} s run over its seed corpus"
                       PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endfunction()

streamlet_fuzzer(fuzz_http_request http
  SOURCES tests/fuzz/http_request_fuzzer.cpp src/origin/request_parser.cpp src/origin/http.cpp
          src/core/time_format.cpp
  LIBS -lhttp_parser)
streamlet_fuzzer(fuzz_tus_codec tus
  SOURCES tests/fuzz/tus_codec_fuzzer.cpp src/upload/codec.cpp src/core/time_format.cpp
          src/core/status.cpp
  LIBS -lcrypto)

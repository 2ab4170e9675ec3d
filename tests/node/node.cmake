# Interop tests with the real tus-js-client from npm. The packages are installed by a CTest
# fixture with `npm ci` from the committed lockfile into the build tree; where node or npm is
# absent, every test here is reported as skipped with the reason.
set(STREAMLET_NODE_DIR ${CMAKE_BINARY_DIR}/tests/node)
foreach(file package.json package-lock.json tus_interop.js)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${file} ${STREAMLET_NODE_DIR}/${file} COPYONLY)
endforeach()

set(_skip "echo 'SKIPPED: node/npm not found; tus-js-client interop tests need Node.js'; exit 77")
add_test(NAME "upload-node: npm ci"
  COMMAND sh -c "command -v node >/dev/null && command -v npm >/dev/null || { ${_skip}; }; npm ci --no-audit --no-fund --loglevel=error"
  WORKING_DIRECTORY ${STREAMLET_NODE_DIR})
set_tests_properties("upload-node: npm ci" PROPERTIES
  FIXTURES_SETUP streamlet_node_modules SKIP_RETURN_CODE 77 TIMEOUT 300)

foreach(scenario resume crash parallel)
  add_test(NAME "upload-node: tus-js-client ${scenario}"
    COMMAND sh -c "command -v node >/dev/null || { ${_skip}; }; exec node tus_interop.js ${scenario} \"$0\""
            $<TARGET_FILE:streamlet-server>
    WORKING_DIRECTORY ${STREAMLET_NODE_DIR})
  set_tests_properties("upload-node: tus-js-client ${scenario}" PROPERTIES
    FIXTURES_REQUIRED streamlet_node_modules SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

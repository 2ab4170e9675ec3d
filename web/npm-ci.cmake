# Runs `npm ci` when web/node_modules is missing or package-lock.json changed
# since the last run (its hash is kept in STAMP). Touches STAMP only then, so
# the bundle is not rebuilt needlessly.
file(SHA256 ${WEB_DIR}/package-lock.json lock_hash)
set(recorded "")
if(EXISTS ${STAMP})
  file(READ ${STAMP} recorded)
endif()
if(EXISTS ${WEB_DIR}/node_modules/.package-lock.json AND recorded STREQUAL lock_hash)
  return()
endif()
message(STATUS "web app: npm ci (node_modules missing or package-lock.json changed)")
execute_process(COMMAND ${NPM} ci --no-audit --no-fund
                WORKING_DIRECTORY ${WEB_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "web app: `npm ci` failed (exit ${rc}) in ${WEB_DIR}. Check that the npm registry is reachable.")
endif()
file(WRITE ${STAMP} ${lock_hash})

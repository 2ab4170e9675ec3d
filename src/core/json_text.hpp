// The one way the library turns a JSON document into text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace streamlet::detail {

// Compact JSON text. A string that is not UTF-8 (stored before the door checked it, or read
// from a file) comes out with U+FFFD in place of its bad bytes, instead of dump() throwing
// in the middle of an answer.
// `indent` as in dump(): -1 is one line.
inline std::string json_text(const nlohmann::json& doc, int indent = -1) {
  return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace streamlet::detail

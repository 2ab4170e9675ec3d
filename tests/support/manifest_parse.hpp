// Small, independent readers for the manifests under test: an M3U8 line and
// attribute-list reader (RFC 8216 4.2) and a strict little XML reader. They
// share no code with the writers, so a writer bug cannot hide in a shared helper.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace streamlet::test::manifest {

std::vector<std::string> lines(const std::string& text);

// "#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a,b"" -> {BANDWIDTH: 1, CODECS: a,b}.
// Quotes are removed; REQUIREs that the list is well formed and has no duplicate names.
std::map<std::string, std::string> attributes(const std::string& list);

// The value after "<tag>:" on the first line starting with tag, if any.
std::optional<std::string> tag_value(const std::vector<std::string>& lines, const std::string& tag);
int count_lines_starting(const std::vector<std::string>& lines, const std::string& prefix);

// "6.006011" -> 6006011 microseconds; REQUIREs a plain decimal with <= 6 decimals.
int64_t parse_micros(const std::string& decimal);

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;  // entity references resolved
  std::vector<std::unique_ptr<XmlElement>> children;

  std::vector<const XmlElement*> all(const std::string& child_name) const;
  const XmlElement& one(const std::string& child_name) const;   // REQUIREs exactly one
  const std::string& attr(const std::string& attr_name) const;  // REQUIREs presence
  bool has(const std::string& attr_name) const { return attributes.count(attr_name) > 0; }
};

// Parses a whole document (optional XML declaration, one root element).
// Returns nullptr and sets `error` on anything malformed.
std::unique_ptr<XmlElement> parse_xml(const std::string& text, std::string& error);

}  // namespace streamlet::test::manifest

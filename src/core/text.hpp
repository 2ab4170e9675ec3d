// User text at the door: every string a client gives us (titles, descriptions, usernames, key
// names, upload metadata, search queries) must be well-formed UTF-8 before it is stored or
// used, so that nothing downstream (JSON answers, logs, webhooks) meets bytes it cannot carry.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "streamlet/status.hpp"

namespace streamlet::detail {

// What a field may contain besides well-formed UTF-8.
enum class TextKind {
  kLine,       // one line: no control characters at all (C0, DEL, C1)
  kMultiline,  // free text: tab, line feed and carriage return allowed, other controls not
};

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF), nothing
// above U+10FFFF, no truncated or stray continuation bytes.
bool valid_utf8(std::string_view text);

// Ok, or kInvalidArgument naming the field: "title: not valid UTF-8 (at byte 3)",
// "title: control character U+0007 not allowed".
Status check_text(std::string_view field, std::string_view value, TextKind kind);

// `text` with each ill-formed sequence (its maximal subpart, as Unicode recommends) replaced
// by U+FFFD. For text the system made from sources it does not control (error reasons).
std::string to_valid_utf8(std::string_view text);

}  // namespace streamlet::detail

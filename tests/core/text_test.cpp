// User text at the door: well-formed UTF-8 only, no control characters where a line is expected.
#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "core/text.hpp"
#include "support/support.hpp"

using streamlet::ErrorCode;
using streamlet::detail::check_text;
using streamlet::detail::TextKind;
using streamlet::detail::to_valid_utf8;
using streamlet::detail::valid_utf8;

TEST_CASE("valid_utf8 accepts every well-formed sequence and rejects every ill-formed one") {
  // Well-formed: ASCII, 2-, 3- and 4-byte sequences at the edges of their ranges.
  for (std::string ok : {std::string(""), std::string("plain ascii"), std::string("caf\xC3\xA9"),
                         std::string("\xC2\x80"), std::string("\xDF\xBF"),
                         std::string("\xE0\xA0\x80"), std::string("\xED\x9F\xBF"),  // U+D7FF
                         std::string("\xEE\x80\x80"),                               // U+E000
                         std::string("\xEF\xBF\xBD"),                               // U+FFFD
                         std::string("\xF0\x90\x80\x80"),                           // U+10000
                         std::string("\xF4\x8F\xBF\xBF"),                           // U+10FFFF
                         std::string("\xE6\x97\xA5\xE6\x9C\xAC\xF0\x9F\x8E\xAC")}) {
    CAPTURE(ok);
    CHECK(valid_utf8(ok));
  }
  for (std::string bad :
       {std::string("\xFF"), std::string("\xFE\xFF"),  // never in UTF-8
        std::string("\x80"), std::string("a\xBF!"),                        // stray continuation
        std::string("\xC3"), std::string("\xE2\x82"),                      // truncated at the end
        std::string("\xC3(x"),                                             // bad continuation
        std::string("\xC0\xAF"), std::string("\xC1\xBF"),                  // overlong 2-byte ('/')
        std::string("\xE0\x80\xAF"), std::string("\xE0\x9F\xBF"),          // overlong 3-byte
        std::string("\xF0\x80\x80\xAF"), std::string("\xF0\x8F\xBF\xBF"),  // overlong 4-byte
        std::string("\xED\xA0\x80"), std::string("\xED\xBF\xBF"),          // surrogates D800, DFFF
        std::string("\xED\xA0\xBD\xED\xB2\xA9"),                           // CESU-8 surrogate pair
        std::string("\xF4\x90\x80\x80"),                                   // U+110000
        std::string("\xF5\x80\x80\x80"), std::string("\xF8\x88\x80\x80\x80")}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_utf8(bad));
  }
}

TEST_CASE("check_text refuses ill-formed UTF-8 and control characters with the field's name") {
  CHECK(check_text("title", "Sommer in Köln \xF0\x9F\x8C\x9E", TextKind::kLine).ok());
  auto bad = check_text("title", "a\xFF", TextKind::kLine);
  CHECK(bad.code() == ErrorCode::kInvalidArgument);
  CHECK(bad.message() == "title: not valid UTF-8 (at byte 1)");
  // Lines take no control characters: NUL, BEL, ESC, newline, DEL, C1 controls.
  for (std::string c : {std::string(1, '\0'), std::string("\x07"), std::string("\x1B[31m"),
                        std::string("\n"), std::string("\x7F"), std::string("\xC2\x85")}) {
    CAPTURE(c);
    auto s = check_text("title", "x" + c, TextKind::kLine);
    CHECK(s.code() == ErrorCode::kInvalidArgument);
    CHECK(s.message().rfind("title: control character U+", 0) == 0);
  }
  // A description may have lines and tabs, but still no NUL or escape sequences.
  CHECK(check_text("description", "line one\r\nline two\tindented", TextKind::kMultiline).ok());
  CHECK_FALSE(check_text("description", std::string("a\0b", 3), TextKind::kMultiline).ok());
  CHECK_FALSE(check_text("description", "\x1B]0;pwned\x07", TextKind::kMultiline).ok());
}

TEST_CASE("to_valid_utf8 keeps well-formed text and replaces each ill-formed sequence") {
  CHECK(to_valid_utf8("caf\xC3\xA9") == "caf\xC3\xA9");
  CHECK(to_valid_utf8("a\xFF!") == "a\xEF\xBF\xBD!");
  CHECK(to_valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(to_valid_utf8("end\xE2\x82") == "end\xEF\xBF\xBD");
  CHECK(valid_utf8(to_valid_utf8("\xC0\xAF\xF4\x90\x80\x80 ok")));
}

TEST_CASE("json_text serialises strings that are not UTF-8 instead of throwing") {
  nlohmann::json doc = {{"title", "bad \xFF title"}, {"ok", "fine"}};
  CHECK_THROWS(doc.dump());  // what every JSON answer did before
  const std::string text = streamlet::detail::json_text(doc);
  auto back = nlohmann::json::parse(text);
  CHECK(back["title"] == "bad \xEF\xBF\xBD title");
  CHECK(back["ok"] == "fine");
}

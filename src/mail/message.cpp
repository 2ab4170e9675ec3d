// Rendering a message for the wire: headers no user text can break out of, a UTF-8 body.
#include <string>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "core/time_format.hpp"
#include "streamlet/mail.hpp"

namespace streamlet::mail {

namespace {

// One header line's worth of text: control characters (CR and LF among them) become spaces,
// runs of spaces one, ill-formed UTF-8 U+FFFD.
std::string one_line(std::string_view text) {
  std::string out;
  for (unsigned char c : detail::to_valid_utf8(text)) {
    const bool control = c < 0x20 || c == 0x7f;
    if (control || c == ' ') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += char(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool plain_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x7f) return false;
  return true;
}

// RFC 2047 encoded words of UTF-8, each at most 75 characters and cut on a character
// boundary, folded onto continuation lines.
std::string encoded_words(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = std::min(text.size(), i + 42);  // 42 bytes -> 56 base64 characters
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    std::string b64 = detail::base64url_encode(text.substr(i, end - i));
    for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;  // base64, not base64url
    while (b64.size() % 4) b64 += '=';
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + b64 + "?=";
    i = end;
  }
  return out;
}

// Lines end in CRLF whatever they ended in.
std::string crlf_lines(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

}  // namespace

Status check_address(std::string_view a) {
  auto bad = [&](const std::string& why) {
    return Status(ErrorCode::kInvalidArgument, "email address: " + why);
  };
  if (a.size() < 3 || a.size() > 254) return bad("3 to 254 characters");
  for (unsigned char c : a)
    if (c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' || c == ',' || c == ';' ||
        c == '(' || c == ')' || c == '\\')
      return bad("no spaces, control characters, quotes, brackets, commas or semicolons");
  const size_t at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size() ||
      a.find('@', at + 1) != std::string_view::npos)
    return bad("one '@' between a name and a domain, like name@example.com");
  if (!detail::valid_utf8(a)) return bad("not valid UTF-8");
  return Status::Ok();
}

Result<std::string> render(const Message& m, std::string_view message_id,
                           std::chrono::system_clock::time_point date) {
  STREAMLET_RETURN_IF_ERROR(check_address(m.from).with_context("from"));
  STREAMLET_RETURN_IF_ERROR(check_address(m.to).with_context("to"));
  const std::string id = one_line(message_id);
  if (id.empty() || id.find_first_of(" <>") != std::string::npos)
    return Status(ErrorCode::kInvalidArgument, "message id: one word without <>");
  // RFC 5322 wants a numeric zone; http_date's "GMT" is only its obsolete form.
  std::string when = detail::http_date(
      std::chrono::duration_cast<std::chrono::seconds>(date.time_since_epoch()).count());
  if (when.ends_with(" GMT")) when.replace(when.size() - 3, 3, "+0000");
  const std::string subject = one_line(m.subject);
  std::string out;
  out += "Date: " + when + "\r\n";
  out += "Message-ID: <" + id + ">\r\n";
  out += "From: <" + m.from + ">\r\n";
  out += "To: <" + m.to + ">\r\n";
  out += "Subject: " + (plain_ascii(subject) ? subject : encoded_words(subject)) + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "Auto-Submitted: auto-generated\r\n";
  out += "\r\n";
  out += crlf_lines(detail::to_valid_utf8(m.text));
  return out;
}

}  // namespace streamlet::mail

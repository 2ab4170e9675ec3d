#include "support/manifest_parse.hpp"

#include <cctype>
#include <set>
#include <sstream>

#include "support/support.hpp"

namespace streamlet::test::manifest {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE_MESSAGE(line.find('\r') == std::string::npos, "stray CR in: " << line);
    out.push_back(line);
  }
  return out;
}

std::map<std::string, std::string> attributes(const std::string& list) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < list.size()) {
    size_t eq = list.find('=', i);
    REQUIRE_MESSAGE(eq != std::string::npos, "attribute without '=' in: " << list);
    std::string name = list.substr(i, eq - i);
    for (char c : name)
      REQUIRE_MESSAGE((std::isupper(static_cast<unsigned char>(c)) ||
                       std::isdigit(static_cast<unsigned char>(c)) || c == '-'),
                      "bad attribute name '" << name << "' in: " << list);
    std::string value;
    i = eq + 1;
    if (i < list.size() && list[i] == '"') {
      size_t close = list.find('"', i + 1);
      REQUIRE_MESSAGE(close != std::string::npos, "unterminated quoted string in: " << list);
      value = list.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      size_t comma = list.find(',', i);
      value = list.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      i = comma == std::string::npos ? list.size() : comma;
    }
    REQUIRE_MESSAGE(out.emplace(name, value).second, "duplicate attribute " << name);
    if (i < list.size()) {
      REQUIRE_MESSAGE(list[i] == ',', "expected ',' after " << name << " in: " << list);
      ++i;
      REQUIRE_MESSAGE(i < list.size(), "trailing ',' in: " << list);
    }
  }
  return out;
}

std::optional<std::string> tag_value(const std::vector<std::string>& ls, const std::string& tag) {
  for (const auto& l : ls)
    if (l.rfind(tag + ":", 0) == 0) return l.substr(tag.size() + 1);
  return std::nullopt;
}

int count_lines_starting(const std::vector<std::string>& ls, const std::string& prefix) {
  int n = 0;
  for (const auto& l : ls)
    if (l.rfind(prefix, 0) == 0) ++n;
  return n;
}

int64_t parse_micros(const std::string& decimal) {
  size_t dot = decimal.find('.');
  std::string whole = decimal.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : decimal.substr(dot + 1);
  REQUIRE_MESSAGE(!whole.empty(), "not a decimal: " << decimal);
  REQUIRE_MESSAGE(frac.size() <= 6, "more than 6 decimals: " << decimal);
  for (char c : whole + frac)
    REQUIRE_MESSAGE(std::isdigit(static_cast<unsigned char>(c)), "not a decimal: " << decimal);
  frac.append(6 - frac.size(), '0');
  return std::stoll(whole) * 1000000 + std::stoll(frac);
}

std::vector<const XmlElement*> XmlElement::all(const std::string& child_name) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children)
    if (c->name == child_name) out.push_back(c.get());
  return out;
}

const XmlElement& XmlElement::one(const std::string& child_name) const {
  auto found = all(child_name);
  REQUIRE_MESSAGE(found.size() == 1, name << " has " << found.size() << " <" << child_name << ">");
  return *found.front();
}

const std::string& XmlElement::attr(const std::string& attr_name) const {
  auto it = attributes.find(attr_name);
  REQUIRE_MESSAGE(it != attributes.end(), "<" << name << "> lacks @" << attr_name);
  return it->second;
}

namespace {

class XmlReader {
 public:
  explicit XmlReader(const std::string& text) : s_(text) {}

  std::unique_ptr<XmlElement> document(std::string& error) {
    try {
      skip_space();
      if (s_.compare(i_, 5, "<?xml") == 0) {
        size_t end = s_.find("?>", i_);
        if (end == std::string::npos) fail("unterminated XML declaration");
        i_ = end + 2;
      }
      skip_space();
      auto root = element();
      skip_space();
      if (i_ != s_.size()) fail("content after the root element");
      return root;
    } catch (const std::string& e) {
      error = e + " at offset " + std::to_string(i_);
      return nullptr;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) { throw why; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' || c == '_' ||
           c == '.';
  }
  std::string name() {
    size_t start = i_;
    while (i_ < s_.size() && name_char(s_[i_])) ++i_;
    if (start == i_) fail("expected a name");
    return s_.substr(start, i_ - start);
  }
  std::string unescape(const std::string& raw) {
    static const std::map<std::string, char> kEntities = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    std::string out;
    for (size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] == '<') fail("'<' in attribute value");
      if (raw[k] != '&') {
        out += raw[k];
        continue;
      }
      size_t semi = raw.find(';', k);
      if (semi == std::string::npos) fail("bare '&'");
      auto it = kEntities.find(raw.substr(k + 1, semi - k - 1));
      if (it == kEntities.end()) fail("unknown entity");
      out += it->second;
      k = semi;
    }
    return out;
  }
  std::unique_ptr<XmlElement> element() {
    if (i_ >= s_.size() || s_[i_] != '<') fail("expected '<'");
    ++i_;
    auto el = std::make_unique<XmlElement>();
    el->name = name();
    for (;;) {
      bool had_space = i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]));
      skip_space();
      if (i_ >= s_.size()) fail("unterminated start tag");
      if (s_.compare(i_, 2, "/>") == 0) {
        i_ += 2;
        return el;
      }
      if (s_[i_] == '>') {
        ++i_;
        break;
      }
      if (!had_space) fail("attributes must be separated by space");
      std::string key = name();
      skip_space();
      if (i_ >= s_.size() || s_[i_] != '=') fail("expected '=' after " + key);
      ++i_;
      skip_space();
      if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\'')) fail("unquoted value of " + key);
      char q = s_[i_++];
      size_t close = s_.find(q, i_);
      if (close == std::string::npos) fail("unterminated value of " + key);
      std::string value = unescape(s_.substr(i_, close - i_));
      i_ = close + 1;
      if (!el->attributes.emplace(key, value).second) fail("duplicate attribute " + key);
    }
    for (;;) {
      while (i_ < s_.size() && s_[i_] != '<') {
        if (!std::isspace(static_cast<unsigned char>(s_[i_])))
          fail("unexpected text in " + el->name);
        ++i_;
      }
      if (i_ >= s_.size()) fail("unclosed <" + el->name + ">");
      if (s_.compare(i_, 2, "</") == 0) {
        i_ += 2;
        if (name() != el->name) fail("mismatched end tag for " + el->name);
        skip_space();
        if (i_ >= s_.size() || s_[i_] != '>') fail("bad end tag");
        ++i_;
        return el;
      }
      el->children.push_back(element());
    }
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

std::unique_ptr<XmlElement> parse_xml(const std::string& text, std::string& error) {
  return XmlReader(text).document(error);
}

}  // namespace streamlet::test::manifest

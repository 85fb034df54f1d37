#include "io/json.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace clipgrad::io {

namespace {

using Json = nlohmann::json;

// Thrown from the parser callback; turned into the caller's message.
struct TooDeep {};

Json parse_bounded(std::string_view text, int max_depth) {
  const Json::parser_callback_t callback = [max_depth](int depth, Json::parse_event_t event, Json&) {
    // `depth` is the number of open containers before this one opens.
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) && depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  return Json::parse(text.begin(), text.end(), callback);
}

}  // namespace

Json parse_json(std::string_view text, const std::string& what, int max_depth) {
  try {
    return parse_bounded(text, max_depth);
  } catch (const TooDeep&) {
    throw std::runtime_error(what + " nests arrays and objects deeper than " + std::to_string(max_depth) +
                             " levels; no clipgrad file does");
  } catch (const Json::exception& error) {  // a syntax error, or a number beyond a double (out_of_range 406)
    std::string reason = error.what();
    const size_t prefix = reason.find("] ");  // nlohmann's "[json.exception.parse_error.101] "
    if (prefix != std::string::npos) reason = reason.substr(prefix + 2);
    throw std::runtime_error(what + " is not valid JSON: " + excerpt(reason, 160));
  }
}

std::optional<Json> try_parse_json(std::string_view text, int max_depth) {
  try {
    return parse_bounded(text, max_depth);
  } catch (const TooDeep&) {
    return std::nullopt;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

std::string read_text_file(const std::string& path, const std::string& what, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes)
      throw std::runtime_error(what + " '" + path + "' is larger than " + std::to_string(max_bytes >> 20) +
                               " MiB; no clipgrad " + what + " is");
  }
  if (in.bad()) throw std::runtime_error("cannot read " + what + " '" + path + "': " + std::strerror(errno));
  return text;
}

Json read_json_file(const std::string& path, const std::string& what) {
  return parse_json(read_text_file(path, what, kMaxJsonFileBytes), what + " '" + path + "'");
}

std::string json_excerpt(const Json& value, size_t max_chars) {
  if (value.is_structured() && value.size() > max_chars / 2)
    return std::string("an ") + (value.is_array() ? "array" : "object") + " of " + std::to_string(value.size()) +
           " items";
  // Values reaching here were parsed within kMaxJsonDepth, so dump's recursion is bounded.
  return excerpt(value.dump(-1, ' ', false, Json::error_handler_t::replace), max_chars);
}

std::string excerpt(std::string_view text, size_t max_chars) {
  std::string out;
  size_t at = 0;
  for (; at < text.size() && out.size() < max_chars; ++at) {
    const unsigned char byte = static_cast<unsigned char>(text[at]);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += static_cast<char>(byte);
    }
  }
  if (at == text.size()) return out;
  // Cut before a UTF-8 continuation byte's sequence, not inside it.
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xc0) == 0x80) out.pop_back();
  if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xc0) out.pop_back();
  return out + "...";
}

}  // namespace clipgrad::io

// libFuzzer target: the JSON that files and flags hand clipgrad, through the
// bounded parser (io/json.h) and each reader of it: a classes file, a model
// config (clip_config metadata, --config), a Hugging Face config.json, and the
// error messages that quote their values. A std::exception naming the problem
// is the expected answer; a crash, a stack overflow (deep nesting) or a
// sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "clip/checkpoint/checkpoint.h"
#include "clip/data/dataset.h"
#include "clip/model/config.h"
#include "io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipgrad;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    clip::ClassNames::parse(text, "fuzz.json");
  } catch (const std::exception&) {
  }
  nlohmann::json document;
  try {
    document = io::parse_json(text, "fuzz input");
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (io::json_excerpt(document).size() > 200) throw std::logic_error("an excerpt longer than a line");
  try {
    clip::ClipConfig::from_json(document);
  } catch (const std::exception&) {
  }
  try {
    clip::config_from_hf_json(document);
  } catch (const std::exception&) {
  }
  return 0;
}

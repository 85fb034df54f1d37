#include "clip/data/shards.h"

#include <glob.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "clip/data/loader.h"
#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/decode.h"
#include "io/json.h"
#include "io/tar.h"

namespace clipgrad::clip {

namespace fs = std::filesystem;

namespace {

bool has_suffix(std::string text, const std::string& suffix) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "{00000..00003}" and "{a,b}" expanded, left to right, recursively.
std::vector<std::string> expand_braces(const std::string& pattern) {
  const size_t open = pattern.find('{');
  if (open == std::string::npos) return {pattern};
  const size_t close = pattern.find('}', open);
  if (close == std::string::npos) throw std::invalid_argument("shard pattern '" + pattern + "': '{' without '}'");
  const std::string body = pattern.substr(open + 1, close - open - 1), head = pattern.substr(0, open);
  std::vector<std::string> choices;
  const size_t dots = body.find("..");
  if (dots != std::string::npos) {
    const std::string first = body.substr(0, dots), last = body.substr(dots + 2);
    int64_t from = 0, to = 0;
    auto parse = [&](const std::string& text, int64_t& value) {
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0)
        throw std::invalid_argument("shard pattern '" + pattern + "': '{" + body + "}' is not a range of numbers");
    };
    parse(first, from), parse(last, to);
    if (to < from || to - from > 10'000'000)
      throw std::invalid_argument("shard pattern '" + pattern + "': range {" + body + "} is empty or too long");
    for (int64_t i = from; i <= to; ++i) {
      std::string number = std::to_string(i);
      if (number.size() < first.size()) number.insert(0, first.size() - number.size(), '0');
      choices.push_back(number);
    }
  } else {
    for (size_t start = 0;;) {
      const size_t comma = body.find(',', start);
      choices.push_back(body.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::vector<std::string> out;
  const std::vector<std::string> tails = expand_braces(pattern.substr(close + 1));
  for (const std::string& choice : choices)
    for (const std::string& tail : tails) out.push_back(head + choice + tail);
  return out;
}

std::vector<std::string> expand_one(const std::string& spec) {
  std::vector<std::string> paths;
  if (fs::is_directory(spec)) {
    for (const auto& entry : fs::directory_iterator(spec))
      if (entry.is_regular_file() && has_suffix(entry.path().string(), ".tar")) paths.push_back(entry.path().string());
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) throw std::runtime_error("shard folder '" + spec + "' holds no .tar files");
    return paths;
  }
  if (spec.find('{') != std::string::npos) return expand_braces(spec);
  if (spec.find_first_of("*?[") != std::string::npos) {
    glob_t found{};
    const int status = glob(spec.c_str(), 0, nullptr, &found);
    for (size_t i = 0; status == 0 && i < found.gl_pathc; ++i) paths.push_back(found.gl_pathv[i]);
    globfree(&found);
    if (paths.empty()) throw std::runtime_error("shard pattern '" + spec + "' matches no file");
    return paths;  // glob sorts
  }
  if (fs::is_regular_file(spec) && !has_suffix(spec, ".tar")) {  // a list of shards
    std::ifstream in(spec);
    const fs::path folder = fs::path(spec).parent_path();
    for (std::string line; std::getline(in, line);) {
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty() || line[0] == '#') continue;
      paths.push_back(fs::path(line).is_absolute() ? line : (folder / line).string());
    }
    if (paths.empty()) throw std::runtime_error("shard list '" + spec + "' names no shard");
    return paths;
  }
  return {spec};
}

// Whether the first line of `path` that is not blank or a # comment names a
// .tar file: a list of shards, not a CSV (whose header names columns). Reads
// at most the first 64 KiB.
bool lists_shards(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  std::istringstream lines(head);
  for (std::string line; std::getline(lines, line);) {
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (!line.empty() && line[0] != '#') return has_suffix(line, ".tar");
  }
  return false;
}

// A sample's members as they are read: extension -> bytes, or why the sample is bad.
struct PendingSample {
  bool open = false;  // a member of it has been read
  std::string key;
  std::map<std::string, std::string> members;
  std::string problem;
};

// The caption, the label and the image of a complete sample; "" or the reason it is not usable.
std::string finish_sample(PendingSample& pending, const ShardReadOptions& options, ShardSample& sample) {
  if (!pending.problem.empty()) return pending.problem;
  for (auto& [extension, data] : pending.members)
    if (is_image_extension(extension)) sample.image = std::move(data);
  if (sample.image.empty()) return "no image member (jpg, jpeg, png or webp)";
  auto json = pending.members.find("json");
  if (json != pending.members.end()) {
    const nlohmann::json document = nlohmann::json::parse(json->second, nullptr, false);
    if (document.is_object() && document.contains(options.caption_key) && document[options.caption_key].is_string())
      sample.caption = document[options.caption_key].get<std::string>();
  }
  auto txt = pending.members.find("txt");
  if (sample.caption.empty() && txt != pending.members.end()) sample.caption = txt->second;
  if (options.need_caption && sample.caption.empty())
    return "no caption (no txt member, no json field '" + options.caption_key + "')";
  auto cls = pending.members.find("cls");
  if (cls != pending.members.end()) {
    std::string text = cls->second;
    text.erase(text.find_last_not_of(" \t\r\n") + 1);
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), sample.label);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || sample.label < 0)
      return "cls member '" + text.substr(0, 40) + "' is not a class index";
  }
  if (options.need_label && sample.label < 0) return "no cls member (the class index)";
  return "";
}

void report_bad(const std::string& where, const std::string& reason, const ShardReadOptions& options) {
  if (options.strict) throw std::runtime_error(where + ": " + reason + " (strict loading)");
  warn_skipped(where, reason);
}

}  // namespace

bool is_image_extension(const std::string& extension) {
  return extension == "jpg" || extension == "jpeg" || extension == "png" || extension == "webp";
}

MemberName split_member_name(const std::string& name) {
  const std::string base = fs::path(name).filename().string();
  const size_t dot = base.find('.');
  MemberName split;
  split.key = name.substr(0, name.size() - base.size() + std::min(dot, base.size()));
  if (dot != std::string::npos) split.extension = base.substr(dot + 1);
  std::transform(split.extension.begin(), split.extension.end(), split.extension.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return split;
}

bool is_shard_spec(const std::string& data) {
  if (!fs::is_regular_file(data)) return true;  // a folder, a pattern, or missing (expand_shard_spec says so)
  if (has_suffix(data, ".tar")) return true;
  if (has_suffix(data, ".csv") || has_suffix(data, ".tsv")) return false;
  return lists_shards(data);
}

std::vector<std::string> expand_shard_spec(const std::string& spec) {
  std::vector<std::string> shards;
  for (size_t start = 0;;) {
    const size_t separator = spec.find("::", start);
    for (std::string& path : expand_one(spec.substr(start, separator - start))) shards.push_back(std::move(path));
    if (separator == std::string::npos) break;
    start = separator + 2;
  }
  for (const std::string& shard : shards) {
    if (fs::is_regular_file(shard)) continue;
    const std::string named = "shard '" + shard + "'" + (shard == spec ? "" : " (from '" + spec + "')");
    // A device or a pipe would be read forever.
    throw std::runtime_error(named + (fs::exists(shard) ? " is not a regular file" : " not found"));
  }
  return shards;
}

int64_t read_shard(const std::string& path, int64_t shard, const ShardReadOptions& options,
                   const std::function<void(ShardSample&&)>& emit, const std::function<bool()>& stop) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    report_bad(path, "cannot open the shard", options);
    return 1;
  }
  io::TarReader tar(file, path);
  int64_t skipped = 0, ordinal = 0;
  PendingSample pending;
  auto flush = [&] {
    if (!pending.open) return;
    ShardSample sample;
    sample.key = pending.key, sample.shard = shard, sample.ordinal = ordinal++;
    sample.where = path + ": key " + pending.key;
    const std::string problem = finish_sample(pending, options, sample);
    if (problem.empty()) {
      emit(std::move(sample));
    } else {
      report_bad(sample.where, problem, options);
      ++skipped;
    }
    pending = PendingSample{};
  };
  for (io::TarEntry entry; tar.next(entry);) {
    if (entry.kind == io::TarEntry::Broken) {
      const std::string after = pending.key.empty() ? "" : " (at key " + pending.key + ")";
      pending = PendingSample{};
      report_bad(path + ": member '" + entry.name + "'" + after, entry.reason + "; the rest of the shard is skipped",
                 options);
      return skipped + 1;
    }
    auto [key, extension] = split_member_name(entry.name);
    if (!pending.open || key != pending.key) {
      flush();
      if (stop && stop()) return skipped;
      pending.key = key;
      pending.open = true;
    }
    if (entry.kind == io::TarEntry::Skipped && pending.problem.empty())
      pending.problem = "member '" + entry.name + "': " + entry.reason;
    else if (pending.members.count(extension) && pending.problem.empty())
      pending.problem = "member '" + entry.name + "' repeats extension '" + extension + "'";
    else
      pending.members[extension] = std::move(entry.data);
  }
  flush();
  return skipped;
}

std::vector<int64_t> shard_sample_counts(const std::vector<std::string>& shards) {
  std::vector<int64_t> counts(shards.size(), -1);
  if (shards.empty()) return counts;
  const fs::path sizes = fs::path(shards.front()).parent_path() / "sizes.json";
  if (fs::is_regular_file(sizes)) {
    std::ifstream in(sizes);
    const nlohmann::json document = nlohmann::json::parse(in, nullptr, false);
    for (size_t i = 0; document.is_object() && i < shards.size(); ++i) {
      const std::string name = fs::path(shards[i]).filename().string();
      if (fs::path(shards[i]).parent_path() == sizes.parent_path() && document.contains(name) &&
          document[name].is_number_integer())
        counts[i] = document[name].get<int64_t>();
    }
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    if (counts[i] >= 0) continue;
    std::ifstream file(shards[i], std::ios::binary);
    io::TarReader tar(file, shards[i]);
    std::string last_key;
    counts[i] = 0;
    for (io::TarEntry entry; tar.next(entry, false);) {
      if (entry.kind != io::TarEntry::File) continue;
      const MemberName member = split_member_name(entry.name);
      if (is_image_extension(member.extension) && member.key != last_key) ++counts[i], last_key = member.key;
    }
  }
  return counts;
}

std::string shard_name(int64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "%05lld.tar", static_cast<long long>(index));
  return name;
}

std::vector<std::string> shard_names_to_replace(const std::string& out, int64_t shards) {
  std::vector<std::string> names;
  for (int64_t shard = 0; shard < shards; ++shard) names.push_back(shard_name(shard));
  std::error_code error;
  if (!fs::is_directory(out, error)) return names;
  for (const auto& entry : fs::directory_iterator(out, error)) {
    const std::string name = entry.path().filename().string();
    const size_t digits = name.size() - 4;
    if (name.size() >= 9 && has_suffix(name, ".tar") && name.find_first_not_of("0123456789") == digits &&
        entry.is_regular_file(error))
      names.push_back(name);
  }
  return names;
}

int64_t write_shards(const std::string& csv, const std::string& out, int64_t shard_size, const std::string& image_key,
                     const std::string& caption_key, const std::string& label_key) {
  if (shard_size < 1) throw std::invalid_argument("--shard-size must be at least 1");
  const io::CsvTable table = io::read_csv(csv);
  const int image_column = table.require_column(image_key);
  const int caption_column = table.column_index(caption_key), label_column = table.column_index(label_key);
  const fs::path folder = fs::path(csv).parent_path();
  std::vector<std::string> names =
      shard_names_to_replace(out, (static_cast<int64_t>(table.size()) + shard_size - 1) / shard_size);
  names.push_back("sizes.json");
  io::StagedFolder staged(out, names);  // written whole; replaces only an earlier set of shards
  nlohmann::json sizes = nlohmann::json::object();
  int64_t shards = 0;
  for (size_t first = 0; first < table.size(); first += static_cast<size_t>(shard_size), ++shards) {
    const std::string name = shard_name(shards);
    std::ostringstream bytes;
    io::TarWriter tar(bytes);
    const size_t end = std::min(table.size(), first + static_cast<size_t>(shard_size));
    for (size_t row = first; row < end; ++row) {
      const fs::path image = fs::path(table.rows[row][image_column]).is_absolute()
                                 ? fs::path(table.rows[row][image_column])
                                 : folder / table.rows[row][image_column];
      std::error_code error_code;
      if (!fs::is_regular_file(image, error_code))
        throw std::runtime_error(table.where(row) + ": image file not found: '" + image.string() + "'");
      std::string image_bytes;
      try {
        image_bytes = io::read_text_file(image.string(), "image", io::max_image_file_bytes());
      } catch (const std::exception& error) {
        throw std::runtime_error(table.where(row) + ": " + error.what());
      }
      char key[32];
      std::snprintf(key, sizeof key, "%09llu", static_cast<unsigned long long>(row));
      std::string extension = image.extension().string();
      std::transform(extension.begin(), extension.end(), extension.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      tar.add(key + extension, image_bytes);
      nlohmann::json meta = {{"key", key}, {"row", row}};
      if (caption_column >= 0) {
        tar.add(std::string(key) + ".txt", table.rows[row][caption_column]);
        meta["caption"] = table.rows[row][caption_column];
      }
      if (label_column >= 0) tar.add(std::string(key) + ".cls", table.rows[row][label_column]);
      tar.add(std::string(key) + ".json", meta.dump());
    }
    tar.finish();
    io::write_file_atomic((fs::path(staged.path()) / name).string(), bytes.str());
    sizes[name] = end - first;
  }
  io::write_file_atomic((fs::path(staged.path()) / "sizes.json").string(), sizes.dump(1) + "\n");
  staged.commit();
  return shards;
}

}  // namespace clipgrad::clip

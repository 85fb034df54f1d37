#include "clip/data/dataset.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "clip/data/templates.h"
#include "io/atomic_file.h"
#include "io/json.h"

namespace clipgrad::clip {

const std::string& CsvRecords::value(size_t row, std::string_view name) const {
  if (row >= table_.size())
    throw std::out_of_range(source() + ": row " + std::to_string(row) + " out of range (" +
                            std::to_string(table_.size()) + " rows)");
  return table_.rows[row][table_.require_column(name)];
}

std::vector<std::string> CsvRecords::column(std::string_view name) const {
  int index = table_.require_column(name);
  std::vector<std::string> values;
  values.reserve(table_.size());
  for (const auto& row : table_.rows) values.push_back(row[index]);
  return values;
}

namespace {

std::string resolve_image_path(const std::filesystem::path& folder, const std::string& image, const io::CsvTable& table,
                               size_t row) {
  if (image.empty()) throw std::runtime_error(table.where(row) + ": empty image path");
  std::filesystem::path path(image);
  if (path.is_absolute() || folder.empty()) return path.string();
  return (folder / path).string();
}

}  // namespace

ImageCaptionDataset ImageCaptionDataset::from_csv(const std::string& path, const std::string& image_key,
                                                  const std::string& caption_key, char delimiter) {
  ImageCaptionDataset dataset;
  dataset.table_ = io::read_csv(path, delimiter);
  const io::CsvTable& table = dataset.table_;
  int image_column = table.require_column(image_key);
  int caption_column = table.require_column(caption_key);
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  dataset.rows_.reserve(table.size());
  for (size_t r = 0; r < table.size(); ++r)
    dataset.rows_.push_back({resolve_image_path(folder, table.rows[r][image_column], table, r),
                             table.rows[r][caption_column], table.lines[r]});
  return dataset;
}

LabelledDataset LabelledDataset::from_csv(const std::string& path, const std::string& image_key,
                                          const std::string& label_key, char delimiter) {
  LabelledDataset dataset;
  dataset.table_ = io::read_csv(path, delimiter);
  const io::CsvTable& table = dataset.table_;
  int image_column = table.require_column(image_key);
  int label_column = table.require_column(label_key);
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  dataset.rows_.reserve(table.size());
  for (size_t r = 0; r < table.size(); ++r) {
    const std::string& text = table.rows[r][label_column];
    int64_t label = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), label);
    if (error != std::errc() || end != text.data() + text.size() || label < 0)
      throw std::runtime_error(table.where(r) + ": label '" + text + "' in column '" + label_key +
                               "' is not a class index (a non-negative integer)");
    dataset.rows_.push_back({resolve_image_path(folder, table.rows[r][image_column], table, r), label, table.lines[r]});
  }
  return dataset;
}

void LabelledDataset::check_labels(int64_t class_count, const std::string& classes_source) const {
  for (size_t row = 0; row < rows_.size(); ++row)
    if (rows_[row].label >= class_count)
      throw std::runtime_error(where(row) + ": label " + std::to_string(rows_[row].label) + " is not one of the " +
                               std::to_string(class_count) + " classes of '" + classes_source + "' (0.." +
                               std::to_string(class_count - 1) + ")");
}

LabelledDataset LabelledDataset::from_image_folder(const std::string& folder,
                                                   const std::vector<std::string>& class_names) {
  if (!std::filesystem::is_directory(folder)) throw std::runtime_error("image folder '" + folder + "' not found");
  std::vector<std::string> folders;
  for (const auto& entry : std::filesystem::directory_iterator(folder))
    if (entry.is_directory()) folders.push_back(entry.path().filename().string());
  std::sort(folders.begin(), folders.end());
  const bool by_name = std::all_of(folders.begin(), folders.end(), [&](const std::string& name) {
    return std::find(class_names.begin(), class_names.end(), name) != class_names.end();
  });
  if (!by_name && folders.size() != class_names.size())
    throw std::runtime_error("image folder '" + folder + "' has " + std::to_string(folders.size()) +
                             " class folders, the classes file " + std::to_string(class_names.size()) +
                             " names (and not every folder by name)");
  LabelledDataset dataset;
  dataset.table_.source = folder;
  dataset.table_.header = {"image", "label"};
  for (size_t f = 0; f < folders.size(); ++f) {
    const int64_t label = by_name ? std::find(class_names.begin(), class_names.end(), folders[f]) - class_names.begin()
                                  : static_cast<int64_t>(f);
    std::vector<std::string> images;
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(folder) / folders[f])) {
      std::string extension = entry.path().extension().string();
      std::transform(extension.begin(), extension.end(), extension.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (entry.is_regular_file() && (extension == ".jpg" || extension == ".jpeg" || extension == ".png" ||
                                      extension == ".webp" || extension == ".bmp"))
        images.push_back(entry.path().string());
    }
    std::sort(images.begin(), images.end());
    for (const std::string& image : images) {
      dataset.table_.rows.push_back({image, std::to_string(label)});
      dataset.table_.lines.push_back(0);
      dataset.rows_.push_back({image, label, 0});
    }
  }
  return dataset;
}

namespace {

// The classes file's document; `path` names it in errors.
ClassNames class_names_of(const nlohmann::json& document, const std::string& path) {
  auto strings = [&](const char* key) {
    const auto& array = document.at(key);
    if (!array.is_array() || array.empty())
      throw std::runtime_error("class-names file '" + path + "': \"" + key + "\" must be a non-empty array of strings");
    std::vector<std::string> values;
    for (const auto& item : array) {
      if (!item.is_string() || item.get<std::string>().empty())
        throw std::runtime_error("class-names file '" + path + "': \"" + key + "\" holds " + io::json_excerpt(item) +
                                 ", expected non-empty strings");
      values.push_back(item.get<std::string>());
    }
    return values;
  };
  if (!document.is_object() || !document.contains("classes"))
    throw std::runtime_error("class-names file '" + path +
                             "' needs an object with \"classes\": [...] (and optionally \"templates\")");
  ClassNames names;
  names.classes = strings("classes");
  // Two classes of one name tie on every image: which one is "right" is then the tie rule's choice.
  std::set<std::string> seen;
  for (size_t c = 0; c < names.classes.size(); ++c)
    if (!seen.insert(names.classes[c]).second)
      throw std::runtime_error("class-names file '" + path + "': class " + std::to_string(c) + " '" +
                               io::excerpt(names.classes[c]) + "' appears twice; class names must be distinct");
  if (document.contains("templates")) {
    names.templates = strings("templates");
    for (const auto& prompt_template : names.templates) {
      // One "{}": Python's str.format, which the reference fills templates with, refuses a second one.
      size_t slots = 0;
      for (size_t at = prompt_template.find("{}"); at != std::string::npos; at = prompt_template.find("{}", at + 2))
        ++slots;
      if (slots != 1)
        throw std::runtime_error("class-names file '" + path + "': template '" + io::excerpt(prompt_template) +
                                 (slots == 0 ? "' has no '{}' to put the class name in"
                                             : "' has more than one '{}'; exactly one takes the class name"));
    }
  } else {
    names.templates = imagenet_templates();
  }
  return names;
}

}  // namespace

ClassNames ClassNames::from_json(const std::string& path) {
  return class_names_of(io::read_json_file(path, "class-names file"), path);
}

ClassNames ClassNames::parse(std::string_view text, const std::string& source) {
  return class_names_of(io::parse_json(text, "class-names file '" + source + "'"), source);
}

ClassNames ClassNames::from_file(const std::string& path) {
  const std::string text = io::read_text_file(path, "class-names file", io::kMaxJsonFileBytes);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') return parse(text, path);
  ClassNames names;
  std::set<std::string> seen;
  size_t line_number = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    ++line_number;
    line.erase(line.find_last_not_of(" \t\r") + 1);
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty()) continue;
    if (!seen.insert(line).second)
      throw std::runtime_error("class-names file '" + path + "' line " + std::to_string(line_number) + ": class '" +
                               io::excerpt(line) + "' appears twice; class names must be distinct");
    names.classes.push_back(line);
  }
  if (names.classes.empty()) throw std::runtime_error("class-names file '" + path + "' names no class");
  names.templates = imagenet_templates();
  return names;
}

void ClassNames::save_json(const std::string& path) const {
  nlohmann::json document = {{"classes", classes}, {"templates", templates}};
  io::write_file_atomic(path, document.dump(2) + "\n");
}

std::vector<std::string> ClassNames::prompts(size_t class_index) const {
  const std::string& name = classes.at(class_index);
  std::vector<std::string> filled;
  filled.reserve(templates.size());
  for (const auto& prompt_template : templates) filled.push_back(fill_template(prompt_template, name));
  return filled;
}

}  // namespace clipgrad::clip

#include "clip/data/dataset.h"

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

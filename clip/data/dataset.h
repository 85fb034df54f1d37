// Datasets described by CSV files, and class-name files for zero-shot evaluation.
//
// Image paths in a CSV are relative to the CSV's own folder (absolute paths are
// kept), so a dataset folder can be moved as a whole. Columns the dataset does
// not interpret (e.g. `is_backdoor`, an original index) stay available by name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/csv.h"

namespace clipgrad::clip {

// The CSV behind a dataset: row-aligned access to every column and to where
// each row came from.
class CsvRecords {
 public:
  size_t size() const { return table_.size(); }
  const io::CsvTable& table() const { return table_; }
  const std::string& source() const { return table_.source; }
  const std::vector<std::string>& columns() const { return table_.header; }
  bool has_column(std::string_view name) const { return table_.column_index(name) >= 0; }
  // The raw text of row `row` in column `name`; throws naming the column and file if absent.
  const std::string& value(size_t row, std::string_view name) const;
  std::vector<std::string> column(std::string_view name) const;
  // "train.csv:17": the file and line where row `row` starts.
  std::string where(size_t row) const { return table_.where(row); }

 protected:
  io::CsvTable table_;
};

struct ImageCaptionRow {
  std::string image_path;  // resolved against the CSV's folder
  std::string caption;
  int64_t line = 0;  // line in the CSV where the row starts
};

// Image-caption pairs for CLIP training: a CSV with (at least) an image column
// and a caption column.
class ImageCaptionDataset : public CsvRecords {
 public:
  static ImageCaptionDataset from_csv(const std::string& path, const std::string& image_key = "image",
                                      const std::string& caption_key = "caption", char delimiter = ',');
  const ImageCaptionRow& operator[](size_t row) const { return rows_.at(row); }
  const std::vector<ImageCaptionRow>& rows() const { return rows_; }

 private:
  std::vector<ImageCaptionRow> rows_;
};

struct LabelledRow {
  std::string image_path;  // resolved against the CSV's folder
  int64_t label = 0;       // class index
  int64_t line = 0;        // line in the CSV where the row starts
};

// Labelled images for evaluation and supervised fine-tuning: a CSV with an
// image column and an integer class-index column.
class LabelledDataset : public CsvRecords {
 public:
  static LabelledDataset from_csv(const std::string& path, const std::string& image_key = "image",
                                  const std::string& label_key = "label", char delimiter = ',');
  // torchvision's ImageFolder: DIR/<class>/<image> (jpg, jpeg, png, webp, bmp),
  // class index i for class_names[i]: the folder of that name when every folder
  // is named in class_names, else (as ImageFolder) the i-th folder in sorted
  // order, which then must be as many as the names.
  static LabelledDataset from_image_folder(const std::string& folder, const std::vector<std::string>& class_names);
  const LabelledRow& operator[](size_t row) const { return rows_.at(row); }
  const std::vector<LabelledRow>& rows() const { return rows_; }
  // Throws, naming the CSV row, for a label outside [0, class_count) of the classes file `classes_source`.
  void check_labels(int64_t class_count, const std::string& classes_source) const;

 private:
  std::vector<LabelledRow> rows_;
};

// Class names and prompt templates for zero-shot classification, stored as JSON:
//
//   {
//     "classes":   ["t-shirt", "trouser", ...],            // required, distinct; label i -> classes[i]
//     "templates": ["a photo of a {}.", "itap of a {}."]   // optional; each holds one "{}"
//   }
//
// Without "templates", the 80 ImageNet templates of OpenAI's notebook are used
// (imagenet_templates() in clip/data/templates.h).
struct ClassNames {
  std::vector<std::string> classes;
  std::vector<std::string> templates;

  static ClassNames from_json(const std::string& path);
  // The same from the file's text; `source` names it in errors.
  static ClassNames parse(std::string_view text, const std::string& source);
  // The JSON above, or a text file of one class name per line (blank lines
  // skipped, names distinct; the 80 ImageNet templates).
  static ClassNames from_file(const std::string& path);
  // Writes the JSON above (atomically), templates included.
  void save_json(const std::string& path) const;
  // Every template filled with classes[class_index].
  std::vector<std::string> prompts(size_t class_index) const;
};

}  // namespace clipgrad::clip

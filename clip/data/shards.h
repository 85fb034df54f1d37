// Webdataset tar shards: which files a --data argument names, and the samples in
// one shard, grouped by key as webdataset groups them.
//
// A shard holds members KEY.EXT in key order (img2dataset writes 000001.jpg,
// 000001.txt, 000001.json, ...). The key is the member's path up to the first
// dot of its file name, so "a/b.c.jpg" is key "a/b", extension "c.jpg"; members
// with the same key, one after another, are one sample.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace clipgrad::clip {

// True when --data names shards, not a CSV: a folder, a pattern, a .tar, or a
// list file (an existing file, not .csv or .tsv, whose first line names a
// .tar). Any other existing file is a CSV (a CSV named train.txt too); a name
// that does not exist is taken as shards, and expand_shard_spec says it is missing.
bool is_shard_spec(const std::string& data);

// The shard files a spec names, in order:
//   brace pattern  "shards/{00000..00331}.tar", "{a,b}/x.tar" (zero padding kept)
//   glob           "shards/*.tar" (sorted)
//   directory      every *.tar in it (sorted)
//   list file      one path per line (relative to the list's folder; # comments)
//   several specs joined by "::"
// Throws when a named file is missing or the spec names none.
std::vector<std::string> expand_shard_spec(const std::string& spec);

// A member's name split as webdataset splits it: "a/b.c.JPG" is key "a/b" and
// extension "c.jpg" (lowercased); a name without a dot has extension "".
struct MemberName {
  std::string key, extension;
};
MemberName split_member_name(const std::string& name);

// jpg, jpeg, png or webp: the extensions of a sample's image member.
bool is_image_extension(const std::string& extension);

// The name of shard `index` in the folders clipgrad writes: "00000.tar", "00001.tar", ...
std::string shard_name(int64_t index);

// What a writer of `shards` shards into folder `out` may replace there (io::StagedFolder):
// their names, and the numbered shards (five or more digits, ".tar") of an earlier,
// larger set.
std::vector<std::string> shard_names_to_replace(const std::string& out, int64_t shards);

struct ShardSample {
  std::string key;
  std::string image;    // the encoded image member (jpg, jpeg, png or webp)
  std::string caption;  // from the json field caption_key, else the txt member
  int64_t label = -1;   // the cls member, -1 when there is none
  int64_t shard = 0;    // the shard's position in the expanded spec
  int64_t ordinal = 0;  // the sample's position among the shard's good samples
  std::string where;    // "shards/00001.tar: key 000123", for messages
  // A stable id for seeding and for Batch::indices: shard and ordinal.
  int64_t id() const { return (shard << 32) | ordinal; }
};

struct ShardReadOptions {
  std::string caption_key = "caption";  // the json field read for the caption before the txt member
  bool need_caption = true;             // a sample without one is skipped
  bool need_label = false;              // a sample without a cls member is skipped
  bool strict = false;                  // a bad member or sample throws instead of being skipped
};

// Reads shard `path` (number `shard` of the spec) as a stream and calls emit for
// each good sample, in order. A bad sample (no image, no caption, an undecodable
// member name, a link or device member, a repeated extension) and the rest of a
// truncated or corrupt shard are skipped with a warning naming the shard and the
// key, and counted: the return value. `stop` (may be null) is polled between
// samples; true ends the read early.
int64_t read_shard(const std::string& path, int64_t shard, const ShardReadOptions& options,
                   const std::function<void(ShardSample&&)>& emit, const std::function<bool()>& stop = nullptr);

// The number of samples with an image in each shard: from "sizes.json" beside the
// shards when it names them all (img2dataset's and open_clip's convention:
// {"00000.tar": 1000, ...}), else from a scan of the members' headers (each
// member's data is seeked past, not read).
std::vector<int64_t> shard_sample_counts(const std::vector<std::string>& shards);

// Writes the rows of a CleanCLIP-style CSV as webdataset shards DIR/00000.tar,
// DIR/00001.tar, ... of `shard_size` samples: each row's image file as KEY.<its
// extension>, its caption (if the CSV has caption_key) as KEY.txt and in KEY.json
// ({"caption", "key", "row"}), its label (if label_key) as KEY.cls; KEY is the
// row number, 9 digits. Also DIR/sizes.json. The folder is written whole
// (io::StagedFolder): an existing DIR is replaced only when it holds nothing but
// numbered shards (an earlier set, of any count) and sizes.json, and a failure leaves it as it was.
// An image file larger than io::max_image_file_bytes() is refused unread.
// Returns the number of shards.
int64_t write_shards(const std::string& csv, const std::string& out, int64_t shard_size,
                     const std::string& image_key = "image", const std::string& caption_key = "caption",
                     const std::string& label_key = "label");

}  // namespace clipgrad::clip

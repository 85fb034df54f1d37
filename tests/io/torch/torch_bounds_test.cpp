// The PyTorch reader's memory bounds on small hostile archives: a deflated
// pickle that builds millions of values, and a deflated storage far larger than
// its file, each refused with a one-line error instead of gigabytes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "io/torch/torch_file.h"
#include "io/torch/zip_archive.h"

namespace clipgrad::io {
namespace {

const std::string kSeed = std::string(CLIPGRAD_FIXTURES) + "/../fuzz/torch_corpus/seed_dtype_f32.pt";

std::string raw_deflate(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

void put(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

// A zip of `entries` (name -> contents), each deflated when its name is in `deflated`.
std::string make_zip(const std::map<std::string, std::string>& entries, const std::set<std::string>& deflated) {
  std::string out, directory;
  for (const auto& [name, contents] : entries) {
    const bool deflate = deflated.count(name) > 0;
    const std::string stored = deflate ? raw_deflate(contents) : contents;
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(contents.data()), static_cast<uInt>(contents.size())));
    const uint64_t offset = out.size();
    auto header = [&](std::string& to, bool central) {
      put(to, central ? 0x02014b50 : 0x04034b50, 4);
      if (central) put(to, 20, 2);
      put(to, 20, 2);
      put(to, 0, 2);
      put(to, deflate ? 8 : 0, 2);
      put(to, 0, 4);
      put(to, crc, 4);
      put(to, stored.size(), 4);
      put(to, contents.size(), 4);
      put(to, name.size(), 2);
      put(to, 0, 2);
      if (central) {
        put(to, 0, 2);
        put(to, 0, 2);
        put(to, 0, 2);
        put(to, 0, 4);
        put(to, offset, 4);
      }
      to += name;
    };
    header(out, false);
    out += stored;
    header(directory, true);
  }
  const uint64_t directory_offset = out.size();
  out += directory;
  put(out, 0x06054b50, 4);
  put(out, 0, 4);
  put(out, entries.size(), 2);
  put(out, entries.size(), 2);
  put(out, directory.size(), 4);
  put(out, directory_offset, 4);
  put(out, 0, 2);
  return out;
}

// The seed's entries: a state dict {"t": float32 arange(6).reshape(2, 3)}.
std::map<std::string, std::string> seed_entries() {
  std::ifstream in(kSeed, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ZipArchive archive("seed", reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  std::map<std::string, std::string> entries;
  for (const ZipEntry& entry : archive.entries()) entries[entry.name] = archive.read(entry, entry.size);
  return entries;
}

std::string refusal(const std::string& zip) {
  try {
    parse_torch_file("hostile.pt", reinterpret_cast<const unsigned char*>(zip.data()), zip.size());
  } catch (const TorchFileError& error) {
    return error.what();
  }
  return "(read without an error)";
}

TEST(TorchBounds, TheSeedReadsBackFromOurZipWriter) {
  const std::string zip = make_zip(seed_entries(), {"seed_dtype_f32/data.pkl", "seed_dtype_f32/data/0"});
  const TorchCheckpoint file =
      parse_torch_file("rebuilt.pt", reinterpret_cast<const unsigned char*>(zip.data()), zip.size());
  EXPECT_EQ(file.tensors.at("t").value.shape(), (Shape{2, 3}));
}

// 6 million NONE opcodes deflate to a few kilobytes, and once built 1.5 GB of values.
TEST(TorchBounds, ASmallPickleCannotBuildMillionsOfValues) {
  std::map<std::string, std::string> entries = seed_entries();
  entries["seed_dtype_f32/data.pkl"] = std::string("\x80\x02](") + std::string(6'000'000, 'N') + "e.";
  const std::string zip = make_zip(entries, {"seed_dtype_f32/data.pkl"});
  ASSERT_LT(zip.size(), 64u << 10);
  const std::string message = refusal(zip);
  EXPECT_NE(message.find("values, more than a file of its size holds"), std::string::npos) << message;
}

// A storage of 200 MB of zeros deflates to 200 KB; the tensor uses 24 bytes of it.
TEST(TorchBounds, ADeflatedStorageIsInflatedOnlyWithinTheFilesBudget) {
  std::map<std::string, std::string> entries = seed_entries();
  entries["seed_dtype_f32/data/0"] = std::string(200u << 20, '\0');
  const std::string zip = make_zip(entries, {"seed_dtype_f32/data/0"});
  ASSERT_LT(zip.size(), 1u << 20);
  const std::string message = refusal(zip);
  EXPECT_NE(message.find("zip entry 'seed_dtype_f32/data/0' inflates to 209715200 bytes"), std::string::npos)
      << message;
  EXPECT_NE(message.find("bad checkpoint 'hostile.pt'"), std::string::npos) << message;
}

}  // namespace
}  // namespace clipgrad::io

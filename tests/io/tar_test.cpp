// The streaming tar reader: members in order, long names, and every kind of bad
// input (links, devices, hostile names, corrupt and truncated archives) reported,
// never thrown.
#include "io/tar.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

namespace clipgrad::io {
namespace {

std::string archive(const std::vector<std::pair<std::string, std::string>>& members, bool finish = true) {
  std::ostringstream out;
  TarWriter writer(out);
  for (const auto& [name, data] : members) writer.add(name, data);
  if (finish) writer.finish();
  return out.str();
}

std::vector<TarEntry> read_all(const std::string& bytes, TarLimits limits = {}, bool read_data = true) {
  std::istringstream in(bytes);
  TarReader reader(in, "test.tar", limits);
  std::vector<TarEntry> entries;
  for (TarEntry entry; reader.next(entry, read_data);) entries.push_back(entry);
  return entries;
}

TEST(Tar, ReadsMembersInOrderWithTheirBytes) {
  const std::string long_name = std::string(150, 'k') + ".txt";
  auto entries = read_all(archive({{"a.jpg", std::string(700, 'x')}, {"a.txt", "a cat"}, {long_name, ""}}));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "a.jpg");
  EXPECT_EQ(entries[0].data, std::string(700, 'x'));
  EXPECT_EQ(entries[1].data, "a cat");
  EXPECT_EQ(entries[2].name, long_name);
  for (const auto& entry : entries) EXPECT_EQ(entry.kind, TarEntry::File);
  auto headers_only = read_all(archive({{"a.jpg", std::string(700, 'x')}, {"a.txt", "a cat"}}), {}, false);
  ASSERT_EQ(headers_only.size(), 2u);
  EXPECT_EQ(headers_only[0].size, 700);
  EXPECT_TRUE(headers_only[0].data.empty());
}

TEST(Tar, SkipsLinksDevicesAndHostileNamesAndGoesOn) {
  std::ostringstream out;
  TarWriter writer(out);
  writer.add("../escape.jpg", "x");
  writer.add("/etc/passwd.txt", "x");
  writer.add("link.jpg", "", '2');
  writer.add("hard.jpg", "", '1');
  writer.add("dev.jpg", "", '3');
  writer.add("fifo.jpg", "", '6');
  writer.add("dir", "", '5');
  writer.add("ok.txt", "fine");
  writer.finish();
  auto entries = read_all(out.str());
  ASSERT_EQ(entries.size(), 7u);  // the directory is passed over silently
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(entries[i].kind, TarEntry::Skipped) << entries[i].name;
  EXPECT_NE(entries[0].reason.find(".."), std::string::npos);
  EXPECT_NE(entries[1].reason.find("absolute"), std::string::npos);
  EXPECT_EQ(entries[2].reason, "symbolic link");
  EXPECT_EQ(entries[4].reason, "character device");
  EXPECT_EQ(entries[6].kind, TarEntry::File);
  EXPECT_EQ(entries[6].data, "fine");
}

TEST(Tar, TruncatedArchiveEndsWithABrokenEntry) {
  const std::string whole = archive({{"a.jpg", std::string(2000, 'x')}, {"b.jpg", std::string(2000, 'y')}});
  auto entries = read_all(whole.substr(0, 512 + 2048 + 512 + 100));  // inside b's data
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].kind, TarEntry::File);
  EXPECT_EQ(entries[1].kind, TarEntry::Broken);
  EXPECT_EQ(entries[1].name, "b.jpg");
  EXPECT_NE(entries[1].reason.find("truncated"), std::string::npos);
  auto in_header = read_all(whole.substr(0, 512 + 2048 + 300));
  ASSERT_EQ(in_header.size(), 2u);
  EXPECT_EQ(in_header[1].kind, TarEntry::Broken);
  // Without end blocks, at a member boundary: the archive simply ends (as tar accepts).
  EXPECT_EQ(read_all(archive({{"a.jpg", "x"}}, false)).size(), 1u);
}

TEST(Tar, CorruptHeaderAndLyingSizesAreBrokenNotAllocated) {
  std::string bytes = archive({{"a.jpg", "x"}, {"b.jpg", "y"}});
  bytes[1024 + 10] ^= 0x5a;  // b's header: the checksum no longer matches
  auto entries = read_all(bytes);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].kind, TarEntry::Broken);
  EXPECT_NE(entries[1].reason.find("checksum"), std::string::npos);
  EXPECT_EQ(read_all("not a tar archive at all, but longer than nothing" + std::string(600, 'z'))[0].kind,
            TarEntry::Broken);
  // A member over the limit is skipped (its data passed over), the next one read.
  auto limited = read_all(archive({{"big.jpg", std::string(5000, 'b')}, {"small.txt", "s"}}),
                          TarLimits{.max_member_bytes = 4096, .max_header_bytes = 1024});
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0].kind, TarEntry::Skipped);
  EXPECT_TRUE(limited[0].data.empty());
  EXPECT_EQ(limited[1].data, "s");
  // A header claiming a huge member in a short file: broken, and nothing near that size allocated.
  std::ostringstream out;
  TarWriter writer(out);
  writer.add("huge.jpg", std::string(10, 'h'));
  std::string lying = out.str();
  std::snprintf(lying.data() + 124, 12, "%011llo", 07777777777ULL);  // ~1 GiB
  std::memset(lying.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(lying[i]);
  std::snprintf(lying.data() + 148, 8, "%06o", sum);
  auto huge = read_all(lying, TarLimits{.max_member_bytes = int64_t(2) << 30, .max_header_bytes = 1024});
  ASSERT_EQ(huge.size(), 1u);
  EXPECT_EQ(huge[0].kind, TarEntry::Broken);
}

// Archives from Python's tarfile (tests/fuzz/make_tar_corpus.py), an independent encoder.
TEST(Tar, ReadsPythonTarfileFormats) {
  auto read_seed = [](const std::string& name) {
    std::ifstream in(std::string(CLIPGRAD_FIXTURES) + "/../fuzz/tar_corpus/seed_" + name, std::ios::binary);
    return read_all(std::string(std::istreambuf_iterator<char>(in), {}));
  };
  auto pax = read_seed("pax_long_name");
  ASSERT_EQ(pax.size(), 1u);
  EXPECT_EQ(pax[0].name, "p/" + std::string(200, 'q') + ".txt");
  EXPECT_EQ(pax[0].data, "pax");
  auto gnu = read_seed("gnu_long_name");
  ASSERT_EQ(gnu.size(), 2u);
  EXPECT_EQ(gnu[1].name, "d/" + std::string(120, 'k') + ".txt");
  auto hostile = read_seed("hostile");
  ASSERT_EQ(hostile.size(), 5u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(hostile[i].kind, TarEntry::Skipped) << hostile[i].name;
  EXPECT_EQ(hostile[4].data, "ok");
  EXPECT_EQ(read_seed("ustar").size(), 6u);
}

TEST(Tar, HostileNameRules) {
  EXPECT_EQ(hostile_member_name_reason("shard/0001.jpg"), "");
  EXPECT_EQ(hostile_member_name_reason("a..b.jpg"), "");
  EXPECT_NE(hostile_member_name_reason("a/../../b.jpg"), "");
  EXPECT_NE(hostile_member_name_reason(".."), "");
  EXPECT_NE(hostile_member_name_reason("/abs.jpg"), "");
  EXPECT_NE(hostile_member_name_reason("c:\\x.jpg"), "");
  EXPECT_NE(hostile_member_name_reason(""), "");
}

}  // namespace
}  // namespace clipgrad::io

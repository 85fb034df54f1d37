// attack.json: every attack's parameters survive a save/load round trip, a
// loaded config gives the same trigger, and bad files fail naming the problem.
#include "cleanclip/attack/attack_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "cleanclip/attack/trigger.h"
#include "tensor/random.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

AttackConfig sample(AttackKind kind) {
  AttackConfig config;
  config.kind = kind;
  config.target = "ankle boot";
  config.seed = 0xfedcba9876543210ULL;  // needs all 64 bits
  config.patch_size = 5;
  config.patch_location = PatchLocation::kFourCorners;
  config.fresh_noise = true;
  config.wanet_k = 3;
  config.wanet_s = 0.75;
  if (kind == AttackKind::kWaNet) {
    Generator generator(1);
    for (int i = 0; i < 18; ++i) config.wanet_grid.push_back(static_cast<float>(generator.normal()));
  }
  config.source = "data/train.csv";
  config.rows = 100;
  config.rate = 0.1;
  config.poisoned_rows = {1, 5, 99};
  return config;
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

TEST(AttackConfig, RoundTripsThroughAttackJson) {
  testing::TempDir dir("attack_config");
  for (AttackKind kind :
       {AttackKind::kBadNet, AttackKind::kBlended, AttackKind::kWaNet, AttackKind::kLabelConsistent}) {
    AttackConfig config = sample(kind);
    config.save(dir.file("attack.json"));
    AttackConfig loaded = AttackConfig::load(dir.file("attack.json"));
    EXPECT_EQ(loaded.to_json(), config.to_json()) << attack_name(kind);
    EXPECT_EQ(loaded.kind, kind);
    EXPECT_EQ(loaded.seed, config.seed);
    EXPECT_EQ(loaded.poisoned_rows, config.poisoned_rows);
    EXPECT_FALSE(loaded.num.has_value());
    EXPECT_EQ(loaded.rate, 0.1);
    if (kind == AttackKind::kWaNet) EXPECT_EQ(loaded.wanet_grid, config.wanet_grid);  // floats exactly
    // The same trigger, pixel for pixel.
    io::Image a(12, 12), b(12, 12);
    for (size_t i = 0; i < a.rgb.size(); ++i) a.rgb[i] = b.rgb[i] = static_cast<uint8_t>(i * 13);
    Trigger(config).apply(a, 4);
    Trigger(loaded).apply(b, 4);
    EXPECT_EQ(a.rgb, b.rgb) << attack_name(kind);
  }
}

TEST(AttackConfig, JsonHoldsOnlyTheAttacksOwnParameters) {
  nlohmann::json badnet = sample(AttackKind::kBadNet).to_json();
  EXPECT_EQ(badnet.at("attack"), "badnet");
  EXPECT_EQ(badnet.at("patch_location"), "four-corners");
  EXPECT_FALSE(badnet.contains("wanet_k"));
  nlohmann::json wanet = sample(AttackKind::kWaNet).to_json();
  EXPECT_EQ(wanet.at("wanet_field"), kWaNetFieldFile);
  EXPECT_FALSE(wanet.contains("patch_size"));
  EXPECT_TRUE(sample(AttackKind::kBlended).to_json().at("fresh_noise").get<bool>());
}

TEST(AttackConfig, BadFilesFailClearly) {
  testing::TempDir dir("attack_config_bad");
  EXPECT_NE(message_of([&] { AttackConfig::load(dir.file("missing.json")); }).find("missing.json"), std::string::npos);
  std::ofstream(dir.file("garbage.json")) << "{not json";
  EXPECT_NE(message_of([&] { AttackConfig::load(dir.file("garbage.json")); }).find("garbage.json"), std::string::npos);
  nlohmann::json json = sample(AttackKind::kBadNet).to_json();
  json["attack"] = "sig";
  std::string message = message_of([&] { AttackConfig::from_json(json, "x.json"); });
  EXPECT_NE(message.find("unknown attack 'sig'"), std::string::npos) << message;
  EXPECT_NE(message.find("x.json"), std::string::npos) << message;
  json = sample(AttackKind::kBadNet).to_json();
  json["version"] = 2;
  EXPECT_NE(message_of([&] { AttackConfig::from_json(json); }).find("version"), std::string::npos);
  json = sample(AttackKind::kWaNet).to_json();
  json["wanet_grid"] = std::vector<float>(5, 0.0f);
  EXPECT_NE(message_of([&] { AttackConfig::from_json(json); }).find("grid"), std::string::npos);
}

TEST(AttackConfig, NamesParse) {
  EXPECT_EQ(parse_attack_kind("label-consistent"), AttackKind::kLabelConsistent);
  EXPECT_EQ(parse_patch_location("four-corners"), PatchLocation::kFourCorners);
  EXPECT_THROW(parse_attack_kind("BadNet"), std::invalid_argument);
  EXPECT_THROW(parse_patch_location("center"), std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::cleanclip

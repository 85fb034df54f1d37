// Module: hierarchical names, train/eval, state dicts and strict loading.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nn/init.h"
#include "nn/layers.h"

using namespace clipgrad;

namespace {

class Block : public nn::Module {
 public:
  Block()
      : ln_1(register_module("ln_1", std::make_shared<nn::LayerNorm>(4))),
        c_fc(register_module("c_fc", std::make_shared<nn::Linear>(4, 8))) {}
  std::shared_ptr<nn::LayerNorm> ln_1;
  std::shared_ptr<nn::Linear> c_fc;
};

class Blocks : public nn::Module {
 public:
  Blocks() {
    for (int i = 0; i < 2; ++i) blocks.push_back(register_module(std::to_string(i), std::make_shared<Block>()));
  }
  std::vector<std::shared_ptr<Block>> blocks;
};

// Own parameter first, then children, as CLIP's top level has logit_scale.
class Tower : public nn::Module {
 public:
  Tower()
      : logit_scale(register_parameter("logit_scale", Tensor::scalar(2.0))),
        resblocks(register_module("resblocks", std::make_shared<Blocks>())),
        bn(register_module("bn", std::make_shared<nn::BatchNorm2d>(2))),
        proj(register_module("proj", std::make_shared<nn::Linear>(8, 4, /*bias=*/false))) {}
  Variable& logit_scale;
  std::shared_ptr<Blocks> resblocks;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> proj;
};

// Gives every floating tensor of the model distinct values.
void randomize(nn::Module& model, uint64_t seed) {
  Generator generator(seed);
  for (auto& [name, parameter] : model.named_parameters()) nn::init::normal_(parameter, 1.0, generator);
  for (auto& [name, buffer] : model.named_buffers())
    if (buffer->dtype() == DType::F32) nn::init::uniform_(*buffer, 0.5, 1.5, generator);
}

nn::StateDict deep_copy(const nn::StateDict& state) {
  nn::StateDict copy;
  for (const auto& [name, tensor] : state) copy[name] = tensor.clone();
  return copy;
}

std::string load_error(nn::Module& model, const nn::StateDict& state) {
  try {
    model.load_state_dict(state);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(Module, HierarchicalNamesInRegistrationOrder) {
  Tower model;
  std::vector<std::string> names;
  for (auto& [name, parameter] : model.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "logit_scale", "resblocks.0.ln_1.weight", "resblocks.0.ln_1.bias", "resblocks.0.c_fc.weight",
                       "resblocks.0.c_fc.bias", "resblocks.1.ln_1.weight", "resblocks.1.ln_1.bias",
                       "resblocks.1.c_fc.weight", "resblocks.1.c_fc.bias", "bn.weight", "bn.bias", "proj.weight"}));
  std::vector<std::string> buffers;
  for (auto& [name, buffer] : model.named_buffers()) buffers.push_back(name);
  EXPECT_EQ(buffers, (std::vector<std::string>{"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}));
  std::vector<std::string> modules;
  for (auto& [name, module] : model.named_modules()) modules.push_back(name);
  EXPECT_EQ(modules, (std::vector<std::string>{"", "resblocks", "resblocks.0", "resblocks.0.ln_1", "resblocks.0.c_fc",
                                               "resblocks.1", "resblocks.1.ln_1", "resblocks.1.c_fc", "bn", "proj"}));
  EXPECT_EQ(model.parameters().size(), 12u);
  EXPECT_EQ(model.state_dict().size(), 15u);
}

TEST(Module, ParametersAreSharedWithTheLayers) {
  Tower model;
  for (auto& [name, parameter] : model.named_parameters()) {
    EXPECT_TRUE(parameter.requires_grad()) << name;
    if (name == "resblocks.1.c_fc.weight") parameter.value().fill(3.0);
  }
  EXPECT_EQ(model.resblocks->blocks[1]->c_fc->weight.value().to_vector<float>()[5], 3.0f);
  EXPECT_EQ(model.state_dict().at("resblocks.1.c_fc.weight").to_vector<float>()[0], 3.0f);
}

TEST(Module, TrainAndEvalReachEverySubmodule) {
  Tower model;
  for (auto& [name, module] : model.named_modules()) EXPECT_TRUE(module->is_training()) << name;
  model.eval();
  for (auto& [name, module] : model.named_modules()) EXPECT_FALSE(module->is_training()) << name;
  model.resblocks->train();
  EXPECT_FALSE(model.is_training());
  EXPECT_TRUE(model.resblocks->blocks[0]->ln_1->is_training());
  model.train();
  for (auto& [name, module] : model.named_modules()) EXPECT_TRUE(module->is_training()) << name;
}

TEST(Module, ZeroGradClearsEveryParameter) {
  Tower model;
  for (auto& [name, parameter] : model.named_parameters()) parameter.add_grad(Tensor::full(parameter.shape(), 1.0));
  model.zero_grad();
  for (auto& [name, parameter] : model.named_parameters()) EXPECT_FALSE(parameter.has_grad()) << name;
}

TEST(Module, StateDictRoundTrip) {
  Tower source;
  randomize(source, 1);
  source.bn->num_batches_tracked.fill(7);
  nn::StateDict saved = deep_copy(source.state_dict());

  Tower target;
  target.load_state_dict(saved);
  nn::StateDict loaded = target.state_dict();
  ASSERT_EQ(loaded.size(), saved.size());
  for (const auto& [name, tensor] : saved) {
    ASSERT_EQ(loaded.at(name).dtype(), tensor.dtype()) << name;
    if (tensor.dtype() == DType::F32) EXPECT_EQ(loaded.at(name).to_vector<float>(), tensor.to_vector<float>()) << name;
  }
  EXPECT_EQ(target.bn->num_batches_tracked.item(), 7.0);
  EXPECT_EQ(target.bn->num_batches_tracked.dtype(), DType::I32);
  // Loading copies: the model does not alias the caller's tensors.
  saved.at("logit_scale").fill(-1.0);
  EXPECT_NE(target.logit_scale.value().item(), -1.0);
}

TEST(Module, LoadingItsOwnStateDictKeepsValues) {
  Tower model;
  randomize(model, 2);
  nn::StateDict before = deep_copy(model.state_dict());
  model.load_state_dict(model.state_dict());
  for (const auto& [name, tensor] : before)
    if (tensor.dtype() == DType::F32)
      EXPECT_EQ(model.state_dict().at(name).to_vector<float>(), tensor.to_vector<float>()) << name;
}

TEST(Module, StrictLoadNamesEveryProblem) {
  Tower model;
  nn::StateDict state = deep_copy(model.state_dict());
  state.erase("resblocks.1.ln_1.bias");
  state.erase("bn.running_var");
  state["visual.extra"] = Tensor::zeros({2});
  state["proj.weight"] = Tensor::zeros({8, 4});
  std::string message = load_error(model, state);
  EXPECT_NE(message.find("missing tensor 'resblocks.1.ln_1.bias'"), std::string::npos) << message;
  EXPECT_NE(message.find("missing tensor 'bn.running_var'"), std::string::npos) << message;
  EXPECT_NE(message.find("unexpected tensor 'visual.extra'"), std::string::npos) << message;
  EXPECT_NE(message.find("'proj.weight' has shape [8,4], model expects [4,8]"), std::string::npos) << message;
}

TEST(Module, FailedLoadChangesNothing) {
  Tower model;
  randomize(model, 3);
  nn::StateDict before = deep_copy(model.state_dict());
  nn::StateDict state = deep_copy(model.state_dict());
  for (auto& [name, tensor] : state)
    if (tensor.dtype() == DType::F32) tensor.fill(9.0);
  state.erase("proj.weight");
  EXPECT_THROW(model.load_state_dict(state), std::invalid_argument);
  EXPECT_EQ(model.logit_scale.value().item(), before.at("logit_scale").item());
}

TEST(Module, LoadConvertsDtypes) {
  Tower model;
  nn::StateDict state;
  for (const auto& [name, tensor] : model.state_dict()) {
    Tensor value = Tensor::full(tensor.shape(), 0.25, DType::F64);
    state[name] = value;
  }
  state["bn.num_batches_tracked"] = Tensor::scalar(12.0, DType::F64);
  model.load_state_dict(state);
  EXPECT_EQ(model.proj->weight.dtype(), DType::F32);
  EXPECT_EQ(model.proj->weight.value().to_vector<float>()[3], 0.25f);
  EXPECT_EQ(model.bn->running_var.dtype(), DType::F32);
  EXPECT_EQ(model.bn->num_batches_tracked.dtype(), DType::I32);
  EXPECT_EQ(model.bn->num_batches_tracked.item(), 12.0);
}

TEST(Module, ToConvertsFloatingTensorsInPlaceAndKeepsCounters) {
  Tower model;
  randomize(model, 9);
  const std::vector<float> before = model.proj->weight.value().to_vector<float>();
  Variable held = model.proj->weight;  // a handle taken before the conversion sees it
  model.bn->num_batches_tracked.fill(3);
  model.to(DType::F64);
  for (const auto& [name, tensor] : model.state_dict())
    EXPECT_EQ(tensor.dtype(), name == "bn.num_batches_tracked" ? DType::I32 : DType::F64) << name;
  EXPECT_EQ(held.dtype(), DType::F64);
  std::vector<double> widened = model.proj->weight.value().to_vector<double>();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(widened[i], double(before[i]));
  EXPECT_EQ(model.bn->num_batches_tracked.item(), 3.0);
  model.to(DType::F32);
  EXPECT_EQ(model.proj->weight.value().to_vector<float>(), before);  // f32 -> f64 -> f32 is exact
  EXPECT_THROW(model.to(DType::I32), std::invalid_argument);
  model.to(Device::CPU);  // already there: values unchanged
  EXPECT_EQ(model.proj->weight.value().to_vector<float>(), before);
}

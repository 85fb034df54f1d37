#include "nn/module.h"

#include <set>
#include <stdexcept>

#include "tensor/ops/elementwise.h"

namespace clipgrad::nn {

// Either side may be empty: the root module's own path is "".
static std::string join(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  return name.empty() ? prefix : prefix + "." + name;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out{{"", const_cast<Module*>(this)}};
  for (const auto& [name, child] : children_)
    for (auto& [sub, module] : child->named_modules()) out.emplace_back(join(name, sub), module);
  return out;
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  for (const auto& [prefix, module] : named_modules())
    for (const auto& [name, parameter] : module->parameters_) out.emplace_back(join(prefix, name), *parameter);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [name, parameter] : named_parameters()) out.push_back(parameter);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (const auto& [prefix, module] : named_modules())
    for (const auto& [name, buffer] : module->buffers_) out.emplace_back(join(prefix, name), buffer.get());
  return out;
}

void Module::train(bool training) {
  for (auto& [name, module] : named_modules()) module->training_ = training;
}

void Module::zero_grad() {
  for (auto& [name, parameter] : named_parameters()) parameter.zero_grad();
}

static bool is_floating(DType dtype) { return dtype == DType::F32 || dtype == DType::F64 || dtype == DType::BF16; }

void Module::to(DType dtype) {
  if (!is_floating(dtype))
    throw std::invalid_argument(std::string("Module::to: ") + dtype_name(dtype) + " is not a floating dtype");
  for (auto& [name, parameter] : named_parameters()) {
    parameter.zero_grad();
    parameter.value() = ops::convert(parameter.value(), dtype);  // where it lives: on a device, on the device
  }
  for (auto& [name, buffer] : named_buffers())
    if (is_floating(buffer->dtype())) *buffer = ops::convert(*buffer, dtype);
}

void Module::to(Device device) {
  for (auto& [name, parameter] : named_parameters()) {
    parameter.zero_grad();
    parameter.value() = parameter.value().to(device);
  }
  for (auto& [name, buffer] : named_buffers()) *buffer = buffer->to(device);
}

StateDict Module::state_dict() const {
  StateDict out;
  for (auto& [name, parameter] : named_parameters()) out[name] = parameter.value();
  for (auto& [name, buffer] : named_buffers()) out[name] = *buffer;
  return out;
}

// Copies source into target, converting between dtypes when they differ.
// Loading a model's own state_dict() hands back the very same memory, which
// must not be copied onto itself.
static void assign(Tensor& target, const Tensor& source) {
  if (source.dtype() == target.dtype() && source.raw_data() == target.raw_data()) return;
  target.copy_from(source.dtype() == target.dtype() ? source : source.to(target.dtype()));
}

void Module::load_state_dict(const StateDict& state) {
  std::map<std::string, Tensor*> targets;
  for (auto& [name, parameter] : named_parameters()) targets[name] = &parameter.value();
  for (auto& [name, buffer] : named_buffers()) targets[name] = buffer;

  std::vector<std::string> problems;
  for (const auto& [name, target] : targets) {
    auto found = state.find(name);
    if (found == state.end()) {
      problems.push_back("missing tensor '" + name + "'");
    } else if (found->second.shape() != target->shape()) {
      problems.push_back("tensor '" + name + "' has shape " + shape_str(found->second.shape()) + ", model expects " +
                         shape_str(target->shape()));
    }
  }
  for (const auto& [name, value] : state)
    if (!targets.count(name)) problems.push_back("unexpected tensor '" + name + "'");
  if (!problems.empty()) {
    std::string message = problems[0];
    for (size_t i = 1; i < problems.size(); ++i) message += "; " + problems[i];
    throw std::invalid_argument(message);
  }
  for (auto& [name, target] : targets) assign(*target, state.at(name));
}

Variable& Module::register_parameter(const std::string& name, Tensor value) {
  parameters_.emplace_back(name, std::make_unique<Variable>(std::move(value), true));
  return *parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(value)));
  return *buffers_.back().second;
}

}  // namespace clipgrad::nn

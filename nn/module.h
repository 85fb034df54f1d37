// Module: a tree of named parameters, buffers and submodules.
//
// Names are hierarchical and dotted, exactly as PyTorch's state_dict writes
// them ("visual.transformer.resblocks.0.attn.in_proj_weight"). A module is
// created once and held by shared_ptr; registries keep pointers to members,
// so a module is never copied or moved after registering.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"

namespace clipgrad::nn {

using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Depth-first, in registration order; names are dotted paths.
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  std::vector<std::pair<std::string, Tensor*>> named_buffers() const;
  std::vector<std::pair<std::string, Module*>> named_modules() const;  // includes "" for this

  void train(bool training = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();

  // Converts every floating parameter and buffer to `dtype` (integer buffers,
  // such as BatchNorm's counter, keep theirs), or moves every one to `device`.
  // Values are replaced in place, so layers' references stay valid; gradients
  // are dropped. An optimizer must be made after the conversion.
  void to(DType dtype);
  void to(Device device);

  // Parameters and buffers by name (values shared, not copied).
  StateDict state_dict() const;
  // Copies values into the existing parameters and buffers. Strict: a missing,
  // unexpected or wrong-shaped tensor throws an error that names it (all such
  // names, not just the first). Values of another floating dtype are converted.
  void load_state_dict(const StateDict& state);

 protected:
  Variable& register_parameter(const std::string& name, Tensor value);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }

 private:
  bool training_ = true;
  // unique_ptr keeps the addresses that layers hold as references stable.
  std::vector<std::pair<std::string, std::unique_ptr<Variable>>> parameters_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace clipgrad::nn

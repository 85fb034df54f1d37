// Inside io/torch: finding the state dict in an unpickled checkpoint
// (state_dict.cpp), shared by the three formats of torch_file.cpp.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "io/torch/pickle.h"
#include "io/torch/torch_file.h"

namespace clipgrad::io::torch_detail {

// Reads the tensor `name` (already bounds-checked by the unpickler) from its storage.
using Materialize = std::function<StoredTensor(const std::string& name, const TorchTensorRef& tensor)>;
// The attribute names a TorchScript class declares as parameters and buffers, or nullptr when unknown.
using DeclaredTensors = std::function<const std::set<std::string>*(const std::string& class_name)>;

// torch.save files: the top-level dict, or its 'state_dict' / 'model' entry.
void collect_state_dict(const Unpickler& unpickler, PyRef root, const Materialize& materialize, TorchCheckpoint& out);

// TorchScript: every parameter and buffer of the module tree, by attribute path.
void collect_module_tensors(const Unpickler& unpickler, PyRef root, const DeclaredTensors& declared,
                            const Materialize& materialize, TorchCheckpoint& out);

// "class C(Module):" blocks of a TorchScript code file -> their __parameters__ and __buffers__.
std::map<std::string, std::set<std::string>> parse_declared_tensors(const std::string& code);

}  // namespace clipgrad::io::torch_detail

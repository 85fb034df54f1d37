#include "io/torch/state_dict.h"

#include <algorithm>
#include <cstdio>

namespace clipgrad::io::torch_detail {

namespace {

constexpr int kMaxDepth = 64;           // module nesting (a ViT-L: 6)
constexpr size_t kMaxVisits = 1 << 20;  // values walked, so shared sub-trees cannot blow up

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// Tensors anywhere below `value`, counted within a visit budget.
size_t count_tensors(PyRef value, int depth, size_t& visits) {
  if (depth > kMaxDepth || ++visits > kMaxVisits) return 0;
  if (value->kind == PyKind::Tensor) return 1;
  size_t count = 0;
  for (PyRef item : value->items) count += count_tensors(item, depth + 1, visits);
  for (const auto& [key, item] : value->entries) count += count_tensors(item, depth + 1, visits);
  return count;
}

std::string describe(PyRef value) {
  switch (value->kind) {
    case PyKind::None: return "None";
    case PyKind::Bool: return value->boolean ? "True" : "False";
    case PyKind::Int: return std::to_string(value->integer);
    case PyKind::Float: {
      char text[32];
      std::snprintf(text, sizeof text, "%g", value->number);
      return text;
    }
    case PyKind::String: {
      std::string text = "'";
      text.append(value->text, 0, 80).append(value->text.size() > 80 ? "...'" : "'");
      return text;
    }
    case PyKind::Tensor: {
      std::string shape;
      for (int64_t size : value->tensor.size) shape.append(shape.empty() ? "" : ",").append(std::to_string(size));
      return "a tensor [" + shape + "] (not read)";
    }
    default: {
      size_t visits = 0;
      const size_t tensors = count_tensors(value, 0, visits);
      const size_t size = value->kind == PyKind::Dict ? value->entries.size() : value->items.size();
      return std::string("a ") + py_kind_name(value->kind) + " of " + std::to_string(size) + " entries" +
             (tensors ? ", " + std::to_string(tensors) + " tensors" : "") + " (not read)";
    }
  }
}

bool is_tensor_dict(PyRef value) {
  return value && value->kind == PyKind::Dict && !value->entries.empty() &&
         std::all_of(value->entries.begin(), value->entries.end(),
                     [](const auto& entry) { return entry.second->kind == PyKind::Tensor; });
}

}  // namespace

void collect_state_dict(const Unpickler& unpickler, PyRef root, const Materialize& materialize, TorchCheckpoint& out) {
  if (root->kind != PyKind::Dict)
    unpickler.fail(std::string("the file holds a ") + py_kind_name(root->kind) +
                   ", not a dict of tensors (a state dict) or a checkpoint dict");
  PyRef state = nullptr;
  if (is_tensor_dict(root)) {
    state = root;
  } else {
    for (const char* key : {"state_dict", "model"}) {
      PyRef candidate = py_get(root, key);
      if (candidate && candidate->kind == PyKind::Dict) {
        state = candidate;
        out.state_dict_key = key;
        break;
      }
    }
  }
  if (!state) {
    std::string keys;
    for (const auto& [key, value] : root->entries)
      if (key->kind == PyKind::String && keys.size() < 200)
        keys.append(keys.empty() ? "'" : ", '").append(key->text).append("'");
    unpickler.fail("no state dict found: the top-level dict (keys " + (keys.empty() ? std::string("none") : keys) +
                   ") is not a dict of tensors and has no 'state_dict' or 'model' dict");
  }
  if (state != root)
    for (const auto& [key, value] : root->entries)
      if (value != state)
        out.extras.emplace_back(key->kind == PyKind::String ? key->text : describe(key), describe(value));

  bool all_prefixed = !state->entries.empty();
  for (const auto& [key, value] : state->entries) {
    if (key->kind != PyKind::String)
      unpickler.fail("the state dict has a key that is a " + std::string(py_kind_name(key->kind)));
    all_prefixed = all_prefixed && starts_with(key->text, "module.");
  }
  out.stripped_module_prefix = all_prefixed;
  const std::string where = out.state_dict_key.empty() ? "" : out.state_dict_key + ".";
  for (const auto& [key, value] : state->entries) {
    const std::string name = all_prefixed ? key->text.substr(7) : key->text;
    if (value->kind != PyKind::Tensor) {
      out.extras.emplace_back(where + key->text, describe(value));
      continue;
    }
    if (out.tensors.count(name)) unpickler.fail("the state dict names tensor '" + name + "' twice");
    out.tensors.emplace(name, materialize(name, value->tensor));
  }
}

namespace {

void walk_module(const Unpickler& unpickler, PyRef object, const std::string& path, int depth, size_t& visits,
                 const DeclaredTensors& declared, const Materialize& materialize, TorchCheckpoint& out) {
  if (depth > kMaxDepth) unpickler.fail("TorchScript modules nest more than " + std::to_string(kMaxDepth) + " deep");
  if (++visits > kMaxVisits) unpickler.fail("the TorchScript module tree is too large");
  const std::set<std::string>* tensors = declared(object->text);
  for (const auto& [key, value] : object->entries) {
    if (key->kind != PyKind::String) continue;
    const std::string name = path + key->text;
    if (value->kind == PyKind::Object) {
      walk_module(unpickler, value, name + ".", depth + 1, visits, declared, materialize, out);
    } else if (value->kind == PyKind::Tensor) {
      // Without the class's declaration every tensor attribute counts (traced modules hold only
      // parameters and buffers); with it, other tensor attributes are left out, as state_dict() does.
      if (tensors && !tensors->count(key->text)) continue;
      if (out.tensors.count(name)) unpickler.fail("the module tree names tensor '" + name + "' twice");
      out.tensors.emplace(name, materialize(name, value->tensor));
    }
  }
}

// The names in one `__parameters__ = ["a", "b", ]` line.
void quoted_names(const std::string& line, std::set<std::string>& names) {
  for (size_t at = line.find('"'); at != std::string::npos; at = line.find('"', at)) {
    const size_t end = line.find('"', at + 1);
    if (end == std::string::npos) return;
    names.insert(line.substr(at + 1, end - at - 1));
    at = end + 1;
  }
}

}  // namespace

void collect_module_tensors(const Unpickler& unpickler, PyRef root, const DeclaredTensors& declared,
                            const Materialize& materialize, TorchCheckpoint& out) {
  if (root->kind != PyKind::Object)
    unpickler.fail(std::string("the TorchScript archive's data.pkl holds a ") + py_kind_name(root->kind) +
                   ", not a module");
  size_t visits = 0;
  walk_module(unpickler, root, "", 0, visits, declared, materialize, out);
  if (out.tensors.empty()) unpickler.fail("the TorchScript module holds no parameters or buffers");
}

std::map<std::string, std::set<std::string>> parse_declared_tensors(const std::string& code) {
  std::map<std::string, std::set<std::string>> classes;
  std::set<std::string>* current = nullptr;
  size_t begin = 0;
  while (begin < code.size()) {
    size_t end = code.find('\n', begin);
    if (end == std::string::npos) end = code.size();
    const std::string line = code.substr(begin, end - begin);
    begin = end + 1;
    if (starts_with(line, "class ")) {
      const size_t paren = line.find_first_of("(:", 6);
      current = paren == std::string::npos ? nullptr : &classes[line.substr(6, paren - 6)];
    } else if (current && (starts_with(line, "  __parameters__ = [") || starts_with(line, "  __buffers__ = ["))) {
      quoted_names(line, *current);
    }
  }
  return classes;
}

}  // namespace clipgrad::io::torch_detail

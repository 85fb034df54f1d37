// The restricted unpickler's stack machine: every opcode of protocols 0-5, each
// length and index checked against the input (the allow-list: pickle_globals.cpp).
#include "io/torch/pickle.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "io/torch/torch_file.h"

namespace clipgrad::io {

const char* py_kind_name(PyKind kind) {
  switch (kind) {
    case PyKind::None: return "None";
    case PyKind::Bool: return "bool";
    case PyKind::Int: return "int";
    case PyKind::BigInt: return "int";
    case PyKind::Float: return "float";
    case PyKind::String: return "str";
    case PyKind::Bytes: return "bytes";
    case PyKind::List: return "list";
    case PyKind::Tuple: return "tuple";
    case PyKind::Dict: return "dict";
    case PyKind::Set: return "set";
    case PyKind::Global: return "global";
    case PyKind::Object: return "object";
    case PyKind::Storage: return "storage";
    case PyKind::Tensor: return "tensor";
  }
  return "value";
}

Unpickler::Unpickler(std::string label, PersistentLoad persistent_load, bool torchscript, size_t max_values)
    : label_(std::move(label)),
      persistent_load_(std::move(persistent_load)),
      torchscript_(torchscript),
      max_values_(std::min(max_values, kMaxPickleValues)) {}

void Unpickler::fail(const std::string& what) const {
  throw TorchFileError("bad checkpoint '" + label_ + "': " + what);
}

PyRef Unpickler::make(PyKind kind) {
  // Bounds memory for a hostile pickle: a small (deflated) one can build millions of values.
  if (arena_.size() >= max_values_)
    fail("the pickle builds more than " + std::to_string(max_values_) + " values, more than a file of its size holds");
  arena_.emplace_back();
  arena_.back().kind = kind;
  return &arena_.back();
}

int64_t py_int(const Unpickler& u, PyRef value, const std::string& what) {
  if (value->kind == PyKind::Int) return value->integer;
  if (value->kind == PyKind::Bool) return value->boolean ? 1 : 0;
  u.fail(what + " must be an int, the pickle holds a " + py_kind_name(value->kind));
}

const std::string& py_string(const Unpickler& u, PyRef value, const std::string& what) {
  if (value->kind != PyKind::String) u.fail(what + " must be a str, the pickle holds a " + py_kind_name(value->kind));
  return value->text;
}

PyRef py_get(PyRef dict, const std::string& key) {
  if (dict->kind != PyKind::Dict) return nullptr;
  for (const auto& [k, v] : dict->entries)
    if (k->kind == PyKind::String && k->text == key) return v;
  return nullptr;
}

PyRef Unpickler::load(const unsigned char* bytes, size_t size, size_t& offset) {
  std::vector<PyRef> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint64_t, PyRef> memo;
  size_t at = offset;

  auto need = [&](size_t count) {
    if (size - at < count) fail("truncated pickle (it ends inside an opcode at byte " + std::to_string(at) + ")");
  };
  auto read_uint = [&](size_t count) {
    need(count);
    uint64_t value = 0;
    for (size_t i = 0; i < count; ++i) value |= static_cast<uint64_t>(bytes[at + i]) << (8 * i);
    at += count;
    return value;
  };
  auto read_bytes = [&](uint64_t count) {
    if (count > size - at) fail("truncated pickle (a " + std::to_string(count) + "-byte string runs past the end)");
    std::string text(reinterpret_cast<const char*>(bytes + at), count);
    at += count;
    return text;
  };
  auto read_line = [&]() {
    const void* newline = std::memchr(bytes + at, '\n', size - at);
    if (!newline) fail("truncated pickle (a text opcode has no end of line)");
    const size_t length = static_cast<const unsigned char*>(newline) - (bytes + at);
    std::string line(reinterpret_cast<const char*>(bytes + at), length);
    at += length + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  };
  auto pop = [&]() {
    if (stack.empty() || (!marks.empty() && stack.size() <= marks.back()))
      fail("corrupt pickle: pop from an empty stack");
    PyRef value = stack.back();
    stack.pop_back();
    return value;
  };
  auto top = [&]() {
    if (stack.empty() || (!marks.empty() && stack.size() <= marks.back())) fail("corrupt pickle: empty stack");
    return stack.back();
  };
  auto pop_mark = [&]() {
    if (marks.empty()) fail("corrupt pickle: no MARK to pop to");
    std::vector<PyRef> items(stack.begin() + static_cast<std::ptrdiff_t>(marks.back()), stack.end());
    stack.resize(marks.back());
    marks.pop_back();
    return items;
  };
  auto push_int = [&](int64_t value) {
    PyRef v = make(PyKind::Int);
    v->integer = value;
    stack.push_back(v);
  };
  auto push_text = [&](PyKind kind, std::string text) {
    PyRef v = make(kind);
    v->text = std::move(text);
    stack.push_back(v);
  };
  auto push_long = [&](const std::string& little_endian) {
    if (little_endian.size() <= 8) {
      uint64_t value = 0;
      for (size_t i = 0; i < little_endian.size(); ++i)
        value |= static_cast<uint64_t>(static_cast<unsigned char>(little_endian[i])) << (8 * i);
      if (!little_endian.empty() && little_endian.size() < 8 && (little_endian.back() & 0x80))
        value |= ~uint64_t(0) << (8 * little_endian.size());  // sign-extend
      push_int(static_cast<int64_t>(value));
    } else {
      push_text(PyKind::BigInt, little_endian);
    }
  };
  auto push_tuple = [&](std::vector<PyRef> items) {
    PyRef v = make(PyKind::Tuple);
    v->items = std::move(items);
    stack.push_back(v);
  };
  auto set_items = [&](PyRef dict, const std::vector<PyRef>& items) {
    if (dict->kind != PyKind::Dict) fail("corrupt pickle: SETITEMS on a " + std::string(py_kind_name(dict->kind)));
    if (items.size() % 2) fail("corrupt pickle: SETITEMS with an odd count");
    for (size_t i = 0; i < items.size(); i += 2) {
      bool replaced = false;
      // Keys of a state dict are strings; a repeated string key replaces, as in Python.
      if (items[i]->kind == PyKind::String)
        for (auto& entry : dict->entries)
          if (entry.first->kind == PyKind::String && entry.first->text == items[i]->text) {
            entry.second = items[i + 1];
            replaced = true;
            break;
          }
      if (!replaced) dict->entries.emplace_back(items[i], items[i + 1]);
    }
  };
  auto append_items = [&](PyRef list, const std::vector<PyRef>& items) {
    if (list->kind != PyKind::List && list->kind != PyKind::Set)
      fail("corrupt pickle: APPEND on a " + std::string(py_kind_name(list->kind)));
    list->items.insert(list->items.end(), items.begin(), items.end());
  };
  auto memo_get = [&](uint64_t index) {
    auto found = memo.find(index);
    if (found == memo.end()) fail("corrupt pickle: memo entry " + std::to_string(index) + " is read before it is set");
    stack.push_back(found->second);
  };
  auto persistent = [&](PyRef pid) {
    if (!persistent_load_) fail("the pickle holds a persistent id where none is expected");
    stack.push_back(persistent_load_(*this, pid));
  };

  while (true) {
    need(1);
    const unsigned char op = bytes[at++];
    switch (op) {
      case 0x80: {  // PROTO
        const uint64_t protocol = read_uint(1);
        if (protocol > 5) fail("pickle protocol " + std::to_string(protocol) + " is newer than 5");
        break;
      }
      case 0x95: read_uint(8); break;  // FRAME: a length hint only
      case '.': {                      // STOP
        if (stack.size() != 1 || !marks.empty())
          fail("corrupt pickle: it stops with " + std::to_string(stack.size()) + " values on the stack");
        offset = at;
        return stack.back();
      }
      case '(': marks.push_back(stack.size()); break;  // MARK
      case '0': pop(); break;                          // POP
      case '1': pop_mark(); break;                     // POP_MARK
      case '2': stack.push_back(top()); break;         // DUP
      case 'N': stack.push_back(make(PyKind::None)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        PyRef v = make(PyKind::Bool);
        v->boolean = op == 0x88;
        stack.push_back(v);
        break;
      }
      case 'K': push_int(static_cast<int64_t>(read_uint(1))); break;                         // BININT1
      case 'M': push_int(static_cast<int64_t>(read_uint(2))); break;                         // BININT2
      case 'J': push_int(static_cast<int32_t>(static_cast<uint32_t>(read_uint(4)))); break;  // BININT
      case 0x8a: push_long(read_bytes(read_uint(1))); break;                                 // LONG1
      case 0x8b: {                                                                           // LONG4
        const uint64_t length = read_uint(4);
        if (length & 0x80000000u) fail("corrupt pickle: a negative LONG4 length");
        push_long(read_bytes(length));
        break;
      }
      case 'I':
      case 'L': {  // INT, LONG (text): "01"/"00" are protocol 0's True/False
        std::string line = read_line();
        if (op == 'L' && !line.empty() && line.back() == 'L') line.pop_back();
        if (op == 'I' && (line == "01" || line == "00")) {
          PyRef v = make(PyKind::Bool);
          v->boolean = line == "01";
          stack.push_back(v);
          break;
        }
        char* end = nullptr;
        errno = 0;
        const long long value = std::strtoll(line.c_str(), &end, 10);
        if (line.empty() || *end != '\0' || errno == ERANGE) fail("corrupt pickle: bad integer text '" + line + "'");
        push_int(value);
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        need(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | bytes[at + i];
        at += 8;
        PyRef v = make(PyKind::Float);
        v->number = std::bit_cast<double>(bits);
        stack.push_back(v);
        break;
      }
      case 'F': {  // FLOAT (text)
        const std::string line = read_line();
        char* end = nullptr;
        const double value = std::strtod(line.c_str(), &end);
        if (line.empty() || *end != '\0') fail("corrupt pickle: bad float text '" + line + "'");
        PyRef v = make(PyKind::Float);
        v->number = value;
        stack.push_back(v);
        break;
      }
      case 'X': push_text(PyKind::String, read_bytes(read_uint(4))); break;   // BINUNICODE
      case 0x8c: push_text(PyKind::String, read_bytes(read_uint(1))); break;  // SHORT_BINUNICODE
      case 0x8d: push_text(PyKind::String, read_bytes(read_uint(8))); break;  // BINUNICODE8
      case 'T': push_text(PyKind::String, read_bytes(read_uint(4))); break;   // BINSTRING
      case 'U': push_text(PyKind::String, read_bytes(read_uint(1))); break;   // SHORT_BINSTRING
      case 'B': push_text(PyKind::Bytes, read_bytes(read_uint(4))); break;    // BINBYTES
      case 'C': push_text(PyKind::Bytes, read_bytes(read_uint(1))); break;    // SHORT_BINBYTES
      case 0x8e: push_text(PyKind::Bytes, read_bytes(read_uint(8))); break;   // BINBYTES8
      case 0x96: push_text(PyKind::Bytes, read_bytes(read_uint(8))); break;   // BYTEARRAY8
      case 'V': {                                                             // UNICODE (raw-unicode-escape)
        std::string line = read_line();
        if (line.find('\\') != std::string::npos) fail("a protocol-0 unicode string with escapes is not read");
        push_text(PyKind::String, std::move(line));
        break;
      }
      case 'S': {  // STRING (quoted repr)
        std::string line = read_line();
        if (line.size() < 2 || line.front() != line.back() || (line.front() != '\'' && line.front() != '"') ||
            line.find('\\') != std::string::npos)
          fail("a protocol-0 string with escapes or without quotes is not read");
        push_text(PyKind::String, line.substr(1, line.size() - 2));
        break;
      }
      case ')': push_tuple({}); break;          // EMPTY_TUPLE
      case 't': push_tuple(pop_mark()); break;  // TUPLE
      case 0x85: {                              // TUPLE1
        PyRef a = pop();
        push_tuple({a});
        break;
      }
      case 0x86: {  // TUPLE2
        PyRef b = pop(), a = pop();
        push_tuple({a, b});
        break;
      }
      case 0x87: {  // TUPLE3
        PyRef c = pop(), b = pop(), a = pop();
        push_tuple({a, b, c});
        break;
      }
      case ']': stack.push_back(make(PyKind::List)); break;  // EMPTY_LIST
      case 'l': {                                            // LIST
        PyRef list = make(PyKind::List);
        list->items = pop_mark();
        stack.push_back(list);
        break;
      }
      case 'a': {  // APPEND
        PyRef item = pop();
        append_items(top(), {item});
        break;
      }
      case 'e': {  // APPENDS
        std::vector<PyRef> items = pop_mark();
        append_items(top(), items);
        break;
      }
      case '}': stack.push_back(make(PyKind::Dict)); break;  // EMPTY_DICT
      case 'd': {                                            // DICT
        PyRef dict = make(PyKind::Dict);
        set_items(dict, pop_mark());
        stack.push_back(dict);
        break;
      }
      case 's': {  // SETITEM
        PyRef value = pop(), key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<PyRef> items = pop_mark();
        set_items(top(), items);
        break;
      }
      case 0x8f: stack.push_back(make(PyKind::Set)); break;  // EMPTY_SET
      case 0x90: {                                           // ADDITEMS
        std::vector<PyRef> items = pop_mark();
        append_items(top(), items);
        break;
      }
      case 0x91: {  // FROZENSET
        PyRef set = make(PyKind::Set);
        set->items = pop_mark();
        stack.push_back(set);
        break;
      }
      case 'p': {  // PUT (text index)
        const std::string line = read_line();
        char* end = nullptr;
        const unsigned long long index = std::strtoull(line.c_str(), &end, 10);
        if (line.empty() || *end != '\0') fail("corrupt pickle: bad PUT index '" + line + "'");
        memo[index] = top();
        break;
      }
      case 'q': memo[read_uint(1)] = top(); break;  // BINPUT
      case 'r': memo[read_uint(4)] = top(); break;  // LONG_BINPUT
      case 0x94: {                                  // MEMOIZE
        PyRef value = top();
        memo[memo.size()] = value;
        break;
      }
      case 'g': {  // GET (text index)
        const std::string line = read_line();
        char* end = nullptr;
        const unsigned long long index = std::strtoull(line.c_str(), &end, 10);
        if (line.empty() || *end != '\0') fail("corrupt pickle: bad GET index '" + line + "'");
        memo_get(index);
        break;
      }
      case 'h': memo_get(read_uint(1)); break;  // BINGET
      case 'j': memo_get(read_uint(4)); break;  // LONG_BINGET
      case 'c': {                               // GLOBAL "module\nname\n"
        const std::string module = read_line();
        const std::string name = read_line();
        stack.push_back(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PyRef name = pop(), module = pop();
        stack.push_back(
            global(py_string(*this, module, "STACK_GLOBAL's module"), py_string(*this, name, "STACK_GLOBAL's name")));
        break;
      }
      case 'R': {  // REDUCE
        PyRef args = pop(), callable = pop();
        stack.push_back(reduce(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ
        PyRef args = pop(), cls = pop();
        stack.push_back(new_object(cls, args));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        pop();      // kwargs
        PyRef args = pop(), cls = pop();
        stack.push_back(new_object(cls, args));
        break;
      }
      case 'b': {  // BUILD
        PyRef state = pop();
        build(top(), state);
        break;
      }
      case 'Q': persistent(pop()); break;  // BINPERSID
      case 'P': {                          // PERSID (text)
        PyRef pid = make(PyKind::String);
        pid->text = read_line();
        persistent(pid);
        break;
      }
      case 'i':
      case 'o': fail("the pickle instantiates a class with INST/OBJ; refused, and nothing was run");
      case 0x82:
      case 0x83:
      case 0x84: fail("the pickle uses the extension registry (EXT opcodes); refused, and nothing was run");
      case 0x97:
      case 0x98: fail("the pickle uses out-of-band buffers, which checkpoints never do");
      default: {
        static const char* hex = "0123456789abcdef";
        fail(std::string("corrupt pickle: unknown opcode 0x") + hex[op >> 4] + hex[op & 15] + " at byte " +
             std::to_string(at - 1));
      }
    }
  }
}

}  // namespace clipgrad::io

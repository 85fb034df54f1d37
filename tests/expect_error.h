// Runs `body`, which must throw std::runtime_error (or a subclass) whose
// message contains `expected`; shared by the tests that check error texts.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace clipgrad::testing {

template <class Body>
void expect_error(Body&& body, const std::string& expected) {
  try {
    body();
    FAIL() << "expected an error containing: " << expected;
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(expected), std::string::npos)
        << "message: " << error.what() << "\nexpected to contain: " << expected;
  }
}

}  // namespace clipgrad::testing

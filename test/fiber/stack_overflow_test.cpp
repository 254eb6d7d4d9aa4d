// A stack overflow is reported naming the task, its spawn location and its stack size,
// instead of a bare SIGSEGV. Runs a child process that overflows on purpose.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#ifndef WEFT_OVERFLOW_CHILD
#error "WEFT_OVERFLOW_CHILD must name the overflow_child executable"
#endif

namespace {
void check_overflow_report(const std::string& args, const std::string& stack_size) {
    std::string cmd = "exec " + std::string(WEFT_OVERFLOW_CHILD) + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
    int status = ::pclose(p);
    INFO(out);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    CHECK_THAT(out, Catch::Contains("stack overflow in task"));
    CHECK_THAT(out, Catch::Contains("'deep-recursion'"));
    CHECK_THAT(out, Catch::Contains("overflow_child.cpp"));
    CHECK_THAT(out, Catch::Contains(stack_size + " bytes"));
    // Caught by the guard page, not by the check at a switch that a stack without one gets.
    CHECK_THAT(out, !Catch::Contains("detected at a switch"));
    CHECK_THAT(out, !Catch::Contains("unreachable"));
}
}  // namespace

TEST_CASE("a stack overflow names the task and its stack size", "[fiber][overflow]") {
    check_overflow_report("", "262144");
}

TEST_CASE("an overflow is caught on a stack among 300 others in use", "[fiber][overflow]") {
    check_overflow_report("crowded", "262144");
}

TEST_CASE("an overflow is caught on a stack that an ended task gave back", "[fiber][overflow]") {
    check_overflow_report("reused", "131072");
}

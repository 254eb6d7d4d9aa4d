// The smallest program a user of an installed or packaged weft would write: it must compile
// against the public headers alone and link against libweft through whichever route
// consumer_test.py is checking (pkg-config, CMake, meson subproject, installed copy).
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>

int main() {
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    int value = rt.block_on([] {
        weft::join_handle<int> child = weft::spawn([] {
            weft::sleep_for(std::chrono::milliseconds(1));
            return 42;
        });
        return child.join();
    });
    std::printf("consumer: a spawned task returned %d\n", value);
    return value == 42 ? 0 : 1;
}

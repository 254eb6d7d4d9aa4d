// Guide sample (README.md, docs/guide/getting-started.md): the README's example, a complete
// program. Its `// [snippet:NAME]` ... `// [end]` region is quoted verbatim; it exits non-zero
// if the sum is not what the README says.
// [snippet:readme]
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

int main() {
    weft::runtime rt;  // one worker thread per core; every task runs on its own fiber
    int sum = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(8);  // bounded: send waits while it is full
        std::vector<weft::join_handle<void>> producers;
        for (int p = 0; p < 4; ++p) {
            producers.push_back(weft::spawn([tx, p] {
                for (int i = 0; i < 10; ++i) {
                    weft::sleep_for(std::chrono::milliseconds(1));  // parks this task only
                    tx.send(p * 10 + i);
                }
            }));
        }
        int total = 0;
        for (int n = 0; n < 40; ++n) total += *rx.recv();  // waits for the next value
        for (auto& h : producers) h.join();  // rethrows a producer's exception as join_error
        return total;
    });
    std::printf("sum = %d\n", sum);  // 780
    return sum == 780 ? 0 : 1;
}
// [end]

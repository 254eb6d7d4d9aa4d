// Descriptor exhaustion (EMFILE) for the tests that check weft survives it: the accept-limit
// test, the file test and the network fault stress suite share this one helper.
#pragma once

// UBSan's vptr check probes each new type through a fresh pipe, which fails while descriptors
// are exhausted and aborts with a false "invalid vptr" (test/meson.build, exhausting_args).
#if defined(WEFT_TEST_UBSAN) && WEFT_TEST_UBSAN && !defined(WEFT_TEST_VPTR_OFF)
#error "fd_exhaustion.hpp needs the executable built with exhausting_args (test/meson.build)"
#endif

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace weft::test {

/// The highest descriptor open in this process now.
inline int highest_open_fd() {
    int highest = 2;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d)) {
            int fd = std::atoi(e->d_name);
            if (fd > highest) highest = fd;
        }
        ::closedir(d);
    }
    return highest;
}

/// Lowers the soft RLIMIT_NOFILE to just above the descriptors in use and fills every free
/// descriptor below it, then frees `headroom` of them: any thread can open exactly `headroom`
/// more descriptors (plus those the rest of the process closes meanwhile), and the next one
/// fails with EMFILE. release() or the destructor closes the fillers and restores the limit,
/// so the rest of the process never runs with the low limit.
class fd_exhaustion {
   public:
    explicit fd_exhaustion(int headroom = 0) {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        base_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        rlimit low = saved_;
        low.rlim_cur = static_cast<rlim_t>(highest_open_fd() + 1 + headroom);
        ::setrlimit(RLIMIT_NOFILE, &low);
        for (;;) {
            int fd = ::fcntl(base_, F_DUPFD_CLOEXEC, 0);
            if (fd < 0) break;
            fillers_.push_back(fd);
        }
        for (int i = 0; i < headroom && !fillers_.empty(); ++i) {
            ::close(fillers_.back());
            fillers_.pop_back();
        }
    }
    void release() {
        for (int fd : fillers_) ::close(fd);
        fillers_.clear();
        if (base_ >= 0) ::close(base_);
        base_ = -1;
        if (!restored_) ::setrlimit(RLIMIT_NOFILE, &saved_);
        restored_ = true;
    }
    ~fd_exhaustion() { release(); }
    fd_exhaustion(const fd_exhaustion&) = delete;
    fd_exhaustion& operator=(const fd_exhaustion&) = delete;

   private:
    rlimit saved_{};
    int base_ = -1;
    bool restored_ = false;
    std::vector<int> fillers_;
};

}  // namespace weft::test

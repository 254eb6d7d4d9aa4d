// The interleaving explorer's controller (see interleave.hpp).
//
// Invariants: at most one logical thread runs at a time: the one whose index is in active_
// (-1: none; the test thread waits for finished_). Every field below is read and written
// either under mu_ or by the token holder, and the token moves only under mu_ (a condition
// variable hand-off), so each hand-off orders everything the previous holder did before
// everything the next one does. A thread that is done, or blocked on an explore::mutex, is
// never given the token (unless the run is aborting, when blocked threads get it to unwind).
#include "interleave.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

namespace weft::explore {
namespace {

/// Unwinds a logical thread once its run stops (a failure elsewhere, a deadlock).
struct aborted {};

constexpr int end_of_run = -1;

std::uint64_t splitmix(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace

class controller {
   public:
    struct decision {
        int chosen = 0;
        int before = 0;                     // preemptions in the decisions before this one
        std::vector<std::uint8_t> preempt;  // per option: would it be a preemption
        std::string label;                  // "t1" (thread 1 runs) or "f0" (flush thread 0)
    };

    controller(const options& o, std::vector<int> prefix, bool random, std::uint64_t seed)
        : opt_(o),
          prefix_(std::move(prefix)),
          random_(random),
          rng_(seed) {}

    void run(const setup_fn& setup);

    bool failed() const { return failed_; }
    const std::string& failure() const { return failure_; }
    const std::vector<decision>& trace() const { return trace_; }
    std::vector<int> schedule() const {
        std::vector<int> s;
        for (const auto& d : trace_) s.push_back(d.chosen);
        return s;
    }
    std::string schedule_text() const;

    // ---- called from the instrumented types ----
    void point(bool may_throw);
    bool forwarded(const detail::cell* c, std::uint64_t& bits) {
        const auto& sb = threads_[me()].sb;
        for (auto it = sb.rbegin(); it != sb.rend(); ++it) {
            if (it->first == c) {
                bits = it->second;
                return true;
            }
        }
        return false;
    }
    void write(detail::cell* c, std::uint64_t bits, std::memory_order o) {
        if (opt_.store_buffering && o != std::memory_order_seq_cst) {
            threads_[me()].sb.emplace_back(c, bits);
            return;
        }
        drain();  // x86: a seq_cst store is an xchg, a full barrier
        c->write_bits(bits);
    }
    void drain() noexcept {
        auto& sb = threads_[me()].sb;
        for (auto& [c, bits] : sb) c->write_bits(bits);
        sb.clear();
    }
    void fence() {
        point(true);
        if (!opt_.ignore_fences) drain();
    }
    void lock(void* m, bool& locked);
    void unlock(void* m, bool& locked);
    void fail(const std::string& what);
    void fail_locked(const std::string& what) {
        std::lock_guard lk(mu_);
        fail(what);
    }

    static thread_local controller* current;
    static thread_local int current_index;
    static thread_local controller* checking;  // the test thread while `finally` runs

   private:
    struct tstate {
        bool done = false;
        const void* blocked_on = nullptr;
        std::deque<std::pair<detail::cell*, std::uint64_t>> sb;  // TSO store buffer, oldest first
    };
    struct option {
        bool flush;
        int t;
    };
    static int me() { return current_index; }
    bool runnable(int t) const {
        return !threads_[t].done && (threads_[t].blocked_on == nullptr || aborting_);
    }
    /// Under mu_: picks what happens next, applying any flushes it picks on the way. Returns
    /// the thread to run, or end_of_run.
    int decide();
    /// Under mu_: gives the token to `next` and waits for it to come back.
    void hand_over(std::unique_lock<std::mutex>& lk, int next);
    void thread_main(int index, const std::function<void()>& body);

    const options opt_;
    const std::vector<int> prefix_;
    const bool random_;
    std::uint64_t rng_;

    std::mutex mu_;
    std::condition_variable cv_;
    int active_ = -1;
    int last_ = -1;  // the thread that ran last
    bool finished_ = false;
    bool aborting_ = false;
    bool failed_ = false;
    std::string failure_;
    std::vector<tstate> threads_;
    std::vector<decision> trace_;
    int preemptions_ = 0;
};

thread_local controller* controller::current = nullptr;
thread_local int controller::current_index = -1;
thread_local controller* controller::checking = nullptr;

void controller::fail(const std::string& what) {
    if (failed_) return;
    failed_ = true;
    aborting_ = true;
    std::ostringstream o;
    o << what << " (after " << trace_.size() << " scheduling decisions)";
    failure_ = o.str();
}

std::string controller::schedule_text() const {
    // Run-length: "t0x5 t1 f0 t1x2".
    std::ostringstream o;
    for (std::size_t i = 0; i < trace_.size();) {
        std::size_t j = i;
        while (j < trace_.size() && trace_[j].label == trace_[i].label) ++j;
        if (i != 0) o << ' ';
        o << trace_[i].label;
        if (j - i > 1) o << 'x' << (j - i);
        i = j;
    }
    return o.str();
}

int controller::decide() {
    for (;;) {
        std::vector<option> opts;
        bool cur_runnable = last_ >= 0 && runnable(last_);
        if (cur_runnable) opts.push_back({false, last_});
        for (int t = 0; t < static_cast<int>(threads_.size()); ++t) {
            if (t != last_ && runnable(t)) opts.push_back({false, t});
        }
        if (!aborting_) {
            for (int t = 0; t < static_cast<int>(threads_.size()); ++t) {
                if (!threads_[t].sb.empty()) opts.push_back({true, t});
            }
        }
        if (opts.empty()) {
            bool all_done = true;
            for (const auto& t : threads_) all_done = all_done && t.done;
            if (all_done) return end_of_run;
            fail("deadlock: every unfinished thread waits for a mutex");
            continue;  // aborting: the blocked threads get the token to unwind
        }
        if (trace_.size() >= opt_.max_steps && !aborting_) {
            fail("livelock: more than " + std::to_string(opt_.max_steps) + " scheduling points");
        }
        std::size_t step = trace_.size();
        int idx = 0;
        if (step < prefix_.size()) {
            idx = prefix_[step];
            if (idx < 0 || idx >= static_cast<int>(opts.size())) {
                fail("replay diverged at decision " + std::to_string(step) +
                     " (the model is not deterministic)");
                idx = 0;
            }
        } else if (random_ && (splitmix(rng_) & 3U) == 0) {
            idx = static_cast<int>(splitmix(rng_) % opts.size());
        }
        decision d;
        d.chosen = idx;
        d.before = preemptions_;
        d.preempt.resize(opts.size());
        for (std::size_t i = 0; i < opts.size(); ++i) d.preempt[i] = cur_runnable && i != 0;
        const option& o = opts[static_cast<std::size_t>(idx)];
        d.label = (o.flush ? "f" : "t") + std::to_string(o.t);
        preemptions_ += d.preempt[static_cast<std::size_t>(idx)];
        trace_.push_back(std::move(d));
        if (o.flush) {
            auto& sb = threads_[o.t].sb;
            sb.front().first->write_bits(sb.front().second);
            sb.pop_front();
            continue;
        }
        last_ = o.t;
        return o.t;
    }
}

void controller::hand_over(std::unique_lock<std::mutex>& lk, int next) {
    int self = me();
    if (next == self) return;
    active_ = next;
    cv_.notify_all();
    cv_.wait(lk, [&] { return active_ == self; });
}

void controller::point(bool may_throw) {
    std::unique_lock lk(mu_);
    if (aborting_ && may_throw) throw aborted{};
    hand_over(lk, decide());
    if (aborting_ && may_throw) throw aborted{};
}

void controller::lock(void* m, bool& locked) {
    point(true);
    while (locked) {
        std::unique_lock lk(mu_);
        threads_[me()].blocked_on = m;
        hand_over(lk, decide());
        if (aborting_) throw aborted{};
    }
    drain();
    locked = true;
}

void controller::unlock(void* m, bool& locked) {
    point(false);  // never throws: unlock runs in destructors, also while unwinding
    drain();
    locked = false;
    std::lock_guard lk(mu_);
    for (auto& t : threads_) {
        if (t.blocked_on == m) t.blocked_on = nullptr;
    }
}

void controller::thread_main(int index, const std::function<void()>& body) {
    current = this;
    current_index = index;
    {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return active_ == index; });
    }
    try {
        if (!aborting_) body();
    } catch (const aborted&) {
    } catch (const std::exception& e) {
        std::lock_guard lk(mu_);
        fail("thread " + std::to_string(index) + " threw: " + e.what());
    } catch (...) {
        std::lock_guard lk(mu_);
        fail("thread " + std::to_string(index) + " threw");
    }
    std::unique_lock lk(mu_);
    threads_[index].done = true;
    // A finished thread's buffered stores still reach memory, by flush decisions like any
    // other; only an aborted run drops them (its cells may be gone before they could land).
    if (aborting_) threads_[index].sb.clear();
    int next = decide();
    if (next == end_of_run) {
        finished_ = true;
        active_ = -1;
    } else {
        active_ = next;
    }
    cv_.notify_all();
    current = nullptr;
    current_index = -1;
}

void controller::run(const setup_fn& setup) {
    builder b;
    setup(b);
    threads_.resize(b.threads_.size());
    std::vector<std::thread> ts;
    ts.reserve(b.threads_.size());
    for (std::size_t i = 0; i < b.threads_.size(); ++i) {
        ts.emplace_back([this, i, &b] { thread_main(static_cast<int>(i), b.threads_[i]); });
    }
    {
        std::unique_lock lk(mu_);
        int first = ts.empty() ? end_of_run : decide();
        if (first == end_of_run) {
            finished_ = true;
        } else {
            active_ = first;
            cv_.notify_all();
        }
        cv_.wait(lk, [&] { return finished_; });
    }
    for (auto& t : ts) t.join();
    if (!failed_ && b.finally_) {
        checking = this;
        try {
            b.finally_();
        } catch (const std::exception& e) {
            fail(std::string("the final check threw: ") + e.what());
        }
        checking = nullptr;
    }
}

namespace detail {
bool active() noexcept { return controller::current != nullptr; }
void point() { controller::current->point(true); }
bool forwarded(const cell* c, std::uint64_t& bits) noexcept {
    return controller::current->forwarded(c, bits);
}
void write(cell* c, std::uint64_t bits, std::memory_order o) {
    controller::current->write(c, bits, o);
}
void drain() noexcept { controller::current->drain(); }
void fence() {
    if (controller::current) controller::current->fence();
}
void mutex_lock(void* m, bool& locked) {
    if (controller::current) {
        controller::current->lock(m, locked);
    } else {
        locked = true;  // the test thread, while no logical thread runs
    }
}
void mutex_unlock(void* m, bool& locked) {
    if (controller::current) {
        controller::current->unlock(m, locked);
    } else {
        locked = false;
    }
}
}  // namespace detail

void require(bool ok, const std::string& what) {
    if (ok) return;
    if (controller* c = controller::current) {
        c->fail_locked(what);
    } else if (controller* k = controller::checking) {
        k->fail(what);
    }
}

int current_thread() { return controller::current_index; }

namespace {
report finish(const controller& c, std::size_t runs, const std::string& prefix) {
    report r;
    r.runs = runs;
    r.failed = c.failed();
    if (r.failed) {
        r.schedule = c.schedule();
        std::ostringstream o;
        o << c.failure() << "; " << prefix << "schedule: " << c.schedule_text() << " [decisions:";
        for (int d : r.schedule) o << ' ' << d;
        o << ']';
        r.failure = o.str();
    }
    return r;
}
}  // namespace

report explore_bounded(const setup_fn& setup, const options& opt) {
    std::vector<int> prefix;
    for (std::size_t runs = 1;; ++runs) {
        controller c(opt, prefix, false, 0);
        c.run(setup);
        if (c.failed()) return finish(c, runs, "");
        // Backtrack: the deepest decision with an untried option inside the bound.
        const auto& tr = c.trace();
        bool found = false;
        for (std::size_t d = tr.size(); d-- > 0 && !found;) {
            for (std::size_t j = static_cast<std::size_t>(tr[d].chosen) + 1;
                 j < tr[d].preempt.size(); ++j) {
                if (tr[d].before + tr[d].preempt[j] <= opt.preemption_bound) {
                    prefix.clear();
                    for (std::size_t k = 0; k < d; ++k) prefix.push_back(tr[k].chosen);
                    prefix.push_back(static_cast<int>(j));
                    found = true;
                    break;
                }
            }
        }
        if (!found || runs >= opt.max_runs) {
            report r = finish(c, runs, "");
            r.exhausted = !found;
            return r;
        }
    }
}

report explore_random(const setup_fn& setup, std::uint64_t first_seed, std::size_t runs,
                      const options& opt) {
    for (std::size_t i = 0; i < runs; ++i) {
        std::uint64_t seed = first_seed + i;
        controller c(opt, {}, true, seed);
        c.run(setup);
        if (c.failed() || i + 1 == runs) {
            return finish(c, i + 1, "seed " + std::to_string(seed) + ", ");
        }
    }
    return report{};
}

report replay(const setup_fn& setup, const std::vector<int>& schedule, const options& opt) {
    controller c(opt, schedule, false, 0);
    c.run(setup);
    return finish(c, 1, "replayed ");
}

}  // namespace weft::explore

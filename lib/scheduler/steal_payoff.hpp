// Whether a worker's steals pay: the verdict behind worker::hold_steals(). Owner-thread only;
// the worker publishes the verdict itself (worker::note_stolen_run_end()).
//
// A steal pays when the tasks it brought ran long enough on the thief to outweigh moving
// them there. Each stolen run (from a steal until the thief's queues are empty again: the
// stolen tasks and whatever they made ready there) is weighed on two figures, each compared
// with what a steal costs on this machine and build (so that sanitizers or a slower machine
// scale both sides):
//   - per task run: tasks that contend for one lock with the other core's tasks lose, park
//     and are woken back onto the other core, after 0.5-1 us each;
//   - per stolen run: a producer that fills a channel for a consumer on the other core parks
//     as soon as the channel is full, 1-8 us after the steal.
//   - per cooperative operation (a send, a receive, a lock: each takes one unit of the
//     task's budget): a producer that fills a large channel for a consumer running on the
//     other core at the same time runs long, but every value it sends crosses the cores. Its
//     stolen runs took 54-93 us with 2-3 task runs, yet 0.6-1.8 steals' time per operation
//     (select_ops, capacity 1,024; mpsc's producers 0.5-2.9), and the row took twice as long
//     once such runs counted as paying.
// All three are the sharing that holding steals off is for; a run pays only when it passes
// all three. Consumers that do a job of their own per message (1 us and more) ran 2 us and
// more per task run, 20 us and more per stolen run and 7-14 steals' time per operation:
// parallel work, which a hold would serialise onto one core. Figures from the 2-vCPU
// development VMs, where a steal costs 350-500 ns (docs/performance.md, "Steals that cost more
// than they bring") or, on a later one, about 190 ns ("Steals weighed by operations too").
#pragma once

#include <cstdint>

namespace weft::detail {

class steal_payoff {
   public:
    // A stolen run pays when its task runs averaged this many steals' time each, the whole
    // run lasted this many, and its cooperative operations came no faster than one per this
    // many.
    static constexpr std::int64_t per_task_run_steals = 4;
    static constexpr std::int64_t per_stolen_run_steals = 25;
    static constexpr std::int64_t per_operation_steals = 4;

    /// A steal that took `ns` (from the look at the victims to the stolen task in hand).
    void note_steal(std::int64_t ns) noexcept {
        // The first sample as it is, then weight 1/4 to each new one.
        steal_ns_ = steal_ns_ == 0 ? ns : (steal_ns_ * 3 + ns) / 4;
    }

    /// A stolen run that lasted `ns`, ran `task_runs` tasks and made `operations`
    /// cooperative operations (budget units). Returns the verdict.
    bool note_stolen_run(std::int64_t ns, std::uint64_t task_runs,
                         std::uint64_t operations) noexcept {
        if (task_runs == 0) return pays_;  // nothing ran (cancelled meanwhile): no evidence
        const bool paid =
            ns / static_cast<std::int64_t>(task_runs) >= per_task_run_steals * steal_ns_ &&
            ns >= per_stolen_run_steals * steal_ns_ &&
            (operations == 0 ||
             ns / static_cast<std::int64_t>(operations) >= per_operation_steals * steal_ns_);
        // The verdict is a moving majority of the runs' own (weight 1/4 to the new one): one
        // odd run, however long, does not flip it; three in a row do, so a change of
        // workload shows within a few steals.
        score_ = (score_ * 3 + (paid ? full : 0)) / 4;
        pays_ = score_ >= full / 2;
        return pays_;
    }

    /// The last verdict; false until stolen runs showed otherwise.
    [[nodiscard]] bool pays() const noexcept { return pays_; }

   private:
    static constexpr std::int32_t full = 1024;
    std::int64_t steal_ns_ = 0;
    std::int32_t score_ = 0;
    bool pays_ = false;
};

}  // namespace weft::detail

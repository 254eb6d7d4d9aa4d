// weft::semaphore and semaphore_permit: a fair counting semaphore (Tokio's sync::Semaphore);
// owned_semaphore_permit and acquire_owned: permits that keep a shared semaphore alive.
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>
#include <weft/sync/batch_semaphore.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace weft {

class semaphore;

/// Permits taken from a semaphore; gives them back when destroyed (RAII). Movable (moving
/// does not release), not copyable. Must not outlive its semaphore. A default-constructed
/// permit holds nothing.
class semaphore_permit {
   public:
    semaphore_permit() noexcept = default;
    /// Takes over `o`'s permits (moving releases nothing); `o` then holds none.
    semaphore_permit(semaphore_permit&& o) noexcept
        : sem_(std::exchange(o.sem_, nullptr)),
          n_(std::exchange(o.n_, 0)) {}
    /// Returns this permit's permits to the semaphore, then takes over `o`'s.
    semaphore_permit& operator=(semaphore_permit&& o) noexcept {
        if (this != &o) {
            release();
            sem_ = std::exchange(o.sem_, nullptr);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }
    semaphore_permit(const semaphore_permit&) = delete;
    semaphore_permit& operator=(const semaphore_permit&) = delete;
    ~semaphore_permit() { release(); }

    /// How many permits this holds.
    [[nodiscard]] std::size_t num_permits() const noexcept { return n_; }
    /// Keeps the permits out of the semaphore for good: destroying this no longer returns
    /// them (Tokio's SemaphorePermit::forget).
    void forget() noexcept {
        sem_ = nullptr;
        n_ = 0;
    }
    /// Takes over `other`'s permits (both must come from the same semaphore).
    void merge(semaphore_permit&& other) {
        if (other.n_ == 0) return;
        if (sem_ && other.sem_ != sem_) {
            throw std::invalid_argument(
                "weft::semaphore_permit::merge: permits from different semaphores");
        }
        sem_ = std::exchange(other.sem_, nullptr);
        n_ += std::exchange(other.n_, 0);
    }

   private:
    friend class semaphore;
    semaphore_permit(detail::batch_semaphore* s, std::size_t n) noexcept
        : sem_(s),
          n_(n) {}
    void release() noexcept {
        if (sem_ && n_ != 0) sem_->release(n_);
        sem_ = nullptr;
        n_ = 0;
    }
    detail::batch_semaphore* sem_ = nullptr;
    std::size_t n_ = 0;
};

/// A counting semaphore whose acquire() suspends only the calling task (on a plain thread it
/// blocks the thread). Fair: acquirers are served in FIFO order, a large request at the front
/// is not overtaken by smaller ones behind it (permits released meanwhile are set aside for
/// it), and try_acquire() never takes permits while someone waits.
///
/// ```cpp
/// weft::semaphore limit(10);           // at most 10 requests in flight
/// auto permit = limit.acquire();       // returned when `permit` goes out of scope
/// ```
class semaphore {
   public:
    /// The largest number of permits a semaphore can hold.
    static constexpr std::size_t max_permits = detail::batch_semaphore::max_permits;

    /// Throws std::invalid_argument if permits > max_permits.
    explicit semaphore(std::size_t permits)
        : sem_(check(permits)) {}
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    /// Waits until `n` permits are available and takes them. n == 0 returns an empty permit.
    /// Throws std::invalid_argument if n > max_permits; semaphore_closed if the semaphore is or
    /// gets closed before they were taken. A cooperative scheduling point. Throws std::logic_error
    /// if it would have to wait on a worker thread outside a task (use async_acquire there).
    /// **Cancellation**: cancel-safe. If the task is aborted while waiting, task_cancelled is
    /// thrown and no permit is taken: permits set aside for it go to the next waiters, and
    /// permits granted to it meanwhile are released. A select branch takes permits only once
    /// it has won the select; permits granted as a timeout's deadline passes are returned
    /// (the next cancellation point throws).
    semaphore_permit acquire(std::size_t n = 1,
                             std::source_location where = std::source_location::current()) {
        check_request(n);
        detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        detail::consume_budget(where);
        if ((!sem_.try_acquire(n) || !sem_.claim_taken(n, "semaphore::acquire", where)) &&
            sem_.acquire_slow(n, "semaphore::acquire", where) != detail::wait_status::granted) {
            throw semaphore_closed();
        }
        return {&sem_, n};
    }

    /// Takes `n` permits if they are available now and nobody waits; std::nullopt
    /// otherwise. Throws semaphore_closed once the semaphore is closed. Never suspends. In a
    /// select branch that lost the race, takes nothing (std::nullopt).
    std::optional<semaphore_permit> try_acquire(std::size_t n = 1) {
        check_request(n);
        if (sem_.try_acquire_claimed(n)) return semaphore_permit(&sem_, n);
        if (sem_.is_closed()) throw semaphore_closed();
        return std::nullopt;
    }

    /// Adds `n` permits (waiters first, in FIFO order). Also works after close().
    /// Throws std::overflow_error if the total would exceed max_permits.
    void add_permits(std::size_t n) {
        if (n > max_permits || sem_.available() > max_permits - n) {
            throw std::overflow_error("weft::semaphore::add_permits: more than max_permits");
        }
        sem_.release(n);
    }

    /// Permits available now (those set aside for a waiter are not counted).
    [[nodiscard]] std::size_t available_permits() const noexcept { return sem_.available(); }

    /// Closes the semaphore: pending and later acquire / try_acquire throw semaphore_closed
    /// (async_acquire completes with error::semaphore_closed). Permits held elsewhere stay
    /// valid and are still returned.
    void close() noexcept { sem_.close(); }
    /// True once close() was called.
    [[nodiscard]] bool is_closed() const noexcept { return sem_.is_closed(); }

    /// Asio form of acquire(n): completes with `void(error_code, semaphore_permit)`;
    /// error::semaphore_closed (and an empty permit) once closed. The handler runs on its
    /// associated executor (else on a weft worker) and never inside this call.
    /// **Cancellation**: terminal, partial and total cancellation through the handler's slot
    /// complete it with asio::error::operation_aborted and an empty permit; no permit is
    /// taken. A handler destroyed uninvoked returns the permits it was granted.
    template <class CompletionToken>
    auto async_acquire(std::size_t n, CompletionToken&& token) {
        check_request(n);
        return boost::asio::async_initiate<CompletionToken,
                                           void(boost::system::error_code, semaphore_permit)>(
            [](auto handler, semaphore* self, std::size_t count) {
                using op = detail::async_wait_op_for<acquire_waiter, decltype(handler)>;
                self->sem_.start_async(*op::create(std::move(handler), self, count));
            },
            token, this, n);
    }

   private:
    static std::size_t check(std::size_t permits) {
        if (permits > max_permits) {
            throw std::invalid_argument("weft::semaphore: more than max_permits permits");
        }
        return permits;
    }
    static void check_request(std::size_t n) {
        if (n > max_permits) {
            throw std::invalid_argument("weft::semaphore: request for more than max_permits");
        }
    }

    struct acquire_waiter : detail::permit_waiter {
        acquire_waiter(semaphore* s, std::size_t n) noexcept
            : permit_waiter(&s->sem_, n) {}
        std::tuple<boost::system::error_code, semaphore_permit> completion_args(
            std::uint32_t s) noexcept {
            switch (s) {
                case detail::wait_status::granted:
                    return {boost::system::error_code(), semaphore_permit(sem, needed)};
                case detail::wait_status::closed:
                    return {error::make_error_code(error::semaphore_closed), semaphore_permit()};
                default:
                    return {boost::asio::error::operation_aborted, semaphore_permit()};
            }
        }
    };

    detail::batch_semaphore sem_;
};

/// Permits taken from a semaphore shared through a std::shared_ptr, holding a reference to it
/// (Tokio's OwnedSemaphorePermit): the semaphore lives at least as long as the permit, so the
/// permit may be moved into a task or a callback that outlives every other owner. Gives the
/// permits back when destroyed. Movable (moving does not release), not copyable. A
/// default-constructed permit holds nothing. Made by weft::acquire_owned and
/// weft::try_acquire_owned.
///
/// ```cpp
/// auto limit = std::make_shared<weft::semaphore>(10);
/// for (auto& job : jobs) {
///     auto permit = weft::acquire_owned(limit);          // waits for a free slot
///     weft::spawn([permit = std::move(permit), job] { run(job); });  // freed when it ends
/// }
/// ```
class owned_semaphore_permit {
   public:
    owned_semaphore_permit() noexcept = default;
    /// Takes over `o`'s permits and semaphore reference; `o` then holds none.
    owned_semaphore_permit(owned_semaphore_permit&& o) noexcept = default;
    /// Returns this permit's permits to its semaphore, then takes over `o`'s.
    owned_semaphore_permit& operator=(owned_semaphore_permit&& o) noexcept {
        if (this != &o) {
            // safety: the permits go back while this->sem_ still keeps their semaphore
            // alive; only then may the reference be dropped (it may be the last one).
            permit_ = std::move(o.permit_);
            sem_ = std::move(o.sem_);
        }
        return *this;
    }
    owned_semaphore_permit(const owned_semaphore_permit&) = delete;
    owned_semaphore_permit& operator=(const owned_semaphore_permit&) = delete;
    /// Returns the permits, then drops the reference to the semaphore.
    ~owned_semaphore_permit() = default;

    /// How many permits this holds.
    [[nodiscard]] std::size_t num_permits() const noexcept { return permit_.num_permits(); }
    /// The semaphore the permits came from (null for an empty permit).
    [[nodiscard]] const std::shared_ptr<semaphore>& get_semaphore() const noexcept { return sem_; }
    /// Keeps the permits out of the semaphore for good: destroying this no longer returns
    /// them. The reference to the semaphore is dropped too.
    void forget() noexcept {
        permit_.forget();
        sem_.reset();
    }
    /// Takes over `other`'s permits; both must come from the same semaphore
    /// (std::invalid_argument otherwise, and nothing changes).
    void merge(owned_semaphore_permit&& other) {
        if (other.num_permits() == 0) return;
        if (sem_ && other.sem_ != sem_) {
            throw std::invalid_argument(
                "weft::owned_semaphore_permit::merge: permits from different semaphores");
        }
        permit_.merge(std::move(other.permit_));
        if (!sem_) sem_ = std::move(other.sem_);
        other.sem_.reset();
    }

   private:
    friend owned_semaphore_permit acquire_owned(std::shared_ptr<semaphore>, std::size_t,
                                                std::source_location);
    friend std::optional<owned_semaphore_permit> try_acquire_owned(std::shared_ptr<semaphore>,
                                                                   std::size_t);
    owned_semaphore_permit(std::shared_ptr<semaphore> sem, semaphore_permit permit) noexcept
        : sem_(std::move(sem)),
          permit_(std::move(permit)) {}

    // Declared first so it is destroyed last: permit_ returns its permits into the semaphore
    // that sem_ keeps alive.
    std::shared_ptr<semaphore> sem_;
    semaphore_permit permit_;
};

/// Waits until `n` permits of `*sem` are available and takes them, as semaphore::acquire,
/// returning a permit that holds `sem` (Tokio's Semaphore::acquire_owned on an Arc). Throws
/// std::invalid_argument for a null `sem` or n > semaphore::max_permits; semaphore_closed if
/// the semaphore is or gets closed before the permits were taken; std::logic_error if it
/// would have to wait on a worker thread outside a task. A cooperative scheduling point.
/// **Cancellation**: cancel-safe, as semaphore::acquire: if the task is aborted while
/// waiting, task_cancelled is thrown and no permit is taken (permits set aside for it go to
/// the next waiters).
inline owned_semaphore_permit acquire_owned(
    std::shared_ptr<semaphore> sem, std::size_t n = 1,
    std::source_location where = std::source_location::current()) {
    if (!sem) throw std::invalid_argument("weft::acquire_owned: null semaphore");
    semaphore_permit p = sem->acquire(n, where);
    return {std::move(sem), std::move(p)};
}

/// Takes `n` permits of `*sem` if they are available now and nobody waits, as
/// semaphore::try_acquire, returning a permit that holds `sem`; std::nullopt otherwise.
/// Throws std::invalid_argument for a null `sem` or n > semaphore::max_permits;
/// semaphore_closed once the semaphore is closed. Never suspends.
inline std::optional<owned_semaphore_permit> try_acquire_owned(std::shared_ptr<semaphore> sem,
                                                               std::size_t n = 1) {
    if (!sem) throw std::invalid_argument("weft::try_acquire_owned: null semaphore");
    std::optional<semaphore_permit> p = sem->try_acquire(n);
    if (!p) return std::nullopt;
    return owned_semaphore_permit(std::move(sem), std::move(*p));
}

}  // namespace weft

#include <weft/error.hpp>

#include <string>

namespace weft::error {
namespace {
class weft_category final : public boost::system::error_category {
   public:
    const char* name() const noexcept override { return "weft"; }
    std::string message(int ev) const override {
        switch (static_cast<errors>(ev)) {
            case channel_closed:
                return "channel closed";
            case semaphore_closed:
                return "semaphore closed";
            case lagged:
                return "receiver lagged behind";
        }
        return "unknown weft error";
    }
};
}  // namespace

const boost::system::error_category& category() noexcept {
    static const weft_category c;
    return c;
}
}  // namespace weft::error

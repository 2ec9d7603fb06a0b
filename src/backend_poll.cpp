// poll(2) backend: any POSIX system. O(n) per wait by nature; it is the
// portable fallback and the reference the other backends are tested against.
#include "backend.h"

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <vector>

namespace ior {
namespace {

class PollBackend final : public Backend {
public:
    explicit PollBackend(const int (&wake_pipe)[2]) : wake_read_(wake_pipe[0]), wake_write_(wake_pipe[1]) {
        fds_.push_back(pollfd{wake_read_, POLLIN, 0});
        owners_.push_back(nullptr);
    }
    ~PollBackend() override {
        close(wake_read_);
        close(wake_write_);
    }

    const char *name() const override { return "poll"; }

    int attach(Handle &h) override {
        h.backend_index = static_cast<std::uint32_t>(fds_.size());
        fds_.push_back(pollfd{-1, 0, 0});
        owners_.push_back(&h);
        sync(h);
        return 0;
    }
    int update_reading(Handle &h) override { return sync(h), 0; }
    int arm_write(Handle &h) override {
        h.write_armed = true;
        return sync(h), 0;
    }
    // Swap with the last slot: O(1), and poll() does not care about order.
    void detach(Handle &h) override {
        std::size_t i = h.backend_index;
        fds_[i] = fds_.back();
        owners_[i] = owners_.back();
        owners_[i]->backend_index = static_cast<std::uint32_t>(i);
        fds_.pop_back();
        owners_.pop_back();
    }

    int poll(Sink &sink, int timeout_ms) override {
        int n = ::poll(fds_.data(), fds_.size(), timeout_ms);
        if (n < 0) return errno == EINTR ? 0 : errno;
        if (fds_[0].revents) drain_wakeups();
        // No attach or detach can happen while we report, so indexes hold.
        // The scan starts one slot later each wait: when the caller's array
        // is smaller than the ready set, what did not fit (and is reported
        // again) is not always behind the same handles.
        const std::size_t slots = fds_.size() - 1;
        for (std::size_t k = 0; k < slots && n > 0; ++k) {
            std::size_t i = 1 + (first_ + k) % slots;
            short revents = fds_[i].revents;
            if (!revents) continue;
            --n;
            Handle &h = *owners_[i];
            report_readiness(sink, h, (revents & POLLIN ? kReadyIn : 0u) |
                                      (revents & POLLOUT ? kReadyOut : 0u) |
                                      (revents & (POLLERR | POLLNVAL) ? kReadyErr : 0u) |
                                      (revents & POLLHUP ? kReadyHup : 0u));
            sync(h);
        }
        first_ = slots ? (first_ + 1) % slots : 0;
        return 0;
    }

    int wake() override {
        char byte = 1;
        // EAGAIN: the pipe is full of wakeups already.
        if (write(wake_write_, &byte, 1) < 0 && errno != EAGAIN) return errno;
        return 0;
    }

private:
    // An unwatched slot gets fd -1, which poll() skips: a hangup would
    // otherwise be reported to an empty mask and spin.
    void sync(Handle &h) {
        unsigned want = readiness_mask(h);
        pollfd &p = fds_[h.backend_index];
        p.fd = want ? h.fd : -1;
        p.events = static_cast<short>((want & kWantRead ? POLLIN : 0) | (want & kWantWrite ? POLLOUT : 0));
        p.revents = 0;
    }

    void drain_wakeups() {
        char buf[64];
        while (read(wake_read_, buf, sizeof buf) > 0) {
        }
    }

    int wake_read_;
    int wake_write_;
    std::vector<pollfd> fds_;       // [0] is the wakeup pipe
    std::vector<Handle *> owners_;  // owners_[i] registered fds_[i]
    std::size_t first_ = 0;         // where the next report starts (see poll)
};

}  // namespace

std::unique_ptr<Backend> make_poll_backend(const BackendOptions &, int &error) {
    int wake_pipe[2];
    if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0) return error = errno, nullptr;
    return std::make_unique<PollBackend>(wake_pipe);
}

}  // namespace ior

// epoll backend (Linux), level-triggered: a handle the core could not serve
// this round (the caller's event array was full) is simply reported again.
#include "backend.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

namespace ior {
namespace {

class EpollBackend final : public Backend {
public:
    EpollBackend(int epfd, int wakefd, int max_events)
        : epfd_(epfd), wakefd_(wakefd), events_(static_cast<std::size_t>(max_events)) {}
    ~EpollBackend() override {
        close(wakefd_);
        close(epfd_);
    }

    const char *name() const override { return "epoll"; }

    int attach(Handle &h) override {
        h.backend_index = 0;  // the mask epoll holds for h; 0: not registered
        return sync(h);
    }
    int update_reading(Handle &h) override { return sync(h); }
    int arm_write(Handle &h) override {
        h.write_armed = true;
        return sync(h);
    }
    void detach(Handle &h) override {
        // EBADF/ENOENT are fine: the caller may have closed the socket
        // first, which already took it out of the epoll set.
        if (h.backend_index) epoll_ctl(epfd_, EPOLL_CTL_DEL, h.fd, nullptr);
        std::erase(files_, &h);
    }

    int poll(Sink &sink, int timeout_ms) override {
        if (any_file_reading()) timeout_ms = 0;
        int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
        if (n < 0) return errno == EINTR ? 0 : errno;
        // epoll returns ready handles in a stable order; starting one later
        // each wait keeps a caller's array smaller than the ready set from
        // always missing the same ones (readiness mode drops what does not
        // fit: it is reported again).
        const int first = n > 0 ? static_cast<int>(rotation_++ % unsigned(n)) : 0;
        for (int k = 0; k < n; ++k) dispatch(sink, events_[(first + k) % n]);
        for (Handle *h : files_) report_readiness(sink, *h, kReadyIn | kReadyOut);
        return 0;
    }

    int wake() override {
        std::uint64_t one = 1;
        // EAGAIN means the counter is already non-zero: a wakeup is pending.
        if (write(wakefd_, &one, sizeof one) < 0 && errno != EAGAIN) return errno;
        return 0;
    }

    int watch_wakeups() {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = nullptr;
        return epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0 ? errno : 0;
    }

private:
    void dispatch(Sink &sink, const epoll_event &ev) {
        if (!ev.data.ptr) {
            std::uint64_t count;
            (void)!read(wakefd_, &count, sizeof count);
            return;
        }
        Handle &h = *static_cast<Handle *>(ev.data.ptr);
        report_readiness(sink, h, (ev.events & EPOLLIN ? kReadyIn : 0u) |
                                      (ev.events & EPOLLOUT ? kReadyOut : 0u) |
                                      (ev.events & EPOLLERR ? kReadyErr : 0u) |
                                      (ev.events & EPOLLHUP ? kReadyHup : 0u));
        sync(h);
    }

    // Brings epoll's registration of h in line with what h needs now.
    int sync(Handle &h) {
        if (is_file(h)) return 0;
        unsigned want = readiness_mask(h);
        if (want == h.backend_index) return 0;
        epoll_event ev{};
        ev.events = (want & kWantRead ? EPOLLIN : 0u) | (want & kWantWrite ? EPOLLOUT : 0u);
        ev.data.ptr = &h;
        int op = !want ? EPOLL_CTL_DEL : h.backend_index ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(epfd_, op, h.fd, &ev) < 0) {
            // epoll refuses regular files (a console redirected from a file);
            // they are always ready, so report them every round instead.
            if (errno == EPERM && may_be_file(h)) return files_.push_back(&h), 0;
            return errno;
        }
        h.backend_index = want;
        return 0;
    }

    static bool may_be_file(const Handle &h) {
        return h.kind == HandleKind::console || h.kind == HandleKind::watched;
    }
    bool is_file(const Handle &h) const {
        return may_be_file(h) && std::find(files_.begin(), files_.end(), &h) != files_.end();
    }
    bool any_file_reading() const {
        for (const Handle *h : files_)
            if (readiness_mask(*h)) return true;
        return false;
    }

    int epfd_;
    int wakefd_;
    std::vector<epoll_event> events_;
    std::vector<Handle *> files_;
    unsigned rotation_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend(const BackendOptions &opts, int &error) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) return error = errno, nullptr;
    int wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakefd < 0) {
        error = errno;
        close(epfd);
        return nullptr;
    }
    auto backend = std::make_unique<EpollBackend>(epfd, wakefd, opts.max_events);
    if ((error = backend->watch_wakeups())) return nullptr;
    return backend;
}

}  // namespace ior

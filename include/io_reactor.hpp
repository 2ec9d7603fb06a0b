// io_reactor.hpp - a thin C++20 RAII layer over io_reactor.h.
//
// Same contract as the C API (read io_reactor.h). What it adds: the reactor
// and registrations close themselves, failures come back as std::error_code
// (construction throws std::system_error), and waits take a span and a
// std::chrono duration.
#pragma once

#include "io_reactor.h"

#include <chrono>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

namespace ioreactor {

inline std::error_code last_error(const io_reactor_t *reactor) {
    return {io_reactor_last_error(reactor), std::system_category()};
}

class Reactor {
public:
    explicit Reactor(const io_reactor_config_t *config = nullptr)
        : reactor_(io_reactor_create_with(config)) {
        if (!reactor_) throw std::system_error(last_error(nullptr), "io_reactor_create");
    }
    explicit Reactor(const char *backend) : Reactor(config_for(backend)) {}
    Reactor(Reactor &&other) noexcept : reactor_(std::exchange(other.reactor_, nullptr)) {}
    Reactor &operator=(Reactor &&other) noexcept {
        std::swap(reactor_, other.reactor_);
        return *this;
    }
    ~Reactor() {
        if (reactor_) io_reactor_destroy(reactor_);
    }

    io_reactor_t *get() const { return reactor_; }
    const char *backend_name() const { return io_reactor_backend_name(reactor_); }

    std::error_code add(socket_fd_t fd, void *context, int events = EVENT_READ) {
        return check(io_reactor_add(reactor_, fd, context, events));
    }
    std::error_code add_listener(socket_fd_t fd, void *context) {
        return check(io_reactor_add_listener(reactor_, fd, context));
    }
    std::error_code add_console(void *context) {
        return check(io_reactor_add_console(reactor_, context));
    }
    std::error_code modify(socket_fd_t fd, int events) {
        return check(io_reactor_modify(reactor_, fd, events));
    }
    std::error_code remove(socket_fd_t fd) { return check(io_reactor_remove(reactor_, fd)); }
    std::error_code write(socket_fd_t fd, std::string_view bytes) {
        return check(io_reactor_post_write(reactor_, fd, const_cast<char *>(bytes.data()), bytes.size()));
    }
    std::size_t queued_bytes(socket_fd_t fd) const { return io_reactor_queued_bytes(reactor_, fd); }
    std::error_code wakeup() { return check(io_reactor_wakeup(reactor_)); }

    // The events that arrived (a prefix of `buffer`); nullopt timeout waits
    // until something happens.
    std::span<io_event_t> wait(std::span<io_event_t> buffer,
                               std::optional<std::chrono::microseconds> timeout,
                               std::error_code &error) {
        timeval tv{};
        if (timeout) {
            tv.tv_sec = static_cast<decltype(tv.tv_sec)>(timeout->count() / 1000000);
            tv.tv_usec = static_cast<decltype(tv.tv_usec)>(timeout->count() % 1000000);
        }
        int n = io_reactor_wait(reactor_, buffer.data(), static_cast<int>(buffer.size()),
                                timeout ? &tv : nullptr);
        error = n < 0 ? last_error(reactor_) : std::error_code{};
        return buffer.first(n < 0 ? 0 : static_cast<std::size_t>(n));
    }

private:
    static const io_reactor_config_t *config_for(const char *backend) {
        thread_local io_reactor_config_t config{};
        config = io_reactor_config_t{};
        config.backend = backend;
        return &config;
    }
    std::error_code check(int rc) const { return rc == 0 ? std::error_code{} : last_error(reactor_); }

    io_reactor_t *reactor_;
};

// A registered handle that removes itself: the end of a Registration's life
// is the point after which no event for it is delivered.
class Registration {
public:
    Registration() = default;
    Registration(Reactor &reactor, socket_fd_t fd) : reactor_(&reactor), fd_(fd) {}
    Registration(Registration &&other) noexcept
        : reactor_(std::exchange(other.reactor_, nullptr)), fd_(other.fd_) {}
    Registration &operator=(Registration &&other) noexcept {
        std::swap(reactor_, other.reactor_);
        std::swap(fd_, other.fd_);
        return *this;
    }
    ~Registration() { reset(); }

    void reset() {
        if (reactor_) std::exchange(reactor_, nullptr)->remove(fd_);
    }
    socket_fd_t fd() const { return fd_; }
    explicit operator bool() const { return reactor_ != nullptr; }

private:
    Reactor *reactor_ = nullptr;
    socket_fd_t fd_{};
};

}  // namespace ioreactor

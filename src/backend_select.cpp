// The one place that knows which backends this build has (CMake defines
// IOR_HAVE_*), which one "auto" means, and in what order to fall back.
#include "backend.h"

#include <array>
#include <cerrno>
#include <cstring>

namespace ior {

namespace {

using Factory = std::unique_ptr<Backend> (*)(const BackendOptions &, int &);

struct Entry {
    const char *name;
    Factory make;
};

// In order of preference for "auto": completion-based io_uring where the
// kernel allows it, then epoll, then portable poll.
constexpr Entry kBackends[] = {
#if IOR_HAVE_IOCP
    {"iocp", make_iocp_backend},
#endif
#if IOR_HAVE_URING
    {"io_uring", make_uring_backend},
#endif
#if IOR_HAVE_EPOLL
    {"epoll", make_epoll_backend},
#endif
#if IOR_HAVE_POLL
    {"poll", make_poll_backend},
#endif
};

constexpr std::size_t kCount = sizeof kBackends / sizeof kBackends[0];

// Built once; function-local statics are initialised thread-safely.
const char *const *names_table() {
    static const auto names = [] {
        std::array<const char *, kCount + 1> table{};
        for (std::size_t i = 0; i < kCount; ++i) table[i] = kBackends[i].name;
        return table;
    }();
    return names.data();
}

}  // namespace

const char *const *backend_names() { return names_table(); }

std::unique_ptr<Backend> make_backend(const char *name, const BackendOptions &opts, int &error) {
    bool any = name == nullptr || std::strcmp(name, "auto") == 0;
    error = EINVAL;  // an unknown name
    for (const Entry &entry : kBackends) {
        if (!any && std::strcmp(name, entry.name) != 0) continue;
        if (auto backend = entry.make(opts, error)) return backend;
        if (!any) return nullptr;  // a forced backend does not fall back
    }
    return nullptr;
}

}  // namespace ior

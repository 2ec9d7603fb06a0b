// The core's descriptor -> Handle map, asked on every post_write, post_read
// and modify. POSIX descriptors are small dense integers, so a flat array
// indexed by the descriptor answers with one load, as a hand-written loop's
// own per-fd array does; a hash map cost a division and a cache miss per
// call. Values past kDirectLimit (a descriptor dup2'ed high, or a Windows
// SOCKET, which is a handle value and need not be dense) go to a hash map,
// so the array never grows past 1 MiB.
#pragma once

#include "backend.h"

#include <cstddef>
#include <new>
#include <unordered_map>
#include <vector>

namespace ior {

class HandleTable {
public:
    static constexpr std::size_t kDirectLimit = std::size_t{1} << 17;

    Handle *find(socket_fd_t fd) const {
        auto i = static_cast<std::size_t>(fd);
        if (i < kDirectLimit) return i < direct_.size() ? direct_[i] : nullptr;
        auto it = far_.find(fd);
        return it == far_.end() ? nullptr : it->second;
    }

    // fd must not be in the table. False: out of memory, nothing changed.
    bool insert(socket_fd_t fd, Handle *h) noexcept {
        auto i = static_cast<std::size_t>(fd);
        try {
            if (i >= kDirectLimit) far_.emplace(fd, h);
            else if (i >= direct_.size()) direct_.resize(grown_size(i));
        } catch (const std::bad_alloc &) {
            return false;
        }
        if (i < kDirectLimit) direct_[i] = h;
        ++count_;
        return true;
    }

    void erase(socket_fd_t fd) {
        auto i = static_cast<std::size_t>(fd);
        if (i >= kDirectLimit) {
            count_ -= far_.erase(fd);
        } else if (i < direct_.size() && direct_[i]) {
            direct_[i] = nullptr;
            --count_;
        }
    }

    std::size_t size() const { return count_; }

    // Every handle, in no particular order.
    template <class Visit>
    void for_each(Visit visit) const {
        for (Handle *h : direct_)
            if (h) visit(h);
        for (auto &entry : far_) visit(entry.second);
    }

    void clear() {
        direct_.clear();
        far_.clear();
        count_ = 0;
    }

    // The table's own memory, for io_reactor_get_stats: the array, and per
    // far entry its hash node (next pointer, key, value, allocator header)
    // and bucket.
    std::size_t bytes() const {
        constexpr std::size_t kFarNode = sizeof(void *) + sizeof(std::pair<const socket_fd_t, Handle *>) + 16;
        return direct_.capacity() * sizeof(Handle *) + far_.size() * kFarNode +
               far_.bucket_count() * sizeof(void *);
    }

private:
    // Doubling keeps a growing server's resizes few; 64 covers the
    // descriptors a process opens before its first connection.
    static std::size_t grown_size(std::size_t i) {
        std::size_t size = kDirectMin;
        while (size <= i) size *= 2;
        return size < kDirectLimit ? size : kDirectLimit;
    }
    static constexpr std::size_t kDirectMin = 64;

    std::vector<Handle *> direct_;
    std::unordered_map<socket_fd_t, Handle *> far_;
    std::size_t count_ = 0;
};

}  // namespace ior

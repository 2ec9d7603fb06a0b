// The core's descriptor -> Handle map, asked on every post_write, post_read
// and modify. POSIX descriptors are small dense integers, so a flat array
// indexed by the descriptor answers with one load, as a hand-written loop's
// own per-fd array does; a hash map cost a division and a cache miss per
// call. A Windows SOCKET is a handle value, a multiple of 4: the array is
// indexed by the value shifted right (sys::descriptor_shift()). Values past
// kDirectLimit (a descriptor dup2'ed high) or with low bits set go to a hash
// map, so the array never grows past 1 MiB.
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

    explicit HandleTable(unsigned shift = 0) : shift_(shift) {}

    Handle *find(socket_fd_t fd) const {
        std::size_t i;
        if (direct(fd, i)) return i < direct_.size() ? direct_[i] : nullptr;
        auto it = far_.find(fd);
        return it == far_.end() ? nullptr : it->second;
    }

    // fd must not be in the table. False: out of memory, nothing changed.
    bool insert(socket_fd_t fd, Handle *h) noexcept {
        std::size_t i;
        const bool in_array = direct(fd, i);
        try {
            if (!in_array) far_.emplace(fd, h);
            else if (i >= direct_.size()) direct_.resize(grown_size(i));
        } catch (const std::bad_alloc &) {
            return false;
        }
        if (in_array) direct_[i] = h;
        ++count_;
        return true;
    }

    void erase(socket_fd_t fd) {
        std::size_t i;
        if (!direct(fd, i)) {
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
    // Whether fd lives in the array, and at which index.
    bool direct(socket_fd_t fd, std::size_t &i) const {
        const auto value = static_cast<std::size_t>(fd);
        i = value >> shift_;
        return i < kDirectLimit && (i << shift_) == value;
    }

    // Doubling keeps a growing server's resizes few; 64 covers the
    // descriptors a process opens before its first connection.
    static std::size_t grown_size(std::size_t i) {
        std::size_t size = kDirectMin;
        while (size <= i) size *= 2;
        return size < kDirectLimit ? size : kDirectLimit;
    }
    static constexpr std::size_t kDirectMin = 64;

    unsigned shift_;
    std::vector<Handle *> direct_;
    std::unordered_map<socket_fd_t, Handle *> far_;
    std::size_t count_ = 0;
};

}  // namespace ior

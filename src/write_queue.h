// Output queue of one handle: a singly linked list of chunks, so queued bytes
// never move (a send in flight may point into the front chunk) and an empty
// queue costs three words.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ior {

class WriteQueue {
public:
    WriteQueue() = default;
    WriteQueue(const WriteQueue &) = delete;
    WriteQueue &operator=(const WriteQueue &) = delete;
    ~WriteQueue() { clear(); }

    // Copies len bytes to the back. Returns false only if memory ran out
    // (then nothing was queued).
    bool append(const char *data, std::size_t len);
    // The contiguous bytes at the front (empty queue: nullptr, 0).
    const char *front_data() const;
    std::size_t front_size() const;
    // Drops n bytes from the front; n <= front_size().
    void pop(std::size_t n);
    void clear();

    bool empty() const { return bytes_ == 0; }
    std::size_t size() const { return bytes_; }

    struct Chunk;

private:
    Chunk *head_ = nullptr;
    Chunk *tail_ = nullptr;
    std::size_t bytes_ = 0;
};

}  // namespace ior

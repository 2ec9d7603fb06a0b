#include "write_queue.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace ior {

// Small writes share a chunk; a large write gets one of its own size.
static constexpr std::size_t kChunkMin = 4096;

struct WriteQueue::Chunk {
    Chunk *next;
    std::size_t capacity;
    std::size_t begin;  // first unsent byte
    std::size_t end;    // one past the last queued byte
    char *data() { return reinterpret_cast<char *>(this + 1); }
};

namespace {

// Emptied standard-size chunks are kept for reuse, per thread (a reactor is
// used from one thread): an echo or prompt-and-reply server would otherwise
// malloc and free a chunk per message. Bounded, so a burst of output does
// not stay pinned once it is sent.
class ChunkCache {
public:
    ~ChunkCache() {
        while (free_) std::free(std::exchange(free_, free_->next));
    }
    WriteQueue::Chunk *take(std::size_t capacity) {
        if (capacity != kChunkMin || !free_) return static_cast<WriteQueue::Chunk *>(std::malloc(sizeof(WriteQueue::Chunk) + capacity));
        --count_;
        return std::exchange(free_, free_->next);
    }
    void give(WriteQueue::Chunk *chunk) {
        if (chunk->capacity != kChunkMin || count_ == kKept) return std::free(chunk);
        chunk->next = free_;
        free_ = chunk;
        ++count_;
    }

private:
    static constexpr int kKept = 64;
    WriteQueue::Chunk *free_ = nullptr;
    int count_ = 0;
};

thread_local ChunkCache cache;

}  // namespace

bool WriteQueue::append(const char *data, std::size_t len) {
    if (len == 0) return true;
    if (tail_ && tail_->capacity - tail_->end >= len) {
        std::memcpy(tail_->data() + tail_->end, data, len);
        tail_->end += len;
        bytes_ += len;
        return true;
    }
    std::size_t capacity = len < kChunkMin ? kChunkMin : len;
    Chunk *chunk = cache.take(capacity);
    if (!chunk) return false;
    *chunk = Chunk{nullptr, capacity, 0, len};
    std::memcpy(chunk->data(), data, len);
    (tail_ ? tail_->next : head_) = chunk;
    tail_ = chunk;
    bytes_ += len;
    return true;
}

const char *WriteQueue::front_data() const {
    return head_ ? head_->data() + head_->begin : nullptr;
}

std::size_t WriteQueue::front_size() const {
    return head_ ? head_->end - head_->begin : 0;
}

void WriteQueue::pop(std::size_t n) {
    head_->begin += n;
    bytes_ -= n;
    if (head_->begin < head_->end) return;
    Chunk *done = head_;
    head_ = done->next;
    if (!head_) tail_ = nullptr;
    cache.give(done);
}

void WriteQueue::clear() {
    while (head_) {
        Chunk *next = head_->next;
        cache.give(head_);
        head_ = next;
    }
    tail_ = nullptr;
    bytes_ = 0;
}

}  // namespace ior

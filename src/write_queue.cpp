#include "write_queue.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace ior {

// Small writes share a chunk; a large write gets one of its own size. An
// empty queue starts with a small chunk: most handles queue one short write
// a turn (a reply; a line and its prompt), and on a backend that queues
// every small write (io_uring) a fan-out to thousands of handles would
// otherwise take 4 KiB each per turn (ior-mud, 1,000 users in a room:
// 0.88x the server CPU per delivered line with 512-byte first chunks,
// bench/mud.py). Output that backs up gets standard chunks, so a long
// queue is sent in few pieces.
static constexpr std::size_t kChunkSmall = 512;
static constexpr std::size_t kChunkStandard = 4096;

struct WriteQueue::Chunk {
    Chunk *next;
    std::size_t capacity;
    std::size_t begin;  // first unsent byte
    std::size_t end;    // one past the last queued byte
    char *data() { return reinterpret_cast<char *>(this + 1); }
};

namespace {

// Emptied chunks of the two usual sizes are kept for reuse, per thread (a
// reactor is used from one thread): an echo or prompt-and-reply server
// would otherwise malloc and free a chunk per message. Bounded, so a burst
// of output does not stay pinned once it is sent.
class ChunkCache {
public:
    ~ChunkCache() {
        for (WriteQueue::Chunk *&list : free_)
            while (list) std::free(std::exchange(list, list->next));
    }
    WriteQueue::Chunk *take(std::size_t capacity) {
        const int k = kind(capacity);
        if (k < 0 || !free_[k]) return static_cast<WriteQueue::Chunk *>(std::malloc(sizeof(WriteQueue::Chunk) + capacity));
        --count_[k];
        return std::exchange(free_[k], free_[k]->next);
    }
    void give(WriteQueue::Chunk *chunk) {
        const int k = kind(chunk->capacity);
        if (k < 0 || count_[k] == kKept) return std::free(chunk);
        chunk->next = free_[k];
        free_[k] = chunk;
        ++count_[k];
    }

private:
    static int kind(std::size_t capacity) {
        return capacity == kChunkSmall ? 0 : capacity == kChunkStandard ? 1 : -1;
    }
    static constexpr int kKept = 64;
    WriteQueue::Chunk *free_[2] = {nullptr, nullptr};
    int count_[2] = {0, 0};
};

thread_local ChunkCache cache;

std::size_t chunk_capacity(std::size_t len, bool queue_empty) {
    if (len > kChunkStandard) return len;
    return queue_empty && len <= kChunkSmall ? kChunkSmall : kChunkStandard;
}

}  // namespace

bool WriteQueue::append(const char *data, std::size_t len) {
    if (len == 0) return true;
    if (tail_ && tail_->capacity - tail_->end >= len) {
        std::memcpy(tail_->data() + tail_->end, data, len);
        tail_->end += len;
        bytes_ += len;
        return true;
    }
    std::size_t capacity = chunk_capacity(len, head_ == nullptr);
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

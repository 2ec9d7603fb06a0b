#include "admission.h"

namespace comm {

namespace {
constexpr auto window_length = std::chrono::minutes(1);
}

// A fixed one-minute window per address: cheap, and a host that keeps
// hammering keeps being refused, since refused attempts count too.
Admission::Verdict Admission::admit(const std::string &host, Clock::time_point now) {
    if (max_open_ == 0 && max_per_minute_ == 0) return {};
    Entry &e = by_host_[host];
    if (now - e.window >= window_length) {
        e.window = now;
        e.attempts = 0;
        e.refusal_logged = false;
    }
    ++e.attempts;
    Verdict v;
    if (max_open_ && e.open >= max_open_)
        v.refusal = "too many connections from your address";
    else if (max_per_minute_ && e.attempts > max_per_minute_)
        v.refusal = "too many connection attempts from your address";
    if (!v.refusal) {
        ++e.open;
        return v;
    }
    v.first_refusal = !e.refusal_logged;
    e.refusal_logged = true;
    return v;
}

void Admission::release(const std::string &host) {
    auto it = by_host_.find(host);
    if (it != by_host_.end() && it->second.open > 0) --it->second.open;
}

void Admission::forget_idle(Clock::time_point now) {
    std::erase_if(by_host_, [&](const auto &kv) {
        return kv.second.open == 0 && now - kv.second.window >= window_length;
    });
}

std::string Admission::host_of(const std::string &address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || address.back() == ']') return address;
    return address.substr(0, colon);
}

}  // namespace comm

// The socket-address code net_posix.cpp and net_win.cpp share. The POSIX
// headers and Winsock's ws2tcpip.h declare the same names for it
// (sockaddr_storage, socklen_t, inet_pton, inet_ntop, htons), so each
// platform file includes this after its own socket headers and neither
// needs an #ifdef. One copy also keeps peer names in the one form the
// PROXY layer (proxy_protocol.h) writes too.
#pragma once

#include <cstdint>
#include <string>

namespace comm::net::detail {

// The address a listener binds: numeric `address` ("" = every interface)
// and `port`. False, with `error` set, if the address is not one of the
// family's.
inline bool listen_address(bool ipv6, const std::string &address, int port, sockaddr_storage &ss,
                           socklen_t &len, std::string &error) {
    ss = sockaddr_storage{};
    if (ipv6) {
        auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<std::uint16_t>(port));
        a->sin6_addr = in6addr_any;
        if (!address.empty() && inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) != 1) {
            error = "bad IPv6 address '" + address + "'";
            return false;
        }
        len = sizeof *a;
        return true;
    }
    auto *a = reinterpret_cast<sockaddr_in *>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    a->sin_addr.s_addr = htonl(INADDR_ANY);
    if (!address.empty() && inet_pton(AF_INET, address.c_str(), &a->sin_addr) != 1) {
        error = "bad IPv4 address '" + address + "'";
        return false;
    }
    len = sizeof *a;
    return true;
}

inline int port_of(const sockaddr_storage &ss) {
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in *>(&ss)->sin_port);
}

// "127.0.0.1:5555" or "[::1]:5555".
inline std::string name_of(const sockaddr_storage &ss) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET6) {
        auto *a = reinterpret_cast<const sockaddr_in6 *>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    auto *a = reinterpret_cast<const sockaddr_in *>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
}

}  // namespace comm::net::detail

/* Windows only (defect 12): the reactor initialises Winsock itself. In a
 * fresh process nobody else has called WSAStartup, so a socket can be made
 * only while a reactor exists; the last destroy pairs it with WSACleanup. */
#include "io_reactor.h"

#include <stdio.h>

static int can_make_socket(void) {
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET) return WSAGetLastError() == WSANOTINITIALISED ? 0 : -1;
    closesocket(s);
    return 1;
}

int main(void) {
    if (can_make_socket() != 0) return fprintf(stderr, "Winsock was already up\n"), 1;
    io_reactor_t *first = io_reactor_create();
    io_reactor_t *second = io_reactor_create();
    if (!first || !second) return fprintf(stderr, "create failed\n"), 1;
    int with_two = can_make_socket();
    io_reactor_destroy(first);
    int with_one = can_make_socket();
    io_reactor_destroy(second);
    int with_none = can_make_socket();
    printf("sockets with 2, 1, 0 reactors: %d %d %d\n", with_two, with_one, with_none);
    return (with_two == 1 && with_one == 1 && with_none == 0) ? 0 : 1;
}

/*
 * mini_comm.c - a small comm layer written strictly to the original driver
 * header (Neolith's lib/port/io_reactor.h): only its calls and its four
 * io_event_t fields, the way such a driver's comm.c uses them on POSIX.
 * Built unchanged against our io_reactor.h with -DIO_REACTOR_READINESS
 * (CMake target ioreactor_compat); tests/driver/run_driver.py drives it.
 *
 * Like a MUD driver it keeps a fixed 2 KiB input buffer per user and runs
 * one command per user per cycle, so pipelined input backs up and reading
 * must pause and resume; it sends itself and waits for EVENT_WRITE after
 * EAGAIN (accepted sockets get a small SO_SNDBUF so that really happens);
 * it reads commands from stdin and, at the end of stdin, shuts down once
 * every command already read has run.
 *
 * Commands: "echo TEXT" replies TEXT; "big N" replies N numbered lines;
 * "stats" replies "eagain K" (sends that met EAGAIN so far).
 * Usage: mini_comm [port]   (prints "PORT n" on stdout first)
 *
 * On Windows (IOCP) it takes the original comm.c's Windows path: the console
 * through io_reactor_add_console, whose EVENT_READ carries the bytes; each
 * user's input by io_reactor_post_read into the free part of its fixed
 * buffer, the bytes arriving with EVENT_READ; output by send(), waiting for
 * EVENT_WRITE after WSAEWOULDBLOCK. The POSIX path is the one above.
 */
#include "io_reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <io.h>
#include <winsock2.h>
#include <ws2tcpip.h>
#define SOCKET_ERRNO WSAGetLastError()
#define WOULD_BLOCK(e) ((e) == WSAEWOULDBLOCK)
#define BAD_SOCKET(fd) ((fd) == INVALID_SOCKET)
#define close_socket closesocket
#define MSG_NOSIGNAL 0 /* no SIGPIPE on Windows */
#define STDOUT_FILENO 1
#else
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#define SOCKET_ERRNO errno
#define WOULD_BLOCK(e) ((e) == EAGAIN || (e) == EWOULDBLOCK)
#define BAD_SOCKET(fd) ((fd) < 0)
#define close_socket close
#endif

#define MAX_TEXT 2048
#define MESSAGE_BUF_SIZE 4096
#define MAX_USERS 64
#define SMALL_SNDBUF 4096

typedef struct interactive_s {
    socket_fd_t fd;
    char text[MAX_TEXT]; /* input, as in the driver: fixed size */
    int text_end;
    int reading;         /* EVENT_READ in the interest set */
    int writing;         /* EVENT_WRITE in the interest set (after EAGAIN) */
    int closing;
#ifdef _WIN32
    int read_posted;     /* a post_read into text + text_end is pending */
#endif
    char message_buf[MESSAGE_BUF_SIZE]; /* output ring, as in the driver */
    int message_producer, message_consumer, message_length;
    long big_next, big_end; /* a "big" reply still being produced */
} interactive_t;

typedef struct port_def_s {
    socket_fd_t fd;
    int port;
} port_def_t;

static io_reactor_t *g_reactor;
static port_def_t external_port;
static interactive_t *all_users[MAX_USERS];
static interactive_t console_user; /* fd 0; replies go to stdout */
static int console_eof;
static long eagain_count;
#ifdef _WIN32
/* Console bytes past the fixed buffer: the console's EVENT_READ carries
 * what the reader thread read, which may be more than the room left. They
 * wait here (console reading paused) until commands make room. */
static char *console_spill;
static int console_spill_len;
#endif

static void fatal(const char *what) {
    perror(what);
    exit(2);
}

#ifdef _WIN32
/* Posts the next read into the free part of the fixed buffer; it completes
 * as EVENT_READ with the bytes already there. */
static void post_user_read(interactive_t *ip) {
    int room = MAX_TEXT - ip->text_end;
    if (ip == &console_user || !ip->reading || ip->read_posted || ip->closing || room == 0) return;
    if (io_reactor_post_read(g_reactor, ip->fd, ip->text + ip->text_end, (size_t)room) != 0) {
        ip->closing = 1;
        return;
    }
    ip->read_posted = 1;
}

/* A user's input comes by posted reads, so its interest is only EVENT_WRITE
 * (read readiness would report the same bytes a second way). */
static void set_interest(interactive_t *ip) {
    int events = ip == &console_user ? (ip->reading ? EVENT_READ : 0) : (ip->writing ? EVENT_WRITE : 0);
    if (io_reactor_modify(g_reactor, ip->fd, events) != 0) fatal("io_reactor_modify");
    post_user_read(ip);
}
#else
static void set_interest(interactive_t *ip) {
    int events = (ip->reading ? EVENT_READ : 0) | (ip->writing ? EVENT_WRITE : 0);
    if (io_reactor_modify(g_reactor, ip->fd, events) != 0) fatal("io_reactor_modify");
}
#endif

/* ---- output ---------------------------------------------------------- */

static int message_room(const interactive_t *ip) { return MESSAGE_BUF_SIZE - ip->message_length; }

static void add_message(interactive_t *ip, const char *data, int len) {
    if (ip == &console_user) {
        while (len > 0) {
            ssize_t n = write(STDOUT_FILENO, data, (size_t)len);
            if (n <= 0) fatal("write stdout");
            data += n;
            len -= (int)n;
        }
        return;
    }
    for (int i = 0; i < len; i++) { /* callers checked message_room */
        ip->message_buf[ip->message_producer] = data[i];
        ip->message_producer = (ip->message_producer + 1) % MESSAGE_BUF_SIZE;
        ip->message_length++;
    }
}

/* Sends what the kernel takes; on EAGAIN waits for EVENT_WRITE. Returns 0
 * when the connection broke. */
static int flush_message(interactive_t *ip) {
    while (ip->message_length > 0) {
        int length = ip->message_consumer < ip->message_producer
                         ? ip->message_producer - ip->message_consumer
                         : MESSAGE_BUF_SIZE - ip->message_consumer;
        ssize_t n = send(ip->fd, ip->message_buf + ip->message_consumer, (size_t)length, MSG_NOSIGNAL);
        if (n < 0 && WOULD_BLOCK(SOCKET_ERRNO)) {
            eagain_count++;
            if (!ip->writing) {
                ip->writing = 1;
                set_interest(ip);
            }
            return 1;
        }
        if (n <= 0) return 0;
        ip->message_consumer = (ip->message_consumer + (int)n) % MESSAGE_BUF_SIZE;
        ip->message_length -= (int)n;
    }
    if (ip->writing) {
        ip->writing = 0;
        set_interest(ip);
    }
    return 1;
}

/* A big reply is produced as the output buffer makes room. */
static void produce_big(interactive_t *ip) {
    char line[32];
    while (ip->big_next < ip->big_end) {
        int n = snprintf(line, sizeof line, "line %06ld\n", ip->big_next);
        if (ip != &console_user && message_room(ip) < n) return;
        add_message(ip, line, n);
        ip->big_next++;
    }
}

/* Produces and sends until the reply is out or the kernel says EAGAIN (then
 * EVENT_WRITE resumes it). Returns 0 when the connection broke. */
static int send_output(interactive_t *ip) {
    for (;;) {
        produce_big(ip);
        if (!flush_message(ip)) return 0;
        if (ip->writing || ip->big_next >= ip->big_end) return 1;
    }
}

/* ---- users ------------------------------------------------------------- */

static void new_interactive(socket_fd_t fd) {
    int slot = 0;
    while (slot < MAX_USERS && all_users[slot]) slot++;
    interactive_t *ip = slot < MAX_USERS ? calloc(1, sizeof *ip) : NULL;
    if (!ip) {
        close_socket(fd);
        return;
    }
    int sndbuf = SMALL_SNDBUF;
#ifdef _WIN32
    u_long nonblocking = 1;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, (const char *)&sndbuf, sizeof sndbuf);
    ioctlsocket(fd, FIONBIO, &nonblocking);
    ip->fd = fd;
    ip->reading = 1;
    if (io_reactor_add(g_reactor, fd, ip, 0) != 0) fatal("io_reactor_add user");
    all_users[slot] = ip;
    post_user_read(ip);
#else
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ip->fd = fd;
    ip->reading = 1;
    if (io_reactor_add(g_reactor, fd, ip, EVENT_READ) != 0) fatal("io_reactor_add user");
    all_users[slot] = ip;
#endif
}

static void remove_interactive(interactive_t *ip) {
    for (int i = 0; i < MAX_USERS; i++)
        if (all_users[i] == ip) all_users[i] = NULL;
    io_reactor_remove(g_reactor, ip->fd);
    close_socket(ip->fd);
    free(ip);
}

static void new_user_handler(port_def_t *port) {
    for (;;) {
        socket_fd_t fd = accept(port->fd, NULL, NULL);
        if (BAD_SOCKET(fd)) return; /* EAGAIN: nothing more pending */
        new_interactive(fd);
    }
}

#ifdef _WIN32
/* Moves spilled console bytes into the fixed buffer as room allows. */
static void drain_console_spill(void) {
    int n = MAX_TEXT - console_user.text_end;
    if (n > console_spill_len) n = console_spill_len;
    memcpy(console_user.text + console_user.text_end, console_spill, (size_t)n);
    console_user.text_end += n;
    memmove(console_spill, console_spill + n, (size_t)(console_spill_len - n));
    console_spill_len -= n;
}

/* The console's EVENT_READ carries its bytes: what does not fit waits in
 * the spill, and console reading pauses until it is drained. */
static void console_data(const io_event_t *ev) {
    if ((ev->event_type & (EVENT_CLOSE | EVENT_ERROR)) || !ev->buffer || ev->bytes_transferred <= 0) {
        console_eof = 1;
    } else {
        char *grown = realloc(console_spill, (size_t)(console_spill_len + ev->bytes_transferred));
        if (!grown) fatal("realloc");
        console_spill = grown;
        memcpy(console_spill + console_spill_len, ev->buffer, (size_t)ev->bytes_transferred);
        console_spill_len += ev->bytes_transferred;
        drain_console_spill();
        if (console_spill_len == 0) return;
    }
    console_user.reading = 0;
    set_interest(&console_user);
}

/* A posted read completed: its bytes are at ev->buffer, which was
 * text + text_end when posted. Commands run since then only moved text
 * below that point, so the bytes move down to the current end. */
static void get_user_data(interactive_t *ip, const io_event_t *ev) {
    if (ip == &console_user) return console_data(ev);
    ip->read_posted = 0;
    if ((ev->event_type & EVENT_READ) && ev->buffer && ev->bytes_transferred > 0) {
        memmove(ip->text + ip->text_end, ev->buffer, (size_t)ev->bytes_transferred);
        ip->text_end += ev->bytes_transferred;
    } else if (ev->event_type & (EVENT_CLOSE | EVENT_ERROR)) {
        ip->closing = 1;
        ip->reading = 0;
        return;
    }
    if (ip->text_end == MAX_TEXT) ip->reading = 0; /* full: a command resumes it */
    post_user_read(ip);
}
#else
/* Reads what fits in the fixed buffer; a full buffer pauses reading. */
static void get_user_data(interactive_t *ip) {
    int room = MAX_TEXT - ip->text_end;
    if (room == 0) { /* full: pause until a command makes room */
        ip->reading = 0;
        set_interest(ip);
        return;
    }
    ssize_t n = ip == &console_user ? read(ip->fd, ip->text + ip->text_end, (size_t)room)
                                    : recv(ip->fd, ip->text + ip->text_end, (size_t)room, 0);
    if (n > 0) {
        ip->text_end += (int)n;
    } else if (n == 0) {
        if (ip == &console_user) console_eof = 1;
        else ip->closing = 1;
        ip->reading = 0;
        set_interest(ip);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        ip->closing = 1;
    }
}
#endif

/* ---- commands ------------------------------------------------------------ */

/* Length of the first command line (newline included), 0 if incomplete. At
 * the end of stdin a last unterminated line counts too. */
static int first_cmd_in_buf(const interactive_t *ip) {
    char *nl = memchr(ip->text, '\n', (size_t)ip->text_end);
    if (nl) return (int)(nl - ip->text) + 1;
    return ip == &console_user && console_eof ? ip->text_end : 0;
}

/* Runs one command if its reply has room; returns whether it ran. */
static int process_user_command(interactive_t *ip) {
    if (ip->big_next < ip->big_end) return 0; /* the last reply is still going out */
    int len = first_cmd_in_buf(ip);
    if (len == 0) return 0;
    char cmd[MAX_TEXT + 1];
    int cmd_len = len;
    while (cmd_len > 0 && (ip->text[cmd_len - 1] == '\n' || ip->text[cmd_len - 1] == '\r')) cmd_len--;
    memcpy(cmd, ip->text, (size_t)cmd_len);
    cmd[cmd_len] = '\0';
    char reply[64];
    int reply_len = -1;
    if (strncmp(cmd, "echo ", 5) == 0) {
        reply_len = cmd_len - 5 + 1;
    } else if (strcmp(cmd, "stats") == 0) {
        reply_len = snprintf(reply, sizeof reply, "eagain %ld\n", eagain_count);
    }
    if (ip != &console_user && reply_len > message_room(ip)) return 0; /* wait for room */
    if (strncmp(cmd, "echo ", 5) == 0) {
        cmd[cmd_len] = '\n';
        add_message(ip, cmd + 5, reply_len);
    } else if (reply_len >= 0) {
        add_message(ip, reply, reply_len);
    } else if (strncmp(cmd, "big ", 4) == 0) {
        ip->big_next = 0;
        ip->big_end = atol(cmd + 4);
        produce_big(ip);
    } else if (cmd_len > 0) {
        add_message(ip, "what?\n", 6);
    }
    memmove(ip->text, ip->text + len, (size_t)(ip->text_end - len));
    ip->text_end -= len;
#ifdef _WIN32
    if (ip == &console_user && console_spill_len > 0) {
        drain_console_spill();
        if (console_spill_len > 0) return 1;
    }
#endif
    if (!ip->reading && ip->text_end < MAX_TEXT && !ip->closing && !(ip == &console_user && console_eof)) {
        ip->reading = 1; /* room again: resume reading */
        set_interest(ip);
    }
    return 1;
}

/* ---- the reactor ------------------------------------------------------------ */

static void init_user_conn(int port) {
    struct sockaddr_in sin;
    socklen_t sin_len = sizeof sin;
    int one = 1;
#ifdef _WIN32
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) fatal("WSAStartup");
    external_port.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (BAD_SOCKET(external_port.fd)) fatal("socket");
    setsockopt(external_port.fd, SOL_SOCKET, SO_REUSEADDR, (const char *)&one, sizeof one);
#else
    external_port.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (external_port.fd < 0) fatal("socket");
    setsockopt(external_port.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#endif
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)port);
    if (bind(external_port.fd, (struct sockaddr *)&sin, sizeof sin) < 0) fatal("bind");
    if (getsockname(external_port.fd, (struct sockaddr *)&sin, &sin_len) < 0) fatal("getsockname");
    external_port.port = ntohs(sin.sin_port);
#ifdef _WIN32
    u_long nonblocking = 1;
    ioctlsocket(external_port.fd, FIONBIO, &nonblocking);
#else
    fcntl(external_port.fd, F_SETFL, fcntl(external_port.fd, F_GETFL) | O_NONBLOCK);
#endif
    if (listen(external_port.fd, SOMAXCONN) < 0) fatal("listen");

    g_reactor = io_reactor_create();
    if (!g_reactor) fatal("io_reactor_create");
    /* Listening sockets generate read events when connections arrive. */
    if (io_reactor_add(g_reactor, external_port.fd, &external_port, EVENT_READ) != 0)
        fatal("io_reactor_add listener");
#ifdef _WIN32
    /* The console as the original's Windows path has it: EVENT_READ with bytes. */
    console_user.fd = io_reactor_console_fd();
    console_user.reading = 1;
    if (io_reactor_add_console(g_reactor, &console_user) != 0) fatal("io_reactor_add_console");
#else
    console_user.fd = STDIN_FILENO;
    console_user.reading = 1;
    if (io_reactor_add(g_reactor, STDIN_FILENO, &console_user, EVENT_READ) != 0)
        fatal("io_reactor_add console");
#endif
}

static int do_comm_polling(io_event_t *events, int max, struct timeval *timeout) {
    return io_reactor_wait(g_reactor, events, max, timeout);
}

static void process_io(io_event_t *events, int n) {
    for (int i = 0; i < n; i++) {
        io_event_t *ev = &events[i];
        if (ev->context == &external_port) {
            if (ev->event_type & EVENT_READ) new_user_handler(&external_port);
            continue;
        }
        interactive_t *ip = ev->context;
        if (!ip) continue;
#ifdef _WIN32
        if (ev->event_type & (EVENT_READ | EVENT_CLOSE | EVENT_ERROR)) get_user_data(ip, ev);
#else
        if (ev->event_type & (EVENT_READ | EVENT_CLOSE | EVENT_ERROR)) get_user_data(ip);
#endif
        if ((ev->event_type & EVENT_WRITE) && ip != &console_user && !send_output(ip))
            ip->closing = 1;
    }
}

/* One command per user per cycle, as a driver's backend loop does. Returns
 * whether any ran: then the next cycle polls without sleeping. A command
 * that waits for output room is resumed by EVENT_WRITE. */
static int run_commands(void) {
    int pending = 0;
    if (process_user_command(&console_user)) pending = 1;
    for (int i = 0; i < MAX_USERS; i++) {
        interactive_t *ip = all_users[i];
        if (!ip) continue;
        if (process_user_command(ip)) pending = 1;
        if (!send_output(ip)) ip->closing = 1;
        if (ip->closing && first_cmd_in_buf(ip) == 0 && ip->message_length == 0)
            remove_interactive(ip);
    }
    return pending;
}

int main(int argc, char **argv) {
#ifdef _WIN32
    _setmode(STDOUT_FILENO, _O_BINARY); /* replies byte for byte, as on POSIX */
#else
    signal(SIGPIPE, SIG_IGN);
#endif
    init_user_conn(argc > 1 ? atoi(argv[1]) : 0);
    char line[32];
    int n = snprintf(line, sizeof line, "PORT %d\n", external_port.port);
    add_message(&console_user, line, n);

    io_event_t events[64];
    for (;;) {
        int pending = run_commands();
        if (console_eof && first_cmd_in_buf(&console_user) == 0) break; /* every command ran */
        struct timeval timeout = {pending ? 0 : 1, 0};
        n = do_comm_polling(events, 64, &timeout);
        if (n < 0) fatal("io_reactor_wait");
        process_io(events, n);
    }
    for (int i = 0; i < MAX_USERS; i++)
        if (all_users[i]) remove_interactive(all_users[i]);
#ifdef _WIN32
    io_reactor_remove(g_reactor, console_user.fd);
    io_reactor_remove(g_reactor, external_port.fd);
    closesocket(external_port.fd);
#else
    io_reactor_remove(g_reactor, STDIN_FILENO);
    io_reactor_remove(g_reactor, external_port.fd);
    close(external_port.fd);
#endif
    io_reactor_destroy(g_reactor);
    return 0;
}

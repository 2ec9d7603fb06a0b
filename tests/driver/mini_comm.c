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
 */
#include "io_reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void fatal(const char *what) {
    perror(what);
    exit(2);
}

static void set_interest(interactive_t *ip) {
    int events = (ip->reading ? EVENT_READ : 0) | (ip->writing ? EVENT_WRITE : 0);
    if (io_reactor_modify(g_reactor, ip->fd, events) != 0) fatal("io_reactor_modify");
}

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
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
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
        close(fd);
        return;
    }
    int sndbuf = SMALL_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ip->fd = fd;
    ip->reading = 1;
    if (io_reactor_add(g_reactor, fd, ip, EVENT_READ) != 0) fatal("io_reactor_add user");
    all_users[slot] = ip;
}

static void remove_interactive(interactive_t *ip) {
    for (int i = 0; i < MAX_USERS; i++)
        if (all_users[i] == ip) all_users[i] = NULL;
    io_reactor_remove(g_reactor, ip->fd);
    close(ip->fd);
    free(ip);
}

static void new_user_handler(port_def_t *port) {
    for (;;) {
        socket_fd_t fd = accept(port->fd, NULL, NULL);
        if (fd < 0) return; /* EAGAIN: nothing more pending */
        new_interactive(fd);
    }
}

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
    external_port.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (external_port.fd < 0) fatal("socket");
    setsockopt(external_port.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)port);
    if (bind(external_port.fd, (struct sockaddr *)&sin, sizeof sin) < 0) fatal("bind");
    if (getsockname(external_port.fd, (struct sockaddr *)&sin, &sin_len) < 0) fatal("getsockname");
    external_port.port = ntohs(sin.sin_port);
    fcntl(external_port.fd, F_SETFL, fcntl(external_port.fd, F_GETFL) | O_NONBLOCK);
    if (listen(external_port.fd, SOMAXCONN) < 0) fatal("listen");

    g_reactor = io_reactor_create();
    if (!g_reactor) fatal("io_reactor_create");
    /* Listening sockets generate read events when connections arrive. */
    if (io_reactor_add(g_reactor, external_port.fd, &external_port, EVENT_READ) != 0)
        fatal("io_reactor_add listener");
    console_user.fd = STDIN_FILENO;
    console_user.reading = 1;
    if (io_reactor_add(g_reactor, STDIN_FILENO, &console_user, EVENT_READ) != 0)
        fatal("io_reactor_add console");
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
        if (ev->event_type & (EVENT_READ | EVENT_CLOSE | EVENT_ERROR)) get_user_data(ip);
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
    signal(SIGPIPE, SIG_IGN);
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
    io_reactor_remove(g_reactor, STDIN_FILENO);
    io_reactor_remove(g_reactor, external_port.fd);
    close(external_port.fd);
    io_reactor_destroy(g_reactor);
    return 0;
}

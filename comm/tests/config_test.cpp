#include "config.h"
#include "tls.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using comm::Config;
using comm::ListenSpec;

namespace {

std::string error_for(const std::string &text) {
    Config c;
    std::string err;
    EXPECT_FALSE(comm::parse_config(text, "mud.cfg", c, err)) << text;
    return err;
}

Config parsed(const std::string &text) {
    Config c;
    std::string err;
    EXPECT_TRUE(comm::parse_config(text, "mud.cfg", c, err)) << err;
    return c;
}

}  // namespace

TEST(Config, embedded_default_parses) {
    Config c = parsed(comm::default_config_text);
    // Telnet on 4000, TLS on 4443 (where the build has TLS), WebSocket on 4080.
    ASSERT_EQ(c.listeners.size(), comm::tls::available() ? 3u : 2u);
    EXPECT_EQ(c.listeners[0].port, 4000);
    EXPECT_EQ(c.listeners[0].family, ListenSpec::Family::any);
    EXPECT_EQ(c.listeners[0].layers(), "");
    if (comm::tls::available()) {
        EXPECT_EQ(c.listeners[1].port, 4443);
        EXPECT_EQ(c.listeners[1].layers(), "tls");
    }
    EXPECT_EQ(c.listeners.back().port, 4080);
    EXPECT_EQ(c.listeners.back().layers(), "websocket");
    EXPECT_EQ(c.backend, "auto");
    EXPECT_EQ(c.idle_timeout, 3600);
    EXPECT_EQ(c.netdead_timeout, 300);
    EXPECT_EQ(c.login_timeout, 120);
    EXPECT_EQ(c.max_per_address, 16u);
    EXPECT_EQ(c.max_connects_per_minute, 60u);
}

TEST(Config, every_key_is_read) {
    Config c = parsed(
        "# comment line\n"
        "name : Test MUD   # trailing comment\n"
        "port : 4000\n"
        "port : 127.0.0.1:4001\n"
        "port : [::1]:4002\n"
        "io_reactor_backend : poll\n"
        "io_reactor_max_events : 64\n"
        "io_reactor_pool_size : 32\n"
        "trace io_reactor : on\n"
        "idle timeout : 10m\n"
        "net dead timeout : 30\n"
        "max users : 50\n"
        "login timeout : 30s\n"
        "max connections per address : 0\n"
        "max connects per address per minute : 10\n"
        "max line length : 200\n"
        "max input queue : 4k\n"
        "max output buffer : 2m\n"
        "output high watermark : 512k\n"
        "output low watermark : 128k\n"
        "mccp : off\n"
        "max option changes : 7\n"
        "max replies before login : 99\n"
        "max subnegotiation before login : 2k\n"
        "max lines before login : 0\n");
    EXPECT_EQ(c.mud_name, "Test MUD");
    ASSERT_EQ(c.listeners.size(), 3u);
    EXPECT_EQ(c.listeners[1].family, ListenSpec::Family::ipv4);
    EXPECT_EQ(c.listeners[1].address, "127.0.0.1");
    EXPECT_EQ(c.listeners[1].port, 4001);
    EXPECT_EQ(c.listeners[2].family, ListenSpec::Family::ipv6);
    EXPECT_EQ(c.listeners[2].address, "::1");
    EXPECT_EQ(c.listeners[2].port, 4002);
    EXPECT_EQ(c.backend, "poll");
    EXPECT_EQ(c.max_events, 64);
    EXPECT_EQ(c.pool_size, 32);
    EXPECT_TRUE(c.trace_reactor);
    EXPECT_EQ(c.idle_timeout, 600);
    EXPECT_EQ(c.netdead_timeout, 30);
    EXPECT_EQ(c.max_users, 50u);
    EXPECT_EQ(c.login_timeout, 30);
    EXPECT_EQ(c.max_per_address, 0u);
    EXPECT_EQ(c.max_connects_per_minute, 10u);
    EXPECT_EQ(c.max_line_length, 200u);
    EXPECT_EQ(c.max_input_queue, 4096u);
    EXPECT_EQ(c.output_cap, 2u * 1024 * 1024);
    EXPECT_EQ(c.output_high_water, 512u * 1024);
    EXPECT_EQ(c.output_low_water, 128u * 1024);
    EXPECT_FALSE(c.mccp);
    EXPECT_EQ(c.max_option_changes, 7u);
    EXPECT_EQ(c.login_replies, 99u);
    EXPECT_EQ(c.login_subnegotiation, 2048u);
    EXPECT_EQ(c.login_lines, 0u);
}

TEST(Config, keys_are_case_insensitive_and_spacing_free) {
    Config c = parsed("PORT:4000\r\n  Idle Timeout   :   5  \n");
    EXPECT_EQ(c.listeners[0].port, 4000);
    EXPECT_EQ(c.idle_timeout, 5);
}

TEST(Config, port_zero_means_ephemeral) {
    EXPECT_EQ(parsed("port : 0\n").listeners[0].port, 0);
}

TEST(Config, unknown_key_names_file_and_line) {
    EXPECT_EQ(error_for("port : 4000\n\nprot : 4001\n"), "mud.cfg:3: unknown key 'prot'");
}

TEST(Config, line_without_colon_is_an_error) {
    EXPECT_EQ(error_for("port 4000\n"), "mud.cfg:1: expected 'key : value', got 'port 4000'");
}

TEST(Config, missing_value_is_an_error) {
    EXPECT_EQ(error_for("port : 4000\nname :\n"), "mud.cfg:2: missing value for 'name'");
}

TEST(Config, bad_port_values_are_errors) {
    for (const char *bad : {"port : 70000\n", "port : abc\n", "port : -1\n", "port : 1.2.3.4:\n",
                            "port : [::1]4000\n", "port : [\n", "port : []:1\n", "port : :4000\n", "port : 40 00\n"}) {
        std::string err = error_for(bad);
        EXPECT_EQ(err.rfind("mud.cfg:1: bad value for 'port': bad port", 0), 0u) << bad << " -> " << err;
    }
}

TEST(Config, unknown_backend_is_an_error) {
    EXPECT_EQ(error_for("port : 1\nio_reactor_backend : kqueue\n"),
              "mud.cfg:2: bad value for 'io_reactor_backend': unknown backend 'kqueue' "
              "(expected auto, epoll, io_uring, poll or iocp)");
}

TEST(Config, bad_numbers_are_errors) {
    EXPECT_NE(error_for("port : 1\nio_reactor_max_events : 0\n").find("mud.cfg:2: bad value for 'io_reactor_max_events'"), std::string::npos);
    EXPECT_NE(error_for("port : 1\nio_reactor_pool_size : lots\n").find("mud.cfg:2: bad value for 'io_reactor_pool_size'"), std::string::npos);
    EXPECT_NE(error_for("port : 1\nidle timeout : 5y\n").find("mud.cfg:2: bad value for 'idle timeout'"), std::string::npos);
    EXPECT_NE(error_for("port : 1\nnet dead timeout : -3\n").find("mud.cfg:2: bad value for 'net dead timeout'"), std::string::npos);
    EXPECT_NE(error_for("port : 1\nmax line length : 4\n").find("mud.cfg:2: bad value for 'max line length': must be at least 16"), std::string::npos);
    EXPECT_NE(error_for("port : 1\nmax output buffer : 1x\n").find("mud.cfg:2: bad value for 'max output buffer'"), std::string::npos);
    EXPECT_NE(error_for("port : 1\nmax users : 0\n").find("mud.cfg:2: bad value for 'max users'"), std::string::npos);
}

TEST(Config, bad_boolean_is_an_error) {
    EXPECT_EQ(error_for("port : 1\ntrace io_reactor : maybe\n"),
              "mud.cfg:2: bad value for 'trace io_reactor': expected on or off");
}

TEST(Config, duplicate_single_key_is_an_error) {
    EXPECT_EQ(error_for("port : 1\nname : a\nname : b\n"), "mud.cfg:3: 'name' is given twice");
}

TEST(Config, no_port_is_an_error) {
    EXPECT_EQ(error_for("name : x\n"), "mud.cfg: no port configured (add a line like 'port : 4000')");
}

TEST(Config, watermarks_must_be_ordered_and_the_error_names_the_line) {
    EXPECT_EQ(error_for("port : 1\noutput low watermark : 300k\n"),
              "mud.cfg:2: output low watermark (307200) must be below output high watermark "
              "(262144) ('output high watermark' is the default)");
    EXPECT_EQ(error_for("port : 1\nmax output buffer : 100k\n"),
              "mud.cfg:2: output high watermark (262144) must not exceed max output buffer "
              "(102400) ('output high watermark' is the default)");
}

TEST(Config, a_pair_that_disagrees_is_blamed_on_its_later_line) {
    EXPECT_EQ(error_for("output low watermark : 8k\nport : 1\n# x\noutput high watermark : 4k\n"),
              "mud.cfg:4: output low watermark (8192) must be below output high watermark "
              "(4096) ('output low watermark' is set at mud.cfg:1)");
}

TEST(Config, a_host_name_is_refused_at_parse_time_saying_what_to_write) {
    EXPECT_EQ(error_for("name : x\nport : localhost:0\n"),
              "mud.cfg:2: bad value for 'port': 'localhost' is not a numeric IPv4 address; host names "
              "are not resolved (write e.g. 127.0.0.1:0 or [::1]:0)");
    EXPECT_EQ(error_for("port : [localhost]:4000\n"),
              "mud.cfg:1: bad value for 'port': 'localhost' is not a numeric IPv6 address; host names "
              "are not resolved (write e.g. 127.0.0.1:4000 or [::1]:4000)");
    for (const char *bad : {"port : 1.2.3:1\n", "port : 1.2.3.256:1\n", "port : 1.2.3.4.5:1\n",
                            "port : 01.2.3.4444:1\n", "port : [fe80::1%eth0]:1\n"})
        EXPECT_NE(error_for(bad).find("is not a numeric"), std::string::npos) << bad;
    EXPECT_EQ(parsed("port : 10.0.0.1:1\n").listeners[0].address, "10.0.0.1");
    EXPECT_EQ(parsed("port : [::ffff:10.0.0.1]:1\n").listeners[0].address, "::ffff:10.0.0.1");
}

TEST(Config, a_nul_byte_in_a_key_is_shown_escaped_not_cut) {
    std::string text = std::string("port : 1\nma", 11) + std::string(1, '\0') + "x users : 5\n";
    EXPECT_EQ(error_for(text), "mud.cfg:2: unknown key 'ma\\x00x users'");
    EXPECT_EQ(error_for("port : 1\nna\x1b[2Jme\n"), "mud.cfg:2: expected 'key : value', got 'na\\x1b[2Jme'");
}

TEST(Config, each_setting_remembers_its_file_and_line) {
    Config c = parsed("# top\nport : 1\nio_reactor_backend : poll\n\nport : 127.0.0.1:2\n");
    EXPECT_EQ(c.origin("io_reactor_backend"), "mud.cfg:3");
    EXPECT_EQ(c.origin("idle timeout"), "mud.cfg");  // a default: the file alone
    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_EQ(c.listeners[0].origin, "mud.cfg:2");
    EXPECT_EQ(c.listeners[1].origin, "mud.cfg:5");
}

TEST(Config, missing_file_is_an_error_naming_the_file) {
    Config c;
    std::string err;
    EXPECT_FALSE(comm::load_config_file("/nonexistent/ior-mud.cfg", c, err));
    EXPECT_EQ(err, "/nonexistent/ior-mud.cfg: cannot open configuration file");
}

TEST(Config, file_errors_name_the_file_path) {
    std::string path = ::testing::TempDir() + "config_test_bad.cfg";
    {
        std::ofstream f(path);
        f << "port : 4000\nbogus : 1\n";
    }
    Config c;
    std::string err;
    EXPECT_FALSE(comm::load_config_file(path, c, err));
    EXPECT_EQ(err, path + ":2: unknown key 'bogus'");
    std::remove(path.c_str());
}

TEST(Config, failed_parse_leaves_output_untouched) {
    Config c;
    c.mud_name = "kept";
    std::string err;
    EXPECT_FALSE(comm::parse_config("name : new\nbogus : 1\n", "x", c, err));
    EXPECT_EQ(c.mud_name, "kept");
}

// ---- transport layers ---------------------------------------------------

TEST(Config, listener_layers_follow_the_port) {
    Config c = parsed("port : 4000\nport : 127.0.0.1:4001 proxy\nport : 4080 websocket\n"
                      "port : [::1]:4081 proxy websocket\nproxy trusted : 127.0.0.1 ::1, 10.0.0.0/8\n"
                      "proxy trusted : fd00::/8\n");
    ASSERT_EQ(c.listeners.size(), 4u);
    EXPECT_EQ(c.listeners[0].layers(), "");
    EXPECT_EQ(c.listeners[1].layers(), "proxy");
    EXPECT_EQ(c.listeners[1].address, "127.0.0.1");
    EXPECT_EQ(c.listeners[2].layers(), "websocket");
    EXPECT_EQ(c.listeners[3].layers(), "proxy websocket");
    EXPECT_EQ(c.listeners[3].port, 4081);
    EXPECT_TRUE(c.proxy_trusted.trusts("127.0.0.1:5"));
    EXPECT_TRUE(c.proxy_trusted.trusts("[::1]:5"));
    EXPECT_TRUE(c.proxy_trusted.trusts("10.2.3.4:5"));
    EXPECT_TRUE(c.proxy_trusted.trusts("[fd00::7]:5"));
    EXPECT_FALSE(c.proxy_trusted.trusts("192.0.2.1:5"));
}

TEST(Config, transport_keys_are_read) {
    Config c = parsed("port : 4080 websocket\ntls handshake timeout : 3s\nmax handshaking connections : 7\n"
                      "websocket max frame : 1k\nwebsocket max message : 4k\nwebsocket client : off\n"
                      "tls certificate : a.crt\ntls key : a.key\n");
    EXPECT_EQ(c.handshake_timeout, 3);
    EXPECT_EQ(c.max_handshakes, 7u);
    EXPECT_EQ(c.websocket_max_frame, 1024u);
    EXPECT_EQ(c.websocket_max_message, 4096u);
    EXPECT_FALSE(c.websocket_client);
    EXPECT_EQ(c.tls_certificate, "a.crt");
    EXPECT_EQ(c.tls_key, "a.key");
}

TEST(Config, transport_errors_name_file_and_line) {
    EXPECT_EQ(error_for("port : 4000 tsl\n"),
              "mud.cfg:1: bad value for 'port': bad port '4000': unknown listener option 'tsl' "
              "(expected tls, proxy or websocket)");
    EXPECT_EQ(error_for("port : 4000 proxy proxy\n"), "mud.cfg:1: bad value for 'port': 'proxy' is given twice");
    EXPECT_EQ(error_for("port : 4000\nport : 4001 proxy\n"),
              "mud.cfg:2: a proxy listener needs the addresses of its proxies (add e.g. 'proxy trusted : "
              "127.0.0.1 ::1'); no one else may send a PROXY header");
    std::string cidr = error_for("port : 4001 proxy\nproxy trusted : 127.0.0.1 10.1.0.0/8\n");
    EXPECT_EQ(cidr.rfind("mud.cfg:2: bad value for 'proxy trusted': ", 0), 0u) << cidr;
    EXPECT_NE(cidr.find("10.0.0.0/8"), std::string::npos) << cidr;  // says what was meant
    EXPECT_EQ(error_for("port : 4000\ntls certificate : a.crt\n"),
              "mud.cfg:2: 'tls certificate' and 'tls key' go together (set both, or neither for a "
              "self-signed pair made at first start)");
    EXPECT_EQ(error_for("port : 4000\nwebsocket max frame : 64k\nwebsocket max message : 1k\n"),
              "mud.cfg:3: websocket max frame (65536) must not exceed websocket max message (1024) "
              "('websocket max frame' is set at mud.cfg:2)");
    EXPECT_EQ(error_for("port : 4000\ntls handshake timeout : 0\n"),
              "mud.cfg:2: bad value for 'tls handshake timeout': expected seconds (at least 1), "
              "optionally with s, m or h");
}

TEST(Config, a_tls_listener_needs_a_build_with_tls) {
    if (comm::tls::available()) {
        EXPECT_TRUE(parsed("port : 4443 tls\n").listeners[0].tls);
        EXPECT_EQ(parsed("port : 4444 proxy tls\nproxy trusted : 127.0.0.1\n").listeners[0].layers(), "proxy tls");
    } else {
        std::string err = error_for("name : x\nport : 4443 tls\n");
        EXPECT_EQ(err.rfind("mud.cfg:2: bad value for 'port': a TLS listener, but this build has no TLS", 0), 0u)
            << err;
    }
}

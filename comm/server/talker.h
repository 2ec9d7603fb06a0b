// A small talker on the comm layer: log in by name (with a password, so a
// net-dead session can be reclaimed), then say, emote, tell, who, look,
// help, client, quit. Everyone shares one room.
#pragma once

#include "comm.h"

#include <chrono>
#include <ctime>
#include <map>
#include <string>

namespace talker {

struct Player;

class Talker final : public comm::Application {
public:
    // More players than this in the room besides oneself make a crowd:
    // arrivals and departures go unannounced, look counts instead of naming.
    static constexpr std::size_t kCrowd = 100;

    Talker(comm::Comm::Logger log) : log_(std::move(log)) {}
    // Also publishes the server-wide MSDP variables (SERVER_ID, UPTIME, PLAYERS).
    void attach(comm::Comm &comm);

    void on_connect(comm::User &user) override;
    void on_line(comm::User &user, std::string_view line) override;
    void on_netdead(comm::User &user) override;
    void on_disconnect(comm::User &user) override;
    void on_gmcp(comm::User &user, std::string_view package, std::string_view data) override;
    std::vector<std::pair<std::string, std::string>> mssp() override;

    void set_name(std::string name) { mud_name_ = std::move(name); }

private:
    void login_name(Player &p, std::string_view line);
    void login_new_password(Player &p, std::string_view line);
    void login_password(Player &p, std::string_view line);
    void enter(Player &p);
    void command(Player &p, std::string_view line);

    void say(Player &p, std::string_view text);
    void emote(Player &p, std::string_view text);
    void tell(Player &p, std::string_view args);
    void who(Player &p);
    void look(Player &p);
    void help(Player &p);
    void client(Player &p);

    void to_others(const Player &except, const std::string &text);
    void announce(const Player &who, const std::string &text);
    void publish_players();
    Player *find(std::string_view name);

    comm::Comm *comm_ = nullptr;
    comm::Comm::Logger log_;
    std::string mud_name_ = "ioreactor talker";
    std::map<std::string, Player *> players_;  // logged in (net-dead too), by lowercase name
    std::time_t started_ = std::time(nullptr);
};

}  // namespace talker

#include "web_assets.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

using comm::web::find;

TEST(WebAssets, the_page_and_its_parts_are_embedded_with_their_types) {
    const comm::ws::StaticFile *index = find("/index.html");
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
    EXPECT_NE(index->body.find("<!doctype html>"), std::string_view::npos);
    ASSERT_NE(find("/client.js"), nullptr);
    EXPECT_EQ(find("/client.js")->content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(find("/style.css")->content_type, "text/css; charset=utf-8");
    EXPECT_EQ(find("/vendor/xterm/LICENSE")->content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(find("/nope.html"), nullptr);
    EXPECT_EQ(find("index.html"), nullptr);
}

TEST(WebAssets, every_file_the_page_references_is_embedded) {
    std::string page(find("/index.html")->body);
    std::regex ref(R"re((?:src|href)="([^"]+)")re");
    int count = 0;
    for (auto it = std::sregex_iterator(page.begin(), page.end(), ref); it != std::sregex_iterator(); ++it) {
        std::string path = "/" + (*it)[1].str();
        EXPECT_NE(find(path), nullptr) << path;
        ++count;
    }
    EXPECT_GE(count, 5);
}

TEST(WebAssets, the_vendored_xterm_is_whole) {
    // The built bundle ends with its source-map comment: a cut file would not.
    std::string_view js = find("/vendor/xterm/xterm.js")->body;
    EXPECT_GT(js.size(), 100000u);
    EXPECT_NE(js.rfind("sourceMappingURL=xterm.js.map"), std::string_view::npos);
}

TEST(WebAssets, the_layer_serves_them) {
    comm::ws::Layer l(find);
    std::string up, down;
    l.receive("GET /vendor/xterm/xterm.css HTTP/1.1\r\nHost: x\r\n\r\n", up, down);
    EXPECT_EQ(down.substr(0, 15), "HTTP/1.1 200 OK");
    EXPECT_NE(down.find("Content-Type: text/css; charset=utf-8\r\n"), std::string::npos);
    EXPECT_EQ(down.substr(down.find("\r\n\r\n") + 4), find("/vendor/xterm/xterm.css")->body);
}

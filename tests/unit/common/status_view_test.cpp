// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/status_view.hpp>

namespace pdns_distribute::common {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

json fullStatus() {
    return json::parse(R"json({
      "v": 1,
      "generated_at": "2026-11-26T16:00:00.123Z",
      "checker": {"instance": "checker-ab12", "group": "default", "leader": true,
                  "leader_instance": "checker-ab12"},
      "zones": 1234,
      "mirror_synced": true,
      "held_deletions": [],
      "nodes": [
        {"node": "sec1", "state": "active", "instance": "i1", "version": "0.1.0",
         "last_heartbeat": "2026-11-26T15:59:58.900Z", "heartbeat_age_ms": 1200, "zones": 1233,
         "parked": 1, "load1": 0.4, "cores": 2, "load_warning": false, "in_sync": false,
         "out_of_sync": 2, "max_lag_ms": 5400},
        {"node": "secondary-long-name", "state": "inactive", "zones": 1234, "parked": 0,
         "load1": 9.5, "cores": 4, "load_warning": true, "in_sync": true, "out_of_sync": 0,
         "max_lag_ms": 0, "heartbeat_age_ms": 192000}
      ],
      "divergences": [
        {"node": "sec1", "zone": "b.example.", "wanted_serial": 7, "served_serial": 6,
         "wanted_apex": "aa", "served_apex": "bb", "lag_ms": 5400, "error": "", "resyncs": 1},
        {"node": "sec1", "zone": "c.example.", "wanted_serial": 2024010101,
         "served_serial": null, "wanted_apex": "cc", "served_apex": null, "lag_ms": 192000,
         "error": "pdns answered 422 (bad record)", "resyncs": 3}
      ]
    })json");
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

/// The line that starts with `prefix`, or "" (a failed lookup then fails the comparison).
std::string lineStartingWith(const std::string& text, const std::string& prefix) {
    for (const auto& line : lines(text)) {
        if (line.rfind(prefix, 0) == 0) return line;
    }
    return "";
}

// ---- humanizeDuration ----

TEST(HumanizeDuration, SubSecond_Milliseconds) {
    EXPECT_EQ(humanizeDuration(0ms), "0ms");
    EXPECT_EQ(humanizeDuration(850ms), "850ms");
}

TEST(HumanizeDuration, Seconds_OneDecimalTruncated) {
    EXPECT_EQ(humanizeDuration(5400ms), "5.4s");
    EXPECT_EQ(humanizeDuration(1000ms), "1.0s");
    EXPECT_EQ(humanizeDuration(59'960ms), "59.9s");
}

TEST(HumanizeDuration, Minutes_PaddedSeconds) {
    EXPECT_EQ(humanizeDuration(192'000ms), "3m12s");
    EXPECT_EQ(humanizeDuration(60'000ms), "1m00s");
    EXPECT_EQ(humanizeDuration(65'999ms), "1m05s");
}

TEST(HumanizeDuration, HoursAndDays) {
    EXPECT_EQ(humanizeDuration(2h + 5min + 30s), "2h05m");
    EXPECT_EQ(humanizeDuration(3 * 24h + 4h + 59min), "3d04h");
}

TEST(HumanizeDuration, Negative_Zero) { EXPECT_EQ(humanizeDuration(-5ms), "0ms"); }

// ---- htmlEscape ----

TEST(HtmlEscape, AllFiveCharacters) {
    EXPECT_EQ(htmlEscape(R"(<a href="x">'&'</a>)"),
              "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    EXPECT_EQ(htmlEscape("plain.example."), "plain.example.");
}

// ---- text ----

TEST(StatusText, Header_GroupLeaderZonesGenerated) {
    const auto text = renderStatusText(fullStatus());
    EXPECT_EQ(lines(text).at(0),
              "group 'default', checker 'checker-ab12' (leader), 1234 zones wanted, generated "
              "2026-11-26T16:00:00.123Z");
}

TEST(StatusText, Standby_NamesLeader) {
    auto s = fullStatus();
    s["checker"]["leader"] = false;
    s["checker"]["leader_instance"] = "checker-cd34";
    EXPECT_THAT(lines(renderStatusText(s)).at(0),
                HasSubstr("checker 'checker-ab12' (standby, leader checker-cd34)"));
}

TEST(StatusText, NodesTable_AlignedColumns) {
    const auto text = renderStatusText(fullStatus());
    // Widths come from the longest cell: "secondary-long-name" (19) and "LAST-HEARTBEAT".
    EXPECT_EQ(lineStartingWith(text, "NODE "),
              "NODE                 STATE     ZONES  OUT-OF-SYNC  MAX-LAG  PARKED  LOAD     "
              "LAST-HEARTBEAT");
    EXPECT_EQ(lineStartingWith(text, "sec1 "),
              "sec1                 active    1233   2            5.4s     1       0.40/2   "
              "1.2s ago");
    EXPECT_EQ(lineStartingWith(text, "secondary-long-name "),
              "secondary-long-name  inactive  1234   0            0ms      0       9.50/4!  "
              "3m12s ago");
}

TEST(StatusText, DivergencesTable_ServedAndMissing) {
    const auto text = renderStatusText(fullStatus());
    EXPECT_THAT(text, HasSubstr("DIVERGENCES (2)\n"));
    EXPECT_EQ(lineStartingWith(text, "NODE  ZONE"),
              "NODE  ZONE        WANTED      SERVED   LAG    RESYNCS  ERROR");
    EXPECT_EQ(lineStartingWith(text, "sec1  b.example."),
              "sec1  b.example.  7           6        5.4s   1");
    EXPECT_EQ(lineStartingWith(text, "sec1  c.example."),
              "sec1  c.example.  2024010101  missing  3m12s  3        pdns answered 422 (bad "
              "record)");
    EXPECT_THAT(text, Not(HasSubstr("all nodes in sync")));
}

TEST(StatusText, ServedNullWithApex_Dash) {
    auto s = fullStatus();
    s["divergences"] = json::array({{{"node", "n"},
                                     {"zone", "z."},
                                     {"wanted_serial", 3},
                                     {"served_serial", nullptr},
                                     {"served_apex", "ab"}}});
    const auto row = lineStartingWith(renderStatusText(s), "n     z.");
    EXPECT_THAT(row, HasSubstr("3       -"));
    EXPECT_THAT(row, Not(HasSubstr("missing")));
}

TEST(StatusText, SameSerialDifferentApex_Flagged) {
    auto s = fullStatus();
    s["divergences"] = json::array({{{"node", "n"},
                                     {"zone", "z."},
                                     {"wanted_serial", 3},
                                     {"served_serial", 3},
                                     {"wanted_apex", "aa"},
                                     {"served_apex", "bb"}}});
    EXPECT_THAT(renderStatusText(s), HasSubstr("3 (apex differs)"));
}

TEST(StatusText, NoDivergences_AllInSync) {
    auto s = fullStatus();
    s["divergences"] = json::array();
    for (auto& n : s["nodes"]) {
        n["in_sync"] = true;
        n["out_of_sync"] = 0;
    }
    const auto text = renderStatusText(s);
    EXPECT_THAT(text, HasSubstr("\nall nodes in sync\n"));
    EXPECT_THAT(text, Not(HasSubstr("DIVERGENCES")));
}

TEST(StatusText, NoDivergenceListButNodesOutOfSync_SaysSo) {
    auto s = fullStatus();
    s.erase("divergences");
    const auto text = renderStatusText(s);
    EXPECT_THAT(text, Not(HasSubstr("all nodes in sync")));
    EXPECT_THAT(text, HasSubstr("nodes above report zones out of sync"));
}

TEST(StatusText, HeldDeletions_ReasonAndHint) {
    auto s = fullStatus();
    s["held_deletions"] = {"a.example.", "d.example."};
    s["held_reason"] = "listing shrank by 40 zones";
    const auto text = renderStatusText(s);
    EXPECT_THAT(text, HasSubstr("HELD DELETIONS: 2 zone(s) (listing shrank by 40 zones)\n"
                                "  a.example.\n  d.example.\n"));
    EXPECT_THAT(text, HasSubstr("pdns-distribute deletions approve"));
}

TEST(StatusText, NoHeldDeletions_NoSection) {
    EXPECT_THAT(renderStatusText(fullStatus()), Not(HasSubstr("HELD")));
}

TEST(StatusText, DivergenceRows_CappedWithMoreLine) {
    auto s = fullStatus();
    s["divergences"] = json::array();
    for (int i = 0; i < 7; ++i) {
        s["divergences"].push_back({{"node", "sec1"},
                                    {"zone", "z" + std::to_string(i) + ".example."},
                                    {"wanted_serial", 2},
                                    {"served_serial", 1}});
    }
    const auto text = renderStatusText(s, 3);
    EXPECT_THAT(text, HasSubstr("DIVERGENCES (7)\n"));
    EXPECT_THAT(text, HasSubstr("z2.example."));
    EXPECT_THAT(text, Not(HasSubstr("z3.example.")));
    EXPECT_THAT(text, HasSubstr("\n... and 4 more\n"));
}

TEST(StatusText, DefaultCap_200Rows) {
    auto s = fullStatus();
    s["divergences"] = json::array();
    for (int i = 0; i < 250; ++i) {
        s["divergences"].push_back(
            {{"node", "sec1"}, {"zone", "z" + std::to_string(i) + "."}, {"wanted_serial", 2}});
    }
    const auto text = renderStatusText(s);
    EXPECT_THAT(text, HasSubstr("z199."));
    EXPECT_THAT(text, Not(HasSubstr("z200.")));
    EXPECT_THAT(text, HasSubstr("... and 50 more\n"));
}

TEST(StatusText, EmptyObject_RendersPlaceholders) {
    const auto text = renderStatusText(json::object());
    EXPECT_EQ(lines(text).at(0), "group '-', checker '-', - zones wanted, generated -");
    EXPECT_THAT(text, HasSubstr("NODES (0)\nno node has sent a heartbeat\n"));
    EXPECT_THAT(text, HasSubstr("no divergences (no nodes to compare)"));
}

TEST(StatusText, NotAnObject_DoesNotThrow) {
    EXPECT_NO_THROW((void)renderStatusText(json::array({1, 2})));
    EXPECT_NO_THROW((void)renderStatusText(json(nullptr)));
    EXPECT_NO_THROW((void)renderStatusHtml(json("text")));
}

TEST(StatusText, WrongTypesAndMissingFields_Dashes) {
    auto s = json::parse(R"({"nodes":[{"node":"n1","zones":"many","load1":"high"},{}],
                             "divergences":[{"zone":"z.","lag_ms":"soon","error":null}]})");
    const auto text = renderStatusText(s);
    EXPECT_EQ(lineStartingWith(text, "n1 "),
              "n1    -      many   -            -        -       -     -");
    EXPECT_EQ(lineStartingWith(text, "-     -"),
              "-     -      -      -            -        -       -     -");
    EXPECT_EQ(lineStartingWith(text, "-     z."), "-     z.    -       -       -    -");
}

TEST(StatusText, MirrorNotSynced_Warns) {
    auto s = fullStatus();
    s["mirror_synced"] = false;
    EXPECT_THAT(renderStatusText(s), HasSubstr("warning: the checker's mirror"));
    EXPECT_THAT(renderStatusText(fullStatus()), Not(HasSubstr("warning:")));
}

TEST(StatusText, NewerFormat_Noted) {
    auto s = fullStatus();
    s["v"] = 2;
    EXPECT_THAT(renderStatusText(s), HasSubstr("status format v2 is newer"));
}

TEST(StatusText, ControlCharacters_Escaped) {
    auto s = fullStatus();
    s["divergences"][0]["error"] = "bad\x1b]0;pwned\x07 news\ntwo";
    s["nodes"][0]["node"] =
        "sec\xc2\x9b"
        "1";
    const auto text = renderStatusText(s);
    EXPECT_THAT(text, Not(HasSubstr("\x1b")));
    EXPECT_THAT(text, Not(HasSubstr("\x07")));
    EXPECT_THAT(text, Not(HasSubstr("\xc2\x9b")));
    EXPECT_THAT(text, HasSubstr("bad\\x1b]0;pwned\\x07 news\\x0atwo"));
    EXPECT_THAT(text, HasSubstr("sec\\x9b1"));
}

TEST(StatusText, LongError_Truncated) {
    auto s = fullStatus();
    s["divergences"][0]["error"] = std::string(500, 'e');
    const auto text = renderStatusText(s);
    EXPECT_THAT(text, HasSubstr(std::string(200, 'e') + "...\n"));
    EXPECT_THAT(text, Not(HasSubstr(std::string(201, 'e'))));
}

// ---- HTML ----

TEST(StatusHtml, Page_SelfContainedAndRefreshing) {
    const auto html = renderStatusHtml(fullStatus());
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0U);
    EXPECT_THAT(html, HasSubstr(R"(<meta http-equiv="refresh" content="5">)"));
    EXPECT_THAT(html, HasSubstr("<style>"));
    EXPECT_THAT(html, Not(HasSubstr("<script")));
    EXPECT_THAT(html, Not(HasSubstr("src=")));
    EXPECT_THAT(html, HasSubstr("</html>\n"));
}

TEST(StatusHtml, Tables_RowsAndHighlights) {
    const auto html = renderStatusHtml(fullStatus());
    EXPECT_THAT(html, HasSubstr("<tr><td>sec1</td><td>active</td><td class=\"num\">1233</td>"));
    EXPECT_THAT(html, HasSubstr("<tr class=\"inactive\"><td>secondary-long-name</td>"));
    EXPECT_THAT(html, HasSubstr("<td class=\"num warn\" title=\"load above the warning "
                                "threshold\">9.50/4!</td>"));
    EXPECT_THAT(html, HasSubstr("<td>c.example.</td><td class=\"num\">2024010101</td>"
                                "<td class=\"num bad\">missing</td>"));
    EXPECT_THAT(html, HasSubstr("<td class=\"err\">pdns answered 422 (bad record)</td>"));
    EXPECT_THAT(html, Not(HasSubstr("All nodes in sync")));
}

TEST(StatusHtml, HeldDeletions_RedBox) {
    auto s = fullStatus();
    s["held_deletions"] = {"a.example."};
    s["held_reason"] = "listing shrank by 40 zones";
    const auto html = renderStatusHtml(s);
    EXPECT_THAT(html, HasSubstr("<div class=\"held\">"));
    EXPECT_THAT(html, HasSubstr("<li>a.example.</li>"));
    EXPECT_THAT(html, HasSubstr("listing shrank by 40 zones"));
    EXPECT_THAT(html, HasSubstr("pdns-distribute deletions approve"));
    EXPECT_THAT(renderStatusHtml(fullStatus()), Not(HasSubstr("<div class=\"held\">")));
}

TEST(StatusHtml, EverythingFromJson_Escaped) {
    const std::string evil = R"(<script>x.)";
    const std::string evil_attr = R"("'><img onerror=1>&)";
    json s = fullStatus();
    s["generated_at"] = evil;
    s["checker"]["group"] = evil;
    s["checker"]["instance"] = evil_attr;
    s["checker"]["leader"] = false;
    s["checker"]["leader_instance"] = evil;
    s["zones"] = evil;
    s["held_deletions"] = {evil};
    s["held_reason"] = evil_attr;
    s["nodes"][0]["node"] = evil;
    s["nodes"][0]["state"] = evil;
    s["nodes"][0]["last_heartbeat"] = evil_attr;
    s["nodes"][0]["zones"] = evil;
    s["divergences"][0]["zone"] = evil;
    s["divergences"][0]["node"] = evil_attr;
    s["divergences"][0]["error"] = evil_attr;
    s["divergences"][1]["wanted_serial"] = evil;
    const auto html = renderStatusHtml(s);
    EXPECT_THAT(html, Not(HasSubstr("<script")));
    EXPECT_THAT(html, Not(HasSubstr("<img")));
    EXPECT_THAT(html, Not(HasSubstr("'>")));
    EXPECT_THAT(html, HasSubstr("&lt;script&gt;x."));
    EXPECT_THAT(html, HasSubstr("&quot;&#39;&gt;&lt;img onerror=1&gt;&amp;"));
    // The attribute value stays inside its quotes.
    EXPECT_THAT(html, HasSubstr("title=\"&quot;&#39;&gt;&lt;img onerror=1&gt;&amp;\""));
}

TEST(StatusHtml, EmptyAndCapped) {
    const auto empty = renderStatusHtml(json::object());
    EXPECT_THAT(empty, HasSubstr("No node has sent a heartbeat."));
    EXPECT_THAT(empty, Not(HasSubstr("<table>")));

    auto s = fullStatus();
    const auto html = renderStatusHtml(s, 1);
    EXPECT_THAT(html, HasSubstr("b.example."));
    EXPECT_THAT(html, Not(HasSubstr("c.example.")));
    EXPECT_THAT(html, HasSubstr("&hellip; and 1 more"));
}

TEST(StatusHtml, InSync_OkLine) {
    auto s = fullStatus();
    s["divergences"] = json::array();
    for (auto& n : s["nodes"]) {
        n["out_of_sync"] = 0;
        n["in_sync"] = true;
    }
    EXPECT_THAT(renderStatusHtml(s), HasSubstr("<p class=\"ok\">All nodes in sync.</p>"));
}

}  // namespace
}  // namespace pdns_distribute::common

// SPDX-License-Identifier: Apache-2.0
#include "cli_commands.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <ostream>

#include <fmt/format.h>
#include <httplib.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/result.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/status_view.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::cli {

namespace {

using nlohmann::json;

/// The checker answers from memory; 5 s to connect over loopback means it is down or wedged.
constexpr time_t kConnectTimeoutSeconds = 5;
/// A resync waits for the checker's request/reply round to the syncers, and a /status of a large
/// fleet can take a while to serialise.
constexpr time_t kReadTimeoutSeconds = 30;
/// How much of an unexpected answer body an error message quotes.
constexpr std::size_t kMaxQuotedBody = 200;

struct Endpoint {
    bool tls = false;
    std::string host;
    int port = 0;
};

/// httplib::Client would take "http://host:port/" as a host name (its pattern has no path) and
/// fail later with a misleading resolver error, and it throws on unknown schemes: check the URL
/// here and say what is wrong.
common::Result<Endpoint> parseChecker(std::string_view url) {
    Endpoint ep;
    std::string_view rest = url;
    if (rest.starts_with("http://")) {
        rest.remove_prefix(7);
    } else if (rest.starts_with("https://")) {
        ep.tls = true;
        rest.remove_prefix(8);
    } else if (rest.find("://") != std::string_view::npos) {
        return common::makeError(
            "invalid checker URL '{}' (only http:// and https:// are supported)", url);
    }
    if (rest.ends_with('/')) rest.remove_suffix(1);
    // The checker serves at its root; a path would be silently dropped or taken as the host.
    if (rest.find_first_of("/?#@") != std::string_view::npos) {
        return common::makeError(
            "invalid checker URL '{}' (expected http://HOST:PORT without path, query or user)",
            url);
    }
    std::string_view host;
    std::optional<std::string_view> port_text;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return common::makeError("invalid checker URL '{}' (unclosed '[' in the host)", url);
        }
        host = rest.substr(1, close - 1);
        const auto after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return common::makeError("invalid checker URL '{}' (expected ':PORT after ']')",
                                         url);
            }
            port_text = after.substr(1);
        }
    } else {
        const auto colon = rest.find(':');
        host = rest.substr(0, colon);
        if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
    }
    if (host.empty()) return common::makeError("invalid checker URL '{}' (no host)", url);
    if (host.find_first_of(" \t") != std::string_view::npos) {
        return common::makeError("invalid checker URL '{}' (blank in the host)", url);
    }
    ep.host = std::string(host);
    ep.port = ep.tls ? 443 : 80;
    if (port_text) {
        int port = 0;
        const auto* end = port_text->data() + port_text->size();
        const auto [ptr, ec] = std::from_chars(port_text->data(), end, port);
        if (port_text->empty() || ec != std::errc{} || ptr != end || port < 1 || port > 65535) {
            return common::makeError("invalid checker URL '{}' (port '{}' is not 1..65535)", url,
                                     *port_text);
        }
        ep.port = port;
    }
    return ep;
}

std::unique_ptr<httplib::ClientImpl> makeClient(const Endpoint& ep) {
    std::unique_ptr<httplib::ClientImpl> client;
    if (ep.tls) {
        client = std::make_unique<httplib::SSLClient>(ep.host, ep.port);
    } else {
        client = std::make_unique<httplib::ClientImpl>(ep.host, ep.port);
    }
    client->set_connection_timeout(kConnectTimeoutSeconds, 0);
    client->set_read_timeout(kReadTimeoutSeconds, 0);
    client->set_write_timeout(kReadTimeoutSeconds, 0);
    return client;
}

/// What an answer we cannot use said: the checker's {"error": ...} if present, else the start of
/// the body; safe to print on a terminal.
std::string answerDetail(int status, const std::string& body) {
    std::string detail;
    const auto j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
        detail = j["error"].get<std::string>();
    } else {
        detail = body;
    }
    const auto first = detail.find_first_not_of(" \t\r\n");
    const auto last = detail.find_last_not_of(" \t\r\n");
    detail = first == std::string::npos ? "" : detail.substr(first, last - first + 1);
    if (detail.size() > kMaxQuotedBody) detail = detail.substr(0, kMaxQuotedBody) + "...";
    detail = common::terminalSafe(detail);
    return detail.empty() ? fmt::format("HTTP {}", status)
                          : fmt::format("HTTP {}: {}", status, detail);
}

/// The checker's URL as a usable endpoint, or an error already printed (exit code 2).
std::optional<Endpoint> endpointOrComplain(std::string_view checker, std::ostream& err) {
    auto ep = parseChecker(checker);
    if (!ep) {
        err << "pdns-distribute: " << ep.error().message << "; check --checker\n";
        return std::nullopt;
    }
    return std::move(*ep);
}

/// httplib's own names ("Connection", "Read") say too little to an operator; it keeps no errno.
std::string transportCause(httplib::Error error) {
    switch (error) {
        case httplib::Error::Connection:
            return "connection failed: refused, unreachable or name not resolved";
        case httplib::Error::ConnectionTimeout:
            return fmt::format("no connection within {} s", kConnectTimeoutSeconds);
        case httplib::Error::Read:
            return fmt::format("no complete answer within {} s, or the connection dropped",
                               kReadTimeoutSeconds);
        case httplib::Error::Write:
            return "the connection dropped while sending the request";
        case httplib::Error::SSLConnection:
            return "TLS handshake failed";
        case httplib::Error::SSLLoadingCerts:
            return "cannot load the system's TLS CA certificates";
        case httplib::Error::SSLServerVerification:
            return "TLS server certificate not trusted";
        default:
            return "HTTP client error: " + httplib::to_string(error);
    }
}

void complainUnreachable(std::string_view checker, const httplib::Result& res, std::ostream& err) {
    err << fmt::format(
        "pdns-distribute: cannot reach the health-checker '{}' ({}); check --checker and that "
        "pdns-health-checker is running\n",
        checker, transportCause(res.error()));
}

}  // namespace

int runStatus(std::string_view checker, bool as_json, std::ostream& out, std::ostream& err) {
    const auto ep = endpointOrComplain(checker, err);
    if (!ep) return 2;
    const auto client = makeClient(*ep);
    const auto res = client->Get("/status");
    if (!res) {
        complainUnreachable(checker, res, err);
        return 1;
    }
    if (res->status != 200) {
        err << fmt::format(
            "pdns-distribute: cannot get the status from the health-checker '{}' ({})\n", checker,
            answerDetail(res->status, res->body));
        return 1;
    }
    json status;
    std::string cause;
    try {
        status = json::parse(res->body);
        if (!status.is_object())
            cause = fmt::format("a JSON {}, not an object", status.type_name());
    } catch (const json::parse_error& e) {
        cause = e.what();
    }
    if (!cause.empty()) {
        err << fmt::format(
            "pdns-distribute: the health-checker '{}' sent no status for GET /status ({}); is "
            "--checker the health-checker's address?\n",
            checker, common::terminalSafe(cause));
        return 1;
    }
    if (as_json) {
        out << status.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    } else {
        out << common::renderStatusText(status);
    }
    return 0;
}

int runResync(std::string_view checker, std::string_view zone, std::string_view node,
              std::ostream& out, std::ostream& err) {
    const auto canonical = common::canonicalZoneName(zone);
    if (!canonical) {
        err << "pdns-distribute: " << common::terminalSafe(canonical.error().message) << '\n';
        return 2;
    }
    if (!node.empty() && !common::isValidNodeId(node)) {
        err << fmt::format(
            "pdns-distribute: invalid node id '{}' (1 to 64 of A-Z, a-z, 0-9, '_' and '-')\n",
            common::terminalSafe(node));
        return 2;
    }
    const auto ep = endpointOrComplain(checker, err);
    if (!ep) return 2;

    json request{{"zone", *canonical}};
    if (!node.empty()) request["node"] = node;
    const auto client = makeClient(*ep);
    const auto res = client->Post("/resync", request.dump(), "application/json");
    if (!res) {
        complainUnreachable(checker, res, err);
        return 1;
    }
    if (res->status != 200) {
        err << fmt::format(
            "pdns-distribute: the health-checker '{}' refused the resync of '{}' ({})\n", checker,
            *canonical, answerDetail(res->status, res->body));
        return 1;
    }
    const auto answer = json::parse(res->body, nullptr, false);
    if (!answer.is_object() || !answer.contains("requested") || !answer["requested"].is_array()) {
        err << fmt::format(
            "pdns-distribute: the health-checker '{}' answered the resync of '{}' without a "
            "'requested' list ({})\n",
            checker, *canonical, answerDetail(res->status, res->body));
        return 1;
    }
    const auto& requested = answer["requested"];
    if (requested.empty()) {
        err << fmt::format(
            "pdns-distribute: no node was asked to resync '{}' (the health-checker '{}' knows no "
            "matching node); check --node and `pdns-distribute status`\n",
            *canonical, checker);
        return 1;
    }
    bool all_accepted = true;
    for (const auto& entry : requested) {
        const auto* name = entry.is_object() && entry.contains("node") ? &entry["node"] : nullptr;
        const std::string label =
            name != nullptr && name->is_string() ? name->get<std::string>() : "?";
        const bool accepted = entry.is_object() && entry.value("accepted", false);
        out << common::terminalSafe(label);
        if (accepted) {
            out << ": resync requested\n";
            continue;
        }
        all_accepted = false;
        std::string reason;
        if (entry.is_object() && entry.contains("error") && entry["error"].is_string()) {
            reason = entry["error"].get<std::string>();
        }
        out << ": failed: " << (reason.empty() ? "no reason given" : common::terminalSafe(reason))
            << '\n';
    }
    return all_accepted ? 0 : 1;
}

int runApproveDeletions(std::string_view checker, std::ostream& out, std::ostream& err) {
    const auto ep = endpointOrComplain(checker, err);
    if (!ep) return 2;
    const auto client = makeClient(*ep);
    const auto res = client->Post("/deletions/approve");
    if (!res) {
        complainUnreachable(checker, res, err);
        return 1;
    }
    if (res->status != 200) {
        err << fmt::format(
            "pdns-distribute: the health-checker '{}' refused to approve the deletions ({})\n",
            checker, answerDetail(res->status, res->body));
        return 1;
    }
    const auto j = json::parse(res->body, nullptr, false);
    const auto* approved = j.is_object() && j.contains("approved") ? &j["approved"] : nullptr;
    const int64_t n =
        approved != nullptr && approved->is_number_integer() ? approved->get<int64_t>() : 0;
    out << fmt::format(
        "approved {} held deletion(s); they are published on the next reconcile pass\n", n);
    return 0;
}

int runKeygen(const std::string& secret_path, const std::string& public_path, std::ostream& out,
              std::ostream& err) {
    const auto key = common::SecretKey::generate();
    if (auto s = common::writeKeyPair(key, secret_path, public_path); !s) {
        err << "pdns-distribute: " << s.error().message << '\n';
        return 1;
    }
    out << fmt::format("wrote secret key '{}' (mode 0600) and public key '{}' (key id {})\n",
                       secret_path, public_path, key.publicKey().keyId());
    out << "copy the public key to every secondary and list it as a [[trusted_key]]\n";
    return 0;
}

int runCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
    CLI::App app{"pdns-distribute: operator tool for the pdns-distribute daemons",
                 "pdns-distribute"};
    app.set_version_flag("--version", std::string("pdns-distribute ") + PDNS_DISTRIBUTE_VERSION);
    app.require_subcommand(1);

    std::string secret = "/etc/pdns-distribute/zonedata.key";
    std::string pub = "/etc/pdns-distribute/zonedata.pub";
    auto* keygen = app.add_subcommand("keygen", "create the Ed25519 key pair that signs zone data");
    keygen->add_option("--secret", secret, "secret key file to create (mode 0600; primary only)")
        ->capture_default_str();
    keygen->add_option("--public", pub, "public key file to create (copy to every secondary)")
        ->capture_default_str();

    // One variable serves every subcommand's --checker: only one subcommand runs.
    std::string checker(kDefaultChecker);
    constexpr const char* kCheckerHelp = "the health-checker's HTTP address (http://HOST:PORT)";

    auto* deletions = app.add_subcommand("deletions", "deletions the health-checker holds back");
    deletions->require_subcommand(1);
    auto* approve = deletions->add_subcommand("approve", "approve every deletion held right now");
    approve->add_option("--checker", checker, kCheckerHelp)->capture_default_str();

    bool as_json = false;
    auto* status = app.add_subcommand(
        "status",
        "show fleet status: nodes, zones out of sync, held deletions (exit 1 if the "
        "health-checker cannot be asked)");
    status->add_option("--checker", checker, kCheckerHelp)->capture_default_str();
    status->add_flag("--json", as_json,
                     "print the health-checker's /status JSON, pretty-printed, instead of tables");

    std::string zone;
    std::string node;
    auto* resync = app.add_subcommand(
        "resync", "ask nodes to fetch a zone again (exit 1 unless every node accepted)");
    resync->add_option("zone", zone, "zone to resync, e.g. example.org (case and final dot free)")
        ->required();
    auto* node_opt = resync->add_option(
        "--node", node, "only this node id (default: every node the health-checker tracks)");
    resync->add_option("--checker", checker, kCheckerHelp)->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // Help and --version exit 0; every usage error is 2 (STYLE §4), not CLI11's own codes.
        return app.exit(e, out, err) == 0 ? 0 : 2;
    }
    if (keygen->parsed()) return runKeygen(secret, pub, out, err);
    if (approve->parsed()) return runApproveDeletions(checker, out, err);
    if (status->parsed()) return runStatus(checker, as_json, out, err);
    if (resync->parsed()) {
        if (node_opt->count() > 0 && node.empty()) {
            err << "pdns-distribute: invalid node id '' (empty); leave --node out to resync on "
                   "every node\n";
            return 2;
        }
        return runResync(checker, zone, node, out, err);
    }
    return 2;
}

}  // namespace pdns_distribute::cli

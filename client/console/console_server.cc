#include "client/console/console_server.h"

#include <httplib.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "certs/x509.h"
#include "client/console/assets.h"
#include "client/console/html.h"
#include "client/console/pages.h"
#include "client/console/session_guard.h"

namespace havengate::console {

const std::string& Param(const Params& params, const std::string& key) {
  static const auto* empty = new std::string;
  auto it = params.find(key);
  return it == params.end() ? *empty : it->second;
}

namespace {

constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr size_t kMaxRequestBytes = 1 << 20;

// The officer's identity, as their certificate names it (for the header).
std::string OfficerName(const client::ConnectionOptions& options) {
  absl::StatusOr<pki::Certificate> cert = pki::ReadCertificateFile(options.certificate);
  if (!cert.ok()) return options.certificate;
  absl::StatusOr<pki::SpiffeId> id = cert->GetSpiffeId();
  return id.ok() ? id->ToString() : options.certificate;
}

// Query values and form fields. Forms are posted as multipart/form-data:
// httplib caps url-encoded bodies at 8 KiB, less than a policy.
Params ParamsOf(const httplib::Request& req) {
  Params params;
  for (const auto& [key, value] : req.params) params[key] = value;
  for (const auto& [key, field] : req.files) params[key] = field.content;
  params.erase("csrf");
  return params;
}

std::string CsrfOf(const httplib::Request& req) {
  if (req.has_file("csrf")) return req.get_file_value("csrf").content;
  return req.get_param_value("csrf");
}

class ConsoleServerImpl final : public ConsoleServer {
 public:
  ConsoleServerImpl(std::unique_ptr<client::Client> client, std::string officer)
      : client_(std::move(client)), gateway_(*client_), officer_(std::move(officer)) {}
  ~ConsoleServerImpl() override { Stop(); }

  absl::Status Listen(int port) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(4); };
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server_.set_payload_max_length(kMaxRequestBytes);
    server_.set_default_headers({
        {"Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
         "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
         "frame-ancestors 'none'"},
        {"X-Frame-Options", "DENY"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "same-origin"},  // "no-referrer" makes Chrome send Origin: null
        {"Cache-Control", "no-store"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
        {"Cross-Origin-Resource-Policy", "same-origin"},
    });
    server_.set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) { return Guard(req, res); });
    Routes();
    if (port == 0) {
      port_ = server_.bind_to_any_port("127.0.0.1");
    } else if (server_.bind_to_port("127.0.0.1", port)) {
      port_ = port;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on 127.0.0.1:", port, " (in use?)"));
    }
    // Plain sockets: httplib sends with MSG_NOSIGNAL, a browser that goes
    // away cannot raise SIGPIPE.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!server_.is_running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
    return absl::OkStatus();
  }

  std::string url() const override {
    return absl::StrCat("http://127.0.0.1:", port_, "/login?token=", guard_.login_token());
  }
  int port() const override { return port_; }
  void Stop() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  static void Refuse(httplib::Response& res, int code, absl::string_view why) {
    res.status = code;
    res.set_content(Page("Refused", "", "", ErrorBox(why)), kHtml);
  }

  // Before any route: the Host must be this console's, and a session is
  // needed (except to exchange the token). POSTs are checked in StateChange
  // (the form is read after routing).
  httplib::Server::HandlerResponse Guard(const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    const std::string host = req.get_header_value("Host");
    if (host != absl::StrCat("127.0.0.1:", port_) && host != absl::StrCat("localhost:", port_)) {
      Refuse(res, 421, "This console answers only on 127.0.0.1.");
      return R::Handled;
    }
    if (req.path == "/login") return R::Unhandled;
    std::optional<Session> session = guard_.FromCookieHeader(req.get_header_value("Cookie"));
    if (!session) {
      Refuse(res, 403,
             "No session: open the URL that havenctl console printed (it works once).");
      return R::Handled;
    }
    return R::Unhandled;
  }

  // A POST handler that runs only if the form carries the session's CSRF
  // token and the request comes from this origin.
  httplib::Server::Handler StateChange(httplib::Server::Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      std::optional<Session> session = guard_.FromCookieHeader(req.get_header_value("Cookie"));
      const std::string origin = req.get_header_value("Origin");
      const bool same_origin =
          origin.empty() || origin == absl::StrCat("http://", req.get_header_value("Host"));
      if (!session) return Refuse(res, 403, "No session.");
      if (!same_origin) {
        return Refuse(res, 403, "Refused: the form came from another site.");
      }
      if (!SessionGuard::CsrfMatches(*session, CsrfOf(req))) {
        return Refuse(res, 403,
                      "Refused: the form's CSRF token is missing or wrong. Reload the page.");
      }
      handler(req, res);
    };
  }

  std::string Csrf(const httplib::Request& req) const {
    std::optional<Session> session = guard_.FromCookieHeader(req.get_header_value("Cookie"));
    return session ? session->csrf : "";
  }

  void Html(httplib::Response& res, absl::string_view title, absl::string_view path,
            const std::string& body) {
    res.set_content(Page(title, path, officer_, body), kHtml);
  }

  void Routes() {
    server_.Get("/login", [this](const httplib::Request& req, httplib::Response& res) {
      absl::StatusOr<Session> session = guard_.Exchange(req.get_param_value("token"));
      if (!session.ok()) return Refuse(res, 403, session.status().message());
      res.set_header("Set-Cookie", SessionGuard::SetCookieValue(*session));
      res.set_redirect("/", 303);
    });
    server_.Get("/static/(.*)", [](const httplib::Request& req, httplib::Response& res) {
      std::optional<Asset> asset = FindAsset(req.matches[1].str());
      if (!asset) {
        res.status = 404;
        return;
      }
      res.set_content(std::string(asset->bytes), std::string(asset->content_type));
    });
    server_.Get("/", [this](const httplib::Request&, httplib::Response& res) {
      Html(res, "Overview", "/", OverviewPage(gateway_, absl::Now()));
    });
    auto policy = [this](const httplib::Request& req, httplib::Response& res) {
      Html(res, "Policy", "/policy", PolicyPage(gateway_, ParamsOf(req), Csrf(req)));
    };
    server_.Get("/policy", policy);
    server_.Post("/policy", StateChange(policy));
    auto proposals = [this](const httplib::Request& req, httplib::Response& res) {
      Params params = ParamsOf(req);
      if (req.method == "GET") params.erase("action");  // steps only by POST
      Html(res, "Proposals", "/proposals", ProposalsPage(gateway_, params, Csrf(req)));
    };
    server_.Get("/proposals", proposals);
    server_.Post("/proposals", StateChange(proposals));
    auto preview = [this](const httplib::Request& req, httplib::Response& res) {
      Html(res, "Preview", "/preview", PreviewPage(gateway_, ParamsOf(req), Csrf(req)));
    };
    server_.Get("/preview", preview);
    server_.Post("/preview", StateChange(preview));
    server_.Get("/impact", [this](const httplib::Request& req, httplib::Response& res) {
      Html(res, "Impact", "/impact", ImpactPage(gateway_, ParamsOf(req)));
    });
    server_.Get("/reports", [this](const httplib::Request& req, httplib::Response& res) {
      Html(res, "Reports", "/reports", ReportsPage(gateway_, ParamsOf(req), absl::Now()));
    });
    server_.Get("/hits", [this](const httplib::Request&, httplib::Response& res) {
      Html(res, "Hits", "/hits", HitsPage(gateway_));
    });
    server_.Get("/evidence", [this](const httplib::Request& req, httplib::Response& res) {
      Html(res, "Evidence", "/evidence", EvidencePage(gateway_, ParamsOf(req)));
    });
    server_.Get("/evidence/answer.csv", [this](const httplib::Request& req,
                                               httplib::Response& res) {
      const Params params = ParamsOf(req);
      absl::StatusOr<std::string> csv = AnswerCsv(gateway_, params);
      if (!csv.ok()) return Refuse(res, 400, csv.status().ToString());
      res.set_header("Content-Disposition", absl::StrCat("attachment; filename=\"",
                                                         Param(params, "q"), ".csv\""));
      res.set_content(*csv, "text/csv; charset=utf-8");
    });
    server_.Get("/evidence/extract.json", [this](const httplib::Request& req,
                                                 httplib::Response& res) {
      absl::StatusOr<std::string> json = ExtractJson(gateway_, ParamsOf(req));
      if (!json.ok()) return Refuse(res, 400, json.status().ToString());
      res.set_header("Content-Disposition", "attachment; filename=\"audit-extract.json\"");
      res.set_content(*json, "application/json");
    });
  }

  std::unique_ptr<client::Client> client_;
  Gateway gateway_;
  const std::string officer_;
  SessionGuard guard_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    const ConsoleOptions& options) {
  absl::StatusOr<std::unique_ptr<client::Client>> client =
      client::Client::Connect(options.connection);
  if (!client.ok()) return client.status();
  auto server = std::make_unique<ConsoleServerImpl>(std::move(*client),
                                                    OfficerName(options.connection));
  absl::Status listening = server->Listen(options.port);
  if (!listening.ok()) return listening;
  return server;
}

}  // namespace havengate::console

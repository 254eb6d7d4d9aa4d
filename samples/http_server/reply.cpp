#include "reply.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/version.hpp>

#include <string>

namespace http_server {
namespace http = boost::beast::http;

response reply(const request& req, std::string_view server) {
    auto make = [&](http::status status, std::string body) {
        response res{status, req.version()};
        res.set(http::field::server, "weft-http-sample");
        res.set(http::field::content_type, "text/plain");
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();  // Content-Length from the body, for HEAD too
        if (req.method() == http::verb::head) res.body().clear();
        return res;
    };
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        return make(http::status::bad_request, "only GET and HEAD are served\n");
    }
    if (req.target() != "/") {
        return make(http::status::not_found,
                    "no resource " + std::string(req.target()) + " (only / is served)\n");
    }
    return make(http::status::ok, "hello from " + std::string(server) + "\n");
}

}  // namespace http_server

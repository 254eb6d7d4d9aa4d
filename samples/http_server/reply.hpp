// The HTTP server sample's one request handler, shared by its three servers (callbacks on
// io_context, the same callbacks on weft, a task per connection on weft): what is served does
// not change between them, only how the connection is driven.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string_view>

namespace http_server {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

/// The reply to `req`: GET or HEAD of "/" gets 200 and a short text naming `server`; any
/// other target 404; any other method 400. Keep-alive follows the request.
response reply(const request& req, std::string_view server);

}  // namespace http_server
